package impersonation_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/actas/actas/claims"
	"github.com/actas/actas/impersonation"
	"github.com/actas/actas/impersonation/resource"
	"github.com/actas/actas/store"
	"github.com/actas/actas/subjecttoken"
	"github.com/actas/actas/tokenexchange"
)

// discardAuditor drops events, so that benchmarks measure the exchange and
// not an ever-growing in-memory log.
type discardAuditor struct{}

func (discardAuditor) Record(context.Context, store.Event) error { return nil }

var benchAlgorithms = []string{store.ES256, store.EdDSA, store.RS256}

// benchFixture is a fixture whose audit events are discarded.
func benchFixture(b *testing.B, alg string) *fixture {
	b.Helper()
	return newFixture(b, withKeyAlgorithm(alg), withServiceOptions(
		impersonation.WithAuditor(discardAuditor{}), impersonation.WithNotifier(nil),
		impersonation.WithStartLimit(nil, 0, 0)))
}

// mintRequests runs the authorize side n times, before the timer, so that
// every exchange consumes a distinct subject token (one-time use is real
// work, never a cache hit). Each asks for orders:read alone, as the
// side-by-side benchmark does: without openid the exchange issues the
// access token only, the one signature BenchmarkFloor counts (with openid
// it signs the user's ID token too, one signature more).
func mintRequests(b *testing.B, f *fixture, n int) []*tokenexchange.Request {
	b.Helper()
	reqs := make([]*tokenexchange.Request, n)
	for i := range reqs {
		reqs[i] = exchangeRequest(f.authorize(b, "alice", "bob"))
		reqs[i].Scope = claims.Scope{scopeOrdersRead}
	}
	return reqs
}

// BenchmarkFloor is the crypto that one exchange cannot avoid, with the
// standard library directly: two verifications over signing inputs the
// size of a real subject token and ID token, and one signature over one the
// size of a real access token.
func BenchmarkFloor(b *testing.B) {
	for _, alg := range benchAlgorithms {
		b.Run(alg, func(b *testing.B) {
			f := benchFixture(b, alg)
			st, id := f.authorize(b, "alice", "bob")
			at := f.accessToken(b)
			key := f.signingKey(b)
			inputs := [3][]byte{signingInput(st), signingInput(id), signingInput(at)}
			sigST, sigID := floorSign(b, key, inputs[0]), floorSign(b, key, inputs[1])
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				floorVerify(b, key, inputs[0], sigST)
				floorVerify(b, key, inputs[1], sigID)
				floorSign(b, key, inputs[2])
			}
		})
	}
}

func signingInput(tok string) []byte { return []byte(tok[:strings.LastIndexByte(tok, '.')]) }

func floorSign(b *testing.B, key store.PrivateKey, input []byte) []byte {
	var (
		sig []byte
		err error
	)
	switch k := key.Key.(type) {
	case ed25519.PrivateKey:
		sig = ed25519.Sign(k, input)
	case *rsa.PrivateKey:
		sum := sha256.Sum256(input)
		sig, err = rsa.SignPKCS1v15(nil, k, crypto.SHA256, sum[:])
	case *ecdsa.PrivateKey:
		sum := sha256.Sum256(input)
		sig, err = ecdsa.SignASN1(rand.Reader, k, sum[:])
	}
	if err != nil {
		b.Fatal(err)
	}
	return sig
}

func floorVerify(b *testing.B, key store.PrivateKey, input, sig []byte) {
	ok := false
	switch k := key.Key.(type) {
	case ed25519.PrivateKey:
		ok = ed25519.Verify(k.Public().(ed25519.PublicKey), input, sig)
	case *rsa.PrivateKey:
		sum := sha256.Sum256(input)
		ok = rsa.VerifyPKCS1v15(&k.PublicKey, crypto.SHA256, sum[:], sig) == nil
	case *ecdsa.PrivateKey:
		sum := sha256.Sum256(input)
		ok = ecdsa.VerifyASN1(&k.PublicKey, sum[:], sig)
	}
	if !ok {
		b.Fatal("floor: signature did not verify")
	}
}

// BenchmarkExchange is one full exchange through the library API on the
// memory store: subject token and actor token verification, policy,
// one-time use, minting.
func BenchmarkExchange(b *testing.B) {
	for _, alg := range benchAlgorithms {
		b.Run(alg, func(b *testing.B) {
			f := benchFixture(b, alg)
			reqs := mintRequests(b, f, b.N)
			client := tokenexchange.Client{ID: appID, AuthMethod: tokenexchange.AuthMethodBasic}
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if _, err := f.svc.Exchange(ctx, client, reqs[i]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("ES256/parallel", func(b *testing.B) {
		f := benchFixture(b, store.ES256)
		reqs := mintRequests(b, f, b.N)
		client := tokenexchange.Client{ID: appID, AuthMethod: tokenexchange.AuthMethodBasic}
		var next atomic.Int64
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := f.svc.Exchange(context.Background(), client, reqs[next.Add(1)-1]); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// tokenForms encodes the requests as token endpoint bodies, before the timer.
func tokenForms(reqs []*tokenexchange.Request) []string {
	out := make([]string, len(reqs))
	for i, r := range reqs {
		out[i] = r.Values().Encode()
	}
	return out
}

// BenchmarkTokenEndpoint is the exchange through the token endpoint
// http.Handler: form parsing, client authentication against a hashed
// secret, JSON response; httptest, no sockets.
func BenchmarkTokenEndpoint(b *testing.B) {
	f := benchFixture(b, store.ES256)
	forms := tokenForms(mintRequests(b, f, b.N))
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		r := httptest.NewRequest(http.MethodPost, "/token", strings.NewReader(forms[i]))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.SetBasicAuth(appID, appSecret)
		w := httptest.NewRecorder()
		f.handler.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}

// BenchmarkTokenEndpointLoopback is the same through a real loopback
// listener with a keep-alive client.
func BenchmarkTokenEndpointLoopback(b *testing.B) {
	f := benchFixture(b, store.ES256)
	forms := tokenForms(mintRequests(b, f, b.N))
	srv := httptest.NewServer(f.handler)
	defer srv.Close()
	hc := srv.Client()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		req, err := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(forms[i]))
		if err != nil {
			b.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(appID, appSecret)
		resp, err := hc.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = resp.Body.Read(make([]byte, 4096))
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}

// BenchmarkAuthorize is the authorize side: parsing the request, the
// policy, minting the subject token and the ID token.
func BenchmarkAuthorize(b *testing.B) {
	f := benchFixture(b, store.ES256)
	v := authorizeValues(appID, "bob")
	ctx := context.Background()
	now := f.clock.Now()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		req, _, err := subjecttoken.ParseAuthorizeValues(ctx, v, f.db)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := f.svc.Authorize(ctx, req, impersonation.Login{UserID: "alice", AuthTime: now}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyAccessToken is the resource server's cost per request:
// the middleware verifying the bearer token and handing on the Principal.
func BenchmarkVerifyAccessToken(b *testing.B) {
	f := benchFixture(b, store.ES256)
	at := f.accessToken(b)
	v, err := resource.NewVerifier(testIssuer, appID, f.keys, resource.WithClock(f.clock.Now))
	require.NoError(b, err)
	h := resource.Middleware(v)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := resource.PrincipalFrom(r.Context()); !ok {
			b.Error("no principal")
		}
	}))
	r := httptest.NewRequest(http.MethodGet, "/api/me", nil)
	r.Header.Set("Authorization", "Bearer "+at)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d", w.Code)
		}
	}
}
