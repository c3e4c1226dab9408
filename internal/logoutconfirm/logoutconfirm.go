// Package logoutconfirm is the one place of the sign-out confirmation: the
// token the end-session endpoint of package impersonation puts into its
// confirmation form, and takes back when the user confirms. Its typ, claims,
// lifetime and how it is minted and verified are here.
//
// It is signed with the issuer's signing key, not held in process memory,
// so that the confirmation can come back to any instance of an issuer that
// runs on several; the caller makes it single-use with the issuer's
// one-time-use store. Only the issuer reads it: aud is the issuer itself
// and typ names this kind alone, so it is never taken for an ID token or an
// access token, and it grants nothing but the end of the login it was made
// for.
package logoutconfirm

import (
	"context"
	"errors"
	"time"

	"github.com/actas/actas/claims"
	"github.com/actas/actas/internal/jose"
	"github.com/actas/actas/internal/selfjwt"
	"github.com/actas/actas/store"
)

const (
	// HeaderType is the typ of a sign-out confirmation. (OpenID Connect
	// Back-Channel Logout's logout token is logout+jwt; this is another
	// kind.)
	HeaderType = "logout-confirm+jwt"
	// TTL is how long a confirmation is valid: the user reads one short
	// page and presses a button.
	TTL = 5 * time.Minute
)

// ErrLifetime: the confirmation lives longer than [TTL], so this issuer
// did not mint it.
var ErrLifetime = errors.New("logoutconfirm: lifetime exceeds the cap")

// Claims are the claims of a sign-out confirmation: the logout request as
// the end-session endpoint validated it, for the one login it asked.
type Claims struct {
	// Registered: iss and aud the issuer, sub the signed-in user, iat,
	// exp and a jti for one-time use.
	claims.Registered
	// Login binds the confirmation to the login session it was shown in
	// (a digest the caller computes).
	Login string `json:"login"`
	// ClientID is the client that asked, if one was identified.
	ClientID string `json:"client_id,omitempty"`
	// RedirectURI is the validated post_logout_redirect_uri, if any, and
	// State the state to return with it.
	RedirectURI string `json:"post_logout_redirect_uri,omitempty"`
	State       string `json:"state,omitempty"`
}

// Mint signs c with key. The caller fills every registered claim.
func Mint(key store.PrivateKey, c *Claims) (string, error) {
	return jose.Sign(key, HeaderType, c)
}

// Expect is what [Verify] checks a confirmation against.
type Expect = selfjwt.Expect

// Verify checks a sign-out confirmation of the issuer: signature, typ,
// iss, aud (the issuer itself), times, jti, login, and a lifetime of at
// most TTL. It does not check one-time use or the binding to the login.
func Verify(ctx context.Context, token string, keys store.KeySet, e Expect) (*Claims, error) {
	var c Claims
	if err := selfjwt.Verify(ctx, token, HeaderType, keys, e, &c, &c.Registered); err != nil {
		return nil, err
	}
	if c.Login == "" {
		return nil, claims.ErrMissingClaim
	}
	if c.IssuedAt == 0 || c.Expiry.Time().Sub(c.IssuedAt.Time()) > TTL {
		return nil, ErrLifetime
	}
	return &c, nil
}
