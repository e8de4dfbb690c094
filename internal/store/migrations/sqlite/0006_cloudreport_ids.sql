-- 0006: cloudreport client ids match case-insensitively (00003e3b is
-- 00003E3B), so they are kept in lower case; and the registry records when
-- and from where a client was seen (open registration adds unknown ids on
-- their first INFO).
--
-- Rows whose ids differ only in case cannot all survive. Deterministically,
-- the oldest registration (smallest created_at; on a tie the smallest id in
-- byte order) keeps the lower-case id; every other row of its group is
-- moved, unchanged, into cloudreport_client_case_conflicts for the operator
-- to review (docs/cloudreport.md, "Client ids").
CREATE TABLE cloudreport_client_case_conflicts (
    id         TEXT NOT NULL,          -- the original spelling
    name       TEXT NOT NULL,
    expires    TEXT NOT NULL,
    enabled    INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    kept_id    TEXT NOT NULL           -- the lower-case id that survived
);

INSERT INTO cloudreport_client_case_conflicts (id, name, expires, enabled, created_at, kept_id)
SELECT c.id, c.name, c.expires, c.enabled, c.created_at, lower(c.id)
FROM cloudreport_clients c
WHERE EXISTS (
    SELECT 1 FROM cloudreport_clients o
    WHERE lower(o.id) = lower(c.id) AND o.id <> c.id
      AND (o.created_at < c.created_at OR (o.created_at = c.created_at AND o.id < c.id))
);

DELETE FROM cloudreport_clients WHERE id IN (SELECT id FROM cloudreport_client_case_conflicts);
UPDATE cloudreport_clients SET id = lower(id) WHERE id <> lower(id);
UPDATE cloudreport_errors SET client_id = lower(client_id) WHERE client_id <> lower(client_id);

ALTER TABLE cloudreport_clients ADD COLUMN first_seen TEXT;   -- RFC 3339, UTC; NULL: never seen
ALTER TABLE cloudreport_clients ADD COLUMN last_seen TEXT;
ALTER TABLE cloudreport_clients ADD COLUMN last_addr TEXT;
