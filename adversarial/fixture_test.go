package adversarial_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/impersonation"
	"github.com/actas/actas/impersonation/resource"
	"github.com/actas/actas/internal/testkit"
	"github.com/actas/actas/store"
	"github.com/actas/actas/store/memory"
	"github.com/actas/actas/subjecttoken"
	"github.com/actas/actas/tokenexchange"
)

// The world every case runs in. Organisations: acme (root) with children
// acme-eu and acme-us (siblings), and globex, a separate root. Users:
//
//	alice    acme     impersonator for app, app2, app-query, disabled-app; orders:write
//	eve      acme-eu  impersonator for app (the second admin, in a child org)
//	dave     acme-eu  impersonator for app, hence protected by the default rule
//	bob      acme-eu  customer (orders:read)
//	carol    acme-us  customer
//	frank    acme     customer (above acme-eu)
//	erin     acme-eu  customer, disabled
//	mallory  globex   customer
//
// Clients: app and app2 (confidential, fragment and form_post), app-query
// (also opts in to response_mode query) and disabled-app (disabled).
const (
	issuer      = "https://id.example"
	apiAudience = "https://api.example"

	appID        = "app"
	app2ID       = "app2"
	queryAppID   = "app-query"
	disabledID   = "disabled-app"
	appRedirect  = "https://app.example/cb"
	app2Redirect = "https://app2.example/cb"
	qRedirect    = "https://query.example/cb"

	scopeImpersonate = subjecttoken.ScopeImpersonate
	scopeRead        = "orders:read"
	scopeWrite       = "orders:write"
	fullScope        = scopeImpersonate + " openid " + scopeRead + " " + scopeWrite

	testState = "st-5c1e"
	testNonce = "n-77a0"

	// userHeader carries the logged-in user to the test Authenticator:
	// the suite's stand-in for the host's login session.
	userHeader = "X-Test-User"
)

// secrets are the client secrets; they must never appear in a response or
// an audit event.
var secrets = map[string]string{
	appID:      "app-secret-3b7e9a1c5d2f4e6a8b0c",
	app2ID:     "app2-secret-9f8e7d6c5b4a39281706",
	queryAppID: "query-secret-0a1b2c3d4e5f60718293",
	disabledID: "disabled-secret-6e5d4c3b2a190807f6",
}

var redirects = map[string]string{
	appID: appRedirect, app2ID: app2Redirect, queryAppID: qRedirect, disabledID: appRedirect,
}

// secretHashes are computed once: PBKDF2 is the costly part of a world.
var secretHashes = sync.OnceValue(func() map[string]string {
	out := map[string]string{}
	for id, s := range secrets {
		h, err := store.HashSecret(s, store.ClientSecretIterations)
		if err != nil {
			panic(err)
		}
		out[id] = h
	}
	return out
})

// env is one complete, isolated issuer with its resource API.
type env struct {
	clock *testkit.Clock
	db    *memory.Store
	keys  *memory.KeySet
	svc   *impersonation.Service
	srv   *httptest.Server
	hc    *http.Client
}

type envConfig struct {
	startLimit int
}

// envOption changes how newEnv builds a world.
type envOption func(*envConfig)

// withStartLimit limits impersonation starts per impersonator to n a
// minute, counted in the memory store.
func withStartLimit(n int) envOption { return func(c *envConfig) { c.startLimit = n } }

// testLogin is the host's login as the authorize endpoint sees it: the
// user named by the X-Test-User header or the test_session cookie.
type testLogin struct{ now func() time.Time }

func (l testLogin) Authenticate(w http.ResponseWriter, r *http.Request) (impersonation.Login, bool) {
	user := r.Header.Get(userHeader)
	if c, err := r.Cookie("test_session"); user == "" && err == nil {
		user = c.Value
	}
	if user == "" {
		http.Error(w, "login required", http.StatusUnauthorized)
		return impersonation.Login{}, false
	}
	return impersonation.Login{UserID: user, AuthTime: l.now()}, true
}

// newEnv seeds the world into a fresh memory store, builds the service and
// serves every endpoint over a fresh httptest.Server.
func newEnv(t testing.TB, opts ...envOption) *env {
	t.Helper()
	cfg := envConfig{startLimit: impersonation.DefaultStartLimit}
	for _, o := range opts {
		o(&cfg)
	}
	c := testkit.NewClockAt(time.Date(2026, 5, 4, 9, 30, 0, 0, time.UTC))
	db := memory.New(memory.WithClock(c.Now))
	seed(t, db)
	keys, err := memory.GenerateKeySet(store.ES256, memory.WithClock(c.Now))
	require.NoError(t, err)
	svc, err := impersonation.New(issuer, impersonation.Stores{
		Clients: db, Users: db, Organizations: db, Grants: db, OneTimeUse: db, Keys: keys,
	},
		impersonation.WithClock(c.Now),
		impersonation.WithAuditor(db),
		impersonation.WithNotifier(db),
		impersonation.WithRevocationStore(db),
		impersonation.WithStartLimit(db, cfg.startLimit, time.Minute),
		impersonation.WithSessions(db, db, impersonation.SessionConfig{}),
	)
	require.NoError(t, err)

	endpoints, err := svc.Handlers(context.Background(), testLogin{now: c.Now})
	require.NoError(t, err)
	verifier, err := resource.NewVerifier(issuer, apiAudience, keys,
		resource.WithClock(c.Now), resource.WithRevocation(db))
	require.NoError(t, err)
	api := resource.Middleware(verifier, resource.WithRequestAudit(db))

	mux := http.NewServeMux()
	// The OAuth endpoints are mounted for every method so that their own
	// method checks (405 with an OAuth error and an audit event) are what
	// the suite exercises; a host mounting "POST /oauth2/token" gets the
	// mux's bare 405 instead.
	mux.Handle("/oauth2/token", endpoints.Token)
	mux.Handle("/oauth2/introspect", endpoints.Introspection)
	mux.Handle("/oauth2/revoke", endpoints.Revocation)
	mux.Handle("/oauth2/authorize", endpoints.Authorize)
	mux.Handle("GET /oauth2/jwks", endpoints.JWKS)
	mux.Handle("/oauth2/userinfo", endpoints.UserInfo)
	mux.Handle("GET /api/me", api(http.HandlerFunc(me)))
	mux.Handle("POST /api/orders", api(http.HandlerFunc(placeOrder)))
	mux.Handle("POST /api/password", api(resource.ForbidImpersonation(http.HandlerFunc(changePassword))))

	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	hc := *srv.Client()
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &env{clock: c, db: db, keys: keys, svc: svc, srv: srv, hc: &hc}
}

// me answers who the bearer token speaks for.
func me(w http.ResponseWriter, r *http.Request) {
	p, _ := resource.PrincipalFrom(r.Context())
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"sub": p.Subject, "act": p.Actor})
}

// placeOrder is a state-changing route allowed under impersonation.
func placeOrder(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusCreated) }

// changePassword is the sensitive route; it must never run under
// impersonation.
func changePassword(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("X-Password-Changed", "yes")
	w.WriteHeader(http.StatusNoContent)
}

func seed(t testing.TB, db *memory.Store) {
	t.Helper()
	for _, o := range []store.Organization{
		{ID: "acme", Name: "ACME Corp"},
		{ID: "acme-eu", Name: "ACME Europe", Parent: "acme"},
		{ID: "acme-us", Name: "ACME US", Parent: "acme"},
		{ID: "globex", Name: "Globex"},
	} {
		require.NoError(t, db.PutOrganization(o))
	}
	for _, u := range []store.User{
		{ID: "alice", Username: "alice", Name: "Alice Admin", Email: "alice@acme.example", Org: "acme"},
		{ID: "eve", Username: "eve", Name: "Eve EU Admin", Org: "acme-eu"},
		{ID: "dave", Username: "dave", Name: "Dave EU Admin", Org: "acme-eu"},
		{ID: "bob", Username: "bob", Name: "Bob Buyer", Email: "bob@acme.example", Org: "acme-eu"},
		{ID: "carol", Username: "carol", Org: "acme-us"},
		{ID: "frank", Username: "frank", Org: "acme"},
		{ID: "erin", Username: "erin", Org: "acme-eu", Disabled: true},
		{ID: "mallory", Username: "mallory", Org: "globex"},
	} {
		require.NoError(t, db.PutUser(u))
	}
	hashes := secretHashes()
	client := func(id string) store.Client {
		return store.Client{
			ID:            id,
			Name:          "client " + id,
			SecretHash:    hashes[id],
			RedirectURIs:  []string{redirects[id]},
			Scopes:        []string{"openid", scopeImpersonate, scopeRead, scopeWrite},
			GrantTypes:    []string{tokenexchange.GrantType},
			Impersonation: true,
			Audiences:     []string{apiAudience},
		}
	}
	q := client(queryAppID)
	q.ResponseModes = []string{store.ResponseModeFragment, store.ResponseModeQuery, store.ResponseModeFormPost}
	off := client(disabledID)
	off.Disabled = true
	for _, c := range []store.Client{client(appID), client(app2ID), q, off} {
		require.NoError(t, db.PutClient(c))
	}
	roles := []memory.Role{
		{Name: "impersonator", ClientID: appID, Scopes: []string{scopeImpersonate}, Users: []string{"alice", "eve", "dave"}},
		{Name: "admin", ClientID: appID, Scopes: []string{scopeWrite}, Users: []string{"alice"}},
		{Name: "customer", ClientID: appID, Scopes: []string{scopeRead}, Users: []string{"bob", "carol", "frank", "erin", "mallory"}},
	}
	for _, id := range []string{app2ID, queryAppID, disabledID} {
		roles = append(roles,
			memory.Role{Name: "impersonator", ClientID: id, Scopes: []string{scopeImpersonate}, Users: []string{"alice"}},
			memory.Role{Name: "customer", ClientID: id, Scopes: []string{scopeRead}, Users: []string{"bob", "carol"}},
		)
	}
	for _, r := range roles {
		require.NoError(t, db.PutRole(r))
	}
}

// update reads the record id with get, changes it and writes it with put.
func update[R any](t testing.TB, get func(context.Context, string) (*R, error), put func(R) error, id string, change func(*R)) {
	t.Helper()
	r, err := get(context.Background(), id)
	require.NoError(t, err)
	change(r)
	require.NoError(t, put(*r))
}

// updateClient changes a registered client in place.
func (e *env) updateClient(t testing.TB, id string, change func(*store.Client)) {
	t.Helper()
	update(t, e.db.Client, e.db.PutClient, id, change)
}

// updateUser changes a user in place.
func (e *env) updateUser(t testing.TB, id string, change func(*store.User)) {
	t.Helper()
	update(t, e.db.User, e.db.PutUser, id, change)
}

// verifier is a resource server's verifier of the world's access tokens
// for the API, on the world's clock.
func (e *env) verifier(t testing.TB, opts ...resource.Option) *resource.Verifier {
	t.Helper()
	v, err := resource.NewVerifier(issuer, apiAudience, e.keys, append([]resource.Option{resource.WithClock(e.clock.Now)}, opts...)...)
	require.NoError(t, err)
	return v
}

// signingKey is the issuer's current private key.
func (e *env) signingKey(t testing.TB) store.PrivateKey {
	t.Helper()
	k, err := e.keys.SigningKey(context.Background())
	require.NoError(t, err)
	return k
}

// response is what a client saw of one request, with what it must not
// contain.
type response struct {
	status int
	header http.Header
	body   string
	// mark is how many audit events existed before the request was sent.
	mark int
	// tokens were presented in the request: no segment of them may appear
	// in the response or in an audit event.
	tokens []string
	// values (claim values such as a subject's ID, redirect targets) may
	// not appear in the response.
	values []string
}

// presenting returns r noting tokens the request presented.
func (r response) presenting(tokens ...string) response {
	r.tokens = append(r.tokens, tokens...)
	return r
}

// hiding returns r noting values the response must not carry.
func (r response) hiding(values ...string) response {
	r.values = append(r.values, values...)
	return r
}

// do sends req, marking the audit log just before.
func (e *env) do(t testing.TB, req *http.Request) response {
	t.Helper()
	mark := len(e.db.Events())
	resp, err := e.hc.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return response{status: resp.StatusCode, header: resp.Header, body: string(body), mark: mark}
}

// newRequest builds a request to path on the test server.
func (e *env) newRequest(t testing.TB, method, path string, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, body)
	require.NoError(t, err)
	return req
}

// postForm POSTs form, form-encoded, to path; authorize (if not nil) sets
// client authentication or otherwise changes the request.
func (e *env) postForm(t testing.TB, path, form string, authorize func(*http.Request)) response {
	t.Helper()
	req := e.newRequest(t, http.MethodPost, path, strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if authorize != nil {
		authorize(req)
	}
	return e.do(t, req)
}

// basic is client_secret_basic for clientID with its own secret, both
// form-encoded as RFC 6749 §2.3.1 says.
func basic(clientID string) func(*http.Request) {
	return basicWith(clientID, secrets[clientID])
}

// basicWith is client_secret_basic with the given credentials.
func basicWith(id, secret string) func(*http.Request) {
	return func(r *http.Request) { r.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret)) }
}

// token sends form to the token endpoint as clientID (client_secret_basic).
func (e *env) token(t testing.TB, clientID string, form url.Values) response {
	t.Helper()
	return e.postForm(t, "/oauth2/token", form.Encode(), basic(clientID))
}

// exchangeForm is the token exchange request of the flow.
func exchangeForm(subjectToken, actorToken string) url.Values {
	return url.Values{
		"grant_type":         {tokenexchange.GrantType},
		"subject_token":      {subjectToken},
		"subject_token_type": {tokenexchange.TokenTypeJWT},
		"actor_token":        {actorToken},
		"actor_token_type":   {tokenexchange.TokenTypeIDToken},
	}
}

// with returns a copy of v with name set to vals (deleted when none).
func with(v url.Values, name string, vals ...string) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	if len(vals) == 0 {
		out.Del(name)
	} else {
		out[name] = vals
	}
	return out
}

// authorizeValues is a valid authorize request of clientID for subject
// asking for the subject token and the impersonator's ID token.
func authorizeValues(clientID, subject string) url.Values {
	return url.Values{
		"client_id":         {clientID},
		"redirect_uri":      {redirects[clientID]},
		"state":             {testState},
		"scope":             {fullScope},
		"response_type":     {"id_token subject_token"},
		"requested_subject": {subject},
		"nonce":             {testNonce},
	}
}

// authorize sends GET /oauth2/authorize?rawQuery as the logged-in user.
func (e *env) authorize(t testing.TB, user, rawQuery string) response {
	t.Helper()
	req := e.newRequest(t, http.MethodGet, "/oauth2/authorize?"+rawQuery, nil)
	if user != "" {
		req.Header.Set(userHeader, user)
	}
	return e.do(t, req)
}

// genuine runs a granted authorize request over HTTP and returns the
// subject token and the impersonator's ID token from the fragment.
func (e *env) genuine(t testing.TB, clientID, impersonator, subject string) (subjectToken, idToken string) {
	t.Helper()
	r := e.authorize(t, impersonator, authorizeValues(clientID, subject).Encode())
	require.Equal(t, http.StatusFound, r.status, r.body)
	loc, err := url.Parse(r.header.Get("Location"))
	require.NoError(t, err)
	v, err := url.ParseQuery(loc.EscapedFragment())
	require.NoError(t, err)
	subjectToken, idToken = v.Get("subject_token"), v.Get("id_token")
	require.NotEmpty(t, subjectToken)
	require.NotEmpty(t, idToken)
	return subjectToken, idToken
}

// accessToken runs the whole flow over HTTP (alice as bob through app,
// for the API audience) and returns the access token.
func (e *env) accessToken(t testing.TB) string {
	t.Helper()
	st, idt := e.genuine(t, appID, "alice", "bob")
	return accessTokenOf(t, e.token(t, appID, with(exchangeForm(st, idt), "audience", apiAudience)))
}

// accessTokenOf requires a successful token response and returns its
// access token.
func accessTokenOf(t testing.TB, r response) string {
	t.Helper()
	require.Equal(t, http.StatusOK, r.status, r.body)
	var out struct {
		AccessToken string `json:"access_token"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.body), &out))
	require.NotEmpty(t, out.AccessToken)
	return out.AccessToken
}

// api calls the resource API with a bearer token.
func (e *env) api(t testing.TB, method, path, bearer string) response {
	t.Helper()
	req := e.newRequest(t, method, path, nil)
	req.Header.Set("Authorization", "Bearer "+bearer)
	return e.do(t, req)
}

// postToken POSTs token to the introspection or revocation endpoint at
// path, authenticated by auth (none when nil).
func (e *env) postToken(t testing.TB, path, token string, auth func(*http.Request)) response {
	t.Helper()
	return e.postForm(t, path, url.Values{"token": {token}}.Encode(), auth)
}

// introspect asks the introspection endpoint about token as clientID.
func (e *env) introspect(t testing.TB, clientID, token string) response {
	t.Helper()
	return e.postToken(t, "/oauth2/introspect", token, basic(clientID))
}

// revoke asks the revocation endpoint to revoke token as clientID.
func (e *env) revoke(t testing.TB, clientID, token string) response {
	t.Helper()
	return e.postToken(t, "/oauth2/revoke", token, basic(clientID))
}

// withAccessToken obtains a genuine access token (alice as bob through
// app, for the API) and presents it as send does.
func withAccessToken(send func(t *testing.T, e *env, at string) response) func(*testing.T, *env) response {
	return func(t *testing.T, e *env) response {
		at := e.accessToken(t)
		return send(t, e, at).presenting(at).hiding("bob", "alice")
	}
}

// refusal is what a refused attack must look like.
type refusal struct {
	status int
	// code is the OAuth error code: the JSON error member, the error
	// parameter of an authorize redirect or form_post page, the code of an
	// authorize error page, or the RFC 6750 error of a bearer challenge.
	code string
	// bearer requires the code in WWW-Authenticate (RFC 6750 §3).
	bearer bool
	// inactive requires an introspection answer of exactly {"active":false}.
	inactive bool
	// event is the audit event type that must record the refusal, with a
	// non-empty reason starting with reasonPrefix and containing reason.
	event        store.EventType
	reasonPrefix string
	reason       string
	// noAudit, when set, says why the library writes no audit event for
	// this refusal; the gap is itself a (skipped) case of the suite.
	noAudit string
}

// Refusals that many cases share.
var (
	badSubject = refusal{status: 400, code: "invalid_request", event: store.EventTokenExchangeDenied, reasonPrefix: "subject token: "}
	badActor   = refusal{status: 400, code: "invalid_request", event: store.EventTokenExchangeDenied, reasonPrefix: "actor token: "}
	badBearer  = refusal{status: 401, code: "invalid_token", bearer: true, noAudit: gapAPIAudit}
	inactive   = refusal{status: 200, inactive: true, noAudit: gapIntrospectionAudit}
	// badUserInfo is a token refused at the UserInfo endpoint: RFC 6750
	// invalid_token, recorded as request.refused.
	badUserInfo = refusal{status: 401, code: "invalid_token", bearer: true, event: store.EventRequestRefused, reasonPrefix: "invalid_token"}
)

// Audit gaps, each reported by a skipped case.
const (
	gapAPIAudit           = "Middleware records no audit event for a refused bearer token (TestTokenKindConfusion/refused_bearer_token_leaves_an_audit_event)"
	gapIntrospectionAudit = "an introspection answered inactive is not audited (TestFlow/introspection_of_another_clients_token_leaves_an_audit_event)"
)

// subjectWith returns badSubject whose audit reason must contain reason.
func subjectWith(reason string) refusal {
	r := badSubject
	r.reason = reason
	return r
}

// actorWith returns badActor whose audit reason must contain reason.
func actorWith(reason string) refusal {
	r := badActor
	r.reason = reason
	return r
}

// internalMarkers are texts of internal errors that must never reach a
// client.
var internalMarkers = []string{
	"jose:", "claims:", "store:", "memory:", "panic", "goroutine", "runtime error",
	"subjecttoken:", "impersonation:", "tokenexchange:", "policy:", "subject token:", "actor token:",
	"already used", "x509:", "asn1:",
}

var (
	hiddenError = regexp.MustCompile(`name="error" value="([^"]*)"`)
	bearerError = regexp.MustCompile(`error="([^"]*)"`)
)

// oauthError reads the OAuth error code from wherever the endpoint put it.
func (r response) oauthError(t testing.TB) string {
	t.Helper()
	if loc := r.header.Get("Location"); loc != "" {
		u, err := url.Parse(loc)
		require.NoError(t, err)
		if u.EscapedFragment() != "" {
			v, err := url.ParseQuery(u.EscapedFragment())
			require.NoError(t, err)
			return v.Get("error")
		}
		return u.Query().Get("error")
	}
	ct := r.header.Get("Content-Type")
	switch {
	case strings.HasPrefix(ct, "text/html"):
		if m := hiddenError.FindStringSubmatch(r.body); m != nil {
			return m[1]
		}
		return ""
	case strings.HasPrefix(ct, "application/json"):
		var e struct {
			Error string `json:"error"`
		}
		require.NoError(t, json.Unmarshal([]byte(r.body), &e), r.body)
		return e.Error
	case strings.HasPrefix(ct, "text/plain"):
		code, _, _ := strings.Cut(strings.TrimSpace(r.body), ":")
		return code
	}
	if m := bearerError.FindStringSubmatch(r.header.Get("WWW-Authenticate")); m != nil {
		return m[1]
	}
	return ""
}

// redirectParams returns the query and fragment parameters of a Location.
func redirectParams(t testing.TB, loc string) []url.Values {
	t.Helper()
	u, err := url.Parse(loc)
	require.NoError(t, err)
	q, err := url.ParseQuery(u.RawQuery)
	require.NoError(t, err)
	f, err := url.ParseQuery(u.EscapedFragment())
	require.NoError(t, err)
	return []url.Values{q, f}
}

// segments returns the pieces of a token worth looking for in a leak: the
// whole token and each dot-separated part long enough to be meaningful.
func segments(tok string) []string {
	out := []string{tok}
	for p := range strings.SplitSeq(tok, ".") {
		if len(p) >= 16 && p != tok {
			out = append(out, p)
		}
	}
	return out
}

// assertRefused checks everything a refused attack must satisfy.
func assertRefused(t testing.TB, e *env, r response, want refusal) {
	t.Helper()
	require.Equal(t, want.status, r.status, "status; body: %s", r.body)
	if want.inactive {
		assert.JSONEq(t, `{"active":false}`, r.body, "an inactive token is described by active:false alone")
	} else {
		assert.Equal(t, want.code, r.oauthError(t), "OAuth error code; body: %s; Location: %s", r.body, r.header.Get("Location"))
	}
	if want.bearer {
		assert.Contains(t, r.header.Get("WWW-Authenticate"), `error="`+want.code+`"`, "RFC 6750 challenge")
	}
	if strings.HasPrefix(r.header.Get("Content-Type"), "application/json") || r.header.Get("Location") != "" {
		assert.Equal(t, "no-store", r.header.Get("Cache-Control"), "an OAuth response is never cached")
	}

	// Nothing issued, and nothing redirected unless it is a redirect.
	for _, s := range []string{`"access_token"`, `name="subject_token"`, `name="id_token"`} {
		assert.NotContains(t, r.body, s, "a token was issued in the body")
	}
	if loc := r.header.Get("Location"); loc != "" {
		require.True(t, r.status >= 300 && r.status < 400, "Location on a %d", r.status)
		for _, params := range redirectParams(t, loc) {
			assert.NotContains(t, params, "subject_token", "a subject token was issued in the redirect")
			assert.NotContains(t, params, "id_token", "an ID token was issued in the redirect")
		}
	}
	events := e.since(r.mark)
	for _, ev := range events {
		assert.NotEqual(t, store.EventTokenExchanged, ev.Type, "token.exchanged recorded: %+v", ev)
		assert.NotEqual(t, store.EventImpersonationStarted, ev.Type, "impersonation.started recorded: %+v", ev)
		assert.NotEqual(t, store.EventImpersonatedRequest, ev.Type, "a refused request was recorded as performed: %+v", ev)
	}

	// Nothing leaked.
	var headers strings.Builder
	for k, vs := range r.header {
		headers.WriteString(k + ": " + strings.Join(vs, ", ") + "\n")
	}
	seen := r.body + "\n" + headers.String()
	assertHoldsNoToken(t, seen, r.tokens, "the response echoes a presented token")
	for _, v := range r.values {
		assert.NotContains(t, seen, v, "the response echoes a claim or request value")
	}
	assertHoldsNoSecret(t, seen, "the response holds a client secret")
	assertNoInternalText(t, seen, "the response leaks internal error text")
	assertAuditHoldsNoToken(t, events, r.tokens)

	// Audited, with a reason.
	if want.noAudit != "" {
		return
	}
	require.NotEmpty(t, want.event, "case must name its audit event")
	var found bool
	for _, ev := range events {
		if ev.Type == want.event && ev.Reason != "" && strings.HasPrefix(ev.Reason, want.reasonPrefix) && strings.Contains(ev.Reason, want.reason) {
			found = true
			break
		}
	}
	assert.Truef(t, found, "no %s event with a reason %q…%q among %s", want.event, want.reasonPrefix, want.reason, describe(events))
}

// assertAuditHoldsNoToken checks that no audit event carries a presented
// token or a client secret (store.Event: "It never holds a token").
func assertAuditHoldsNoToken(t testing.TB, events []store.Event, tokens []string) {
	t.Helper()
	for _, ev := range events {
		text := strings.Join([]string{ev.ClientID, ev.Impersonator, ev.Subject, ev.Org, ev.JTI,
			ev.Reason, ev.Method, ev.Path, ev.Justification, strings.Join(ev.Scopes, " ")}, "\n")
		assertHoldsNoToken(t, text, tokens, "an audit event holds a presented token: %s", ev.Type)
		assertHoldsNoSecret(t, text, "an audit event holds a client secret")
	}
}

// assertHoldsNoToken checks that text holds no segment of the tokens.
func assertHoldsNoToken(t testing.TB, text string, tokens []string, msgAndArgs ...any) {
	t.Helper()
	for _, tok := range tokens {
		for _, s := range segments(tok) {
			if s != "" {
				assert.NotContains(t, text, s, msgAndArgs...)
			}
		}
	}
}

// assertHoldsNoSecret checks that text holds no client secret.
func assertHoldsNoSecret(t testing.TB, text string, msgAndArgs ...any) {
	t.Helper()
	for _, s := range secrets {
		assert.NotContains(t, text, s, msgAndArgs...)
	}
}

// assertNoInternalText checks that text holds no internal error text.
func assertNoInternalText(t testing.TB, text string, msgAndArgs ...any) {
	t.Helper()
	for _, m := range internalMarkers {
		assert.NotContains(t, text, m, msgAndArgs...)
	}
}

// describe lists events compactly for failure messages.
func describe(events []store.Event) string {
	var b strings.Builder
	b.WriteString("[")
	for i, ev := range events {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(string(ev.Type) + " " + ev.Outcome + " " + ev.Reason)
	}
	b.WriteString("]")
	return b.String()
}

// since is the audit events recorded after mark.
func (e *env) since(mark int) []store.Event { return testkit.EventsSince(e.db.Events(), mark) }

// countSince counts the events of type typ recorded after mark.
func countSince(e *env, mark int, typ store.EventType) int {
	return testkit.CountEvents(e.since(mark), typ)
}

// attack is one case of a family: run performs it and returns what the
// client saw; want is how it must be refused. A case with check instead
// makes its own assertions (concurrency, follow-up requests).
type attack struct {
	name  string
	opts  []envOption
	run   func(t *testing.T, e *env) response
	want  refusal
	check func(t *testing.T, e *env)
	// vuln, when set, describes how the library fails this case: the case
	// is skipped with "VULN: " and the text unless ACTAS_ADVERSARIAL_VULN
	// is set.
	vuln string
}

// skipVulns reports whether known failures are skipped (the default) or
// run to show them failing (ACTAS_ADVERSARIAL_VULN set).
func skipVulns() bool { return os.Getenv("ACTAS_ADVERSARIAL_VULN") == "" }

// runFamily runs every case in its own world, in parallel.
func runFamily(t *testing.T, cases []attack) {
	t.Helper()
	seen := map[string]bool{}
	for _, tc := range cases {
		require.False(t, seen[tc.name], "duplicate case name %q", tc.name)
		seen[tc.name] = true
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.vuln != "" && skipVulns() {
				t.Skip("VULN: " + tc.vuln)
			}
			e := newEnv(t, tc.opts...)
			if tc.check != nil {
				tc.check(t, e)
				return
			}
			assertRefused(t, e, tc.run(t, e), tc.want)
		})
	}
}

// control is a case that must be accepted: run performs it and want
// (issued when nil) checks what the client saw.
type control struct {
	name string
	run  func(t *testing.T, e *env) response
	want func(t testing.TB, r response)
}

// issued requires a successful token response.
func issued(t testing.TB, r response) {
	t.Helper()
	require.Equal(t, http.StatusOK, r.status, r.body)
	assert.Contains(t, r.body, `"access_token"`)
}

// served requires the API to answer 200 and, when body is set, with
// exactly that JSON.
func served(body string) func(testing.TB, response) {
	return func(t testing.TB, r response) {
		t.Helper()
		require.Equal(t, http.StatusOK, r.status, r.body)
		if body != "" {
			assert.JSONEq(t, body, r.body)
		}
	}
}

// runControls runs every control in its own world, in parallel, as
// runFamily runs attacks.
func runControls(t *testing.T, cases []control) {
	t.Helper()
	var checks []attack
	for _, c := range cases {
		want := c.want
		if want == nil {
			want = issued
		}
		checks = append(checks, attack{name: c.name, check: func(t *testing.T, e *env) { want(t, c.run(t, e)) }})
	}
	runFamily(t, checks)
}
