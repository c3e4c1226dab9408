-- 0004: audit events by organisation and time, for queries scoped to an
-- organisation subtree (store.AuditScope.Orgs: org = ANY(...)). The
-- impersonator and subject indexes of 0001 serve the scope's user.
--
-- CREATE INDEX (not CONCURRENTLY: Migrate runs each file in a
-- transaction) blocks inserts into audit_events while it builds; on a
-- large log, build it by hand first with CREATE INDEX CONCURRENTLY
-- IF NOT EXISTS under this name, and this migration then does nothing.

CREATE INDEX IF NOT EXISTS audit_events_org_at_idx ON audit_events (org, at, at_nanos, id);
