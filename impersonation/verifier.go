package impersonation

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/actas/actas/claims"
	"github.com/actas/actas/internal/jose"
	"github.com/actas/actas/store"
	"github.com/actas/actas/subjecttoken"
)

// ErrInvalidToken is matched (errors.Is) by every access token refusal of
// a [Verifier]; the wrapped error names the failed check.
var ErrInvalidToken = errors.New("impersonation: invalid access token")

// ErrRevoked: the access token was revoked.
var ErrRevoked = errors.New("impersonation: token revoked")

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
	issuer     string
	audience   string
	keys       store.KeySet
	now        func() time.Time
	skew       time.Duration
	algs       []string
	maxDepth   int
	revocation store.Revocation
	// anyAudience is set on the issuer's own verifier (introspection,
	// revocation), which checks client_id instead of aud.
	anyAudience bool
}

// VerifierOption configures a [Verifier].
type VerifierOption func(*Verifier)

// WithVerifierClock sets the time source; default time.Now.
func WithVerifierClock(now func() time.Time) VerifierOption {
	return func(v *Verifier) { v.now = now }
}

// WithVerifierSkew sets the tolerated clock skew; default 30 s, at most
// subjecttoken.MaxSkew.
func WithVerifierSkew(d time.Duration) VerifierOption { return func(v *Verifier) { v.skew = d } }

// WithVerifierAlgorithms sets the accepted algorithms; default ES256,
// RS256 and EdDSA.
func WithVerifierAlgorithms(algs ...string) VerifierOption {
	return func(v *Verifier) { v.algs = slices.Clone(algs) }
}

// WithVerifierMaxActDepth sets the deepest act chain accepted; default
// claims.DefaultMaxActDepth.
func WithVerifierMaxActDepth(n int) VerifierOption { return func(v *Verifier) { v.maxDepth = n } }

// WithRevocation makes the Verifier refuse revoked tokens, looked up by jti.
func WithRevocation(r store.Revocation) VerifierOption { return func(v *Verifier) { v.revocation = r } }

// NewVerifier returns a Verifier for tokens of issuer iss meant for
// audience (the resource server's identifier, or the client ID when the
// client is its own API), with keys from keys: the issuer's key store, or
// a [RemoteKeySet] reading its JWKS.
func NewVerifier(iss, audience string, keys store.KeySet, opts ...VerifierOption) (*Verifier, error) {
	v := &Verifier{
		issuer:   iss,
		audience: audience,
		keys:     keys,
		now:      time.Now,
		skew:     subjecttoken.DefaultSkew,
		algs:     slices.Clone(jose.DefaultAlgorithms),
		maxDepth: claims.DefaultMaxActDepth,
	}
	for _, o := range opts {
		o(v)
	}
	switch {
	case iss == "" || audience == "":
		return nil, errors.New("impersonation: verifier needs an issuer and an audience")
	case keys == nil || v.now == nil:
		return nil, errors.New("impersonation: verifier needs keys and a clock")
	case v.skew < 0 || v.skew > subjecttoken.MaxSkew:
		return nil, fmt.Errorf("impersonation: skew must be between 0 and %s", subjecttoken.MaxSkew)
	case v.maxDepth < 1:
		return nil, errors.New("impersonation: act depth must be at least 1")
	case len(v.algs) == 0:
		return nil, errors.New("impersonation: no algorithm allowed")
	}
	for _, a := range v.algs {
		if !slices.Contains(jose.DefaultAlgorithms, a) {
			return nil, fmt.Errorf("impersonation: algorithm %q is not supported", a)
		}
	}
	return v, nil
}

// Verify checks token and returns its Principal. Every refusal matches
// ErrInvalidToken; a revoked token also matches ErrRevoked. An error from
// the key store or the revocation store is returned as is (not
// ErrInvalidToken): the token may be fine and the store down.
func (v *Verifier) Verify(ctx context.Context, token string) (*Principal, error) {
	_, payload, err := jose.Verify(ctx, token, v.keys, v.algs, AccessTokenHeaderType)
	if err != nil {
		if isJoseRefusal(err) {
			return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
		}
		return nil, fmt.Errorf("impersonation: %w", err)
	}
	var c AccessTokenClaims
	if err := jose.DecodeClaims(payload, &c); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	expect := claims.Expectations{Issuer: v.issuer, Audience: v.audience, Now: v.now(), Skew: v.skew, RequireID: true}
	if v.anyAudience {
		expect.Audience = ""
	}
	err = c.Registered.Validate(expect)
	switch {
	case err != nil:
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	case c.ClientID == "":
		return nil, fmt.Errorf("%w: %w: client_id", ErrInvalidToken, claims.ErrMissingClaim)
	}
	if err := c.Act.Validate(v.maxDepth); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if len(c.Scope) > claims.MaxScopeTokens {
		return nil, fmt.Errorf("%w: too many scope values", ErrInvalidToken)
	}
	if c.Expiry.Time().After(v.now().Add(MaxAccessTokenTTL + v.skew)) {
		return nil, fmt.Errorf("%w: lifetime exceeds the cap", ErrInvalidToken)
	}
	if v.revocation != nil {
		revoked, err := v.revocation.Revoked(ctx, c.ID)
		if err != nil {
			return nil, fmt.Errorf("impersonation: revocation: %w", err)
		}
		if !revoked && c.SessionID != "" {
			// Ending an impersonation session revokes every token issued
			// under it.
			if revoked, err = v.revocation.Revoked(ctx, sessionRevocationKey(c.SessionID)); err != nil {
				return nil, fmt.Errorf("impersonation: revocation: %w", err)
			}
		}
		if revoked {
			return nil, fmt.Errorf("%w: %w", ErrInvalidToken, ErrRevoked)
		}
	}
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
	}, nil
}

// isJoseRefusal tells a token the verifier refuses from a key store failure.
func isJoseRefusal(err error) bool {
	for _, e := range []error{jose.ErrMalformed, jose.ErrAlgorithm, jose.ErrUnknownKey, jose.ErrSignature, jose.ErrTokenType, jose.ErrCritical} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
