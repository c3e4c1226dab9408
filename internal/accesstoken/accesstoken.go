// Package accesstoken is the one place of the access token kind: its typ,
// claims, lifetime default and cap, and how it is minted and verified. The
// issuer side (package impersonation) mints and introspects with it, the
// resource-server kit (package impersonation/resource) verifies with it;
// neither reaches into the other.
package accesstoken

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/actas/actas/claims"
	"github.com/actas/actas/internal/jose"
	"github.com/actas/actas/store"
)

const (
	// HeaderType is the typ of access tokens (RFC 9068 §2.1).
	HeaderType = "at+jwt"
	// DefaultTTL is the access token lifetime, as in the flow's reference
	// document (3600 s).
	DefaultTTL = time.Hour
	// MaxTTL caps an access token's lifetime, whatever is asked: minting
	// never exceeds it and verification refuses a token that does.
	MaxTTL = 24 * time.Hour
	// AuthorizedUserType is the aut claim of an access token issued to a
	// user (as opposed to an application acting for itself).
	AuthorizedUserType = "APPLICATION_USER"
)

// ErrInvalid is matched by every refusal of [Verify]; the wrapped error
// names the failed check. A key store failure does not match it.
var ErrInvalid = errors.New("invalid access token")

// ErrRevoked: the access token was revoked.
var ErrRevoked = errors.New("token revoked")

// Claims are the claims of an impersonated access token, an RFC 9068 JWT
// access token shaped like the flow's reference document: sub is the
// impersonated user, act.sub the impersonator.
type Claims struct {
	claims.Registered
	AuthorizedParty string        `json:"azp"`
	ClientID        string        `json:"client_id"`
	Scope           claims.Scope  `json:"scope"`
	Act             *claims.Actor `json:"act,omitempty"`
	// AuthorizedUserType is aut, always AuthorizedUserType.
	AuthorizedUserType string `json:"aut"`
	OrgID              string `json:"org_id,omitempty"`
	OrgName            string `json:"org_name,omitempty"`
	// SessionID is isid: the impersonation session the token was issued
	// under; ending the session revokes it.
	SessionID string `json:"isid,omitempty"`
	// Reason is impersonation_reason, the impersonator's stated reason,
	// carried only when the issuer is configured to.
	Reason string `json:"impersonation_reason,omitempty"`
	// GrantID is sgid: the access the impersonated user gave
	// (store.SubjectGrant) that the impersonation relies on; revoking the
	// grant revokes the token.
	GrantID string `json:"sgid,omitempty"`
}

// Mint signs c with key.
func Mint(key store.PrivateKey, c *Claims) (string, error) {
	return jose.Sign(key, HeaderType, c)
}

// Expect is what [Verify] checks a token against.
type Expect struct {
	Issuer string
	// Audience must be in aud; empty accepts any audience (the issuer's
	// own introspection and revocation, which check client_id instead).
	Audience string
	Now      time.Time
	Skew     time.Duration
	Algs     []string
	MaxDepth int
	// Revocation, when set, refuses a revoked token (by jti or by the session it was issued under).
	Revocation store.Revocation
}

// Verify checks token: typ at+jwt, signature by a key of keys with an
// allowed algorithm, iss, aud, exp, nbf and iat within the skew, jti and
// client_id present, the act chain within the depth limit, at most
// claims.MaxScopeTokens scope values, a lifetime within MaxTTL and, with
// e.Revocation, not revoked (matching ErrInvalid and ErrRevoked). A key
// or revocation store failure does not match ErrInvalid: the token may be
// fine and the store down.
func Verify(ctx context.Context, token string, keys store.KeySet, e Expect) (*Claims, error) {
	_, payload, err := jose.Verify(ctx, token, keys, e.Algs, HeaderType)
	if err != nil {
		if jose.IsRefusal(err) {
			return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		return nil, err
	}
	var c Claims
	if err := jose.DecodeClaims(payload, &c); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	err = c.Registered.Validate(claims.Expectations{Issuer: e.Issuer, Audience: e.Audience, Now: e.Now, Skew: e.Skew, RequireID: true})
	switch {
	case err != nil:
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	case c.ClientID == "":
		return nil, fmt.Errorf("%w: %w: client_id", ErrInvalid, claims.ErrMissingClaim)
	}
	if err := c.Act.Validate(e.MaxDepth); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if len(c.Scope) > claims.MaxScopeTokens {
		return nil, fmt.Errorf("%w: too many scope values", ErrInvalid)
	}
	if c.Expiry.Time().After(e.Now.Add(MaxTTL + e.Skew)) {
		return nil, fmt.Errorf("%w: lifetime exceeds the cap", ErrInvalid)
	}
	if e.Revocation != nil {
		isRevoked, err := revoked(ctx, e.Revocation, &c)
		if err != nil {
			return nil, fmt.Errorf("revocation: %w", err)
		}
		if isRevoked {
			return nil, fmt.Errorf("%w: %w", ErrInvalid, ErrRevoked)
		}
	}
	return &c, nil
}

// revoked reports whether the token of c was revoked: by its jti, for a
// token issued under an impersonation session by the session's end, and
// for one that relies on a subject grant by the grant's revocation.
func revoked(ctx context.Context, r store.Revocation, c *Claims) (bool, error) {
	keys := [3]string{c.ID}
	n := 1
	if c.SessionID != "" {
		keys[n] = SessionRevocationKey(c.SessionID)
		n++
	}
	if c.GrantID != "" {
		keys[n] = GrantRevocationKey(c.GrantID)
		n++
	}
	for _, k := range keys[:n] {
		if revoked, err := r.Revoked(ctx, k); err != nil || revoked {
			return revoked, err
		}
	}
	return false, nil
}

// GrantRevocationKey is the revocation entry whose presence revokes every
// token that relies on the subject grant id.
func GrantRevocationKey(id string) string { return "subject-grant:" + id }

// SessionRevocationKey is the revocation entry whose presence revokes
// every token issued under the impersonation session id. A session's ID is
// the jti of the exchanged access token that started it, so revoking that
// token, ending the session or revoking any token issued under it are one
// and the same revocation.
func SessionRevocationKey(id string) string { return id }

// Impersonated reports whether someone other than the subject is acting.
func (c *Claims) Impersonated() bool { return c.Act != nil }
