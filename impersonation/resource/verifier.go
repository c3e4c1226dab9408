package resource

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/actas/actas/claims"
	"github.com/actas/actas/internal/accesstoken"
	"github.com/actas/actas/internal/jose"
	"github.com/actas/actas/store"
)

// ErrInvalidToken is matched (errors.Is) by every access token refusal of
// a [Verifier]; the wrapped error names the failed check.
var ErrInvalidToken = accesstoken.ErrInvalid

// ErrRevoked: the access token was revoked.
var ErrRevoked = accesstoken.ErrRevoked

// Principal is who an access token speaks for. Subject is the user whose
// identity is used; Actor, when not nil, is who is really acting (the
// impersonator), with earlier actors nested in Actor.Act.
type Principal struct {
	Subject  string
	Actor    *claims.Actor
	ClientID string
	Scope    claims.Scope
	Audience claims.Audience
	OrgID    string
	OrgName  string
	// TokenID is the access token's jti.
	TokenID string
	// SessionID is the impersonation session the token was issued under
	// (isid), empty for a token of the exchange itself.
	SessionID string
	// Reason is the impersonator's stated reason, when the issuer puts it
	// in tokens (impersonation_reason).
	Reason   string
	IssuedAt time.Time
	Expiry   time.Time
}

// Impersonated reports whether someone other than the subject is acting.
func (p *Principal) Impersonated() bool { return p.Actor != nil }

// Verifier checks impersonated access tokens at a resource server: RFC
// 9068 typ at+jwt, signature by a key of the issuer with an allowed
// algorithm, iss, aud containing the resource server's audience, exp, nbf
// and iat within the skew, jti and client_id present, act chain within the
// depth limit, and, when configured, not revoked. Subject tokens and ID
// tokens are refused by their typ. It is safe for concurrent use.
type Verifier struct {
	expect accesstoken.Expect
	keys   store.KeySet
	now    func() time.Time
}

// NewVerifier returns a Verifier for tokens of issuer iss meant for
// audience (the resource server's identifier, or the client ID when the
// client is its own API), with keys from keys: the issuer's key store, or
// a [RemoteKeySet] reading its JWKS. It takes WithClock, WithSkew,
// WithAlgorithms, WithMaxActDepth and WithRevocation.
func NewVerifier(iss, audience string, keys store.KeySet, opts ...Option) (*Verifier, error) {
	o := options{now: time.Now, skew: claims.DefaultSkew, algs: slices.Clone(jose.DefaultAlgorithms), maxDepth: claims.DefaultMaxActDepth}
	if err := o.apply("NewVerifier", []string{"WithClock", "WithSkew", "WithAlgorithms", "WithMaxActDepth", "WithRevocation"}, opts); err != nil {
		return nil, err
	}
	switch {
	case iss == "" || audience == "":
		return nil, errors.New("resource: verifier needs an issuer and an audience")
	case keys == nil || o.now == nil:
		return nil, errors.New("resource: verifier needs keys and a clock")
	case o.skew < 0 || o.skew > claims.MaxSkew:
		return nil, fmt.Errorf("resource: skew must be between 0 and %s", claims.MaxSkew)
	case o.maxDepth < 1:
		return nil, errors.New("resource: act depth must be at least 1")
	case len(o.algs) == 0:
		return nil, errors.New("resource: no algorithm allowed")
	}
	for _, a := range o.algs {
		if !slices.Contains(jose.DefaultAlgorithms, a) {
			return nil, fmt.Errorf("resource: algorithm %q is not supported", a)
		}
	}
	return &Verifier{
		expect: accesstoken.Expect{Issuer: iss, Audience: audience, Skew: o.skew, Algs: o.algs, MaxDepth: o.maxDepth, Revocation: o.revocation},
		keys:   keys,
		now:    o.now,
	}, nil
}

// Verify checks token and returns its Principal. Every refusal matches
// ErrInvalidToken; a revoked token also matches ErrRevoked. An error from
// the key store or the revocation store is returned as is (not
// ErrInvalidToken): the token may be fine and the store down.
func (v *Verifier) Verify(ctx context.Context, token string) (*Principal, error) {
	e := v.expect
	e.Now = v.now()
	c, err := accesstoken.Verify(ctx, token, v.keys, e)
	if err != nil {
		if errors.Is(err, ErrInvalidToken) {
			return nil, err
		}
		return nil, fmt.Errorf("resource: %w", err)
	}
	return principalOf(c), nil
}

// principalOf is the Principal of verified access token claims.
func principalOf(c *accesstoken.Claims) *Principal {
	return &Principal{
		Subject:   c.Subject,
		Actor:     c.Act,
		ClientID:  c.ClientID,
		Scope:     c.Scope,
		Audience:  c.Audience,
		OrgID:     c.OrgID,
		OrgName:   c.OrgName,
		TokenID:   c.ID,
		SessionID: c.SessionID,
		Reason:    c.Reason,
		IssuedAt:  c.IssuedAt.Time(),
		Expiry:    c.Expiry.Time(),
	}
}
