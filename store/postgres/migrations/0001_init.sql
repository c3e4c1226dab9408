-- 0001: the initial schema. Migrate runs this file once, in a transaction,
-- with search_path set to the Store's schema, so names are unqualified.

-- Directory: organisations, users, clients and per-client roles.

CREATE TABLE organizations (
	id     text PRIMARY KEY,
	name   text NOT NULL DEFAULT '',
	-- NULL for a root organisation.
	parent text REFERENCES organizations (id)
);

CREATE TABLE users (
	id       text PRIMARY KEY,
	username text NOT NULL DEFAULT '',
	name     text NOT NULL DEFAULT '',
	email    text NOT NULL DEFAULT '',
	org      text NOT NULL REFERENCES organizations (id),
	disabled boolean NOT NULL DEFAULT false
);

-- A username, when set, names one user.
CREATE UNIQUE INDEX users_username_key ON users (username) WHERE username <> '';
CREATE INDEX users_org_idx ON users (org);

CREATE TABLE clients (
	id                text PRIMARY KEY,
	name              text NOT NULL DEFAULT '',
	secret_hash       text NOT NULL DEFAULT '',
	-- The lists are NULL when the Go slice is nil, '{}' when it is empty.
	redirect_uris     text[],
	scopes            text[],
	grant_types       text[],
	response_modes    text[],
	audiences         text[],
	disabled          boolean NOT NULL DEFAULT false,
	impersonation     boolean NOT NULL DEFAULT false,
	-- Zero means the service default.
	subject_token_ttl interval NOT NULL DEFAULT '0',
	access_token_ttl  interval NOT NULL DEFAULT '0'
);

CREATE TABLE roles (
	client_id text NOT NULL REFERENCES clients (id),
	name      text NOT NULL,
	scopes    text[],
	PRIMARY KEY (client_id, name)
);

CREATE TABLE role_users (
	client_id text NOT NULL,
	name      text NOT NULL,
	user_id   text NOT NULL,
	PRIMARY KEY (client_id, name, user_id),
	FOREIGN KEY (client_id, name) REFERENCES roles (client_id, name) ON DELETE CASCADE
);

CREATE INDEX role_users_user_idx ON role_users (user_id, client_id);

-- Shared token state. Rows live until expires_at (window_end for rate
-- limits); expired rows are deleted by Sweep and opportunistically.

CREATE TABLE used_jti (
	id         text PRIMARY KEY,
	expires_at timestamptz NOT NULL
);

CREATE INDEX used_jti_expires_at_idx ON used_jti (expires_at);

CREATE TABLE revoked (
	id         text PRIMARY KEY,
	expires_at timestamptz NOT NULL
);

CREATE INDEX revoked_expires_at_idx ON revoked (expires_at);

CREATE TABLE rate_limits (
	key          text PRIMARY KEY,
	window_start timestamptz NOT NULL,
	window_end   timestamptz NOT NULL,
	count        bigint NOT NULL
);

CREATE INDEX rate_limits_window_end_idx ON rate_limits (window_end);

-- The audit log: append-only. The Store inserts and selects, nothing else.
-- at holds the event time to the microsecond (timestamptz's precision);
-- at_nanos the nanoseconds below it, so that Event.Time reads back exactly.

CREATE TABLE audit_events (
	id            bigserial PRIMARY KEY,
	at            timestamptz NOT NULL,
	at_nanos      smallint NOT NULL DEFAULT 0 CHECK (at_nanos BETWEEN 0 AND 999),
	type          text NOT NULL,
	client_id     text NOT NULL DEFAULT '',
	impersonator  text NOT NULL DEFAULT '',
	subject       text NOT NULL DEFAULT '',
	org           text NOT NULL DEFAULT '',
	jti           text NOT NULL DEFAULT '',
	scopes        text[],
	outcome       text NOT NULL DEFAULT '',
	reason        text NOT NULL DEFAULT '',
	method        text NOT NULL DEFAULT '',
	path          text NOT NULL DEFAULT '',
	justification text NOT NULL DEFAULT ''
);

CREATE INDEX audit_events_at_idx ON audit_events (at, at_nanos, id);
CREATE INDEX audit_events_impersonator_at_idx ON audit_events (impersonator, at, at_nanos, id);
CREATE INDEX audit_events_subject_at_idx ON audit_events (subject, at, at_nanos, id);
