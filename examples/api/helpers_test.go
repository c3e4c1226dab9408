package api_test

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	"github.com/actas/actas/store"
	"github.com/actas/actas/store/memory"
	"github.com/stretchr/testify/require"
)

const (
	testIssuer   = "https://issuer.example"
	testAudience = "https://issuer.example/api"
)

// testKeys returns a key set and its signing key.
func testKeys(t testing.TB) (*memory.KeySet, store.PrivateKey) {
	t.Helper()
	key, err := store.GenerateKey(store.ES256)
	require.NoError(t, err)
	ks, err := memory.NewKeySet(key)
	require.NoError(t, err)
	return ks, key
}

// accessClaims returns the claims of a valid access token for bob,
// impersonated by alice; tests change them.
func accessClaims(now time.Time) map[string]any {
	return map[string]any{
		"iss":       testIssuer,
		"sub":       "bob",
		"aud":       testAudience,
		"azp":       "demo-app",
		"client_id": "demo-app",
		"scope":     "openid orders:read",
		"act":       map[string]any{"sub": "alice"},
		"aut":       "APPLICATION_USER",
		"org_id":    "acme-eu",
		"org_name":  "ACME Europe",
		"iat":       now.Unix(),
		"nbf":       now.Unix(),
		"exp":       now.Add(time.Hour).Unix(),
		"jti":       "jti-" + rand.Text(),
	}
}

// sign makes a compact ES256 JWS of claims with the given typ, as an
// issuer would. It uses the standard library only, so that the test does
// not depend on how the library signs.
func sign(t testing.TB, key store.PrivateKey, typ string, claims map[string]any) string {
	t.Helper()
	priv, ok := key.Key.(*ecdsa.PrivateKey)
	require.True(t, ok, "an ES256 key")
	hdr, err := json.Marshal(map[string]string{"alg": "ES256", "kid": key.ID, "typ": typ})
	require.NoError(t, err)
	payload, err := json.Marshal(claims)
	require.NoError(t, err)
	enc := base64.RawURLEncoding
	input := enc.EncodeToString(hdr) + "." + enc.EncodeToString(payload)
	digest := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, priv, digest[:])
	require.NoError(t, err)
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return input + "." + enc.EncodeToString(sig)
}
