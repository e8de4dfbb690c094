-- 0002: cloudreport client registry and the error reports clients send (ERRL).
CREATE TABLE cloudreport_clients (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    expires    TEXT NOT NULL,          -- YYYY-MM-DD
    enabled    INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL           -- RFC 3339, UTC
);

CREATE TABLE cloudreport_errors (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    client_id  TEXT NOT NULL,          -- registry id, or "init:<n>" before INFO
    peer       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    text       TEXT NOT NULL,
    data       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX cloudreport_errors_client ON cloudreport_errors (client_id, id);
