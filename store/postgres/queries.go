package postgres

// The statements the Store runs, with {s} standing for the quoted schema
// name; [newQueries] renders them once in New. Times compared against
// "now" are always a parameter from the Store's clock.
const (
	sqlClient = `SELECT id, name, secret_hash, redirect_uris, scopes, grant_types,
	disabled, impersonation, response_modes, audiences, subject_token_ttl, access_token_ttl, refresh_tokens,
	post_logout_redirect_uris, skip_logout_consent, reason_required, require_subject_grant
FROM {s}.clients WHERE id = $1`

	sqlPutClient = `INSERT INTO {s}.clients AS c (id, name, secret_hash, redirect_uris, scopes, grant_types,
	disabled, impersonation, response_modes, audiences, subject_token_ttl, access_token_ttl, refresh_tokens,
	post_logout_redirect_uris, skip_logout_consent, reason_required, require_subject_grant)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, secret_hash = EXCLUDED.secret_hash,
	redirect_uris = EXCLUDED.redirect_uris, scopes = EXCLUDED.scopes, grant_types = EXCLUDED.grant_types,
	disabled = EXCLUDED.disabled, impersonation = EXCLUDED.impersonation,
	response_modes = EXCLUDED.response_modes, audiences = EXCLUDED.audiences,
	subject_token_ttl = EXCLUDED.subject_token_ttl, access_token_ttl = EXCLUDED.access_token_ttl,
	refresh_tokens = EXCLUDED.refresh_tokens,
	post_logout_redirect_uris = EXCLUDED.post_logout_redirect_uris, skip_logout_consent = EXCLUDED.skip_logout_consent,
	reason_required = EXCLUDED.reason_required, require_subject_grant = EXCLUDED.require_subject_grant`

	sqlUser = `SELECT id, username, name, email, org, disabled FROM {s}.users WHERE id = $1`

	sqlPutUser = `INSERT INTO {s}.users AS u (id, username, name, email, org, disabled)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (id) DO UPDATE SET username = EXCLUDED.username, name = EXCLUDED.name,
	email = EXCLUDED.email, org = EXCLUDED.org, disabled = EXCLUDED.disabled`

	sqlOrganization = `SELECT id, name, COALESCE(parent, '') FROM {s}.organizations WHERE id = $1`

	// sqlOrgAncestry walks up from $1 (the new parent) and reports
	// whether it exists and whether $2 (the organisation being put) is
	// among its ancestors or itself. UNION (not UNION ALL) ends the walk
	// even on a cycle that should never be there.
	sqlOrgAncestry = `WITH RECURSIVE chain (id, parent) AS (
	SELECT id, parent FROM {s}.organizations WHERE id = $1
	UNION
	SELECT o.id, o.parent FROM {s}.organizations o JOIN chain c ON o.id = c.parent
)
SELECT EXISTS (SELECT 1 FROM chain WHERE id = $1), EXISTS (SELECT 1 FROM chain WHERE id = $2)`

	sqlPutOrganization = `INSERT INTO {s}.organizations AS o (id, name, parent) VALUES ($1, $2, $3)
ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, parent = EXCLUDED.parent`

	sqlPutRole = `INSERT INTO {s}.roles AS r (client_id, name, scopes) VALUES ($1, $2, $3)
ON CONFLICT (client_id, name) DO UPDATE SET scopes = EXCLUDED.scopes`

	sqlClearRoleUsers = `DELETE FROM {s}.role_users WHERE client_id = $1 AND name = $2`

	sqlAddRoleUsers = `INSERT INTO {s}.role_users (client_id, name, user_id)
SELECT $1, $2, u FROM unnest($3::text[]) AS u
ON CONFLICT DO NOTHING`

	sqlGrantedScopes = `SELECT DISTINCT sc
FROM {s}.roles r
JOIN {s}.role_users ru ON ru.client_id = r.client_id AND ru.name = r.name
CROSS JOIN LATERAL unnest(r.scopes) AS sc
WHERE r.client_id = $1 AND ru.user_id = $2
ORDER BY sc`

	// sqlUse inserts the id, or takes over its row when that has expired
	// ($3 is now); no row back means it is held: a replay.
	sqlUse = `INSERT INTO {s}.used_jti AS u (id, expires_at) VALUES ($1, $2)
ON CONFLICT (id) DO UPDATE SET expires_at = EXCLUDED.expires_at WHERE u.expires_at <= $3
RETURNING id`

	// sqlRevoke keeps the later expiry while a revocation is live, so a
	// second Revoke never shortens one.
	sqlRevoke = `INSERT INTO {s}.revoked AS r (id, expires_at) VALUES ($1, $2)
ON CONFLICT (id) DO UPDATE SET expires_at = CASE
	WHEN r.expires_at > $3 THEN GREATEST(r.expires_at, EXCLUDED.expires_at)
	ELSE EXCLUDED.expires_at END`

	sqlRevoked = `SELECT EXISTS (SELECT 1 FROM {s}.revoked WHERE id = $1 AND expires_at > $2)`

	// sqlAllow counts one event in the key's window, starting a new
	// window ($2..$3) when the stored one has ended ($4 is now). The
	// right-hand sides all read the row as it was, so the three CASEs
	// agree.
	sqlAllow = `INSERT INTO {s}.rate_limits AS r (key, window_start, window_end, count) VALUES ($1, $2, $3, 1)
ON CONFLICT (key) DO UPDATE SET
	count        = CASE WHEN r.window_end > $4 THEN r.count + 1 ELSE 1 END,
	window_start = CASE WHEN r.window_end > $4 THEN r.window_start ELSE EXCLUDED.window_start END,
	window_end   = CASE WHEN r.window_end > $4 THEN r.window_end ELSE EXCLUDED.window_end END
RETURNING count`

	// sqlRecord inserts the event and, when it has a parent ($15) or an
	// expiry ($16), its audit_event_links row, in one statement.
	sqlRecord = `WITH e AS (
	INSERT INTO {s}.audit_events (at, at_nanos, type, client_id, impersonator, subject, org,
		jti, scopes, outcome, reason, method, path, justification)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
	RETURNING id
)
INSERT INTO {s}.audit_event_links (event_id, parent, expires)
SELECT id, $15, $16 FROM e WHERE $15 <> '' OR $16::timestamptz IS NOT NULL`

	// sqlQueryEvents is completed by QueryEvents with its WHERE, ORDER BY
	// and LIMIT.
	sqlQueryEvents = `SELECT a.id, at, at_nanos, type, client_id, impersonator, subject, org,
	jti, scopes, outcome, reason, method, path, justification, COALESCE(l.parent, ''), l.expires
FROM {s}.audit_events a LEFT JOIN {s}.audit_event_links l ON l.event_id = a.id`

	// sqlEventsByID is the condition of AuditQuery.IDs, $ID the array of
	// IDs: the events of those jti and those whose parent they are,
	// each found through its index.
	sqlEventsByID = `a.id IN (SELECT id FROM {s}.audit_events WHERE jti = ANY($ID::text[])
	UNION ALL SELECT event_id FROM {s}.audit_event_links WHERE parent <> '' AND parent = ANY($ID::text[]))`

	// sqlPutSession stores a session, replacing the login session's
	// previous one, live or expired.
	sqlPutSession = `INSERT INTO {s}.impersonation_sessions (login_session, id, impersonator, subject,
	client_id, org, reason, started, expires, start_token_id, start_token_expiry)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
ON CONFLICT (login_session) DO UPDATE SET id = EXCLUDED.id, impersonator = EXCLUDED.impersonator,
	subject = EXCLUDED.subject, client_id = EXCLUDED.client_id, org = EXCLUDED.org,
	reason = EXCLUDED.reason, started = EXCLUDED.started, expires = EXCLUDED.expires,
	start_token_id = EXCLUDED.start_token_id, start_token_expiry = EXCLUDED.start_token_expiry`

	// sqlSession reads the login session's session while it is live ($2
	// is now).
	sqlSession = `SELECT id, impersonator, subject, client_id, org, reason, started, expires,
	start_token_id, start_token_expiry
FROM {s}.impersonation_sessions WHERE login_session = $1 AND expires > $2`

	sqlDeleteSession = `DELETE FROM {s}.impersonation_sessions WHERE login_session = $1`
)

// sweepTable is one table whose rows expire.
type sweepTable int

const (
	sweepUsed sweepTable = iota
	sweepRevoked
	sweepRates
	sweepSessions
	numSweepTables
)

// Expired-row deletions: every one at once (Sweep), and a bounded batch
// that skips rows another transaction holds (after writes).
const (
	sqlSweepUsed     = `DELETE FROM {s}.used_jti WHERE expires_at <= $1`
	sqlSweepRevoked  = `DELETE FROM {s}.revoked WHERE expires_at <= $1`
	sqlSweepRates    = `DELETE FROM {s}.rate_limits WHERE window_end <= $1`
	sqlSweepSessions = `DELETE FROM {s}.impersonation_sessions WHERE expires <= $1`

	sqlTrimUsed = `DELETE FROM {s}.used_jti WHERE id IN (
	SELECT id FROM {s}.used_jti WHERE expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`
	sqlTrimRevoked = `DELETE FROM {s}.revoked WHERE id IN (
	SELECT id FROM {s}.revoked WHERE expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`
	sqlTrimRates = `DELETE FROM {s}.rate_limits WHERE key IN (
	SELECT key FROM {s}.rate_limits WHERE window_end <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`
	sqlTrimSessions = `DELETE FROM {s}.impersonation_sessions WHERE login_session IN (
	SELECT login_session FROM {s}.impersonation_sessions WHERE expires <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`
)

// queries holds the statements rendered for one schema.
type queries struct {
	client, putClient           string
	user, putUser               string
	organization, orgAncestry   string
	putOrganization             string
	putRole, clearRoleUsers     string
	addRoleUsers, grantedScopes string
	use, revoke, revoked, allow string
	record, queryEvents         string
	eventsByID                  string
	putSession, session         string
	deleteSession               string
	putSubjectGrant             string
	subjectGrantsOf             string
	revokeSubjectGrant          string
	// sweep deletes every expired row, trim a bounded batch.
	sweep, trim     [numSweepTables]string
	migrationsTable string
}

func newQueries(quoted string) queries {
	r := func(q string) string { return render(quoted, q) }
	return queries{
		client:          r(sqlClient),
		putClient:       r(sqlPutClient),
		user:            r(sqlUser),
		putUser:         r(sqlPutUser),
		organization:    r(sqlOrganization),
		orgAncestry:     r(sqlOrgAncestry),
		putOrganization: r(sqlPutOrganization),
		putRole:         r(sqlPutRole),
		clearRoleUsers:  r(sqlClearRoleUsers),
		addRoleUsers:    r(sqlAddRoleUsers),
		grantedScopes:   r(sqlGrantedScopes),
		use:             r(sqlUse),
		revoke:          r(sqlRevoke),
		revoked:         r(sqlRevoked),
		allow:           r(sqlAllow),
		record:          r(sqlRecord),
		queryEvents:     r(sqlQueryEvents),
		eventsByID:      r(sqlEventsByID),
		putSession:      r(sqlPutSession),
		session:         r(sqlSession),
		deleteSession:   r(sqlDeleteSession),

		putSubjectGrant:    r(sqlPutSubjectGrant),
		subjectGrantsOf:    r(sqlSubjectGrantsOf),
		revokeSubjectGrant: r(sqlRevokeSubjectGrant),
		sweep: [numSweepTables]string{
			r(sqlSweepUsed), r(sqlSweepRevoked), r(sqlSweepRates), r(sqlSweepSessions),
		},
		trim: [numSweepTables]string{
			r(sqlTrimUsed), r(sqlTrimRevoked), r(sqlTrimRates), r(sqlTrimSessions),
		},
		migrationsTable: r(`{s}.schema_migrations`),
	}
}
