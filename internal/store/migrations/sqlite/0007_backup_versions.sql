-- 0006: backup keeps every verified upload as a version of (client, file),
-- numbered 1, 2, 3, ... per file; nothing a client sends deletes one (only
-- the operator's retention, applied by the sweeper). A version owns its
-- blob. upload_key is the sealed AES key the upload was encrypted with (a
-- restore re-encrypts with the client's current key and can tell whether
-- that is the same one); plain_size is the file's size in bytes (NULL when
-- unknown: at-rest rows from before this migration).
CREATE TABLE backup_versions (
    client_id   TEXT NOT NULL REFERENCES backup_clients (id) ON DELETE CASCADE,
    file_name   TEXT NOT NULL,
    version     INTEGER NOT NULL,
    path        TEXT NOT NULL,
    size        INTEGER NOT NULL,
    plain_size  INTEGER,
    crc         INTEGER NOT NULL,
    at_rest_key BLOB,
    upload_key  BLOB,
    uploaded_at TEXT NOT NULL,
    verified_at TEXT NOT NULL,
    PRIMARY KEY (client_id, file_name, version)
);

-- Every file verified so far becomes its version 1.
INSERT INTO backup_versions (client_id, file_name, version, path, size, plain_size, crc, at_rest_key, upload_key,
    uploaded_at, verified_at)
SELECT client_id, file_name, 1, path, size, CASE WHEN at_rest_key IS NULL THEN size END, crc, at_rest_key, NULL,
    uploaded_at, updated_at
FROM backup_files WHERE status = 'verified';

-- The upload held by a row (current and pending) carries the same two facts
-- until it becomes a version.
ALTER TABLE backup_files ADD COLUMN plain_size INTEGER;
ALTER TABLE backup_files ADD COLUMN upload_key BLOB;
ALTER TABLE backup_files ADD COLUMN pending_plain_size INTEGER;
ALTER TABLE backup_files ADD COLUMN pending_upload_key BLOB;
UPDATE backup_files SET plain_size = size WHERE at_rest_key IS NULL;
UPDATE backup_files SET pending_plain_size = pending_size WHERE pending_path IS NOT NULL AND pending_at_rest_key IS NULL;
