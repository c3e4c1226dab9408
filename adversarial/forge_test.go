package adversarial_test

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/actas/actas/internal/authorizetoken"
	"github.com/actas/actas/internal/jose"
	"github.com/actas/actas/internal/testkit"
	"github.com/actas/actas/store"
)

// Forging tools: tokens are assembled by hand (base64url header and
// payload, with testkit's Segment, Sign and SignRaw) and signed with the
// issuer's real key, an attacker's key or a MAC, so that exactly one thing
// is wrong with each.

// Header types of the flow's three tokens.
const (
	typSubject = authorizetoken.HeaderType        // subject+jwt
	typID      = authorizetoken.IDTokenHeaderType // JWT
	typAccess  = "at+jwt"
)

// mustJSON marshals v.
func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

// unB64 decodes a base64url segment.
func unB64(t testing.TB, seg string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(seg)
	require.NoError(t, err)
	return b
}

// header is the protected header the issuer would write.
func (e *env) header(t testing.TB, typ string) map[string]any {
	t.Helper()
	return testkit.Header(e.signingKey(t), typ)
}

// subjectClaims are valid subject token claims: bob impersonated by alice
// through app, at the world's current time.
func (e *env) subjectClaims() map[string]any {
	now := e.clock.Now()
	return map[string]any{
		"iss": issuer, "sub": "bob", "aud": appID, "azp": appID, "client_id": appID,
		"scope":   "openid " + scopeRead,
		"may_act": map[string]any{"sub": "alice"},
		"iat":     now.Unix(), "nbf": now.Unix(), "exp": now.Add(3 * time.Minute).Unix(),
		"jti": testkit.RandomID(),
	}
}

// idClaims are valid ID token claims of sub for client aud.
func (e *env) idClaims(sub, aud string) map[string]any {
	now := e.clock.Now()
	return map[string]any{
		"iss": issuer, "sub": sub, "aud": aud, "azp": aud,
		"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
		"jti": testkit.RandomID(), "nonce": testNonce,
	}
}

// accessClaims are valid access token claims for the API: bob, acted for
// by alice, through app.
func (e *env) accessClaims() map[string]any {
	now := e.clock.Now()
	return map[string]any{
		"iss": issuer, "sub": "bob", "aud": apiAudience, "azp": appID, "client_id": appID,
		"scope": "openid " + scopeRead, "act": map[string]any{"sub": "alice"},
		"aut": "APPLICATION_USER", "org_id": "acme-eu",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"jti": testkit.RandomID(),
	}
}

// The valid claims of each kind, as forgeries take them.
var (
	subjectClaimsOf = (*env).subjectClaims
	accessClaimsOf  = (*env).accessClaims
)

// aliceIDClaims are alice's ID token claims for app.
func aliceIDClaims(e *env) map[string]any { return e.idClaims("alice", appID) }

// changed returns a shallow copy of m with f applied.
func changed(m map[string]any, f func(map[string]any)) map[string]any {
	out := maps.Clone(m)
	f(out)
	return out
}

// signClaims signs claims with the issuer's real key through the
// library's own signer: only the claims can be wrong.
func (e *env) signClaims(t testing.TB, typ string, claims any) string {
	t.Helper()
	tok, err := jose.Sign(e.signingKey(t), typ, claims)
	require.NoError(t, err)
	return tok
}

// issuerSign is the issuer's real signature of input, base64url.
func (e *env) issuerSign(t testing.TB, input string) string {
	t.Helper()
	return testkit.Sign(t, e.signingKey(t), input)
}

// signSegments signs the raw header and payload segments (not necessarily
// base64url) with the issuer's real key, over exactly those bytes.
func (e *env) signSegments(t testing.TB, header, payload string) string {
	t.Helper()
	input := header + "." + payload
	return input + "." + e.issuerSign(t, input)
}

// forgeRaw signs the raw header and payload with the issuer's real key.
func (e *env) forgeRaw(t testing.TB, header, payload []byte) string {
	t.Helper()
	return e.signSegments(t, testkit.B64(header), testkit.B64(payload))
}

// forgeWith signs header and claims (any JSON) with sign, which returns
// the base64url signature of the JWS signing input.
func forgeWith(t testing.TB, header, claims any, sign func(input string) string) string {
	t.Helper()
	input := testkit.Segment(t, header) + "." + testkit.Segment(t, claims)
	return input + "." + sign(input)
}

// attackerKey is a fresh ES256 key the issuer has never seen.
func attackerKey(t testing.TB) store.PrivateKey {
	t.Helper()
	k, err := store.GenerateKey(store.ES256)
	require.NoError(t, err)
	return k
}

// attackerSignedAs is a token of type typ over the claims that claims
// returns, signed by a key the attacker made and naming it, with header
// fields from extra (which may name the attacker's key).
func attackerSignedAs(typ string, claims func(*env) map[string]any, extra func(t *testing.T, e *env, k store.PrivateKey, h map[string]any)) forgery {
	return func(t *testing.T, e *env) string {
		k := attackerKey(t)
		h := testkit.Header(k, typ)
		extra(t, e, k, h)
		return testkit.SignRaw(t, k, h, claims(e))
	}
}

// attackerSigned is a subject token signed by a key the attacker made.
func attackerSigned(extra func(t *testing.T, e *env, k store.PrivateKey, h map[string]any)) forgery {
	return attackerSignedAs(typSubject, subjectClaimsOf, extra)
}

// Header changes of attackerSigned.
var (
	// asIs leaves the attacker's header alone.
	asIs = func(*testing.T, *env, store.PrivateKey, map[string]any) {}
	// carryingJWK embeds the attacker's public key in the header.
	carryingJWK = func(t *testing.T, _ *env, k store.PrivateKey, h map[string]any) { h["jwk"] = testkit.PublicJWK(t, k) }
	// issuersKid names the issuer's key instead of the attacker's.
	issuersKid = func(t *testing.T, e *env, _ store.PrivateKey, h map[string]any) { h["kid"] = e.signingKey(t).ID }
)

// rsaKey is an RSA key for PS256 and RS256 forgeries, generated once.
var rsaKey = sync.OnceValues(func() (store.PrivateKey, error) { return store.GenerateKey(store.RS256) })

// edKey is an Ed25519 key for EdDSA forgeries, generated once.
var edKey = sync.OnceValues(func() (store.PrivateKey, error) { return store.GenerateKey(store.EdDSA) })

// malleate returns the other valid ECDSA signature of the same message:
// (r, s) becomes (r, n−s). P-256 signatures are malleable; single use must
// not depend on the token's bytes.
func malleate(t testing.TB, tok string) string {
	t.Helper()
	i := strings.LastIndexByte(tok, '.')
	sig := unB64(t, tok[i+1:])
	require.Len(t, sig, 64)
	n := ecdsaN()
	s := new(big.Int).SetBytes(sig[32:])
	s.Sub(n, s)
	out := append([]byte(nil), sig[:32]...)
	out = append(out, s.FillBytes(make([]byte, 32))...)
	return tok[:i+1] + testkit.B64(out)
}

// ecdsaN is the order of P-256.
func ecdsaN() *big.Int {
	n, _ := new(big.Int).SetString("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551", 16)
	return n
}

// derSign signs input with the issuer's key but encodes the signature in
// ASN.1 DER, as TLS does and JWS (RFC 7518 §3.4) does not.
func (e *env) derSign(t testing.TB, input string) string {
	t.Helper()
	k, ok := e.signingKey(t).Key.(*ecdsa.PrivateKey)
	require.True(t, ok)
	sum := sha256.Sum256([]byte(input))
	sig, err := ecdsa.SignASN1(rand.Reader, k, sum[:])
	require.NoError(t, err)
	return testkit.B64(sig)
}

// rawHeaderOn is a token with a hand-written header JSON (format, whose
// %s or %[1]s takes the issuer's kid) over the claims that claims returns,
// signed by the issuer over exactly those bytes: duplicate header members
// survive.
func rawHeaderOn(claims func(e *env) map[string]any, format string) forgery {
	return func(t *testing.T, e *env) string {
		return e.forgeRaw(t, fmt.Appendf(nil, format, e.signingKey(t).ID), mustJSON(t, claims(e)))
	}
}

// bearerWith is a bearer token refused by the API with invalid_token and
// recorded (WithRequestAudit) as request.refused whose reason contains
// reason.
func bearerWith(reason string) refusal {
	return refusal{
		status: 401, code: "invalid_token", bearer: true,
		event: store.EventRequestRefused, reasonPrefix: "invalid_token: ", reason: reason,
	}
}
