package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/actas/actas/impersonation/resource"
)

// idTokenVerifier is the demo apps' relying-party check of an ID token
// (OpenID Connect Core §3.1.3.7), with jwx as any client of the issuer
// would: typ JWT (so that a subject token, typ subject+jwt, is never taken
// for a login), a key of the issuer's JWKS with the algorithm it is
// published for, iss, aud, exp and iat within 30 s. The caller checks the
// nonce.
type idTokenVerifier struct {
	issuer string
	keys   *resource.RemoteKeySet
	now    func() time.Time
}

// idClaims is what the demo apps use of an ID token.
type idClaims struct {
	Subject string
	Nonce   string
}

func (v idTokenVerifier) verify(ctx context.Context, token, clientID string) (*idClaims, error) {
	msg, err := jws.Parse([]byte(token))
	if err != nil {
		return nil, err
	}
	if len(msg.Signatures()) != 1 {
		return nil, errors.New("id token: one signature expected")
	}
	h := msg.Signatures()[0].ProtectedHeaders()
	if h.Type() != "JWT" {
		return nil, fmt.Errorf("id token: typ %q", h.Type())
	}
	key, err := v.keys.PublicKey(ctx, h.KeyID())
	if err != nil {
		return nil, err
	}
	if string(h.Algorithm()) != key.Algorithm {
		return nil, errors.New("id token: algorithm is not the key's")
	}
	tok, err := jwt.Parse([]byte(token),
		jwt.WithKey(jwa.SignatureAlgorithm(key.Algorithm), key.Key),
		jwt.WithIssuer(v.issuer), jwt.WithAudience(clientID),
		jwt.WithClock(jwt.ClockFunc(v.now)), jwt.WithAcceptableSkew(30*time.Second),
		jwt.WithRequiredClaim(jwt.ExpirationKey), jwt.WithRequiredClaim(jwt.IssuedAtKey))
	if err != nil {
		return nil, err
	}
	c := &idClaims{Subject: tok.Subject()}
	if n, ok := tok.PrivateClaims()["nonce"].(string); ok {
		c.Nonce = n
	}
	return c, nil
}
