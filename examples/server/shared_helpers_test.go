package main

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/internal/testkit"
	"github.com/actas/actas/store"
	"github.com/actas/actas/store/postgres"
)

// The shared-store tests run against the real Redis and PostgreSQL on
// 127.0.0.1, as the adapters' own tests do; .ci/run starts them when they
// are down. They are never skipped: an unreachable server fails the test
// with the command that starts it.
const (
	testRedisAddr = "127.0.0.1:6379"
	startRedis    = `redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no ` +
		`--dir /var/lib/redis --logfile /var/log/redis/ci.log   (or run .ci/run)`
	// defaultTestPostgres is the test database; ACTAS_TEST_POSTGRES
	// overrides it, as in store/postgres's tests.
	defaultTestPostgres = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	startPostgres       = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start   (or run .ci/run)"
)

func testPostgresURL() string {
	if v := os.Getenv("ACTAS_TEST_POSTGRES"); v != "" {
		return v
	}
	return defaultTestPostgres
}

// sharedStores are a Redis key prefix and a PostgreSQL schema of one
// test's own, emptied and dropped at cleanup, with clients of their own to
// look behind the servers' backs.
type sharedStores struct {
	redisURL string
	prefix   string
	pgURL    string
	schema   string
	rdb      *redis.Client
	pool     *pgxpool.Pool
}

func newSharedStores(t *testing.T) *sharedStores {
	t.Helper()
	ss := &sharedStores{
		redisURL: "redis://" + testRedisAddr + "/0",
		prefix:   "actastest:server:" + rand.Text() + ":",
		pgURL:    testPostgresURL(),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	ss.rdb = redis.NewClient(&redis.Options{Addr: testRedisAddr})
	t.Cleanup(func() { _ = ss.rdb.Close() })
	require.NoError(t, ss.rdb.Ping(ctx).Err(), "Redis is not reachable at %s; start it with\n\t%s", testRedisAddr, startRedis)
	t.Cleanup(func() {
		ctx := context.Background()
		iter := ss.rdb.Scan(ctx, 0, ss.prefix+"*", 100).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		assert.NoError(t, iter.Err(), "scan for cleanup")
		if len(keys) > 0 {
			assert.NoError(t, ss.rdb.Del(ctx, keys...).Err(), "cleanup")
		}
	})

	pool, err := pgxpool.New(ctx, ss.pgURL)
	require.NoError(t, err, "PostgreSQL URL %q", ss.pgURL)
	ss.pool = pool
	t.Cleanup(pool.Close)
	require.NoError(t, pool.Ping(ctx), "PostgreSQL is not reachable at %q; start it with\n\t%s\n(or point ACTAS_TEST_POSTGRES at a database)", ss.pgURL, startPostgres)
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	ss.schema = "actastest_server_" + hex.EncodeToString(b)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := pool.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{ss.schema}.Sanitize()+" CASCADE")
		assert.NoError(t, err, "drop schema %s", ss.schema)
	})
	return ss
}

// both configures an instance for Redis and PostgreSQL.
func (ss *sharedStores) both(cfg *config) {
	ss.redis(cfg)
	ss.postgres(cfg)
}

// redis configures an instance for Redis.
func (ss *sharedStores) redis(cfg *config) {
	cfg.Redis, cfg.RedisPrefix = ss.redisURL, ss.prefix
}

// postgres configures an instance for PostgreSQL.
func (ss *sharedStores) postgres(cfg *config) {
	cfg.Postgres, cfg.PostgresSchema = ss.pgURL, ss.schema
}

// store is an adapter of the test's own on the test's schema.
func (ss *sharedStores) store(t *testing.T) *postgres.Store {
	t.Helper()
	s, err := postgres.New(ss.pool, postgres.WithSchema(ss.schema))
	require.NoError(t, err)
	return s
}

// events returns the shared audit log, oldest first.
func (ss *sharedStores) events(t *testing.T) []store.Event {
	t.Helper()
	events, err := ss.store(t).QueryEvents(context.Background(), store.AuditQuery{})
	require.NoError(t, err)
	return events
}

// count returns the rows of one table of the test's schema.
func (ss *sharedStores) count(t *testing.T, table string) int {
	t.Helper()
	var n int
	err := ss.pool.QueryRow(context.Background(), "SELECT count(*) FROM "+pgx.Identifier{ss.schema, table}.Sanitize()).Scan(&n)
	require.NoError(t, err)
	return n
}

// sharedKeysDir writes one ES256 key into a directory of its own: what
// every instance behind one issuer is given with -keys, so that each
// verifies the tokens of the others.
func sharedKeysDir(t *testing.T) string {
	t.Helper()
	key, err := store.GenerateKey(store.ES256)
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(key.Key)
	require.NoError(t, err)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "signing.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600))
	return dir
}

// newInstance starts one instance of the issuer iss (its own URL when
// empty) on httptest. Its fixture's issuer field is the instance's own
// URL, where the test reaches it; f.s.issuer is the issuer proper. The
// instances of one test talk to each other only through the shared
// stores: a test drives each instance's URL itself, as a load balancer
// would. (The demo app calls the issuer's URL, instance A's.)
func newInstance(t *testing.T, iss string, mutate ...func(*config)) *fixture {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	own := "http://" + srv.Listener.Addr().String()
	if iss == "" {
		iss = own
	}
	cfg := config{Addr: srv.Listener.Addr().String(), Issuer: iss, PasswordIterations: testPasswordIterations}
	for _, m := range mutate {
		m(&cfg)
	}
	f := &fixture{srv: srv, issuer: own, stdout: &testkit.SyncBuffer{}, stderr: &testkit.SyncBuffer{}}
	s, h, err := newServer(cfg, f.stdout, f.stderr)
	if err != nil {
		srv.Close()
	}
	require.NoError(t, err)
	f.s = s
	t.Cleanup(s.close) // after srv.Close: cleanups run last first
	srv.Config.Handler = h
	srv.Start()
	t.Cleanup(srv.Close)
	return f
}

// twoInstances starts instances A and B of one issuer (A's URL), with the
// same keys, on the shared stores as configure sets them.
func twoInstances(t *testing.T, configure func(*config)) (a, b *fixture) {
	t.Helper()
	keys := sharedKeysDir(t)
	withKeys := func(cfg *config) { cfg.KeysDir = keys }
	a = newInstance(t, "", withKeys, configure)
	b = newInstance(t, a.s.issuer, withKeys, configure)
	require.Equal(t, a.s.issuer, b.s.issuer)
	require.NotEqual(t, a.issuer, b.issuer, "two instances, two addresses")
	return a, b
}

// subjectTokens has alice sign in at f and get n subject tokens (with
// their ID tokens) for subject through client cli.
func subjectTokens(t *testing.T, f *fixture, subject string, n int) []url.Values {
	t.Helper()
	b := f.browser(t)
	var out []url.Values
	for range n {
		v := b.cliAuthorize(subject, "fragment")
		require.NotEmpty(t, v.Get("subject_token"), "authorize answered %v", v)
		out = append(out, v)
	}
	return out
}

// exchangeForm is the token exchange of client cli for the API's
// audience.
func exchangeForm(v url.Values, audience string) url.Values {
	return url.Values{
		"grant_type":           {"urn:ietf:params:oauth:grant-type:token-exchange"},
		"subject_token":        {v.Get("subject_token")},
		"subject_token_type":   {"urn:ietf:params:oauth:token-type:jwt"},
		"actor_token":          {v.Get("id_token")},
		"actor_token_type":     {"urn:ietf:params:oauth:token-type:id_token"},
		"requested_token_type": {"urn:ietf:params:oauth:token-type:access_token"},
		"audience":             {audience},
	}
}

// oauthPost posts form as client cli to path at base and decodes the
// JSON answer. It makes no assertion, so goroutines may call it.
func oauthPost(ctx context.Context, client *http.Client, base, path string, form url.Values) (int, map[string]any, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+path, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(cliClientID, cliSecret)
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, nil, err
	}
	var out map[string]any
	if len(body) > 0 {
		err = json.Unmarshal(body, &out)
	}
	return resp.StatusCode, out, err
}

// exchangeAt trades v at instance f for an access token for the API of
// the issuer.
func exchangeAt(t *testing.T, f *fixture, v url.Values) (int, map[string]any) {
	t.Helper()
	status, out, err := oauthPost(t.Context(), f.srv.Client(), f.issuer, "/oauth2/token", exchangeForm(v, f.s.apiAudience))
	require.NoError(t, err)
	return status, out
}

// auditRecords returns the audit events f wrote to stderr as slog JSON,
// in the order written.
func auditRecords(t *testing.T, f *fixture) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.Lines(f.stderr.String()) {
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &rec), "every log line is JSON: %s", line)
		if rec["msg"] == "audit" {
			out = append(out, rec)
		}
	}
	return out
}

// ofType returns the events of type typ.
func ofType(events []store.Event, typ store.EventType) []store.Event {
	var out []store.Event
	for _, e := range events {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

// closedAddr returns a local address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// hostOf returns the host:port of a store URL.
func hostOf(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	require.NoError(t, err)
	require.NotEmpty(t, u.Port(), "%s names no port", raw)
	return u.Host
}

// withHost returns a store URL with its host:port replaced.
func withHost(t *testing.T, raw, host string) string {
	t.Helper()
	u, err := url.Parse(raw)
	require.NoError(t, err)
	u.Host = host
	return u.String()
}
