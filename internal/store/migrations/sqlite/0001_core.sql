-- 0001: daemon-wide facts (reserved for core use: instance ids, settings).
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
