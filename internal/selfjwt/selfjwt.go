// Package selfjwt verifies the tokens an issuer addresses to itself
// (aud the issuer): refresh tokens and sign-out confirmations. Their
// kinds keep their own typ, claims and extra checks; this is the part
// they share.
package selfjwt

import (
	"context"
	"time"

	"github.com/actas/actas/claims"
	"github.com/actas/actas/internal/jose"
	"github.com/actas/actas/store"
)

// Expect is what [Verify] checks a token against.
type Expect struct {
	Issuer string
	Now    time.Time
	Skew   time.Duration
	Algs   []string
}

// Verify checks token of header type typ: signature by one of keys with
// an allowed algorithm, iss and aud the issuer itself, exp, nbf and iat
// within the skew, jti present. It decodes the claims into out, whose
// registered claims are reg (a field of out).
func Verify(ctx context.Context, token, typ string, keys store.KeySet, e Expect, out any, reg *claims.Registered) error {
	_, payload, err := jose.Verify(ctx, token, keys, e.Algs, typ)
	if err != nil {
		return err
	}
	if err := jose.DecodeClaims(payload, out); err != nil {
		return err
	}
	return reg.Validate(claims.Expectations{Issuer: e.Issuer, Audience: e.Issuer, Now: e.Now, Skew: e.Skew, RequireID: true})
}
