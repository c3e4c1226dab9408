// Package refreshtoken is the one place of the refresh token kind: its
// typ, claims, lifetime default, and how it is minted and verified. Only
// the issuer reads refresh tokens (aud is the issuer itself); the sessions
// of package impersonation mint and redeem them.
package refreshtoken

import (
	"context"
	"time"

	"github.com/actas/actas/claims"
	"github.com/actas/actas/internal/jose"
	"github.com/actas/actas/internal/selfjwt"
	"github.com/actas/actas/store"
)

const (
	// HeaderType is the typ of refresh tokens: never accepted as any other
	// kind of token.
	HeaderType = "refresh+jwt"
	// DefaultTTL is a refresh token's lifetime outside an impersonation
	// session; inside one it ends with the session.
	DefaultTTL = 8 * time.Hour
)

// Claims are the claims of a refresh token: a JWT of the issuer, for one
// client.
type Claims struct {
	claims.Registered
	ClientID  string             `json:"client_id"`
	Scope     claims.Scope       `json:"scope"`
	Act       *claims.Actor      `json:"act,omitempty"`
	SessionID string             `json:"isid,omitempty"`
	AuthTime  claims.NumericDate `json:"auth_time,omitempty"`
	// Session is what a refresh needs of the impersonation session: the
	// client where the policy is checked, its end and its reason.
	Session *Session `json:"isess,omitempty"`
}

// Session is the impersonation session a refresh token was issued under.
type Session struct {
	ClientID string             `json:"client_id"`
	Org      string             `json:"org,omitempty"`
	Expires  claims.NumericDate `json:"exp"`
	Reason   string             `json:"reason,omitempty"`
}

// Mint signs c with key.
func Mint(key store.PrivateKey, c *Claims) (string, error) {
	return jose.Sign(key, HeaderType, c)
}

// Expect is what [Verify] checks a refresh token against.
type Expect = selfjwt.Expect

// Verify checks a refresh token of the issuer: signature, typ
// refresh+jwt, iss, aud (the issuer itself), times, jti.
func Verify(ctx context.Context, token string, keys store.KeySet, e Expect) (*Claims, error) {
	var c Claims
	if err := selfjwt.Verify(ctx, token, HeaderType, keys, e, &c, &c.Registered); err != nil {
		return nil, err
	}
	return &c, nil
}
