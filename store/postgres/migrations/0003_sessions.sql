-- 0003: impersonation sessions (store.Sessions), at most one per login
-- session.
--
-- login_session is the host's identifier of its login session, stored as
-- given: hosts pass a hash of the session cookie, never the cookie itself.
-- Times are kept to the microsecond (timestamptz's precision; the Store
-- truncates). A row is live while expires is after the Store's clock;
-- expired rows are deleted by Sweep and opportunistically as sessions are
-- put.

CREATE TABLE impersonation_sessions (
	login_session      text PRIMARY KEY,
	id                 text NOT NULL,
	impersonator       text NOT NULL DEFAULT '',
	subject            text NOT NULL DEFAULT '',
	client_id          text NOT NULL DEFAULT '',
	org                text NOT NULL DEFAULT '',
	reason             text NOT NULL DEFAULT '',
	started            timestamptz NOT NULL,
	expires            timestamptz NOT NULL,
	start_token_id     text NOT NULL DEFAULT '',
	start_token_expiry timestamptz NOT NULL
);

CREATE INDEX impersonation_sessions_expires_idx ON impersonation_sessions (expires);
