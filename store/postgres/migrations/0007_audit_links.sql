-- 0007: what links the records of one impersonation, and when what an
-- event issued expires (store.Event.Parent and Expires), for reading a
-- user's impersonations back (store.AuditQuery.IDs, Types, NewestFirst,
-- After).
--
-- They live in a table of their own, one row per event that has either,
-- written by the same INSERT statement as the event: audit_events stays
-- as it was (append-only, its rows never altered), and an event recorded
-- before this migration has no row here, so no parent and no expiry. The
-- table is append-only too.
--
-- The jti index and this table's parent index serve queries by IDs. CREATE
-- INDEX (not CONCURRENTLY: Migrate runs each file in a transaction) blocks
-- inserts into audit_events while it builds; on a large log, build it by
-- hand first with CREATE INDEX CONCURRENTLY IF NOT EXISTS under this name,
-- and this migration then does not.

CREATE TABLE IF NOT EXISTS audit_event_links (
	event_id bigint PRIMARY KEY REFERENCES audit_events (id),
	parent   text NOT NULL DEFAULT '',
	-- NULL when the event issued nothing that expires.
	expires  timestamptz
);

CREATE INDEX IF NOT EXISTS audit_event_links_parent_idx ON audit_event_links (parent) WHERE parent <> '';
CREATE INDEX IF NOT EXISTS audit_events_jti_idx ON audit_events (jti);
