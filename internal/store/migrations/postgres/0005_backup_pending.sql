-- 0005: backup keeps a client's last verified copy of a file until a new
-- upload of the same name is confirmed (1029): the new upload waits in the
-- pending_* columns (its own blob), and is swapped in on 1029 or discarded
-- on 1031. gen counts every change of a row, for compare-and-swap updates.
ALTER TABLE backup_files ADD COLUMN pending_path TEXT;
ALTER TABLE backup_files ADD COLUMN pending_size BIGINT;
ALTER TABLE backup_files ADD COLUMN pending_crc BIGINT;
ALTER TABLE backup_files ADD COLUMN pending_at_rest_key BYTEA;
ALTER TABLE backup_files ADD COLUMN pending_uploaded_at TEXT;
ALTER TABLE backup_files ADD COLUMN gen BIGINT NOT NULL DEFAULT 0;

-- Bad-padding uploads per client, shared by every daemon on the store.
CREATE TABLE backup_padding_failures (
    client_id TEXT PRIMARY KEY REFERENCES backup_clients (id) ON DELETE CASCADE,
    failures  INTEGER NOT NULL,
    since     TEXT NOT NULL
);
