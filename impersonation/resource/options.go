package resource

import (
	"fmt"
	"slices"
	"time"

	"github.com/actas/actas/store"
)

// Option configures a [Verifier] ([NewVerifier]) or a [RemoteKeySet]
// ([NewRemoteKeySet]). Each option says which it applies to; passing one
// to the other constructor is an error, never ignored.
type Option func(*options)

// options collects what the options set; set names each option given, so
// that a constructor refuses those that do not apply to it.
type options struct {
	set        []string
	now        func() time.Time
	skew       time.Duration
	algs       []string
	maxDepth   int
	revocation store.Revocation
	minRefresh time.Duration
	maxAge     time.Duration
}

func (o *options) mark(name string) { o.set = append(o.set, name) }

// apply runs opts over o and refuses any option not in allowed.
func (o *options) apply(constructor string, allowed []string, opts []Option) error {
	for _, opt := range opts {
		opt(o)
	}
	for _, name := range o.set {
		if !slices.Contains(allowed, name) {
			return fmt.Errorf("resource: %s does not apply to %s", name, constructor)
		}
	}
	return nil
}

// WithClock sets the time source of a Verifier or a RemoteKeySet; default
// time.Now.
func WithClock(now func() time.Time) Option {
	return func(o *options) { o.mark("WithClock"); o.now = now }
}

// WithSkew sets the clock skew a Verifier tolerates on exp, nbf and iat;
// default claims.DefaultSkew, at most claims.MaxSkew.
func WithSkew(d time.Duration) Option {
	return func(o *options) { o.mark("WithSkew"); o.skew = d }
}

// WithAlgorithms sets the algorithms a Verifier accepts; default ES256,
// RS256 and EdDSA, the only ones that can be listed.
func WithAlgorithms(algs ...string) Option {
	return func(o *options) { o.mark("WithAlgorithms"); o.algs = slices.Clone(algs) }
}

// WithMaxActDepth sets the deepest act chain a Verifier accepts; default
// claims.DefaultMaxActDepth.
func WithMaxActDepth(n int) Option {
	return func(o *options) { o.mark("WithMaxActDepth"); o.maxDepth = n }
}

// WithRevocation makes a Verifier refuse revoked tokens, looked up by jti
// and, for a token issued under an impersonation session, by the session.
func WithRevocation(r store.Revocation) Option {
	return func(o *options) { o.mark("WithRevocation"); o.revocation = r }
}

// WithMinRefresh sets the least time between two fetches of a
// RemoteKeySet; default DefaultMinRefresh.
func WithMinRefresh(d time.Duration) Option {
	return func(o *options) { o.mark("WithMinRefresh"); o.minRefresh = d }
}

// WithMaxAge sets how long a RemoteKeySet uses fetched keys before a
// refetch; default DefaultMaxAge.
func WithMaxAge(d time.Duration) Option {
	return func(o *options) { o.mark("WithMaxAge"); o.maxAge = d }
}
