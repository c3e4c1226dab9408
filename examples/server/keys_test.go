package main

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/actas/actas/internal/testkit"
	"github.com/actas/actas/store"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func writePKCS8(t *testing.T, path string, key any) {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600))
}

// writeECJWK writes a P-256 private key as a JWK.
func writeECJWK(t *testing.T, path string, key *ecdsa.PrivateKey) {
	t.Helper()
	raw, err := key.Bytes()
	require.NoError(t, err)
	pub, err := key.PublicKey.Bytes() // 0x04 || X || Y
	require.NoError(t, err)
	enc := base64.RawURLEncoding.EncodeToString
	b, err := json.Marshal(map[string]string{
		"kty": "EC", "crv": "P-256", "x": enc(pub[1:33]), "y": enc(pub[33:]), "d": enc(raw),
	})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, b, 0o600))
}

// TestKeysDir: every key file of -keys verifies (the JWKS lists them
// all), the last one by name signs, other files are ignored.
func TestKeysDir(t *testing.T) {
	dir := t.TempDir()
	ec1, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	ec3, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	writePKCS8(t, filepath.Join(dir, "01-old.pem"), ec1)
	writePKCS8(t, filepath.Join(dir, "02-ed.pem"), ed)
	writeECJWK(t, filepath.Join(dir, "03-current.jwk"), ec3)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "README.txt"), []byte("not a key"), 0o600))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "zz.pem"), 0o700))

	kids := map[string]string{}
	for name, k := range map[string]any{"01-old.pem": ec1.Public(), "02-ed.pem": ed.Public(), "03-current.jwk": ec3.Public()} {
		pk, err := store.NewPublicKey(k, "")
		require.NoError(t, err)
		kids[name] = pk.ID
	}

	f := newFixture(t, func(c *config) { c.KeysDir = dir })
	out := f.stdout.String()
	assert.Contains(t, out, "03-current.jwk: ES256 kid "+kids["03-current.jwk"]+" (signs and verifies)")
	assert.Contains(t, out, "01-old.pem: ES256 kid "+kids["01-old.pem"]+" (verifies)")
	assert.NotContains(t, out, "ephemeral")

	b := f.browser(t)
	p := b.get("/oauth2/jwks")
	require.Equal(t, http.StatusOK, p.StatusCode)
	var jwks struct {
		Keys []map[string]any `json:"keys"`
	}
	require.NoError(t, json.Unmarshal([]byte(p.Body), &jwks))
	var published []string
	for _, k := range jwks.Keys {
		published = append(published, k["kid"].(string))
		assert.Equal(t, "sig", k["use"])
		assert.NotContains(t, k, "d")
	}
	assert.ElementsMatch(t, []string{kids["01-old.pem"], kids["02-ed.pem"], kids["03-current.jwk"]}, published)

	v := b.cliAuthorize("bob", "fragment")
	hdr, _ := claimsOf(t, v.Get("subject_token"))
	assert.Equal(t, kids["03-current.jwk"], hdr["kid"], "the last file signs")
	assert.Equal(t, "ES256", hdr["alg"])

	p = b.get("/.well-known/openid-configuration")
	var md map[string]any
	require.NoError(t, json.Unmarshal([]byte(p.Body), &md))
	assert.Equal(t, []any{"ES256", "EdDSA"}, md["id_token_signing_alg_values_supported"])
}

func TestKeysDirErrors(t *testing.T) {
	t.Parallel()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  string
	}{
		{"no key files", func(t *testing.T, dir string) {
			require.NoError(t, os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("x"), 0o600))
		}, "no *.pem, *.jwk or *.json key file"},
		{"not a key", func(t *testing.T, dir string) {
			require.NoError(t, os.WriteFile(filepath.Join(dir, "bad.pem"), []byte("-----BEGIN NOTHING-----\n"), 0o600))
		}, "bad.pem"},
		{"the same key twice", func(t *testing.T, dir string) {
			writePKCS8(t, filepath.Join(dir, "a.pem"), key)
			writePKCS8(t, filepath.Join(dir, "b.pem"), key)
		}, "is also the key ID of"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			tc.setup(t, dir)
			_, _, err := newServer(config{Issuer: "http://127.0.0.1:1", KeysDir: dir, PasswordIterations: testPasswordIterations}, &testkit.SyncBuffer{}, &testkit.SyncBuffer{})
			require.Error(t, err)
			assert.Contains(t, err.Error(), "-keys: ")
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	_, _, err = newServer(config{Issuer: "http://127.0.0.1:1", KeysDir: filepath.Join(t.TempDir(), "missing")}, &testkit.SyncBuffer{}, &testkit.SyncBuffer{})
	require.ErrorContains(t, err, "-keys: ")
	assert.True(t, strings.Contains(err.Error(), "no such file"), err.Error())
}
