package adversarial_test

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/internal/authorizetoken"
	"github.com/actas/actas/internal/jose"
	"github.com/actas/actas/store"
)

// Forging tools: tokens are assembled by hand (base64url header and
// payload) and signed with the issuer's real key, an attacker's key or a
// MAC, so that exactly one thing is wrong with each.

var b64 = base64.RawURLEncoding

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

// header is the protected header the issuer would write.
func (e *env) header(t testing.TB, typ string) map[string]any {
	t.Helper()
	return map[string]any{"alg": store.ES256, "kid": e.signingKey(t).ID, "typ": typ}
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
		"jti": jose.NewID(),
	}
}

// idClaims are valid ID token claims of sub for client aud.
func (e *env) idClaims(sub, aud string) map[string]any {
	now := e.clock.Now()
	return map[string]any{
		"iss": issuer, "sub": sub, "aud": aud, "azp": aud,
		"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
		"jti": jose.NewID(), "nonce": testNonce,
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
		"jti": jose.NewID(),
	}
}

// changed returns a shallow copy of m with f applied.
func changed(m map[string]any, f func(map[string]any)) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
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

// jwsSign signs input with key under alg, as jwx does for a JWS.
func jwsSign(t testing.TB, alg jwa.SignatureAlgorithm, key any, input string) []byte {
	t.Helper()
	s, err := jws.NewSigner(alg)
	require.NoError(t, err)
	sig, err := s.Sign([]byte(input), key)
	require.NoError(t, err)
	return sig
}

// issuerSign signs input with the issuer's real key (raw r||s).
func (e *env) issuerSign(t testing.TB, input string) []byte {
	t.Helper()
	k := e.signingKey(t)
	return jwsSign(t, jwa.SignatureAlgorithm(k.Algorithm), k.Key, input)
}

// forgeRaw signs the raw header and payload with the issuer's real key.
func (e *env) forgeRaw(t testing.TB, header, payload []byte) string {
	t.Helper()
	input := b64.EncodeToString(header) + "." + b64.EncodeToString(payload)
	return input + "." + b64.EncodeToString(e.issuerSign(t, input))
}

// forgeWith signs header and claims (any JSON) with sign over the JWS
// signing input.
func forgeWith(t testing.TB, header, claims any, sign func(input string) []byte) string {
	t.Helper()
	input := b64.EncodeToString(mustJSON(t, header)) + "." + b64.EncodeToString(mustJSON(t, claims))
	return input + "." + b64.EncodeToString(sign(input))
}

// attackerKey is a fresh ES256 key the issuer has never seen.
func attackerKey(t testing.TB) store.PrivateKey {
	t.Helper()
	k, err := store.GenerateKey(store.ES256)
	require.NoError(t, err)
	return k
}

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
	sig, err := b64.DecodeString(tok[i+1:])
	require.NoError(t, err)
	require.Len(t, sig, 64)
	n := ecdsaN()
	s := new(big.Int).SetBytes(sig[32:])
	s.Sub(n, s)
	out := append([]byte(nil), sig[:32]...)
	out = append(out, s.FillBytes(make([]byte, 32))...)
	return tok[:i+1] + b64.EncodeToString(out)
}

// ecdsaN is the order of P-256.
func ecdsaN() *big.Int {
	n, _ := new(big.Int).SetString("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551", 16)
	return n
}

// derSign signs input with the issuer's key but encodes the signature in
// ASN.1 DER, as TLS does and JWS (RFC 7518 §3.4) does not.
func (e *env) derSign(t testing.TB, input string) []byte {
	t.Helper()
	k, ok := e.signingKey(t).Key.(*ecdsa.PrivateKey)
	require.True(t, ok)
	sum := sha256.Sum256([]byte(input))
	sig, err := ecdsa.SignASN1(rand.Reader, k, sum[:])
	require.NoError(t, err)
	return sig
}

// rawHeaderOn is a token with a hand-written header JSON (format takes
// the issuer's kid) over the claims that claims returns, signed by the
// issuer over exactly those bytes: duplicate header members survive.
func rawHeaderOn(claims func(e *env) map[string]any, format func(kid string) string) forgery {
	return func(t *testing.T, e *env) string {
		return e.forgeRaw(t, []byte(format(e.signingKey(t).ID)), mustJSON(t, claims(e)))
	}
}

// aliceIDClaims are alice's ID token claims for app.
func aliceIDClaims(e *env) map[string]any { return e.idClaims("alice", appID) }

// accessClaimsOf are the valid access token claims for the API.
func accessClaimsOf(e *env) map[string]any { return e.accessClaims() }

// bearerWith is a bearer token refused by the API with invalid_token and
// recorded (WithRequestAudit) as request.refused whose reason contains
// reason.
func bearerWith(reason string) refusal {
	return refusal{
		status: 401, code: "invalid_token", bearer: true,
		event: store.EventRequestRefused, reasonPrefix: "invalid_token: ", reason: reason,
	}
}
