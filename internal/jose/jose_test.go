package jose_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/actas/actas/internal/jose"
	"github.com/actas/actas/store"
	"github.com/actas/actas/store/memory"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var b64 = base64.RawURLEncoding

func keySet(t testing.TB, alg string) (*memory.KeySet, store.PrivateKey) {
	t.Helper()
	ks, err := memory.GenerateKeySet(alg)
	require.NoError(t, err)
	k, err := ks.SigningKey(context.Background())
	require.NoError(t, err)
	return ks, k
}

// forge assembles a compact JWS from a header, claims and a raw signature.
func forge(t testing.TB, header map[string]any, claims string, sig []byte) string {
	t.Helper()
	h, err := json.Marshal(header)
	require.NoError(t, err)
	return b64.EncodeToString(h) + "." + b64.EncodeToString([]byte(claims)) + "." + b64.EncodeToString(sig)
}

func TestSignVerifyRoundTrip(t *testing.T) {
	t.Parallel()
	for _, alg := range []string{store.ES256, store.RS256, store.EdDSA} {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			ks, k := keySet(t, alg)
			tok, err := jose.Sign(k, "at+jwt", map[string]string{"sub": "bob"})
			require.NoError(t, err)
			h, payload, err := jose.Verify(context.Background(), tok, ks, jose.DefaultAlgorithms, "at+jwt")
			require.NoError(t, err)
			assert.Equal(t, alg, h.Algorithm)
			assert.Equal(t, k.ID, h.KeyID)
			assert.JSONEq(t, `{"sub":"bob"}`, string(payload))
		})
	}
}

func TestVerifyTypMayCarryApplicationPrefix(t *testing.T) {
	t.Parallel()
	ks, k := keySet(t, store.ES256)
	tok, err := jose.Sign(k, "application/at+jwt", map[string]string{"sub": "bob"})
	require.NoError(t, err)
	_, _, err = jose.Verify(context.Background(), tok, ks, jose.DefaultAlgorithms, "at+jwt")
	assert.NoError(t, err, "RFC 7515 §4.1.9: application/ may be omitted or not")
	_, _, err = jose.Verify(context.Background(), tok, ks, jose.DefaultAlgorithms, "AT+JWT")
	assert.NoError(t, err, "media types compare case-insensitively")
}

func TestVerifyRefuses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ks, k := keySet(t, store.ES256)
	good, err := jose.Sign(k, "at+jwt", map[string]string{"sub": "bob"})
	require.NoError(t, err)
	parts := strings.Split(good, ".")
	sig, err := b64.DecodeString(parts[2])
	require.NoError(t, err)
	claims := `{"sub":"bob"}`

	// HS256 "signed" with the public key bytes: the classic key-confusion attack.
	pubDER, err := x509.MarshalPKIXPublicKey(k.Key.Public())
	require.NoError(t, err)
	hsHeader := map[string]any{"alg": "HS256", "kid": k.ID, "typ": "at+jwt"}
	hsHeaderJSON, _ := json.Marshal(hsHeader)
	mac := hmac.New(sha256.New, pubDER)
	mac.Write([]byte(b64.EncodeToString(hsHeaderJSON) + "." + b64.EncodeToString([]byte(claims))))

	other, otherKey := keySet(t, store.ES256)
	_ = other
	otherTok, err := jose.Sign(otherKey, "at+jwt", map[string]string{"sub": "bob"})
	require.NoError(t, err)

	withHeader := func(extra map[string]any) string {
		h := map[string]any{"alg": "ES256", "kid": k.ID, "typ": "at+jwt"}
		for n, v := range extra {
			h[n] = v
		}
		return forge(t, h, claims, sig)
	}

	tests := []struct {
		name  string
		token string
		typ   string
		algs  []string
		want  error
	}{
		{name: "alg none", token: forge(t, map[string]any{"alg": "none", "kid": k.ID, "typ": "at+jwt"}, claims, nil), want: jose.ErrMalformed},
		{name: "alg none with a signature", token: forge(t, map[string]any{"alg": "none", "kid": k.ID, "typ": "at+jwt"}, claims, []byte("x")), want: jose.ErrAlgorithm},
		{name: "HS256 with the public key as secret", token: forge(t, hsHeader, claims, mac.Sum(nil)), want: jose.ErrAlgorithm},
		{name: "algorithm not on the allowlist", token: good, algs: []string{store.RS256}, want: jose.ErrAlgorithm},
		{name: "header alg differs from the key's", token: withHeader(map[string]any{"alg": "RS256"}), want: jose.ErrAlgorithm},
		{name: "unknown kid", token: withHeader(map[string]any{"kid": "nope"}), want: jose.ErrUnknownKey},
		{name: "empty kid", token: withHeader(map[string]any{"kid": ""}), want: jose.ErrUnknownKey},
		{name: "path-like kid", token: withHeader(map[string]any{"kid": "../../etc/passwd"}), want: jose.ErrUnknownKey},
		{name: "very long kid", token: withHeader(map[string]any{"kid": strings.Repeat("k", 4000)}), want: jose.ErrUnknownKey},
		{name: "crit header", token: withHeader(map[string]any{"crit": []string{"exp"}, "exp": 1}), want: jose.ErrCritical},
		{name: "jku header does not fetch or change the key", token: forge(t, map[string]any{"alg": "ES256", "kid": otherKey.ID, "typ": "at+jwt", "jku": "https://evil/jwks"}, claims, sig), want: jose.ErrUnknownKey},
		{name: "signed by a key of another issuer", token: otherTok, want: jose.ErrUnknownKey},
		{name: "signature does not match", token: withHeader(map[string]any{"x": "changed header"}), want: jose.ErrSignature},
		{name: "payload changed", token: parts[0] + "." + b64.EncodeToString([]byte(`{"sub":"alice"}`)) + "." + parts[2], want: jose.ErrSignature},
		{name: "wrong typ", token: good, typ: "subject+jwt", want: jose.ErrTokenType},
		{name: "two segments", token: parts[0] + "." + parts[1], want: jose.ErrMalformed},
		{name: "four segments (JWE-like)", token: good + ".x", want: jose.ErrMalformed},
		{name: "five segments (JWE)", token: "eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d", want: jose.ErrMalformed},
		{name: "empty signature", token: parts[0] + "." + parts[1] + ".", want: jose.ErrMalformed},
		{name: "non-base64url header", token: "e$J." + parts[1] + "." + parts[2], want: jose.ErrMalformed},
		{name: "non-base64url signature", token: parts[0] + "." + parts[1] + ".a+b/", want: jose.ErrMalformed},
		{name: "header not JSON", token: b64.EncodeToString([]byte("nope")) + "." + parts[1] + "." + parts[2], want: jose.ErrMalformed},
		{name: "header with trailing data", token: b64.EncodeToString([]byte(`{"alg":"ES256"}]`)) + "." + parts[1] + "." + parts[2], want: jose.ErrMalformed},
		{name: "JSON serialization", token: `{"payload":"` + parts[1] + `","signatures":[{"protected":"` + parts[0] + `","signature":"` + parts[2] + `"}]}`, want: jose.ErrMalformed},
		{name: "too large", token: parts[0] + "." + strings.Repeat("A", jose.MaxTokenBytes) + "." + parts[2], want: jose.ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			algs := tc.algs
			if algs == nil {
				algs = jose.DefaultAlgorithms
			}
			typ := tc.typ
			if typ == "" {
				typ = "at+jwt"
			}
			_, payload, err := jose.Verify(ctx, tc.token, ks, algs, typ)
			require.ErrorIs(t, err, tc.want)
			assert.Nil(t, payload, "nothing is returned from a refused token")
		})
	}
}

func TestDecodeClaimsRefusesTrailingData(t *testing.T) {
	t.Parallel()
	var v map[string]any
	require.NoError(t, jose.DecodeClaims([]byte(`{"sub":"bob"} `), &v))
	for _, bad := range []string{`{"sub":"bob"}x`, `{"sub":"bob"}]`, `{"sub":"bob"}{}`, `{"sub":`} {
		assert.ErrorIs(t, jose.DecodeClaims([]byte(bad), &v), jose.ErrMalformed, bad)
	}
}

func TestNewIDIsRandom128Bits(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 1000 {
		id := jose.NewID()
		raw, err := b64.DecodeString(id)
		require.NoError(t, err)
		assert.Len(t, raw, 16)
		assert.False(t, seen[id])
		seen[id] = true
	}
}

func TestDecodeClaimsRefusesDuplicateMembers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		payload string
		ok      bool
	}{
		{name: "distinct members", payload: `{"sub":"bob","act":{"sub":"alice","act":{"sub":"root"}},"aud":["a","a"]}`, ok: true},
		{name: "same name in different objects", payload: `{"sub":"bob","may_act":{"sub":"alice"}}`, ok: true},
		{name: "duplicate sub", payload: `{"sub":"bob","sub":"alice"}`},
		{name: "duplicate through an escape", payload: `{"sub":"bob","s\u0075b":"alice"}`},
		{name: "duplicate inside act", payload: `{"sub":"bob","act":{"sub":"alice","sub":"mallory"}}`},
		{name: "duplicate inside an array of objects", payload: `{"x":[{"a":1,"a":2}]}`},
		{name: "duplicate after a nested object", payload: `{"act":{"sub":"a"},"act":{"sub":"b"}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var v map[string]any
			err := jose.DecodeClaims([]byte(tc.payload), &v)
			if tc.ok {
				assert.NoError(t, err)
				return
			}
			assert.ErrorIs(t, err, jose.ErrMalformed)
		})
	}
}

func newKeySet() (*memory.KeySet, error) { return memory.GenerateKeySet(store.ES256) }

// signRaw signs exactly the header and payload bytes given with key: the
// signature is genuine whatever the header says.
func signRaw(t testing.TB, key store.PrivateKey, header, payload string) string {
	t.Helper()
	tok, err := signHeader(key, header, payload)
	require.NoError(t, err)
	return tok
}

// TestVerifyRefusesDuplicateHeaderMembers (issue 11, F4): a header that
// names a member twice is refused even under a genuine signature, names
// compared as encoding/json matches them (escapes resolved, case folded).
func TestVerifyRefusesDuplicateHeaderMembers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ks, k := keySet(t, store.ES256)
	kid := `"` + k.ID + `"`
	tests := []struct {
		name   string
		header string
	}{
		{name: "alg none then ES256", header: `{"alg":"none","alg":"ES256","kid":` + kid + `,"typ":"at+jwt"}`},
		{name: "alg ES256 then none", header: `{"alg":"ES256","kid":` + kid + `,"typ":"at+jwt","alg":"none"}`},
		{name: "alg twice the same", header: `{"alg":"ES256","alg":"ES256","kid":` + kid + `,"typ":"at+jwt"}`},
		{name: "alg and ALG", header: `{"ALG":"none","alg":"ES256","kid":` + kid + `,"typ":"at+jwt"}`},
		{name: "typ JWT then at+jwt", header: `{"alg":"ES256","kid":` + kid + `,"typ":"JWT","typ":"at+jwt"}`},
		{name: "typ through an escape", header: `{"alg":"ES256","kid":` + kid + `,"typ":"JWT","t\u0079p":"at+jwt"}`},
		{name: "typ and Typ", header: `{"alg":"ES256","kid":` + kid + `,"Typ":"JWT","typ":"at+jwt"}`},
		{name: "kid unknown then the key's", header: `{"alg":"ES256","kid":"nope","kid":` + kid + `,"typ":"at+jwt"}`},
		{name: "kid and KID", header: `{"alg":"ES256","KID":"nope","kid":` + kid + `,"typ":"at+jwt"}`},
		{name: "kid through Unicode case folding", header: `{"alg":"ES256","kid":` + kid + `,"typ":"at+jwt","\u212aid":"nope"}`},
		{name: "crit twice", header: `{"alg":"ES256","kid":` + kid + `,"typ":"at+jwt","crit":["exp"],"crit":["exp"],"exp":1}`},
		{name: "crit and CRIT", header: `{"alg":"ES256","kid":` + kid + `,"typ":"at+jwt","crit":["exp"],"CRIT":null,"exp":1}`},
		{name: "ignored member jku twice", header: `{"alg":"ES256","kid":` + kid + `,"typ":"at+jwt","jku":"https://a","jku":"https://b"}`},
		{name: "inside a nested object", header: `{"alg":"ES256","kid":` + kid + `,"typ":"at+jwt","jwk":{"kty":"EC","kty":"oct"}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tok := signRaw(t, k, tc.header, `{"sub":"bob"}`)
			h, payload, err := jose.Verify(ctx, tok, ks, jose.DefaultAlgorithms, "at+jwt")
			require.ErrorIs(t, err, jose.ErrMalformed)
			require.ErrorIs(t, err, jose.ErrDuplicateMember)
			assert.Nil(t, payload, "nothing is returned from a refused token")
			assert.Empty(t, h.Algorithm, "the header is not decoded")
		})
	}

	// The control: the same header without the duplicate verifies.
	_, _, err := jose.Verify(ctx, signRaw(t, k, `{"alg":"ES256","kid":`+kid+`,"typ":"at+jwt","jwk":{"kty":"EC"}}`, `{"sub":"bob"}`), ks, jose.DefaultAlgorithms, "at+jwt")
	require.NoError(t, err)
}

// TestDecodeClaimsDuplicateIsErrDuplicateMember: the claims' duplicate
// check reports the same sentinel as the header's.
func TestDecodeClaimsDuplicateIsErrDuplicateMember(t *testing.T) {
	t.Parallel()
	var v map[string]any
	err := jose.DecodeClaims([]byte(`{"sub":"bob","SUB":"carol"}`), &v)
	require.ErrorIs(t, err, jose.ErrMalformed)
	require.ErrorIs(t, err, jose.ErrDuplicateMember)
}
