package store_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/actas/actas/store"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHashSecret(t *testing.T) {
	t.Parallel()
	h, err := store.HashSecret("s3cret", store.ClientSecretIterations)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(h, "pbkdf2-sha256-k$1000$"))
	assert.NotContains(t, h, "s3cret")
	assert.True(t, store.VerifySecret(h, "s3cret"))
	assert.False(t, store.VerifySecret(h, "s3cret "))
	assert.False(t, store.VerifySecret(h, ""))

	h2, err := store.HashSecret("s3cret", store.ClientSecretIterations)
	require.NoError(t, err)
	assert.NotEqual(t, h, h2, "every hash has its own salt")

	_, err = store.HashSecret("x", 0)
	assert.Error(t, err)
}

func TestVerifySecretMalformedHashNeverMatches(t *testing.T) {
	t.Parallel()
	for _, h := range []string{
		"", "plain", "pbkdf2-sha256-k$1000$c2FsdA", "md5$1$c2FsdA$aGFzaA", "pbkdf2-sha256$1$c2FsdA$aGFzaA",
		"pbkdf2-sha256-k$0$c2FsdA$aGFzaA", "pbkdf2-sha256-k$x$c2FsdA$aGFzaA",
		"pbkdf2-sha256-k$99999999999$c2FsdA$aGFzaA", "pbkdf2-sha256-k$1$!!$aGFzaA",
		"pbkdf2-sha256-k$1$c2FsdA$c2hvcnQ",
	} {
		assert.False(t, store.VerifySecret(h, ""), "hash %q", h)
		assert.False(t, store.VerifySecret(h, "plain"), "hash %q", h)
	}
}

func TestGenerateKey(t *testing.T) {
	t.Parallel()
	for _, alg := range []string{"", store.ES256, store.RS256, store.EdDSA} {
		t.Run("alg "+alg, func(t *testing.T) {
			t.Parallel()
			k, err := store.GenerateKey(alg)
			require.NoError(t, err)
			want := alg
			if want == "" {
				want = store.ES256
			}
			assert.Equal(t, want, k.Algorithm)
			tp, err := store.Thumbprint(k.Key.Public())
			require.NoError(t, err)
			assert.Equal(t, tp, k.ID, "kid is the RFC 7638 thumbprint")
			assert.Equal(t, k.ID, k.Public().ID)
		})
	}
	_, err := store.GenerateKey("HS256")
	assert.Error(t, err, "HMAC is never a signing algorithm here")
	_, err = store.GenerateKey("none")
	assert.Error(t, err)
}

func TestNewPrivateKeyRefusesWeakOrMismatchedKeys(t *testing.T) {
	t.Parallel()
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	_, err = store.NewPrivateKey(p384, "")
	assert.Error(t, err, "only P-256")

	small, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	_, err = store.NewPrivateKey(small, store.RS256)
	assert.Error(t, err, "RSA below 2048 bits")

	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	_, err = store.NewPrivateKey(ec, store.RS256)
	assert.Error(t, err, "an EC key cannot be used for RS256")
}

func TestParsePrivateKey(t *testing.T) {
	t.Parallel()
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	rs, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	pkcs8, err := x509.MarshalPKCS8PrivateKey(ec)
	require.NoError(t, err)
	sec1, err := x509.MarshalECPrivateKey(ec)
	require.NoError(t, err)
	jwkKey, err := jwk.FromRaw(ec)
	require.NoError(t, err)
	require.NoError(t, jwkKey.Set(jwk.KeyIDKey, "my-kid"))
	jwkJSON, err := json.Marshal(jwkKey)
	require.NoError(t, err)
	pubJWK, err := jwk.FromRaw(ec.Public())
	require.NoError(t, err)
	pubJSON, err := json.Marshal(pubJWK)
	require.NoError(t, err)
	pubDER, err := x509.MarshalPKIXPublicKey(ec.Public())
	require.NoError(t, err)

	pemOf := func(typ string, der []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}) }
	tests := []struct {
		name    string
		data    []byte
		alg     string
		wantAlg string
		wantKid string
		wantErr bool
	}{
		{name: "PKCS8 EC", data: pemOf("PRIVATE KEY", pkcs8), wantAlg: store.ES256},
		{name: "SEC1 EC", data: pemOf("EC PRIVATE KEY", sec1), wantAlg: store.ES256},
		{name: "PKCS1 RSA", data: pemOf("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rs)), wantAlg: store.RS256},
		{name: "JWK keeps its kid", data: jwkJSON, wantAlg: store.ES256, wantKid: "my-kid"},
		{name: "public JWK is not a signing key", data: pubJSON, wantErr: true},
		{name: "public PEM is not a signing key", data: pemOf("PUBLIC KEY", pubDER), wantErr: true},
		{name: "alg disagrees", data: pemOf("PRIVATE KEY", pkcs8), alg: store.EdDSA, wantErr: true},
		{name: "garbage", data: []byte("not a key"), wantErr: true},
		{name: "broken PEM body", data: pemOf("PRIVATE KEY", []byte("junk")), wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			k, err := store.ParsePrivateKey(tc.data, tc.alg)
			if tc.wantErr {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.wantAlg, k.Algorithm)
			if tc.wantKid != "" {
				assert.Equal(t, tc.wantKid, k.ID)
			} else {
				assert.NotEmpty(t, k.ID)
			}
		})
	}
}

func TestLoadPrivateKeyFile(t *testing.T) {
	t.Parallel()
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(ec)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "key.pem")
	require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600))
	k, err := store.LoadPrivateKeyFile(path, "")
	require.NoError(t, err)
	assert.Equal(t, store.ES256, k.Algorithm)

	_, err = store.LoadPrivateKeyFile(filepath.Join(t.TempDir(), "missing.pem"), "")
	assert.Error(t, err)
}

func TestMarshalJWKS(t *testing.T) {
	t.Parallel()
	var pubs []store.PublicKey
	for _, alg := range []string{store.ES256, store.RS256, store.EdDSA} {
		k, err := store.GenerateKey(alg)
		require.NoError(t, err)
		pubs = append(pubs, k.Public())
	}
	b, err := store.MarshalJWKS(pubs)
	require.NoError(t, err)
	assert.NotContains(t, string(b), `"d"`, "no private material")
	set, err := jwk.Parse(b)
	require.NoError(t, err)
	require.Equal(t, 3, set.Len())
	for i, pk := range pubs {
		k, ok := set.Key(i)
		require.True(t, ok)
		assert.Equal(t, pk.ID, k.KeyID())
		assert.Equal(t, pk.Algorithm, k.Algorithm().String())
		assert.Equal(t, "sig", k.KeyUsage())
	}
}

func TestSlogAuditorLevels(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		event store.Event
		level string
	}{
		{name: "grant is info", event: store.Event{Type: store.EventTokenExchanged, Outcome: store.OutcomeGranted}, level: "INFO"},
		{name: "denial is a client mistake, info", event: store.Event{Type: store.EventTokenExchangeDenied, Outcome: store.OutcomeDenied}, level: "INFO"},
		{name: "replay is warn", event: store.Event{Type: store.EventReplayDetected, Outcome: store.OutcomeDenied}, level: "WARN"},
		{name: "notification failure is warn", event: store.Event{Type: store.EventNotificationFailed, Outcome: store.OutcomeFailed}, level: "WARN"},
		{name: "server failure is error", event: store.Event{Type: store.EventTokenExchangeDenied, Outcome: store.OutcomeFailed}, level: "ERROR"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			a := store.NewSlogAuditor(slog.New(slog.NewJSONHandler(&buf, nil)))
			e := tc.event
			e.ClientID, e.Subject, e.Impersonator, e.Scopes = "app", "bob", "alice", []string{"openid"}
			require.NoError(t, a.Record(context.Background(), e))
			var rec map[string]any
			require.NoError(t, json.Unmarshal(buf.Bytes(), &rec))
			assert.Equal(t, tc.level, rec["level"])
			assert.Equal(t, string(tc.event.Type), rec["event"])
			assert.Equal(t, "bob", rec["subject"])
			assert.Equal(t, "alice", rec["impersonator"])
			assert.Equal(t, []any{"openid"}, rec["scopes"])
			assert.NotContains(t, rec, "method", "empty fields are left out")
		})
	}
}

// TestSlogAuditorLinksAndExpiry: the slog record carries Parent and
// Expires when set, and leaves them out when not.
func TestSlogAuditorLinksAndExpiry(t *testing.T) {
	t.Parallel()
	exp := time.Date(2030, 1, 1, 11, 0, 0, 0, time.UTC)
	var buf bytes.Buffer
	a := store.NewSlogAuditor(slog.New(slog.NewJSONHandler(&buf, nil)))
	require.NoError(t, a.Record(context.Background(), store.Event{
		Type: store.EventTokenExchanged, JTI: "at1", Parent: "st1", Expires: exp, Outcome: store.OutcomeGranted,
	}))
	var rec map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &rec))
	assert.Equal(t, "st1", rec["parent"])
	assert.Equal(t, exp.Format(time.RFC3339), rec["expires"])

	buf.Reset()
	require.NoError(t, a.Record(context.Background(), store.Event{Type: store.EventTokenExchanged, Outcome: store.OutcomeGranted}))
	rec = nil
	require.NoError(t, json.Unmarshal(buf.Bytes(), &rec))
	assert.NotContains(t, rec, "parent")
	assert.NotContains(t, rec, "expires")
}

type failingAuditor struct{ calls *int }

func (f failingAuditor) Record(context.Context, store.Event) error {
	*f.calls++
	return errors.New("disk full")
}

func TestMultiAuditorTriesAllAndReportsFirstError(t *testing.T) {
	t.Parallel()
	calls := 0
	var buf bytes.Buffer
	m := store.MultiAuditor{failingAuditor{&calls}, store.NewSlogAuditor(slog.New(slog.NewTextHandler(&buf, nil)))}
	err := m.Record(context.Background(), store.Event{Type: store.EventTokenExchanged})
	assert.EqualError(t, err, "disk full")
	assert.Equal(t, 1, calls)
	assert.Contains(t, buf.String(), "token.exchanged", "the second auditor still recorded")
}

// TestVerifySecretRefusesHMACKeyEquivalents: with a raw secret as the HMAC
// key, "S" and "S\x00" would be the same password, and a long secret
// would also be accepted as its SHA-256.
func TestVerifySecretRefusesHMACKeyEquivalents(t *testing.T) {
	t.Parallel()
	short := "s3cret"
	h, err := store.HashSecret(short, store.ClientSecretIterations)
	require.NoError(t, err)
	assert.False(t, store.VerifySecret(h, short+"\x00"))
	assert.False(t, store.VerifySecret(h, short+"\x00\x00\x00"))

	long := strings.Repeat("long-secret-", 8) // 96 bytes, over the HMAC block
	h, err = store.HashSecret(long, store.ClientSecretIterations)
	require.NoError(t, err)
	require.True(t, store.VerifySecret(h, long))
	digest := sha256.Sum256([]byte(long))
	assert.False(t, store.VerifySecret(h, string(digest[:])))
}
