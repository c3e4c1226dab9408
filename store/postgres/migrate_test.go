package postgres_test

import (
	"context"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/store"
	"github.com/actas/actas/store/postgres"
)

// fileVersions returns the versions of migrations/NNNN_name.sql.
func fileVersions(t *testing.T) []int64 {
	t.Helper()
	entries, err := os.ReadDir("migrations")
	require.NoError(t, err)
	var out []int64
	for _, e := range entries {
		digits, _, ok := strings.Cut(e.Name(), "_")
		require.True(t, ok, e.Name())
		v, err := strconv.ParseInt(digits, 10, 64)
		require.NoError(t, err, e.Name())
		out = append(out, v)
	}
	require.NotEmpty(t, out)
	return out
}

type applied struct {
	version int64
	at      time.Time
}

func appliedMigrations(t *testing.T, pool *pgxpool.Pool, schema string) []applied {
	t.Helper()
	rows, err := pool.Query(context.Background(),
		"SELECT version, applied_at FROM "+pgx.Identifier{schema, "schema_migrations"}.Sanitize()+" ORDER BY version")
	require.NoError(t, err)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (applied, error) {
		var a applied
		err := r.Scan(&a.version, &a.at)
		return a, err
	})
	require.NoError(t, err)
	return out
}

func versions(as []applied) []int64 {
	var out []int64
	for _, a := range as {
		out = append(out, a.version)
	}
	return out
}

func TestMigrateTwiceIsHarmlessAndVersioned(t *testing.T) {
	t.Parallel()
	pool := connect(t)
	schema := newSchema(t, pool)
	s, err := postgres.New(pool, postgres.WithSchema(schema))
	require.NoError(t, err)
	ctx := context.Background()

	require.NoError(t, s.Migrate(ctx))
	first := appliedMigrations(t, pool, schema)
	assert.Equal(t, fileVersions(t), versions(first), "every embedded migration is recorded once")
	assert.Equal(t, releasedVersions, versions(first))

	require.NoError(t, s.Record(ctx, sampleEvent(time.Now(), "kept")))
	require.NoError(t, s.PutSession(ctx, sampleSession(time.Now(), "login", time.Hour)))
	require.NoError(t, s.Migrate(ctx), "a second run is harmless")
	assert.Equal(t, first, appliedMigrations(t, pool, schema), "nothing re-applied")
	assert.Equal(t, 1, count(t, pool, schema, "audit_events"), "data survives a second run")
	_, err = s.SessionFor(ctx, "login")
	assert.NoError(t, err, "sessions survive a second run")
}

// releasedVersions are the migrations this release embeds. A new migration
// is appended here; an applied one is never edited.
var releasedVersions = []int64{1, 2, 3, 4, 5, 6, 7}

func TestEmbeddedMigrationsAreTheReleasedOnes(t *testing.T) {
	t.Parallel()
	assert.Equal(t, releasedVersions, fileVersions(t))
}

// TestMigrateAddsSessionsToAnExistingSchema upgrades a schema that a
// release before impersonation sessions migrated (versions 1 and 2, with
// data): Migrate applies only 0003 and keeps the data.
func TestMigrateAddsSessionsToAnExistingSchema(t *testing.T) {
	t.Parallel()
	pool := connect(t)
	s := newStore(t, pool)
	schema := s.Schema()
	ctx := context.Background()
	// Back to the schema of the release before sessions (and before the
	// audit organisation index that came after them).
	_, err := pool.Exec(ctx, "DROP TABLE "+pgx.Identifier{schema, "impersonation_sessions"}.Sanitize())
	require.NoError(t, err)
	_, err = pool.Exec(ctx, "DROP INDEX "+pgx.Identifier{schema, "audit_events_org_at_idx"}.Sanitize())
	require.NoError(t, err)
	_, err = pool.Exec(ctx, "DELETE FROM "+pgx.Identifier{schema, "schema_migrations"}.Sanitize()+" WHERE version >= 3")
	require.NoError(t, err)
	before := appliedMigrations(t, pool, schema)
	require.Equal(t, []int64{1, 2}, versions(before))
	require.NoError(t, s.Record(ctx, sampleEvent(time.Now(), "kept")))
	require.NoError(t, s.Use(ctx, "jti-kept", time.Now().Add(time.Hour)))
	require.Error(t, s.PutSession(ctx, sampleSession(time.Now(), "login", time.Hour)), "no table yet")

	require.NoError(t, s.Migrate(ctx))
	after := appliedMigrations(t, pool, schema)
	assert.Equal(t, releasedVersions, versions(after))
	assert.Equal(t, before, after[:2], "the earlier versions are not re-applied")
	assert.Equal(t, 1, count(t, pool, schema, "audit_events"), "data survives the upgrade")
	assert.ErrorIs(t, s.Use(ctx, "jti-kept", time.Now().Add(time.Hour)), store.ErrAlreadyUsed)

	require.NoError(t, s.PutSession(ctx, sampleSession(time.Now(), "login", time.Hour)))
	_, err = s.SessionFor(ctx, "login")
	assert.NoError(t, err, "sessions work after the upgrade")
	require.NoError(t, s.Migrate(ctx), "and Migrate stays idempotent")
	assert.Equal(t, after, appliedMigrations(t, pool, schema))
}

// TestMigrateAddsAuditOrgIndexToAnExistingSchema upgrades a schema that
// the release before organisation-scoped audit queries migrated (versions
// 1 to 3, with events): Migrate applies only 0004, the index exists, the
// events are kept and a scoped query finds them.
func TestMigrateAddsAuditOrgIndexToAnExistingSchema(t *testing.T) {
	t.Parallel()
	pool := connect(t)
	s := newStore(t, pool)
	schema := s.Schema()
	ctx := context.Background()
	_, err := pool.Exec(ctx, "DROP INDEX "+pgx.Identifier{schema, "audit_events_org_at_idx"}.Sanitize())
	require.NoError(t, err)
	// That release had none of the later migrations either (0005 adds
	// its columns IF NOT EXISTS, so they may stay).
	_, err = pool.Exec(ctx, "DELETE FROM "+pgx.Identifier{schema, "schema_migrations"}.Sanitize()+" WHERE version >= 4")
	require.NoError(t, err)
	before := appliedMigrations(t, pool, schema)
	require.Equal(t, []int64{1, 2, 3}, versions(before))
	require.False(t, hasIndex(t, pool, schema, "audit_events_org_at_idx"))
	require.NoError(t, s.Record(ctx, sampleEvent(time.Now(), "kept")))

	require.NoError(t, s.Migrate(ctx))
	after := appliedMigrations(t, pool, schema)
	assert.Equal(t, releasedVersions, versions(after))
	assert.Equal(t, before, after[:3], "the earlier versions are not re-applied")
	assert.True(t, hasIndex(t, pool, schema, "audit_events_org_at_idx"))
	got, err := s.QueryEvents(ctx, store.AuditQuery{Scope: &store.AuditScope{Orgs: []string{"acme-eu"}}})
	require.NoError(t, err)
	require.Len(t, got, 1, "the event recorded before the upgrade is found by organisation")
	assert.Equal(t, "kept", got[0].JTI)
}

// TestMigrateAddsClientLogoutToAnExistingSchema upgrades a schema that
// the release before RP-Initiated Logout migrated (versions 1 to 4, with a
// client): Migrate applies only 0005, the client is kept with no
// post-logout redirect URIs and logout consent asked, and the new fields
// are stored from then on.
func TestMigrateAddsClientLogoutToAnExistingSchema(t *testing.T) {
	t.Parallel()
	pool := connect(t)
	s := newStore(t, pool)
	schema := s.Schema()
	ctx := context.Background()
	clients := pgx.Identifier{schema, "clients"}.Sanitize()
	_, err := pool.Exec(ctx, "ALTER TABLE "+clients+" DROP COLUMN post_logout_redirect_uris, DROP COLUMN skip_logout_consent, DROP COLUMN reason_required")
	require.NoError(t, err)
	_, err = pool.Exec(ctx, "DROP TABLE "+pgx.Identifier{schema, "subject_grants"}.Sanitize()+"; ALTER TABLE "+clients+" DROP COLUMN require_subject_grant")
	require.NoError(t, err)
	_, err = pool.Exec(ctx, "DELETE FROM "+pgx.Identifier{schema, "schema_migrations"}.Sanitize()+" WHERE version >= 5")
	require.NoError(t, err)
	before := appliedMigrations(t, pool, schema)
	require.Equal(t, []int64{1, 2, 3, 4}, versions(before))
	_, err = pool.Exec(ctx, "INSERT INTO "+clients+" (id, redirect_uris) VALUES ('kept', '{https://kept.example/cb}')")
	require.NoError(t, err)
	_, err = s.Client(ctx, "kept")
	require.Error(t, err, "no logout columns yet")

	require.NoError(t, s.Migrate(ctx))
	after := appliedMigrations(t, pool, schema)
	assert.Equal(t, releasedVersions, versions(after))
	assert.Equal(t, before, after[:4], "the earlier versions are not re-applied")
	c, err := s.Client(ctx, "kept")
	require.NoError(t, err)
	assert.Equal(t, store.Client{ID: "kept", RedirectURIs: []string{"https://kept.example/cb"}}, *c,
		"the client survives the upgrade, with no post-logout redirect and logout consent asked")

	want := store.Client{ID: "kept", PostLogoutRedirectURIs: []string{"https://kept.example/bye"}, SkipLogoutConsent: true, ReasonRequired: true}
	require.NoError(t, s.PutClient(ctx, want))
	c, err = s.Client(ctx, "kept")
	require.NoError(t, err)
	assert.Equal(t, want, *c)
	require.NoError(t, s.Migrate(ctx), "and Migrate stays idempotent")
	assert.Equal(t, after, appliedMigrations(t, pool, schema))
}

// TestMigrateAddsAuditLinksToAnExistingSchema upgrades a schema that the
// release before the links of audit events migrated (every version before
// 7, with an event that release recorded): Migrate applies only 0007, the
// event is kept, with no parent and no expiry, and its rows are left as
// they were; events recorded from then on keep both.
func TestMigrateAddsAuditLinksToAnExistingSchema(t *testing.T) {
	t.Parallel()
	pool := connect(t)
	s := newStore(t, pool)
	schema := s.Schema()
	ctx := context.Background()
	_, err := pool.Exec(ctx, "DROP TABLE "+pgx.Identifier{schema, "audit_event_links"}.Sanitize())
	require.NoError(t, err)
	_, err = pool.Exec(ctx, "DROP INDEX "+pgx.Identifier{schema, "audit_events_jti_idx"}.Sanitize())
	require.NoError(t, err)
	_, err = pool.Exec(ctx, "DELETE FROM "+pgx.Identifier{schema, "schema_migrations"}.Sanitize()+" WHERE version = 7")
	require.NoError(t, err)
	before := appliedMigrations(t, pool, schema)
	earlier := slices.DeleteFunc(slices.Clone(releasedVersions), func(v int64) bool { return v == 7 })
	require.Equal(t, earlier, versions(before))
	require.Error(t, s.Record(ctx, sampleEvent(time.Now(), "too-early")), "no links table yet")
	// What that release's Record wrote.
	at := time.Date(2030, 1, 1, 10, 0, 0, 0, time.UTC)
	_, err = pool.Exec(ctx, "INSERT INTO "+pgx.Identifier{schema, "audit_events"}.Sanitize()+
		" (at, type, subject, jti) VALUES ($1, 'token.exchanged', 'bob', 'kept')", at)
	require.NoError(t, err)

	require.NoError(t, s.Migrate(ctx))
	after := appliedMigrations(t, pool, schema)
	assert.Equal(t, releasedVersions, versions(after))
	assert.Equal(t, before, after[:len(before)], "the earlier versions are not re-applied")
	assert.True(t, hasIndex(t, pool, schema, "audit_events_jti_idx"))
	assert.True(t, hasIndex(t, pool, schema, "audit_event_links_parent_idx"))
	got, err := s.QueryEvents(ctx, store.AuditQuery{IDs: []string{"kept"}})
	require.NoError(t, err)
	require.Len(t, got, 1, "the event recorded before the upgrade is found by its jti")
	assert.Empty(t, got[0].Parent)
	assert.True(t, got[0].Expires.IsZero())

	e := sampleEvent(at.Add(time.Minute), "new")
	e.Parent, e.Expires = "kept", at.Add(time.Hour)
	require.NoError(t, s.Record(ctx, e))
	got, err = s.QueryEvents(ctx, store.AuditQuery{IDs: []string{"kept"}, NewestFirst: true})
	require.NoError(t, err)
	require.Len(t, got, 2, "the old event and the new one it links to")
	assert.Equal(t, "new", got[0].JTI)
	assert.Equal(t, "kept", got[0].Parent)
	assert.True(t, e.Expires.Equal(got[0].Expires))
	require.NoError(t, s.Migrate(ctx), "and Migrate stays idempotent")
	assert.Equal(t, after, appliedMigrations(t, pool, schema))
}

// hasIndex reports whether schema has an index named name.
func hasIndex(t *testing.T, pool *pgxpool.Pool, schema, name string) bool {
	t.Helper()
	var ok bool
	err := pool.QueryRow(context.Background(),
		"SELECT EXISTS (SELECT 1 FROM pg_indexes WHERE schemaname = $1 AND indexname = $2)", schema, name).Scan(&ok)
	require.NoError(t, err)
	return ok
}

func TestMigrateConcurrentlyFromTwoPools(t *testing.T) {
	t.Parallel()
	poolA, poolB := connect(t), connect(t)
	schema := newSchema(t, poolA)
	var stores []*postgres.Store
	for _, p := range []*pgxpool.Pool{poolA, poolB, poolA, poolB} {
		s, err := postgres.New(p, postgres.WithSchema(schema))
		require.NoError(t, err)
		stores = append(stores, s)
	}
	errs := make([]error, len(stores))
	var wg sync.WaitGroup
	for i, s := range stores {
		wg.Go(func() { errs[i] = s.Migrate(context.Background()) })
	}
	wg.Wait()
	for i, err := range errs {
		assert.NoError(t, err, "Migrate %d", i)
	}
	assert.Equal(t, fileVersions(t), versions(appliedMigrations(t, poolA, schema)))
}

func TestMigrateIntoAnExistingEmptySchema(t *testing.T) {
	t.Parallel()
	pool := connect(t)
	schema := newSchema(t, pool)
	_, err := pool.Exec(context.Background(), "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize())
	require.NoError(t, err)
	s, err := postgres.New(pool, postgres.WithSchema(schema))
	require.NoError(t, err)
	require.NoError(t, s.Migrate(context.Background()))
	assert.Equal(t, fileVersions(t), versions(appliedMigrations(t, pool, schema)))
}

func TestSchemasAreIsolated(t *testing.T) {
	t.Parallel()
	pool := connect(t)
	a, b := newStore(t, pool), newStore(t, pool)
	ctx := context.Background()
	exp := time.Now().Add(time.Hour)
	require.NoError(t, a.Use(ctx, "jti-1", exp))
	assert.NoError(t, b.Use(ctx, "jti-1", exp), "another schema is another store")
}
