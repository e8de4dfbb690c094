-- Fingerprints of the keys every daemon sharing this store must hold alike
-- (the e2eeftp server identity, the backup master key): the first daemon
-- records its key, later ones refuse to serve a different one.
CREATE TABLE key_pins (
    name        TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    pinned_at   TEXT NOT NULL
);
