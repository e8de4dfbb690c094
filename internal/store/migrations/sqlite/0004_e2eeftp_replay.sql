-- 0004: e2eeftp replay log. One row per accepted client hello, keyed by the
-- client's raw 32-byte X25519 ephemeral key, so daemons sharing the store
-- refuse a hello already used on any of them. seen_at is fixed-width UTC
-- RFC 3339 text (nanoseconds), so text order is time order for the prune.
CREATE TABLE e2eeftp_replay (
    eph     BLOB PRIMARY KEY,
    seen_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX e2eeftp_replay_seen ON e2eeftp_replay (seen_at);
