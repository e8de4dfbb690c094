-- The e2eeftp authorized client keys, shared by every daemon on this store.
-- authorized_clients.pub stays the import/export format: each daemon
-- imports its file's changes here, and serves whatever is active here.
CREATE TABLE e2eeftp_clients (
    public_key TEXT PRIMARY KEY,          -- standard base64 of the raw 32-byte Ed25519 key
    comment    TEXT NOT NULL DEFAULT '',
    added_at   TEXT NOT NULL,
    revoked_at TEXT NOT NULL DEFAULT ''   -- '' while authorized
);
