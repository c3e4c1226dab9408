package claims

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
)

// Errors of [Registered.Validate]. They name the failed rule and never the
// claim's value, so they are safe to log and to put in an audit event.
var (
	ErrMissingClaim   = errors.New("claims: required claim missing")
	ErrIssuer         = errors.New("claims: iss is not the expected issuer")
	ErrAudience       = errors.New("claims: aud does not contain the expected audience")
	ErrExpired        = errors.New("claims: token expired")
	ErrNotYetValid    = errors.New("claims: token not valid yet (nbf)")
	ErrIssuedInFuture = errors.New("claims: token issued in the future (iat)")
	// ErrIssuedAt: iat is negative, later than exp, or more than
	// [MaxTokenAge] before now; no issuer of this library writes such a
	// value. An iat in the future is [ErrIssuedInFuture].
	ErrIssuedAt = errors.New("claims: iat out of range")
)

// Clock skew tolerated on exp, nbf and iat, for every token kind.
const (
	// DefaultSkew is the skew every verifier tolerates unless configured.
	DefaultSkew = 30 * time.Second
	// MaxSkew is the largest skew any constructor accepts.
	MaxSkew = 5 * time.Minute
)

// MaxTokenAge bounds how long before now a token's iat may lie (skew
// aside): [Registered.Validate] refuses an older iat with [ErrIssuedAt].
// While a token has not expired it is at most as old as its lifetime, and
// every lifetime the library mints is far shorter: subject tokens
// (internal/authorizetoken.DefaultMaxTTL, 10 minutes), ID tokens
// (internal/authorizetoken.DefaultMaxIDTokenTTL, an hour), access
// tokens ([github.com/actas/actas/impersonation.MaxAccessTokenTTL], 24
// hours) and refresh tokens
// ([github.com/actas/actas/impersonation.DefaultRefreshTokenTTL], 8 hours,
// or what the host sets in SessionConfig.RefreshTokenTTL, which must stay below
// this bound; under an impersonation session, at most the session). One
// year leaves room for any sensible configuration: the bound says
// "plausible", it is not a lifetime cap.
const MaxTokenAge = 365 * 24 * time.Hour

// NumericDate is a JWT NumericDate (RFC 7519 §2): seconds since the Unix
// epoch. Zero means the claim is absent. Fractional seconds are accepted on
// input and truncated.
type NumericDate int64

// NewNumericDate converts t, truncating to the second.
func NewNumericDate(t time.Time) NumericDate { return NumericDate(t.Unix()) }

// Time returns d as a time in UTC; the zero NumericDate gives the zero time.
func (d NumericDate) Time() time.Time {
	if d == 0 {
		return time.Time{}
	}
	return time.Unix(int64(d), 0).UTC()
}

// UnmarshalJSON accepts a JSON number, integral or not.
func (d *NumericDate) UnmarshalJSON(b []byte) error {
	if i, err := strconv.ParseInt(string(b), 10, 64); err == nil {
		*d = NumericDate(i)
		return nil
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil || math.IsNaN(f) || f > math.MaxInt64 || f < math.MinInt64 {
		return errors.New("claims: NumericDate is not a number")
	}
	*d = NumericDate(f)
	return nil
}

// Registered holds the registered claims of RFC 7519 §4.1 that every token
// of this library carries. Other claim structs embed it.
type Registered struct {
	Issuer    string      `json:"iss"`
	Subject   string      `json:"sub"`
	Audience  Audience    `json:"aud"`
	Expiry    NumericDate `json:"exp"`
	NotBefore NumericDate `json:"nbf,omitempty"`
	IssuedAt  NumericDate `json:"iat"`
	ID        string      `json:"jti"`
}

// Expectations are what [Registered.Validate] checks a token against.
type Expectations struct {
	// Issuer is the exact iss required. Required.
	Issuer string
	// Audience, when not empty, must be one of the token's audiences.
	Audience string
	// Now is the time of the check.
	Now time.Time
	// Skew is the clock difference tolerated on exp, nbf and iat.
	Skew time.Duration
	// RequireID makes a missing jti an error.
	RequireID bool
}

// Validate checks the registered claims: sub and exp present, iss equal,
// aud containing the expected audience, exp not passed, nbf and iat not in
// the future, each with the skew allowed; and, when iat is present, that
// it is not negative, not after exp and not more than [MaxTokenAge] (plus
// the skew) before now ([ErrIssuedAt]). A zero iat is an absent one.
func (r *Registered) Validate(e Expectations) error {
	switch {
	case r.Subject == "":
		return fmt.Errorf("%w: sub", ErrMissingClaim)
	case r.Expiry == 0:
		return fmt.Errorf("%w: exp", ErrMissingClaim)
	case e.RequireID && r.ID == "":
		return fmt.Errorf("%w: jti", ErrMissingClaim)
	case r.Issuer != e.Issuer:
		return ErrIssuer
	case e.Audience != "" && !r.Audience.Contains(e.Audience):
		return ErrAudience
	}
	now := e.Now.Unix()
	skew := int64(e.Skew / time.Second)
	if now-skew >= int64(r.Expiry) {
		return ErrExpired
	}
	if r.NotBefore != 0 && int64(r.NotBefore) > now+skew {
		return ErrNotYetValid
	}
	if r.IssuedAt == 0 {
		return nil
	}
	iat := int64(r.IssuedAt)
	switch {
	case iat > now+skew:
		return ErrIssuedInFuture
	case iat < 0:
		return fmt.Errorf("%w: negative", ErrIssuedAt)
	case iat > int64(r.Expiry):
		return fmt.Errorf("%w: after exp", ErrIssuedAt)
	case iat < now-skew-int64(MaxTokenAge/time.Second):
		return fmt.Errorf("%w: older than the maximum token age", ErrIssuedAt)
	}
	return nil
}
