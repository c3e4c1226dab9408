package resource_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/impersonation/resource"
)

type rtFunc func(*http.Request) (*http.Response, error)

func (f rtFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestRemoteKeySet_RefusesARedirectToCleartext: the https rule holds for
// every hop: a redirect from the https JWKS to a cleartext host is not
// followed, and no key read in clear is trusted.
func TestRemoteKeySet_RefusesARedirectToCleartext(t *testing.T) {
	t.Parallel()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	body := jwksOf(t, jwksEntry{raw: &k.PublicKey, kid: "evil", alg: "ES256"})
	var seen []string
	hc := &http.Client{Timeout: time.Second, Transport: rtFunc(func(r *http.Request) (*http.Response, error) {
		seen = append(seen, r.URL.String())
		if r.URL.Scheme == "https" {
			return &http.Response{StatusCode: 302, Header: http.Header{"Location": {"http://jwks.attacker.example/keys"}}, Body: io.NopCloser(bytes.NewReader(nil)), Request: r}, nil
		}
		return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(bytes.NewReader(body)), Request: r}, nil
	})}
	ks, err := resource.NewRemoteKeySet("https://id.example/oauth2/jwks", hc)
	require.NoError(t, err)
	keys, err := ks.PublicKeys(context.Background())
	assert.Error(t, err, "keys fetched over http from %v were accepted: %d keys", seen, len(keys))
	assert.Empty(t, keys)
	assert.Equal(t, []string{"https://id.example/oauth2/jwks"}, seen, "the cleartext URL is never asked")
}
