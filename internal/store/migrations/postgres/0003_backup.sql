-- 0003: backup service. Client ids are dashed lowercase UUID text; keys are
-- raw bytes (the AES key sealed with the service's master key).
CREATE TABLE backup_clients (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    public_key BYTEA,
    aes_key    BYTEA,
    created_at TEXT NOT NULL,
    last_seen  TEXT NOT NULL
);
CREATE INDEX backup_clients_name ON backup_clients (name);

CREATE TABLE backup_files (
    client_id   TEXT NOT NULL REFERENCES backup_clients (id) ON DELETE CASCADE,
    file_name   TEXT NOT NULL,
    path        TEXT NOT NULL,
    size        BIGINT NOT NULL,
    crc         BIGINT NOT NULL,
    at_rest_key BYTEA,
    verified    BOOLEAN NOT NULL DEFAULT FALSE,
    status      TEXT NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 1,
    uploaded_at TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (client_id, file_name)
);
