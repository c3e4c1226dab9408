-- 0006: the access users give to be impersonated (store.SubjectGrants),
-- and the clients that require it (store.Client.RequireSubjectGrant; a
-- client stored before requires none).
--
-- One row per grant, keyed by subject and id. impersonator is '' for any
-- impersonator of the client. revoked is NULL while the grant is not
-- revoked. Times are kept to the microsecond (the Store truncates).

CREATE TABLE IF NOT EXISTS subject_grants (
	subject      text NOT NULL,
	id           text NOT NULL,
	client_id    text NOT NULL,
	impersonator text NOT NULL DEFAULT '',
	created      timestamptz NOT NULL,
	expires      timestamptz NOT NULL,
	revoked      timestamptz,
	PRIMARY KEY (subject, id)
);

CREATE INDEX IF NOT EXISTS subject_grants_subject_expires_idx ON subject_grants (subject, expires);

ALTER TABLE clients ADD COLUMN IF NOT EXISTS require_subject_grant boolean NOT NULL DEFAULT false;
