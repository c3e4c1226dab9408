package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/internal/testkit"
	"github.com/actas/actas/store"
	"github.com/actas/actas/store/postgres"
	"github.com/actas/actas/subjecttoken"
)

// Two instances of one issuer behind a load balancer, sharing Redis (one-
// time use, revocation, rate limits) and PostgreSQL (directory, audit
// log): what one instance does, the other sees.

// storeModes are the ways instances share state: Redis and PostgreSQL,
// Redis alone (directory and audit log in each process), PostgreSQL
// alone (token state there too).
var storeModes = map[string]func(*sharedStores, *config){
	"redis and postgres": (*sharedStores).both,
	"redis only":         (*sharedStores).redis,
	"postgres only":      (*sharedStores).postgres,
}

// inEachStoreMode runs test in parallel in each of storeModes, with two
// instances A and B on fresh shared stores.
func inEachStoreMode(t *testing.T, test func(t *testing.T, a, b *fixture)) {
	t.Helper()
	t.Parallel()
	for name, mode := range storeModes {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ss := newSharedStores(t)
			a, b := twoInstances(t, func(cfg *config) { mode(ss, cfg) })
			test(t, a, b)
		})
	}
}

// allEvents returns the audit events of the instances: the shared log,
// or without PostgreSQL each instance's own, one after the other.
func allEvents(t *testing.T, fs ...*fixture) []store.Event {
	t.Helper()
	var out []store.Event
	for _, f := range fs {
		events, err := f.s.stores.auditLog.QueryEvents(t.Context(), store.AuditQuery{})
		require.NoError(t, err)
		out = append(out, events...)
		if f.s.stores.pg != nil {
			break // one log for all
		}
	}
	return out
}

// TestSharedSubjectTokenOnceAcrossInstances: one subject token posted to
// both token endpoints is exchanged exactly once; the other is a replay,
// in the audit log.
func TestSharedSubjectTokenOnceAcrossInstances(t *testing.T) {
	inEachStoreMode(t, func(t *testing.T, a, b *fixture) {
		v := subjectTokens(t, a, "bob", 1)[0]

		statusA, outA := exchangeAt(t, a, v)
		statusB, outB := exchangeAt(t, b, v)
		assert.Equal(t, http.StatusOK, statusA, outA)
		assert.NotEmpty(t, outA["access_token"])
		assert.Equal(t, http.StatusBadRequest, statusB, outB)
		assert.Equal(t, "invalid_request", outB["error"])
		assert.NotContains(t, outB, "access_token")

		// And the other way round: a token exchanged at B first is a
		// replay at A.
		v = subjectTokens(t, a, "carol", 1)[0]
		statusB, outB = exchangeAt(t, b, v)
		statusA, outA = exchangeAt(t, a, v)
		assert.Equal(t, http.StatusOK, statusB, outB)
		assert.Equal(t, http.StatusBadRequest, statusA, outA)
		assert.Equal(t, "invalid_request", outA["error"])

		events := allEvents(t, a, b)
		assert.Len(t, ofType(events, store.EventTokenExchanged), 2)
		assert.Len(t, ofType(events, store.EventReplayDetected), 2)
	})
}

// TestSharedConcurrentExchanges: 50 concurrent exchanges of one subject
// token, split across the instances: exactly one access token, 49
// invalid_request, and 49 replays in the shared audit log, read through
// B (in each mode: the one-time use is in Redis or in PostgreSQL).
func TestSharedConcurrentExchanges(t *testing.T) {
	inEachStoreMode(t, func(t *testing.T, a, b *fixture) {
		v := subjectTokens(t, a, "bob", 1)[0]
		_, claims := claimsOf(t, v.Get("subject_token"))
		jti, _ := claims["jti"].(string)
		require.NotEmpty(t, jti)

		const attempts = 50
		type result struct {
			status int
			out    map[string]any
			err    error
		}
		results := make([]result, attempts)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range attempts {
			f := []*fixture{a, b}[i%2]
			wg.Go(func() {
				<-start
				status, out, err := oauthPost(t.Context(), f.srv.Client(), f.issuer, "/oauth2/token", exchangeForm(v, f.s.apiAudience))
				results[i] = result{status, out, err}
			})
		}
		close(start)
		wg.Wait()

		var issued, refused int
		for i, r := range results {
			require.NoError(t, r.err, "attempt %d", i)
			switch r.status {
			case http.StatusOK:
				issued++
				assert.NotEmpty(t, r.out["access_token"], "attempt %d", i)
			case http.StatusBadRequest:
				refused++
				assert.Equal(t, "invalid_request", r.out["error"], "attempt %d: %v", i, r.out)
				assert.NotContains(t, r.out, "access_token")
			default:
				assert.Failf(t, "unexpected answer", "attempt %d: %d %v", i, r.status, r.out)
			}
		}
		assert.Equal(t, 1, issued, "exactly one access token")
		assert.Equal(t, attempts-1, refused)

		events := allEvents(t, b, a) // through B's store.AuditLog (both instances' logs without PostgreSQL)
		replays := ofType(events, store.EventReplayDetected)
		assert.Len(t, replays, attempts-1, "every refused attempt is recorded as a replay")
		for _, e := range replays {
			assert.Equal(t, jti, e.JTI)
			assert.Equal(t, "alice", e.Impersonator)
			assert.Equal(t, store.OutcomeDenied, e.Outcome)
		}
		assert.Len(t, ofType(events, store.EventTokenExchanged), 1)
	})
}

// TestSharedRevocation: an access token revoked at A is inactive at B's
// introspection and refused by B's API.
func TestSharedRevocation(t *testing.T) {
	inEachStoreMode(t, func(t *testing.T, a, b *fixture) {
		status, out := exchangeAt(t, a, subjectTokens(t, a, "bob", 1)[0])
		require.Equal(t, http.StatusOK, status, out)
		token := out["access_token"].(string)

		// B verifies A's token: same issuer, same keys.
		require.Equal(t, http.StatusOK, b.apiCall(t, http.MethodGet, "/api/me", token).StatusCode)
		status, in := b.postClient(t, "/oauth2/introspect", cliClientID, cliSecret, url.Values{"token": {token}})
		require.Equal(t, http.StatusOK, status)
		require.Equal(t, true, in["active"], in)

		status, _ = a.postClient(t, "/oauth2/revoke", cliClientID, cliSecret, url.Values{"token": {token}, "token_type_hint": {"access_token"}})
		require.Equal(t, http.StatusOK, status)

		status, in = b.postClient(t, "/oauth2/introspect", cliClientID, cliSecret, url.Values{"token": {token}})
		require.Equal(t, http.StatusOK, status)
		assert.Equal(t, map[string]any{"active": false}, in, "revoked at A, inactive at B")
		p := b.apiCall(t, http.MethodGet, "/api/me", token)
		assert.Equal(t, http.StatusUnauthorized, p.StatusCode, p.Body)
		assert.Contains(t, p.Header.Get("WWW-Authenticate"), `error="invalid_token"`)
		assert.Len(t, ofType(allEvents(t, a, b), store.EventImpersonationEnded), 1)
	})
}

// TestSharedFailClosedRedis: with Redis gone in the middle of a run, the
// exchange is refused with 503 temporarily_unavailable, nothing is issued
// or recorded as issued, the failure is on stderr, and the same instance
// serves again once Redis is back.
func TestSharedFailClosedRedis(t *testing.T) {
	t.Parallel()
	ss := newSharedStores(t)
	proxy := testkit.NewProxy(t, testRedisAddr)
	f := newInstance(t, "", func(cfg *config) {
		ss.both(cfg)
		cfg.Redis = "redis://" + proxy.Addr() + "/0"
	})
	tokens := subjectTokens(t, f, "bob", 3)
	status, out := exchangeAt(t, f, tokens[0])
	require.Equal(t, http.StatusOK, status, out)
	access := out["access_token"].(string)
	require.Equal(t, http.StatusOK, f.apiCall(t, http.MethodGet, "/api/me", access).StatusCode)

	proxy.Stop()
	assertFailsClosed(t, f, tokens[1], access)

	events := ss.events(t)
	assert.Len(t, ofType(events, store.EventTokenExchanged), 1, "nothing issued while Redis is away")
	failed := ofType(events, store.EventTokenExchangeDenied)
	require.Len(t, failed, 1)
	assert.Equal(t, store.OutcomeFailed, failed[0].Outcome)
	assert.Contains(t, failed[0].Reason, "redisstore:")
	assert.True(t, slices.ContainsFunc(auditRecords(t, f), func(r map[string]any) bool {
		reason, _ := r["reason"].(string)
		return r["event"] == string(store.EventTokenExchangeDenied) && r["outcome"] == store.OutcomeFailed &&
			r["level"] == "ERROR" && strings.Contains(reason, "redisstore:")
	}), "the failure is on stderr:\n%s", f.stderr.String())

	proxy.Start()
	assertServesAgain(t, f, tokens[2], access)
}

// assertFailsClosed: with a store of f gone, the exchange of v is refused
// with 503 temporarily_unavailable and nothing issued, and the API,
// which cannot tell whether access was revoked, refuses it with 503.
func assertFailsClosed(t *testing.T, f *fixture, v url.Values, access string) {
	t.Helper()
	status, out := exchangeAt(t, f, v)
	assert.Equal(t, http.StatusServiceUnavailable, status, out)
	assert.Equal(t, "temporarily_unavailable", out["error"])
	assert.NotContains(t, out, "access_token")
	p := f.apiCall(t, http.MethodGet, "/api/me", access)
	assert.Equal(t, http.StatusServiceUnavailable, p.StatusCode, p.Body)
}

// assertServesAgain: once the store of f is back, the API accepts access
// again (waitServing) and the exchange of v is answered with an access
// token.
func assertServesAgain(t *testing.T, f *fixture, v url.Values, access string) {
	t.Helper()
	waitServing(t, func() bool { return f.apiCall(t, http.MethodGet, "/api/me", access).StatusCode == http.StatusOK })
	status, out := exchangeAt(t, f, v)
	assert.Equal(t, http.StatusOK, status, out)
	assert.NotEmpty(t, out["access_token"])
}

// waitServing polls ok for up to 10 s: a client reconnects by itself once
// its store is back, which takes a moment on real time.
func waitServing(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		require.True(t, time.Now().Before(deadline), "the instance still fails 10 s after the store came back")
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSharedFailClosedPostgres: with PostgreSQL gone, requests that need
// the directory are refused with 503, and since the audit log is gone
// too, the refusal goes to the fallback auditor (stderr) with the audit
// store's error; once PostgreSQL is back, the instance serves again.
func TestSharedFailClosedPostgres(t *testing.T) {
	t.Parallel()
	ss := newSharedStores(t)
	proxy := testkit.NewProxy(t, hostOf(t, ss.pgURL))
	f := newInstance(t, "", func(cfg *config) {
		ss.postgres(cfg) // token state in PostgreSQL too
		cfg.Postgres = withHost(t, ss.pgURL, proxy.Addr())
	})
	tokens := subjectTokens(t, f, "bob", 3)
	status, out := exchangeAt(t, f, tokens[0])
	require.Equal(t, http.StatusOK, status, out)
	access := out["access_token"].(string)

	proxy.Stop()
	assertFailsClosed(t, f, tokens[1], access)
	assert.True(t, slices.ContainsFunc(auditRecords(t, f), func(r map[string]any) bool {
		reason, _ := r["reason"].(string)
		return r["outcome"] == store.OutcomeFailed && strings.Contains(reason, "audit store failed: postgres:")
	}), "the fallback auditor has the refusal and the audit store's error:\n%s", f.stderr.String())

	proxy.Start()
	assertServesAgain(t, f, tokens[2], access)
	assert.Len(t, ofType(ss.events(t), store.EventTokenExchanged), 2, "the first and the last exchange")
}

// TestSharedAuditLog: the events written through A (a whole impersonation,
// a denial, and an event with every field set) are read back through B,
// by its store.AuditLog and its audit page, in order, with every field.
func TestSharedAuditLog(t *testing.T) {
	t.Parallel()
	ss := newSharedStores(t)
	a, b := twoInstances(t, ss.both)

	// Through A: impersonation.started with a reason, token.exchanged,
	// impersonation.request (refused by the API, recorded as attempted),
	// impersonation.ended, impersonation.denied.
	alice := a.browser(t)
	alice.login("alice", "alice-demo-password")
	p := alice.get(a.authorizeURL(cliClientID, cliRedirectURI, "bob", "", url.Values{"impersonation_reason": {"ticket 42"}}))
	_, v := p.fragment(t)
	status, out := exchangeAt(t, a, v)
	require.Equal(t, http.StatusOK, status, out)
	token := out["access_token"].(string)
	require.Equal(t, http.StatusForbidden, a.apiCall(t, http.MethodPost, "/api/password", token).StatusCode)
	status, _ = a.postClient(t, "/oauth2/revoke", cliClientID, cliSecret, url.Values{"token": {token}})
	require.Equal(t, http.StatusOK, status)
	alice.get(a.authorizeURL(cliClientID, cliRedirectURI, "dave", "", nil))
	full := store.Event{
		Type: store.EventImpersonatedRequest, Time: time.Date(2031, 2, 3, 4, 5, 6, 789012345, time.UTC),
		ClientID: "cli", Impersonator: "alice", Subject: "carol", Org: "acme-eu", JTI: "jti-1",
		Scopes: []string{"openid", "orders:read"}, Outcome: store.OutcomeAttempted, Reason: "every field",
		Method: http.MethodDelete, Path: "/api/orders/7", Justification: "ticket 43",
		Parent: "isid-1", Expires: time.Date(2031, 2, 3, 5, 5, 6, 789012000, time.UTC),
	}
	require.NoError(t, a.s.auditor.Record(t.Context(), full))

	// What A wrote, from its stderr, in the order the audit log promises:
	// by time, then in the order recorded.
	written := auditRecords(t, a)
	require.NotEmpty(t, written)
	want := make([]store.Event, 0, len(written))
	for _, r := range written {
		want = append(want, eventOfRecord(t, r))
	}
	slices.SortStableFunc(want, func(x, y store.Event) int { return x.Time.Compare(y.Time) })
	var types []store.EventType
	for _, e := range want {
		types = append(types, e.Type)
	}
	for _, typ := range []store.EventType{store.EventImpersonationStarted, store.EventTokenExchanged, store.EventImpersonatedRequest,
		store.EventImpersonationEnded, store.EventImpersonationDenied} {
		assert.Contains(t, types, typ)
	}
	assert.Equal(t, full, want[len(want)-1], "the event with every field, the newest")

	// B's store.AuditLog: the same events, exactly, each with the cursor
	// the store gives it.
	got, err := b.s.stores.auditLog.QueryEvents(t.Context(), store.AuditQuery{})
	require.NoError(t, err)
	for i := range got {
		assert.NotEmpty(t, got[i].Cursor, "event %d", i)
		got[i].Cursor = ""
	}
	assert.Equal(t, want, got)

	// B's audit page (alice signs in at B: sessions are per instance):
	// the same events, newest first, with every field.
	ab := b.browser(t)
	ab.login("alice", "alice-demo-password")
	p = ab.get("/console/audit?format=json")
	require.Equal(t, http.StatusOK, p.StatusCode, p.Body)
	var rows []auditRow
	require.NoError(t, json.Unmarshal([]byte(p.Body), &rows))
	slices.Reverse(rows)
	require.Len(t, rows, len(want))
	for i, e := range want {
		scopes := e.Scopes
		if scopes == nil {
			scopes = []string{}
		}
		assert.Equal(t, auditRow{
			Time: e.Time.UTC().Format(time.RFC3339), Event: string(e.Type),
			Impersonator: e.Impersonator, ImpersonatorName: e.Impersonator,
			User: e.Subject, UserName: e.Subject,
			Organization: e.Org, App: e.ClientID, Scopes: scopes, Outcome: e.Outcome, Reason: e.Reason,
			Justification: e.Justification, Method: e.Method, Path: e.Path, JTI: e.JTI,
		}, rows[i], "row %d", i)
	}
	html := ab.get("/console/audit")
	require.Equal(t, http.StatusOK, html.StatusCode)
	assert.Contains(t, html.Body, "ticket 42")
	assert.Contains(t, html.Body, "/api/orders/7")
	assert.Less(t, strings.Index(html.Body, "/api/orders/7"), strings.Index(html.Body, "ticket 42"), "newest first")

	// Bob, no admin, sees at B only the events about himself.
	assertSeesOnlyBob(t, b)
}

// eventOfRecord turns one slog audit record back into the event.
func eventOfRecord(t *testing.T, r map[string]any) store.Event {
	t.Helper()
	str := func(k string) string {
		s, _ := r[k].(string)
		return s
	}
	at, err := time.Parse(time.RFC3339Nano, str("at"))
	require.NoError(t, err)
	e := store.Event{
		Type: store.EventType(str("event")), Time: at, ClientID: str("client_id"), Impersonator: str("impersonator"),
		Subject: str("subject"), Org: str("org"), JTI: str("jti"), Outcome: str("outcome"), Reason: str("reason"),
		Method: str("method"), Path: str("path"), Justification: str("justification"), Parent: str("parent"),
	}
	if exp := str("expires"); exp != "" {
		e.Expires, err = time.Parse(time.RFC3339Nano, exp)
		require.NoError(t, err)
		e.Expires = e.Expires.Truncate(time.Microsecond) // what PostgreSQL keeps
	}
	if sc, ok := r["scopes"].([]any); ok {
		for _, s := range sc {
			e.Scopes = append(e.Scopes, s.(string))
		}
	}
	return e
}

// TestSharedDirectory: both instances load the same data into PostgreSQL
// (idempotently) and read it from there: a role taken away in PostgreSQL
// is refused by both at the next exchange, and given back, served by
// both again.
func TestSharedDirectory(t *testing.T) {
	t.Parallel()
	ss := newSharedStores(t)
	a, b := twoInstances(t, ss.both)
	for table, n := range map[string]int{"organizations": 3, "users": 4, "clients": 4, "roles": 9, "role_users": 15} {
		assert.Equal(t, n, ss.count(t, table), "%s: loaded twice, stored once", table)
	}
	for _, f := range []*fixture{a, b} {
		assert.Contains(t, f.stdout.String(), "stores: directory (clients, users, organisations, roles): PostgreSQL "+redactURL(ss.pgURL)+", schema "+ss.schema+" (the data loaded into it)\n")
		assert.Contains(t, f.stdout.String(), "stores: one-time use of subject tokens, revocation, rate limits: Redis redis://127.0.0.1:6379/0, key prefix "+ss.prefix)
	}

	tokens := subjectTokens(t, a, "bob", 2)
	// alice's impersonator roles, for both clients, taken away in
	// PostgreSQL (the adapter has no delete: the roles keep no users).
	pg := ss.store(t)
	setImpersonators := func(users ...string) {
		for _, client := range []string{cliClientID, demoAppClientID} {
			require.NoError(t, pg.PutRole(context.Background(), store.Role{
				Name: "impersonator", ClientID: client, Scopes: []string{subjecttoken.ScopeImpersonate}, Users: users,
			}))
		}
	}
	setImpersonators()

	for i, f := range []*fixture{a, b} {
		status, out := exchangeAt(t, f, tokens[i])
		assert.Equal(t, http.StatusBadRequest, status, out)
		assert.Equal(t, "invalid_request", out["error"])
		assert.NotContains(t, out, "access_token")
	}
	denied := ofType(ss.events(t), store.EventTokenExchangeDenied)
	require.Len(t, denied, 2)
	assert.Equal(t, denied[0].Reason, denied[1].Reason, "the same policy refusal at both")
	assert.Equal(t, store.OutcomeDenied, denied[0].Outcome)
	assert.Empty(t, ofType(ss.events(t), store.EventTokenExchanged))
	// Nor do the consoles offer bob any more.
	for _, f := range []*fixture{a, b} {
		alice := f.browser(t)
		alice.login("alice", "alice-demo-password")
		assert.NotContains(t, alice.get("/console").Body, `name="user" value="bob"`)
	}

	// Given back: both serve again, a token from B exchanged at A.
	setImpersonators("alice")
	v := subjectTokens(t, b, "bob", 1)[0]
	status, out := exchangeAt(t, a, v)
	assert.Equal(t, http.StatusOK, status, out)
	alice := b.browser(t)
	alice.login("alice", "alice-demo-password")
	assert.Contains(t, alice.get("/console").Body, `name="user" value="bob"`)
}

// TestSharedStoreUnreachableAtStart: a store that cannot be reached at
// start stops the server with an error naming the flag; nothing panics.
func TestSharedStoreUnreachableAtStart(t *testing.T) {
	t.Parallel()
	dead := closedAddr(t)
	for name, c := range map[string]struct {
		cfg  config
		want []string
	}{
		"redis down":   {config{Redis: "redis://" + dead + "/0"}, []string{"-redis redis://" + dead + "/0: cannot reach Redis", "connection refused"}},
		"redis url":    {config{Redis: "http://" + dead}, []string{"-redis http://" + dead + ": ", "redis://"}},
		"postgres":     {config{Postgres: "postgres://postgres:hunter2@" + dead + "/test"}, []string{"-postgres postgres://postgres:xxxxx@" + dead + "/test: cannot reach PostgreSQL"}},
		"postgres url": {config{Postgres: "postgres://[::1"}, []string{"-postgres "}},
		"schema":       {config{Postgres: testPostgresURL(), PostgresSchema: "Not-A-Schema"}, []string{"-postgres-schema: "}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cfg := c.cfg
			cfg.Issuer, cfg.PasswordIterations = "http://127.0.0.1:1", testPasswordIterations
			s, h, err := newServer(cfg, &testkit.SyncBuffer{}, &testkit.SyncBuffer{})
			require.Error(t, err)
			assert.Nil(t, s)
			assert.Nil(t, h)
			for _, w := range c.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.NotContains(t, err.Error(), "hunter2")
		})
	}
}

// TestStoreFlags: the flags set the config; the prefix and schema need
// their store.
func TestStoreFlags(t *testing.T) {
	cfg, err := parseFlags([]string{"-redis", "redis://127.0.0.1:6379/0", "-redis-prefix", "p:", "-postgres", defaultTestPostgres, "-postgres-schema", "s"}, &testkit.SyncBuffer{})
	require.NoError(t, err)
	assert.Equal(t, "redis://127.0.0.1:6379/0", cfg.Redis)
	assert.Equal(t, "p:", cfg.RedisPrefix)
	assert.Equal(t, defaultTestPostgres, cfg.Postgres)
	assert.Equal(t, "s", cfg.PostgresSchema)
	for _, args := range [][]string{{"-redis-prefix", "p:"}, {"-postgres-schema", "s"}} {
		var stderr testkit.SyncBuffer
		_, err := parseFlags(args, &stderr)
		assert.Error(t, err, args)
		assert.Contains(t, stderr.String(), "needs -")
	}
	// The default prefix is per issuer and stable.
	assert.Equal(t, redisPrefixFor("http://127.0.0.1:8080"), redisPrefixFor("http://127.0.0.1:8080"))
	assert.NotEqual(t, redisPrefixFor("http://127.0.0.1:8080"), redisPrefixFor("http://127.0.0.1:8081"))
	assert.Regexp(t, `^actas:[0-9a-f]{16}:$`, redisPrefixFor("http://127.0.0.1:8080"))
}

// TestMemoryBannerUnchanged: without the flags the banner says nothing of
// stores, as before.
func TestMemoryBannerUnchanged(t *testing.T) {
	f := newFixture(t)
	assert.NotContains(t, f.stdout.String(), "stores:")
	assert.NotContains(t, f.stdout.String(), "warning")
}

// TestSharedBanner: the banner says which store holds what, and warns
// when a shared instance signs with an ephemeral key, which no other
// instance could verify.
func TestSharedBanner(t *testing.T) {
	t.Parallel()
	ss := newSharedStores(t)
	f := newInstance(t, "", ss.redis)
	out := f.stdout.String()
	for _, want := range []string{
		"stores: directory (clients, users, organisations, roles): memory (this process only, from the data)\n",
		"stores: audit log: memory (this process only) and stderr; the audit page reads this process's events\n",
		"stores: one-time use of subject tokens, revocation, rate limits: Redis redis://127.0.0.1:6379/0, key prefix " + ss.prefix + "\n",
		"stores: impersonation sessions: Redis redis://127.0.0.1:6379/0, key prefix " + ss.prefix + "\n",
		"stores: login sessions, passwords, demo app sessions, notices: this process only\n",
		"stores: authorization codes: this process only (a code is redeemed at the instance that issued it)\n",
		"keys: warning: with an ephemeral key no other instance verifies this one's tokens",
	} {
		assert.Contains(t, out, want)
	}

	f = newInstance(t, "", ss.postgres, func(cfg *config) { cfg.KeysDir = sharedKeysDir(t) })
	out = f.stdout.String()
	assert.Contains(t, out, "stores: one-time use of subject tokens, revocation, rate limits: PostgreSQL "+redactURL(ss.pgURL)+", schema "+ss.schema+"\n")
	assert.Contains(t, out, "stores: impersonation sessions: PostgreSQL ")
	assert.NotContains(t, out, "keys: warning")
}

// TestSharedImpersonationSession: with -redis the impersonation session
// lives in Redis, keyed by a hash of the login session (never the
// cookie); with the directory in PostgreSQL, alice's role taken away there
// ends it at demo app 2's next sign-in, which is alice's own, and the
// shared audit log says why.
func TestSharedImpersonationSession(t *testing.T) {
	t.Parallel()
	ss := newSharedStores(t)
	f := newInstance(t, "", ss.both)
	assert.NotContains(t, f.stdout.String(), "warning: the PostgreSQL adapter", "the PostgreSQL adapter keeps a client's refresh_tokens")
	pg, err := postgres.New(ss.pool, postgres.WithSchema(ss.schema))
	require.NoError(t, err)
	c, err := pg.Client(context.Background(), "demo-app2")
	require.NoError(t, err)
	assert.True(t, c.RefreshTokens, "loaded into PostgreSQL with refresh tokens on")
	b := f.browser(t)
	b.login("alice", "alice-demo-password")
	impersonateInApp(t, f, b, "bob")

	idp, ok := f.s.idp.get(requestWithCookies(t, b, "/"))
	require.True(t, ok)
	ctx := context.Background()
	key := ss.prefix + "session:" + loginSessionID(idp)
	n, err := ss.rdb.Exists(ctx, key).Result()
	require.NoError(t, err)
	assert.Equal(t, int64(1), n, "the session is in Redis")
	keys, err := ss.rdb.Keys(ctx, ss.prefix+"*").Result()
	require.NoError(t, err)
	for _, k := range keys {
		assert.NotContains(t, k, idp.ID, "the session cookie is no Redis key")
		if v, err := ss.rdb.Get(ctx, k).Result(); err == nil {
			assert.NotContains(t, v, idp.ID, "nor in a value")
		}
	}

	p := b.app2SignIn()
	require.Equal(t, "You are acting as bob — signed in as alice", bannerText(p.Body))

	require.NoError(t, ss.store(t).PutRole(ctx, store.Role{
		Name: "impersonator", ClientID: demoAppClientID, Scopes: []string{subjecttoken.ScopeImpersonate},
	}))
	assertApp2SignsInAlice(t, b)
	ended := ofType(ss.events(t), store.EventImpersonationEnded)
	require.Len(t, ended, 1)
	assert.Equal(t, "policy: impersonator_lacks_role", ended[0].Reason)
	n, err = ss.rdb.Exists(ctx, key).Result()
	require.NoError(t, err)
	assert.Zero(t, n, "the session is gone from Redis")
}
