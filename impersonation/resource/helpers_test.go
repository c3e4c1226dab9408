package resource_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/actas/actas/impersonation/resource"
	"github.com/actas/actas/internal/accesstoken"
	"github.com/actas/actas/internal/authorizetoken"
	"github.com/actas/actas/internal/testkit"
	"github.com/actas/actas/store"
	"github.com/actas/actas/store/memory"
	"github.com/actas/actas/subjecttoken"
)

const (
	testIssuer  = "https://id.example.test"
	appID       = "app"
	apiAudience = "https://api.example"

	scopeOrdersRead  = "orders:read"
	scopeOrdersWrite = "orders:write"
)

// fixture is what a resource server sees of one issuer: its key set, a
// store for revocation and audit, and a clock. Tests build their own, so
// they can run in parallel.
type fixture struct {
	clock *testkit.Clock
	db    *memory.Store
	keys  *memory.KeySet
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	clock := testkit.NewClock()
	keys, err := memory.GenerateKeySet(store.ES256, memory.WithClock(clock.Now))
	require.NoError(t, err)
	return &fixture{clock: clock, db: memory.New(memory.WithClock(clock.Now)), keys: keys}
}

// accessClaims are the claims of the access token an exchange issues for
// alice acting as bob through app: what accessToken signs.
func (f *fixture) accessClaims() map[string]any {
	now := f.clock.Now().Unix()
	return map[string]any{
		"iss": testIssuer, "sub": "bob", "aud": appID, "azp": appID, "client_id": appID,
		"scope": "openid orders:read", "act": map[string]any{"sub": "alice"},
		"aut": accesstoken.AuthorizedUserType, "org_id": "acme-eu", "org_name": "ACME Europe",
		"iat": now, "nbf": now, "exp": now + 3600, "jti": testkit.RandomID(),
	}
}

// atHeader is the header of an access token signed by key.
func atHeader(key store.PrivateKey) map[string]any {
	return testkit.Header(key, accesstoken.HeaderType)
}

// accessToken is a fresh access token of the issuer, with a new jti.
func (f *fixture) accessToken(t testing.TB) string {
	t.Helper()
	key := f.signingKey(t)
	return testkit.SignRaw(t, key, atHeader(key), f.accessClaims())
}

// withClaims makes access tokens of the issuer's key whose claims, those
// of accessClaims, change alters.
func withClaims(change func(f *fixture, c map[string]any)) func(t testing.TB, f *fixture) string {
	return func(t testing.TB, f *fixture) string {
		t.Helper()
		c := f.accessClaims()
		change(f, c)
		key := f.signingKey(t)
		return testkit.SignRaw(t, key, atHeader(key), c)
	}
}

// signingKey returns the issuer's current private key.
func (f *fixture) signingKey(t testing.TB) store.PrivateKey {
	t.Helper()
	k, err := f.keys.SigningKey(context.Background())
	require.NoError(t, err)
	return k
}

// verifier returns a Verifier on the fixture's keys and clock.
func (f *fixture) verifier(t testing.TB, audience string, opts ...resource.Option) *resource.Verifier {
	t.Helper()
	v, err := resource.NewVerifier(testIssuer, audience, f.keys, append([]resource.Option{resource.WithClock(f.clock.Now)}, opts...)...)
	require.NoError(t, err)
	return v
}

// flow returns a subject token and an ID token of the issuer, signed with
// its key: tokens of other kinds that a resource server must refuse.
func flow(t testing.TB, f *fixture) (subjectToken, idToken string) {
	t.Helper()
	key := f.signingKey(t)
	now := f.clock.Now().Unix()
	st := testkit.SignRaw(t, key, testkit.Header(key, authorizetoken.HeaderType), map[string]any{
		"iss": testIssuer, "sub": "bob", "aud": appID, "azp": appID, "client_id": appID,
		"may_act": map[string]any{"sub": "alice"}, "scope": "openid orders:read",
		"iat": now, "nbf": now, "exp": now + 180, "jti": testkit.RandomID(),
	})
	id := testkit.SignRaw(t, key, testkit.Header(key, authorizetoken.IDTokenHeaderType), map[string]any{
		"iss": testIssuer, "sub": "alice", "aud": appID, "azp": appID, "nonce": "n-1",
		"iat": now, "auth_time": now, "exp": now + 300, "jti": testkit.RandomID(),
	})
	return st, id
}

// exampleSetup is what the examples start from, in the examples' world
// (testkit.NewExample): alice's access token as bob through app with the
// authorize response it came from, and a resource server's Verifier whose
// audience is the client itself, on the world's clock.
type exampleSetup struct {
	accessToken string
	authorized  *subjecttoken.AuthorizeResponse
	verifier    *resource.Verifier
}

// newExampleSetup builds the examples' setup; its error is what an
// example prints.
func newExampleSetup(ctx context.Context) (*exampleSetup, error) {
	e, err := testkit.NewExample()
	if err != nil {
		return nil, err
	}
	at, ar, err := e.AccessToken(ctx)
	if err != nil {
		return nil, err
	}
	v, err := resource.NewVerifier(testkit.ExampleIssuer, "app", e.Keys, resource.WithClock(e.Now))
	if err != nil {
		return nil, err
	}
	return &exampleSetup{accessToken: at, authorized: ar, verifier: v}, nil
}
