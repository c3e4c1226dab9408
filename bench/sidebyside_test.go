package bench

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/actas/actas/claims"
	"github.com/actas/actas/impersonation"
	"github.com/actas/actas/store"
	"github.com/actas/actas/store/memory"
	"github.com/actas/actas/subjecttoken"
	"github.com/actas/actas/tokenexchange"
)

// The shared world: organisation acme with child acme-eu; alice (acme)
// holds the impersonation role for app, dave (acme) too; bob (acme-eu) holds
// orders:read. Client app is confidential (client_secret_basic), may use
// token exchange, has impersonation on and one registered audience.
const (
	testIssuer   = "https://id.example"
	appID        = "app"
	appSecret    = "app-secret-6f1c2a9e4b7d"
	appRedirect  = "https://app.example/cb"
	apiAudience  = "https://api.example"
	tokenPath    = "/oauth/token" // zitadel's default token endpoint path
	fullScope    = "internal_user_impersonate openid orders:read orders:write"
	scopeOrders  = "orders:read"
	impersonator = "alice"
	subject      = "bob"
)

// discardAuditor drops events: both sides record one per exchange, and
// neither should be measured growing a log.
type discardAuditor struct{}

var _ store.Auditor = discardAuditor{}

func (discardAuditor) Record(context.Context, store.Event) error { return nil }

// world is one process with both token endpoints over the same store, the
// same ES256 key and the same client.
type world struct {
	db      *memory.Store
	key     store.PrivateKey
	svc     *impersonation.Service
	actas   http.Handler
	zitadel http.Handler
	zs      *zitadelStorage
	authReq *subjecttoken.AuthorizeRequest
}

func newWorld(tb testing.TB) *world {
	tb.Helper()
	ctx := context.Background()
	db := memory.New()
	seed(tb, db)
	keys, err := memory.GenerateKeySet(store.ES256)
	require.NoError(tb, err)
	key, err := keys.SigningKey(ctx)
	require.NoError(tb, err)
	w := &world{db: db, key: key}

	// actas: the library wired as the README shows, mounted on a ServeMux
	// so that both endpoints are reached through a router.
	w.svc, err = impersonation.New(testIssuer, impersonation.Stores{
		Clients: db, Users: db, Organizations: db, Grants: db, OneTimeUse: db, Keys: keys,
	}, impersonation.WithAuditor(discardAuditor{}), impersonation.WithNotifier(nil),
		// The start limit guards the authorize side, which mints the
		// tokens of every iteration before the timer; the exchange does
		// not use it.
		impersonation.WithStartLimit(nil, 0, 0))
	require.NoError(tb, err)
	token, err := tokenexchange.NewHandler(w.svc, w.svc)
	require.NoError(tb, err)
	mux := http.NewServeMux()
	mux.Handle("POST "+tokenPath, token)
	w.actas = mux

	// zitadel/oidc: op.NewProvider with the storage of zitadel_test.go,
	// the same key, JWT access tokens, ES256 only.
	zs, err := newZitadelStorage(key, db, db, w.svc.Decide, discardAuditor{})
	require.NoError(tb, err)
	w.zs = zs
	config := &op.Config{}
	_, err = rand.Read(config.CryptoKey[:])
	require.NoError(tb, err)
	w.zitadel, err = op.NewProvider(config, zs, op.StaticIssuer(testIssuer),
		op.WithIDTokenHintKeySet(zs.idTokenKeySet()),
		op.WithIDTokenHintVerifierOpts(op.WithSupportedIDTokenHintSigningAlgorithms(store.ES256)),
	)
	require.NoError(tb, err)

	w.authReq, _, err = subjecttoken.ParseAuthorizeValues(ctx, url.Values{
		"client_id":         {appID},
		"redirect_uri":      {appRedirect},
		"state":             {"state-8d2f"},
		"scope":             {fullScope},
		"response_type":     {"id_token subject_token"},
		"requested_subject": {subject},
		"nonce":             {"nonce-41c7"},
	}, db)
	require.NoError(tb, err)
	return w
}

func seed(tb testing.TB, db *memory.Store) {
	tb.Helper()
	hash, err := store.HashSecret(appSecret, store.ClientSecretIterations)
	require.NoError(tb, err)
	steps := []error{
		db.PutOrganization(store.Organization{ID: "acme", Name: "ACME Corp"}),
		db.PutOrganization(store.Organization{ID: "acme-eu", Name: "ACME Europe", Parent: "acme"}),
		db.PutUser(store.User{ID: "alice", Username: "alice", Name: "Alice Admin", Org: "acme"}),
		db.PutUser(store.User{ID: "dave", Username: "dave", Name: "Dave Admin", Org: "acme"}),
		db.PutUser(store.User{ID: "bob", Username: "bob", Name: "Bob Buyer", Org: "acme-eu"}),
		db.PutClient(store.Client{
			ID: appID, Name: "client app", SecretHash: hash,
			RedirectURIs:  []string{appRedirect},
			Scopes:        []string{"openid", subjecttoken.ScopeImpersonate, scopeOrders, "orders:write"},
			GrantTypes:    []string{tokenexchange.GrantType},
			Impersonation: true,
			Audiences:     []string{apiAudience},
		}),
		db.PutRole(memory.Role{Name: "impersonator", ClientID: appID, Scopes: []string{subjecttoken.ScopeImpersonate}, Users: []string{"alice", "dave"}}),
		db.PutRole(memory.Role{Name: "admin", ClientID: appID, Scopes: []string{"orders:write"}, Users: []string{"alice"}}),
		db.PutRole(memory.Role{Name: "customer", ClientID: appID, Scopes: []string{scopeOrders}, Users: []string{"bob"}}),
	}
	for _, err := range steps {
		require.NoError(tb, err)
	}
}

// mintTokens runs actas's authorize step as impersonator for bob: a
// subject token (typ subject+jwt, sub bob, may_act.sub impersonator, fresh
// jti) and the impersonator's ID token (typ JWT), signed with the key both
// sides share. zitadel's side accepts the same tokens.
func (w *world) mintTokens(tb testing.TB, as string) (subjectToken, idToken string) {
	tb.Helper()
	resp, err := w.svc.Authorize(context.Background(), w.authReq, impersonation.Login{UserID: as, AuthTime: time.Now()})
	require.NoError(tb, err)
	return resp.SubjectToken, resp.IDToken
}

// exchangeForm is the token exchange request both endpoints get: the
// subject token and the ID token, narrowing the scope to orders:read and
// asking for the registered API audience.
func exchangeForm(subjectToken, idToken string) url.Values {
	req := &tokenexchange.Request{
		GrantType:          tokenexchange.GrantType,
		SubjectToken:       subjectToken,
		SubjectTokenType:   tokenexchange.TokenTypeJWT,
		ActorToken:         idToken,
		ActorTokenType:     tokenexchange.TokenTypeIDToken,
		Audience:           []string{apiAudience},
		Scope:              claims.Scope{scopeOrders},
		RequestedTokenType: tokenexchange.TokenTypeAccessToken,
	}
	return req.Values()
}

// mintForms mints n requests before the timer, each with its own subject
// token, so one-time use is real work on both sides.
func (w *world) mintForms(tb testing.TB, n int) []string {
	tb.Helper()
	forms := make([]string, n)
	for i := range forms {
		forms[i] = exchangeForm(w.mintTokens(tb, impersonator)).Encode()
	}
	return forms
}

// post sends body to h's token endpoint with client_secret_basic, no
// sockets.
func post(h http.Handler, body, secret string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, tokenPath, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.SetBasicAuth(url.QueryEscape(appID), url.QueryEscape(secret))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}

var accessTokenField = []byte(`"access_token":"`)

// BenchmarkSideBySide posts the same token exchange request to actas's and
// zitadel/oidc's token endpoints, each answer checked in the loop.
func BenchmarkSideBySide(b *testing.B) {
	w := newWorld(b)
	for _, side := range w.sides() {
		b.Run(side.name, func(b *testing.B) {
			forms := w.mintForms(b, b.N)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				rec := post(side.h, forms[i], appSecret)
				if rec.Code != http.StatusOK || !bytes.Contains(rec.Body.Bytes(), accessTokenField) {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
		})
	}
}

type side struct {
	name string
	h    http.Handler
}

func (w *world) sides() []side { return []side{{"actas", w.actas}, {"zitadel", w.zitadel}} }

// tokenResponse is the part of both token responses the tests read.
type tokenResponse struct {
	AccessToken     string `json:"access_token"`
	IssuedTokenType string `json:"issued_token_type"`
	TokenType       string `json:"token_type"`
	ExpiresIn       int64  `json:"expires_in"`
	Scope           string `json:"scope"`
	Error           string `json:"error"`
}

func decodeResponse(t *testing.T, rec *httptest.ResponseRecorder) tokenResponse {
	t.Helper()
	var r tokenResponse
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &r), "body: %s", rec.Body)
	return r
}

// jwtParts decodes a compact JWS's header and payload without verifying.
func jwtParts(t *testing.T, tok string) (header, payload map[string]any) {
	t.Helper()
	parts := strings.Split(tok, ".")
	require.Len(t, parts, 3)
	dec := func(s string) map[string]any {
		raw, err := base64.RawURLEncoding.DecodeString(s)
		require.NoError(t, err)
		var m map[string]any
		require.NoError(t, json.Unmarshal(raw, &m))
		return m
	}
	return dec(parts[0]), dec(parts[1])
}

// verifyES256 checks a compact JWS against pub with the standard library.
func verifyES256(t *testing.T, tok string, pub *ecdsa.PublicKey) bool {
	t.Helper()
	i := strings.LastIndexByte(tok, '.')
	sig, err := base64.RawURLEncoding.DecodeString(tok[i+1:])
	require.NoError(t, err)
	require.Len(t, sig, 64)
	sum := sha256.Sum256([]byte(tok[:i]))
	return ecdsa.Verify(pub, sum[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:]))
}

// TestSideBySideBothIssue runs one exchange on each side: both issue an
// access token signed with the shared key for sub bob with act.sub alice,
// the narrowed scope and the requested audience; a replay of the same
// request is refused by both.
func TestSideBySideBothIssue(t *testing.T) {
	w := newWorld(t)
	pub := w.key.Key.Public().(*ecdsa.PublicKey)
	for _, s := range w.sides() {
		t.Run(s.name, func(t *testing.T) {
			form := exchangeForm(w.mintTokens(t, impersonator)).Encode()
			rec := post(s.h, form, appSecret)
			require.Equal(t, http.StatusOK, rec.Code, "body: %s", rec.Body)
			resp := decodeResponse(t, rec)
			require.NotEmpty(t, resp.AccessToken)
			assert.Equal(t, tokenexchange.TokenTypeAccessToken, resp.IssuedTokenType)
			assert.Equal(t, "Bearer", resp.TokenType)
			assert.Equal(t, scopeOrders, resp.Scope)
			assert.InDelta(t, 3600, resp.ExpiresIn, 2)

			header, payload := jwtParts(t, resp.AccessToken)
			assert.Equal(t, store.ES256, header["alg"])
			assert.Equal(t, w.key.ID, header["kid"])
			assert.True(t, verifyES256(t, resp.AccessToken, pub), "signed with the shared key")
			assert.Equal(t, testIssuer, payload["iss"])
			assert.Equal(t, subject, payload["sub"])
			act, ok := payload["act"].(map[string]any)
			require.True(t, ok, "act claim: %v", payload["act"])
			assert.Equal(t, impersonator, act["sub"])
			assert.Equal(t, scopeOrders, payload["scope"])
			assert.Contains(t, []any{apiAudience, []any{apiAudience}}, payload["aud"])
			assert.Equal(t, appID, payload["client_id"])
			assert.Equal(t, appID, payload["azp"])
			assert.Equal(t, "acme-eu", payload["org_id"])
			assert.NotEmpty(t, payload["jti"])

			replay := post(s.h, form, appSecret)
			assert.Equal(t, http.StatusBadRequest, replay.Code, "replay: %s", replay.Body)
			assert.Equal(t, "invalid_request", decodeResponse(t, replay).Error)
			assert.NotContains(t, replay.Body.String(), "access_token")
		})
	}
}

// TestSideBySideBothRefuse checks that both sides refuse the same bad
// requests with the same error code, and that a refused attempt does not
// burn the subject token (the good request afterwards succeeds).
func TestSideBySideBothRefuse(t *testing.T) {
	w := newWorld(t)
	cases := []struct {
		name   string
		change func(v url.Values, st, id string)
		secret string
		status int
		code   string
	}{
		{name: "wrong client secret", secret: "not-the-secret", status: http.StatusUnauthorized, code: "invalid_client"},
		{name: "scope beyond the subject token", change: func(v url.Values, _, _ string) { v.Set("scope", "orders:write") },
			status: http.StatusBadRequest, code: "invalid_scope"},
		{name: "audience not registered", change: func(v url.Values, _, _ string) { v.Set("audience", "https://evil.example") },
			status: http.StatusBadRequest, code: "invalid_target"},
		{name: "resource not registered", change: func(v url.Values, _, _ string) { v.Set("resource", "https://evil.example") },
			status: http.StatusBadRequest, code: "invalid_target"},
		{name: "ID token as subject token", change: func(v url.Values, _, id string) { v.Set("subject_token", id) },
			status: http.StatusBadRequest, code: "invalid_request"},
		{name: "subject token as actor token", change: func(v url.Values, st, _ string) { v.Set("actor_token", st) },
			status: http.StatusBadRequest, code: "invalid_request"},
		{name: "actor is not may_act.sub", change: func(v url.Values, _, _ string) {
			_, daveID := w.mintTokens(t, "dave")
			v.Set("actor_token", daveID)
		}, status: http.StatusBadRequest, code: "invalid_request"},
		{name: "tampered subject token", change: func(v url.Values, st, _ string) {
			v.Set("subject_token", flipAt(st, len(st)-20))
		}, status: http.StatusBadRequest, code: "invalid_request"},
		{name: "no actor token", change: func(v url.Values, _, _ string) { v.Del("actor_token"); v.Del("actor_token_type") },
			status: http.StatusBadRequest, code: "invalid_request"},
	}
	for _, s := range w.sides() {
		for _, tc := range cases {
			t.Run(s.name+"/"+tc.name, func(t *testing.T) {
				st, id := w.mintTokens(t, impersonator)
				bad := exchangeForm(st, id)
				if tc.change != nil {
					tc.change(bad, st, id)
				}
				secret := appSecret
				if tc.secret != "" {
					secret = tc.secret
				}
				rec := post(s.h, bad.Encode(), secret)
				assert.Equal(t, tc.status, rec.Code, "body: %s", rec.Body)
				assert.Equal(t, tc.code, decodeResponse(t, rec).Error)
				assert.NotContains(t, rec.Body.String(), "access_token")

				good := post(s.h, exchangeForm(st, id).Encode(), appSecret)
				assert.Equal(t, http.StatusOK, good.Code, "the refused attempt burnt the token: %s", good.Body)
			})
		}
	}
}

// TestZitadelTypedKeySets checks the typ checks added to zitadel's
// verifiers: its ID token verifier (with the key set given through
// op.WithIDTokenHintKeySet) takes the ID token but not the subject token,
// and the subject token verifier the reverse, although all are signed by
// the same key.
func TestZitadelTypedKeySets(t *testing.T) {
	w := newWorld(t)
	st, id := w.mintTokens(t, impersonator)
	ctx := op.ContextWithIssuer(context.Background(), testIssuer)
	v := op.NewIDTokenHintVerifier(testIssuer, w.zs.idTokenKeySet(), op.WithSupportedIDTokenHintSigningAlgorithms(store.ES256))

	claims, err := op.VerifyIDTokenHint[*oidc.IDTokenClaims](ctx, id, v)
	require.NoError(t, err)
	assert.Equal(t, impersonator, claims.Subject)
	_, err = op.VerifyIDTokenHint[*oidc.IDTokenClaims](ctx, st, v)
	assert.Error(t, err, "a subject token is not an ID token")

	jti, sub, _, err := w.zs.VerifyExchangeSubjectToken(ctx, st, oidc.JWTTokenType)
	require.NoError(t, err)
	assert.Equal(t, subject, sub)
	assert.NotEmpty(t, jti)
	_, _, _, err = w.zs.VerifyExchangeSubjectToken(ctx, id, oidc.JWTTokenType)
	assert.Error(t, err, "an ID token is not a subject token")
}

// flipAt changes the base64url character of s at i (inside the
// signature, away from its padding bits).
func flipAt(s string, i int) string {
	repl := byte('A')
	if s[i] == 'A' {
		repl = 'B'
	}
	return s[:i] + string(repl) + s[i+1:]
}
