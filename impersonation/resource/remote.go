package resource

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/actas/actas/store"
	"github.com/lestrrat-go/jwx/v2/jwk"
)

// Limits of a [RemoteKeySet].
const (
	// MaxJWKSBytes is the largest JWKS document read.
	MaxJWKSBytes = 1 << 20
	// DefaultMinRefresh is the least time between two fetches: an unknown
	// kid triggers a fetch at most this often, so forged kids cannot make
	// the resource server hammer the issuer.
	DefaultMinRefresh = 30 * time.Second
	// DefaultMaxAge is how long cached keys are used before the set is
	// fetched again, so that keys the issuer removed stop verifying.
	DefaultMaxAge = 10 * time.Minute
)

// RemoteKeySet is a store.KeySet that reads an issuer's JWKS over HTTP, for
// resource servers that do not share the issuer's key store. Keys are
// cached; an unknown kid refetches the set, at most once per min-refresh
// interval. Only keys with a kid and a supported algorithm (taken from alg,
// or from the key type when alg is absent) are used. It is safe for
// concurrent use.
type RemoteKeySet struct {
	url        string
	hc         *http.Client
	now        func() time.Time
	minRefresh time.Duration

	maxAge time.Duration

	mu        sync.Mutex
	keys      map[string]store.PublicKey
	fetched   time.Time // last successful fetch
	attempted time.Time // last fetch, successful or not
	lastErr   error     // error of the last fetch, nil after a success
}

var _ store.KeySet = (*RemoteKeySet)(nil)

// NewRemoteKeySet returns a key set reading jwksURL with hc, which must
// have a timeout (a JWKS that never answers would hold every request). The
// URL must be https, or http to a loopback host (127.0.0.0/8, ::1,
// localhost): keys fetched in clear from elsewhere could be anyone's. It
// takes WithClock, WithMinRefresh and WithMaxAge.
func NewRemoteKeySet(jwksURL string, hc *http.Client, opts ...Option) (*RemoteKeySet, error) {
	o := options{now: time.Now, minRefresh: DefaultMinRefresh, maxAge: DefaultMaxAge}
	if err := o.apply("NewRemoteKeySet", []string{"WithClock", "WithMinRefresh", "WithMaxAge"}, opts); err != nil {
		return nil, err
	}
	switch {
	case jwksURL == "" || hc == nil:
		return nil, errors.New("resource: remote key set needs a URL and an HTTP client")
	case hc.Timeout <= 0:
		return nil, errors.New("resource: remote key set needs an HTTP client with a timeout")
	}
	if err := checkJWKSURL(jwksURL); err != nil {
		return nil, err
	}
	if o.now == nil || o.minRefresh < 0 || o.maxAge <= 0 {
		return nil, errors.New("resource: remote key set needs a clock, a non-negative min refresh and a positive max age")
	}
	return &RemoteKeySet{url: jwksURL, hc: safeRedirects(hc), now: o.now, minRefresh: o.minRefresh, maxAge: o.maxAge}, nil
}

// PublicKey implements store.KeySet. A kid not in the cache, or a cache
// older than the max age, triggers a fetch unless one was tried within the
// min-refresh interval. A failed fetch is an error, not store.ErrNotFound:
// the token may be fine and the issuer unreachable. Keys already cached
// keep verifying while a refetch fails.
func (r *RemoteKeySet) PublicKey(ctx context.Context, kid string) (store.PublicKey, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	mayFetch := r.attempted.IsZero() || now.Sub(r.attempted) >= r.minRefresh
	if mayFetch && !r.fetched.IsZero() && now.Sub(r.fetched) >= r.maxAge {
		_ = r.fetch(ctx, now) // stale: refresh, and keep the old keys if it fails
		mayFetch = false
	}
	if k, ok := r.keys[kid]; ok {
		return k, nil
	}
	if mayFetch {
		if err := r.fetch(ctx, now); err != nil {
			return store.PublicKey{}, err
		}
		if k, ok := r.keys[kid]; ok {
			return k, nil
		}
	} else if r.lastErr != nil {
		return store.PublicKey{}, r.lastErr
	}
	return store.PublicKey{}, fmt.Errorf("resource: jwks: %w", store.ErrNotFound)
}

// PublicKeys implements store.KeySet, fetching the set if it was never
// fetched.
func (r *RemoteKeySet) PublicKeys(ctx context.Context) ([]store.PublicKey, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fetched.IsZero() {
		now := r.now()
		if !r.attempted.IsZero() && now.Sub(r.attempted) < r.minRefresh {
			return nil, r.lastErr
		}
		if err := r.fetch(ctx, now); err != nil {
			return nil, err
		}
	}
	out := make([]store.PublicKey, 0, len(r.keys))
	for _, k := range r.keys {
		out = append(out, k)
	}
	return out, nil
}

// fetch reads the JWKS, replacing the cached keys on success and
// remembering the error on failure; r.mu is held.
func (r *RemoteKeySet) fetch(ctx context.Context, now time.Time) error {
	r.attempted = now
	keys, err := r.get(ctx)
	if err != nil {
		r.lastErr = err
		return err
	}
	r.keys, r.fetched, r.lastErr = keys, now, nil
	return nil
}

// get reads and parses the JWKS document.
func (r *RemoteKeySet) get(ctx context.Context) (map[string]store.PublicKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url, nil)
	if err != nil {
		return nil, fmt.Errorf("resource: jwks: %w", err)
	}
	req.Header.Set("Accept", "application/json, application/jwk-set+json")
	resp, err := r.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("resource: jwks: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("resource: jwks: HTTP status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("resource: jwks: %w", err)
	}
	if len(body) > MaxJWKSBytes {
		return nil, errors.New("resource: jwks: document too large")
	}
	set, err := jwk.Parse(body)
	if err != nil {
		return nil, fmt.Errorf("resource: jwks: %w", err)
	}
	keys := make(map[string]store.PublicKey, set.Len())
	for i := range set.Len() {
		k, _ := set.Key(i)
		if k.KeyID() == "" || (k.KeyUsage() != "" && k.KeyUsage() != string(jwk.ForSignature)) {
			continue
		}
		var raw any
		if err := k.Raw(&raw); err != nil {
			continue
		}
		if _, private := raw.(crypto.Signer); private {
			continue // a private key published by mistake is not used
		}
		alg := ""
		if a, ok := k.Get(jwk.AlgorithmKey); ok {
			alg = fmt.Sprint(a)
		}
		pk, err := store.NewPublicKey(raw, alg)
		if err != nil {
			continue
		}
		pk.ID = k.KeyID()
		keys[pk.ID] = pk
	}
	return keys, nil
}

// safeRedirects returns a copy of hc that follows a redirect only to a URL
// checkJWKSURL accepts (and then as hc's own CheckRedirect says): the JWKS
// is not fetched in clear from elsewhere because the first answer said
// so. hc itself is not changed.
func safeRedirects(hc *http.Client) *http.Client {
	c := *hc
	next := hc.CheckRedirect
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if err := checkJWKSURL(req.URL.String()); err != nil {
			return fmt.Errorf("resource: JWKS redirect refused: %w", err)
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 10 {
			return errors.New("resource: JWKS: stopped after 10 redirects")
		}
		return nil
	}
	return &c
}

// checkJWKSURL refuses a JWKS URL that is not absolute https, or http to
// a loopback host.
func checkJWKSURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return errors.New("resource: the JWKS URL is not an absolute URL")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if ip := net.ParseIP(host); (ip != nil && ip.IsLoopback()) || host == "localhost" {
			return nil
		}
		return errors.New("resource: the JWKS URL must be https (http only to a loopback host)")
	}
	return errors.New("resource: the JWKS URL must be https (http only to a loopback host)")
}
