package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/actas/actas/internal/testkit"
	"github.com/actas/actas/store"
	"github.com/actas/actas/store/memory"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRemoteJWKS runs the standalone API against an issuer that only
// publishes its JWKS, as a separate deployment would.
func TestRemoteJWKS(t *testing.T) {
	key, err := store.GenerateKey(store.ES256)
	require.NoError(t, err)
	ks, err := memory.NewKeySet(key)
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("GET /oauth2/jwks", testkit.JWKSHandler(ks))
	issuer := httptest.NewServer(mux)
	t.Cleanup(issuer.Close)

	var logs bytes.Buffer
	h, err := newHandler(issuer.URL, issuer.URL+"/api", slog.New(slog.NewJSONHandler(&logs, nil)))
	require.NoError(t, err)

	now := time.Now()
	token := signES256(t, key, map[string]any{
		"iss": issuer.URL, "sub": "bob", "aud": issuer.URL + "/api", "azp": "demo-app",
		"client_id": "demo-app", "scope": "openid", "act": map[string]any{"sub": "alice"},
		"aut": "APPLICATION_USER", "org_id": "acme-eu", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"jti": rand.Text(),
	})

	r := httptest.NewRequest(http.MethodGet, "/api/me?trace=1", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	assert.JSONEq(t, `{"sub":"bob","act":{"sub":"alice"},"scope":"openid","org_id":"acme-eu","client_id":"demo-app"}`, w.Body.String())

	r = httptest.NewRequest(http.MethodPost, "/api/password", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	assert.Equal(t, http.StatusForbidden, w.Code)

	assert.Contains(t, logs.String(), `"msg":"request","method":"GET","path":"/api/me","status":200`)
	assert.Contains(t, logs.String(), `"msg":"audit"`)
	assert.NotContains(t, logs.String(), token)
	assert.NotContains(t, logs.String(), "trace=1", "query strings are never logged")
}

func TestRunNeedsIssuerAndAudience(t *testing.T) {
	err := run(t.Context(), "127.0.0.1:0", "", "", &bytes.Buffer{})
	require.ErrorContains(t, err, "-issuer and -audience are required")
}

func signES256(t *testing.T, key store.PrivateKey, claims map[string]any) string {
	t.Helper()
	hdr, err := json.Marshal(map[string]string{"alg": "ES256", "kid": key.ID, "typ": "at+jwt"})
	require.NoError(t, err)
	payload, err := json.Marshal(claims)
	require.NoError(t, err)
	enc := base64.RawURLEncoding
	input := enc.EncodeToString(hdr) + "." + enc.EncodeToString(payload)
	digest := sha256.Sum256([]byte(input))
	rr, ss, err := ecdsa.Sign(rand.Reader, key.Key.(*ecdsa.PrivateKey), digest[:])
	require.NoError(t, err)
	sig := make([]byte, 64)
	rr.FillBytes(sig[:32])
	ss.FillBytes(sig[32:])
	return input + "." + enc.EncodeToString(sig)
}
