package impersonation_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/impersonation"
	"github.com/actas/actas/impersonation/resource"
	"github.com/actas/actas/internal/authorizetoken"
	"github.com/actas/actas/internal/testkit"
	"github.com/actas/actas/store"
	"github.com/actas/actas/store/memory"
	"github.com/actas/actas/subjecttoken"
	"github.com/actas/actas/tokenexchange"
)

// The fixture's world. Organisations: acme (root) with children acme-eu and
// acme-us (siblings), and a separate root other. Users: alice (acme,
// impersonator for app, also holds orders:write), bob (acme-eu, orders:read),
// carol (acme-us), dave (acme, impersonator: protected by default), erin
// (acme-eu, disabled), eve-eu-admin (acme-eu, impersonator), frank (acme,
// plain user), mallory (other).
const (
	testIssuer = "https://id.example"

	appID          = "app"
	appSecret      = "app-secret-6f1c2a9e4b7d"
	app2ID         = "app2"
	app2Secret     = "app2-secret-0d8e3b5a1c9f"
	disabledID     = "disabled-app"
	disabledSecret = "disabled-secret-77aa01"
	noImpID        = "noimp-app"
	noImpSecret    = "noimp-secret-2b3c4d"
	noGrantID      = "nogrant-app"
	noGrantSecret  = "nogrant-secret-9e8d7c"
	// noAPIID has impersonation on but is not authorized for the
	// impersonation API (internal_user_impersonate is not in its Scopes).
	noAPIID     = "noapi-app"
	noAPISecret = "noapi-secret-5a6b7c"

	appRedirect  = "https://app.example/cb"
	app2Redirect = "https://app2.example/cb"
	apiAudience  = "https://api.example"

	roleImpersonator = "impersonator"
	roleCustomer     = "customer"
	roleAdmin        = "admin"

	scopeOrdersRead  = "orders:read"
	scopeOrdersWrite = "orders:write"

	// fullScope is what the authorize requests of the tests ask for.
	fullScope = "internal_user_impersonate openid orders:read orders:write"

	testState = "state-8d2f"
	testNonce = "nonce-41c7"
)

// secrets maps each confidential client to its plain secret.
var secrets = map[string]string{
	appID: appSecret, app2ID: app2Secret, disabledID: disabledSecret,
	noImpID: noImpSecret, noGrantID: noGrantSecret, noAPIID: noAPISecret,
}

// redirects maps each client to its one registered redirect URI.
var redirects = map[string]string{
	appID: appRedirect, app2ID: app2Redirect, disabledID: appRedirect,
	noImpID: appRedirect, noGrantID: appRedirect, noAPIID: appRedirect,
}

// switchOneTimeUse passes to next until an error is set, then fails every
// Use with it: a hand-written failing one-time-use store.
type switchOneTimeUse struct {
	next store.OneTimeUse

	mu  sync.Mutex
	err error
}

var _ store.OneTimeUse = (*switchOneTimeUse)(nil)

func (o *switchOneTimeUse) Use(ctx context.Context, id string, exp time.Time) error {
	o.mu.Lock()
	err := o.err
	o.mu.Unlock()
	if err != nil {
		return err
	}
	return o.next.Use(ctx, id, exp)
}

func (o *switchOneTimeUse) failWith(err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.err = err
}

// failingNotifier refuses every notice.
type failingNotifier struct{ calls atomic.Int32 }

var _ store.Notifier = (*failingNotifier)(nil)

func (n *failingNotifier) Notify(context.Context, store.Notice) error {
	n.calls.Add(1)
	return errors.New("smtp: 554 relay denied")
}

// fixture is one isolated service with its stores, token endpoint and
// clock. Tests build their own, so they can run in parallel.
type fixture struct {
	clock   *testkit.Clock
	db      *memory.Store
	keys    *memory.KeySet
	auditor *testkit.SwitchAuditor
	oneTime *switchOneTimeUse
	svc     *impersonation.Service
	handler http.Handler
	// grants are the service's subject grants, when it has them.
	grants *impersonation.Grants
}

type fixtureConfig struct {
	svcOpts []impersonation.Option
	keyAlg  string
}

// fixtureOption changes how newFixture builds the service.
type fixtureOption func(*fixtureConfig)

// withServiceOptions adds options after the fixture's own (clock, auditor,
// notifier), so they can override them.
func withServiceOptions(opts ...impersonation.Option) fixtureOption {
	return func(c *fixtureConfig) { c.svcOpts = append(c.svcOpts, opts...) }
}

// withKeyAlgorithm makes the fixture sign with a fresh key for alg
// instead of ES256.
func withKeyAlgorithm(alg string) fixtureOption {
	return func(c *fixtureConfig) { c.keyAlg = alg }
}

// newFixture seeds the world described above into a fresh memory store and
// builds the service (audit and notices into the store) and the token
// endpoint tokenexchange.NewHandler(svc, svc).
func newFixture(t testing.TB, opts ...fixtureOption) *fixture {
	t.Helper()
	cfg := fixtureConfig{keyAlg: store.ES256}
	for _, o := range opts {
		o(&cfg)
	}
	clock := testkit.NewClock()
	db := memory.New(memory.WithClock(clock.Now))
	seed(t, db)
	keys, err := memory.GenerateKeySet(cfg.keyAlg, memory.WithClock(clock.Now))
	require.NoError(t, err)

	f := &fixture{
		clock:   clock,
		db:      db,
		keys:    keys,
		auditor: &testkit.SwitchAuditor{Next: db},
		oneTime: &switchOneTimeUse{next: db},
	}
	svcOpts := append([]impersonation.Option{
		impersonation.WithClock(clock.Now),
		impersonation.WithAuditor(f.auditor),
		impersonation.WithNotifier(db),
	}, cfg.svcOpts...)
	f.svc, err = impersonation.New(testIssuer, impersonation.Stores{
		Clients: db, Users: db, Organizations: db, Grants: db, OneTimeUse: f.oneTime, Keys: keys,
	}, svcOpts...)
	require.NoError(t, err)
	f.handler, err = tokenexchange.NewHandler(f.svc, f.svc)
	require.NoError(t, err)
	return f
}

func seed(t testing.TB, db *memory.Store) {
	t.Helper()
	for _, o := range []store.Organization{
		{ID: "acme", Name: "ACME Corp"},
		{ID: "acme-eu", Name: "ACME Europe", Parent: "acme"},
		{ID: "acme-us", Name: "ACME US", Parent: "acme"},
		{ID: "other", Name: "Other Inc"},
	} {
		require.NoError(t, db.PutOrganization(o))
	}
	for _, u := range []store.User{
		{ID: "alice", Username: "alice", Name: "Alice Admin", Email: "alice@acme.example", Org: "acme"},
		{ID: "bob", Username: "bob", Name: "Bob Buyer", Email: "bob@acme.example", Org: "acme-eu"},
		{ID: "carol", Username: "carol", Name: "Carol US", Org: "acme-us"},
		{ID: "dave", Username: "dave", Name: "Dave Admin", Org: "acme"},
		{ID: "erin", Username: "erin", Name: "Erin Gone", Org: "acme-eu", Disabled: true},
		{ID: "eve-eu-admin", Username: "eve", Name: "Eve EU Admin", Org: "acme-eu"},
		{ID: "frank", Username: "frank", Org: "acme"},
		{ID: "mallory", Username: "mallory", Org: "other"},
	} {
		require.NoError(t, db.PutUser(u))
	}
	client := func(id string) store.Client {
		hash, err := store.HashSecret(secrets[id], store.ClientSecretIterations)
		require.NoError(t, err)
		return store.Client{
			ID:            id,
			Name:          "client " + id,
			SecretHash:    hash,
			RedirectURIs:  []string{redirects[id]},
			Scopes:        []string{"openid", subjecttoken.ScopeImpersonate, scopeOrdersRead, scopeOrdersWrite},
			GrantTypes:    []string{tokenexchange.GrantType},
			Impersonation: true,
			Audiences:     []string{apiAudience},
		}
	}
	disabled := client(disabledID)
	disabled.Disabled = true
	noImp := client(noImpID)
	noImp.Impersonation = false
	noGrant := client(noGrantID)
	noGrant.GrantTypes = nil
	noAPI := client(noAPIID)
	noAPI.Scopes = []string{"openid", scopeOrdersRead, scopeOrdersWrite}
	for _, c := range []store.Client{client(appID), client(app2ID), disabled, noImp, noGrant, noAPI} {
		require.NoError(t, db.PutClient(c))
	}
	roles := []memory.Role{
		{Name: roleImpersonator, ClientID: appID, Scopes: []string{subjecttoken.ScopeImpersonate}, Users: []string{"alice", "dave", "eve-eu-admin"}},
		{Name: roleAdmin, ClientID: appID, Scopes: []string{scopeOrdersWrite}, Users: []string{"alice"}},
		{Name: roleCustomer, ClientID: appID, Scopes: []string{scopeOrdersRead}, Users: []string{"bob", "carol", "frank", "mallory", "erin"}},
		// alice holds no role for app2.
		{Name: roleImpersonator, ClientID: app2ID, Scopes: []string{subjecttoken.ScopeImpersonate}},
		{Name: roleCustomer, ClientID: app2ID, Scopes: []string{scopeOrdersRead}, Users: []string{"bob"}},
	}
	for _, id := range []string{disabledID, noImpID, noGrantID, noAPIID} {
		roles = append(roles,
			memory.Role{Name: roleImpersonator, ClientID: id, Scopes: []string{subjecttoken.ScopeImpersonate}, Users: []string{"alice"}},
			memory.Role{Name: roleCustomer, ClientID: id, Scopes: []string{scopeOrdersRead}, Users: []string{"bob"}},
		)
	}
	for _, r := range roles {
		require.NoError(t, db.PutRole(r))
	}
}

// updateClient changes a registered client.
func (f *fixture) updateClient(t testing.TB, id string, change func(*store.Client)) {
	t.Helper()
	c, err := f.db.Client(context.Background(), id)
	require.NoError(t, err)
	change(c)
	require.NoError(t, f.db.PutClient(*c))
}

// authorizeValues is a valid authorize request of clientID for subject,
// asking for an ID token as well.
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

// parseAuthorize parses v as the host's authorize endpoint would.
func (f *fixture) parseAuthorize(t testing.TB, v url.Values) *subjecttoken.AuthorizeRequest {
	t.Helper()
	req, _, err := subjecttoken.ParseAuthorizeValues(context.Background(), v, f.db)
	require.NoError(t, err)
	return req
}

// authorizeFor runs a granted authorize step and returns the subject token
// and the impersonator's ID token.
func (f *fixture) authorizeFor(t testing.TB, clientID, impersonator, subject string) (subjectToken, idToken string) {
	t.Helper()
	req := f.parseAuthorize(t, authorizeValues(clientID, subject))
	resp, err := f.svc.Authorize(context.Background(), req, impersonation.Login{UserID: impersonator, AuthTime: f.clock.Now()})
	require.NoError(t, err)
	require.NotEmpty(t, resp.SubjectToken)
	require.NotEmpty(t, resp.IDToken)
	return resp.SubjectToken, resp.IDToken
}

// authorize is authorizeFor client app.
func (f *fixture) authorize(t testing.TB, impersonator, subject string) (subjectToken, idToken string) {
	t.Helper()
	return f.authorizeFor(t, appID, impersonator, subject)
}

// exchangeRequest is the token exchange request of the flow.
func exchangeRequest(subjectToken, idToken string) *tokenexchange.Request {
	return &tokenexchange.Request{
		GrantType:        tokenexchange.GrantType,
		SubjectToken:     subjectToken,
		SubjectTokenType: tokenexchange.TokenTypeJWT,
		ActorToken:       idToken,
		ActorTokenType:   tokenexchange.TokenTypeIDToken,
	}
}

// accessToken runs the whole flow (alice as bob through app) and returns
// the access token.
func (f *fixture) accessToken(t testing.TB) string {
	t.Helper()
	st, id := f.authorize(t, "alice", "bob")
	resp, err := f.svc.Exchange(context.Background(), tokenexchange.Client{ID: appID, AuthMethod: tokenexchange.AuthMethodBasic}, exchangeRequest(st, id))
	require.NoError(t, err)
	return resp.AccessToken
}

// postToken sends form to the token endpoint with client_secret_basic.
func (f *fixture) postToken(t testing.TB, clientID, secret string, form url.Values) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/token", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
	w := httptest.NewRecorder()
	f.handler.ServeHTTP(w, r)
	return w
}

// Ways an exchange reaches the service.
const (
	viaDirect = "direct"
	viaHTTP   = "http"
)

// exchangeOutcome is what the client sees of one exchange, whichever way
// it went.
type exchangeOutcome struct {
	resp        *tokenexchange.Response
	status      int
	code        string
	description string
	// body is everything the client received: the HTTP body, or the wire
	// fields of the error for a direct call.
	body   string
	header http.Header
	// err is the error of a direct call.
	err error
}

// exchangeVia performs req for clientID directly (Service.Exchange, the
// client taken as authenticated) or over HTTP through the token endpoint.
func (f *fixture) exchangeVia(t testing.TB, via, clientID string, req *tokenexchange.Request) exchangeOutcome {
	t.Helper()
	switch via {
	case viaDirect:
		resp, err := f.svc.Exchange(context.Background(), tokenexchange.Client{ID: clientID, AuthMethod: tokenexchange.AuthMethodBasic}, req)
		if err == nil {
			require.NotNil(t, resp)
			return exchangeOutcome{resp: resp, status: http.StatusOK}
		}
		assert.Nil(t, resp, "nothing is issued with an error")
		var te *tokenexchange.Error
		require.ErrorAs(t, err, &te)
		return exchangeOutcome{
			status: te.StatusCode(), code: te.Code, description: te.Description,
			body: te.Code + " " + te.Description + " " + te.URI, err: err,
		}
	case viaHTTP:
		w := f.postToken(t, clientID, secrets[clientID], req.Values())
		out := exchangeOutcome{status: w.Code, body: w.Body.String(), header: w.Header()}
		if w.Code == http.StatusOK {
			var resp tokenexchange.Response
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &resp))
			out.resp = &resp
			return out
		}
		var e struct {
			Error            string `json:"error"`
			ErrorDescription string `json:"error_description"`
		}
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &e), "error body is JSON")
		assert.NotContains(t, w.Body.String(), "access_token", "nothing is issued with an error")
		out.code, out.description = e.Error, e.ErrorDescription
		return out
	}
	require.Failf(t, "unknown way", "%q", via)
	return exchangeOutcome{}
}

// aliceAsBobEvent is the audit event of type typ with outcome, recorded
// now, of alice acting as bob through app with scopes; callers set what
// else they expect (org, jti, reason, ...).
func (f *fixture) aliceAsBobEvent(typ store.EventType, outcome string, scopes ...string) store.Event {
	return store.Event{
		Type:         typ,
		Time:         f.clock.Now().UTC(),
		ClientID:     appID,
		Impersonator: "alice",
		Subject:      "bob",
		Scopes:       scopes,
		Outcome:      outcome,
	}
}

// signingKey returns the fixture's current private key.
func (f *fixture) signingKey(t testing.TB) store.PrivateKey {
	t.Helper()
	k, err := f.keys.SigningKey(context.Background())
	require.NoError(t, err)
	return k
}

// clientApp is client app as the token endpoint hands it over once
// authenticated.
func clientApp() tokenexchange.Client {
	return tokenexchange.Client{ID: appID, AuthMethod: tokenexchange.AuthMethodBasic}
}

// verifier returns a resource server's Verifier on the fixture's keys and
// clock.
func (f *fixture) verifier(t testing.TB, audience string, opts ...resource.Option) *resource.Verifier {
	t.Helper()
	v, err := resource.NewVerifier(testIssuer, audience, f.keys, append([]resource.Option{resource.WithClock(f.clock.Now)}, opts...)...)
	require.NoError(t, err)
	return v
}

// authorizeHandlerOf is the authorize endpoint of svc's Handlers, with
// login and opts.
func authorizeHandlerOf(t testing.TB, svc *impersonation.Service, login impersonation.Authenticator, opts ...impersonation.HandlerOption) http.Handler {
	t.Helper()
	e, err := svc.Handlers(context.Background(), login, opts...)
	require.NoError(t, err)
	return e.Authorize
}

// tokens is a subject token and ID token issuer on the fixture's keys and
// clock, configured as the service's own: for tokens the tests mint or
// read by hand, past the policy.
func (f *fixture) tokens(t testing.TB) *authorizetoken.Issuer {
	t.Helper()
	i, err := authorizetoken.NewIssuer(testIssuer, f.keys, authorizetoken.WithClock(f.clock.Now))
	require.NoError(t, err)
	return i
}

// methodCase is a request method an endpoint is asked with, and what it
// must answer: the status and whether there is a body.
type methodCase struct {
	name       string
	method     string
	wantStatus int
	wantBody   bool
}
