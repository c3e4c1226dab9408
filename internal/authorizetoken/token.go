// Package authorizetoken is the one place of the two token kinds of the
// authorize step: the subject token (typ subject+jwt: sub the user,
// may_act.sub the impersonator) and the impersonator's ID token (typ JWT,
// the actor token of the exchange). Each has its typ, claims, lifetime
// default and cap here, and is minted and verified here only. It is
// internal: nothing outside the library can mint a subject token past the
// policy gate.
//
// Its errors keep the prefix "subjecttoken:" they have always had in audit
// reasons, which operators search for.
package authorizetoken

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/actas/actas/claims"
	"github.com/actas/actas/internal/jose"
	"github.com/actas/actas/store"
)

// Header types (RFC 8725 §3.11 explicit typing). A subject token carries
// its own typ so that it can never be taken for an ID token or an access
// token (RFC 9068 "at+jwt"), whatever its claims say.
const (
	HeaderType        = "subject+jwt"
	IDTokenHeaderType = "JWT"
)

// Defaults of an [Issuer].
const (
	DefaultTTL        = 180 * time.Second
	DefaultIDTokenTTL = 300 * time.Second
	// DefaultMaxTTL caps a subject token's lifetime unless WithCaps says
	// otherwise: it is a bearer credential for someone else's account.
	DefaultMaxTTL = 10 * time.Minute
	// DefaultMaxIDTokenTTL caps an ID token's lifetime unless WithCaps
	// says otherwise.
	DefaultMaxIDTokenTTL = time.Hour
	// CeilingTTL bounds every cap WithCaps accepts: a day.
	CeilingTTL = 24 * time.Hour
)

// Verification errors, for errors.Is. They name the failed check, never the
// token content.
var (
	ErrMalformed      = jose.ErrMalformed
	ErrAlgorithm      = jose.ErrAlgorithm
	ErrUnknownKey     = jose.ErrUnknownKey
	ErrSignature      = jose.ErrSignature
	ErrTokenType      = jose.ErrTokenType
	ErrExpired        = claims.ErrExpired
	ErrNotYetValid    = claims.ErrNotYetValid
	ErrIssuedInFuture = claims.ErrIssuedInFuture
	ErrIssuedAt       = claims.ErrIssuedAt
	ErrIssuer         = claims.ErrIssuer
	ErrAudience       = claims.ErrAudience
	ErrMissingClaim   = claims.ErrMissingClaim
	// ErrAudienceNotExact: a subject token's aud names more than the
	// client (several audiences, or the client twice). Its aud is exactly
	// the client, a string or a one-element array, as Mint writes it.
	ErrAudienceNotExact = errors.New("subjecttoken: aud is not exactly the client")
	// ErrClientMismatch: client_id or azp is not the client presenting it.
	ErrClientMismatch = errors.New("subjecttoken: client_id or azp is not the client")
	// ErrNoMayAct: a subject token without may_act.sub.
	ErrNoMayAct = errors.New("subjecttoken: may_act.sub missing")
	// ErrTooManyScopes: more than claims.MaxScopeTokens scope values.
	ErrTooManyScopes = errors.New("subjecttoken: too many scope values")
	// ErrLifetime: the token expires later than the issuer's caps allow,
	// or a lifetime to mint exceeds its cap.
	ErrLifetime = errors.New("subjecttoken: token lifetime exceeds the cap")
)

// Claims are the claims of a subject token, exactly those of the flow's
// reference document: iss, sub (the impersonated user), aud, azp and
// client_id (the client), scope, may_act.sub (the impersonator), iat, nbf,
// exp and jti; act only when the token was itself issued under
// impersonation (RFC 8693 §4.1).
type Claims struct {
	claims.Registered
	AuthorizedParty string         `json:"azp"`
	ClientID        string         `json:"client_id"`
	Scope           claims.Scope   `json:"scope"`
	MayAct          *claims.MayAct `json:"may_act"`
	Act             *claims.Actor  `json:"act,omitempty"`
	// Reason is the impersonator's stated reason (impersonation_reason),
	// when one was given at the authorize step: it travels to the
	// exchange, whose audit event and tokens carry it on.
	Reason string `json:"impersonation_reason,omitempty"`
}

// IDTokenClaims are the claims of the ID token issued to the impersonator
// (OpenID Connect Core §2), which the client later presents as the actor
// token.
type IDTokenClaims struct {
	claims.Registered
	AuthorizedParty string             `json:"azp,omitempty"`
	Nonce           string             `json:"nonce,omitempty"`
	AuthTime        claims.NumericDate `json:"auth_time,omitempty"`
	// StateHash is s_hash (OpenID FAPI 1.0 Part 2 §5.1): the left half of
	// the SHA-256 of state, base64url.
	StateHash string `json:"s_hash,omitempty"`
	// Act, in an ID token issued under an impersonation session, names the
	// impersonator (RFC 8693 §4.1); Subject is then the impersonated user.
	Act *claims.Actor `json:"act,omitempty"`
	// SessionID is isid, the impersonation session, when there is one.
	SessionID string `json:"isid,omitempty"`
	// LoginSessionID is sid (OpenID Connect Front-Channel Logout §3): a
	// hash of the host's login session, never the session itself.
	LoginSessionID string `json:"sid,omitempty"`
	// AMR is amr (OpenID Connect Core §2): how the user authenticated, as
	// the host reports it.
	AMR []string `json:"amr,omitempty"`
	// OrgID and OrgName are the user's organisation: the impersonator's
	// in the impersonator's ID token, the impersonated user's in one
	// issued for them.
	OrgID   string `json:"org_id,omitempty"`
	OrgName string `json:"org_name,omitempty"`
}

// Verifier verifies subject tokens and ID tokens of one issuer with its
// public keys only: what a token endpoint needs, and what a relying party
// needs to check the impersonator's ID token. It is safe for concurrent
// use.
type Verifier struct {
	issuer string
	keys   store.KeySet
	config
}

// Issuer mints subject tokens and ID tokens for one issuer identifier, and
// verifies them as its [Verifier] does. It is safe for concurrent use.
type Issuer struct {
	Verifier
	signer store.Signer
}

type config struct {
	now      func() time.Time
	skew     time.Duration
	algs     []string
	maxDepth int
	maxTTL   time.Duration
	maxIDTTL time.Duration
}

// Option configures an [Issuer] or a [Verifier].
type Option func(*config)

// WithClock sets the time source; default time.Now.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// WithSkew sets the clock skew tolerated on exp, nbf and iat; default
// claims.DefaultSkew, at most claims.MaxSkew.
func WithSkew(d time.Duration) Option { return func(c *config) { c.skew = d } }

// WithAlgorithms sets the algorithms accepted when verifying; default
// ES256, RS256 and EdDSA. Only these three can be listed.
func WithAlgorithms(algs ...string) Option {
	return func(c *config) { c.algs = slices.Clone(algs) }
}

// WithMaxActDepth sets the deepest act chain a subject token may carry;
// default claims.DefaultMaxActDepth.
func WithMaxActDepth(n int) Option { return func(c *config) { c.maxDepth = n } }

// WithCaps sets the longest lifetime of a subject token and of an ID token
// (default DefaultMaxTTL and DefaultMaxIDTokenTTL, each at most
// CeilingTTL): Mint refuses a longer one, Verify refuses a token that
// expires later than its cap allows.
func WithCaps(subjectToken, idToken time.Duration) Option {
	return func(c *config) { c.maxTTL, c.maxIDTTL = subjectToken, idToken }
}

// NewVerifier returns a Verifier for tokens of the issuer identifier iss,
// checked against keys (the issuer's key store, or a remote JWKS).
func NewVerifier(iss string, keys store.KeySet, opts ...Option) (*Verifier, error) {
	v := &Verifier{
		issuer: iss,
		keys:   keys,
		config: config{
			now:      time.Now,
			skew:     claims.DefaultSkew,
			algs:     slices.Clone(jose.DefaultAlgorithms),
			maxDepth: claims.DefaultMaxActDepth,
			maxTTL:   DefaultMaxTTL,
			maxIDTTL: DefaultMaxIDTokenTTL,
		},
	}
	for _, o := range opts {
		o(&v.config)
	}
	switch {
	case iss == "":
		return nil, errors.New("subjecttoken: issuer is empty")
	case keys == nil:
		return nil, errors.New("subjecttoken: keys are nil")
	case v.now == nil:
		return nil, errors.New("subjecttoken: clock is nil")
	case v.skew < 0 || v.skew > claims.MaxSkew:
		return nil, fmt.Errorf("subjecttoken: skew must be between 0 and %s", claims.MaxSkew)
	case len(v.algs) == 0:
		return nil, errors.New("subjecttoken: no algorithm allowed")
	case v.maxDepth < 1:
		return nil, errors.New("subjecttoken: act depth must be at least 1")
	case v.maxTTL <= 0 || v.maxTTL > CeilingTTL || v.maxIDTTL <= 0 || v.maxIDTTL > CeilingTTL:
		return nil, fmt.Errorf("subjecttoken: lifetime caps must be positive and at most %v", CeilingTTL)
	}
	for _, a := range v.algs {
		if !slices.Contains(jose.DefaultAlgorithms, a) {
			return nil, fmt.Errorf("subjecttoken: algorithm %q is not supported", a)
		}
	}
	return v, nil
}

// NewIssuer returns an Issuer for the issuer identifier iss (the exact iss
// of every token) signing with keys.
func NewIssuer(iss string, keys store.Keys, opts ...Option) (*Issuer, error) {
	if keys == nil {
		return nil, errors.New("subjecttoken: keys are nil")
	}
	v, err := NewVerifier(iss, keys, opts...)
	if err != nil {
		return nil, err
	}
	return &Issuer{Verifier: *v, signer: keys}, nil
}

// Issuer returns the issuer identifier.
func (v *Verifier) Issuer() string { return v.issuer }

// Params describe a subject token to mint.
type Params struct {
	// Subject is the impersonated user's ID. Required.
	Subject string
	// ClientID is the client the token is for (aud, azp, client_id). Required.
	ClientID string
	// Scope is the granted scope.
	Scope claims.Scope
	// Actor is the impersonator's user ID (may_act.sub). Required.
	Actor string
	// Act is a prior actor chain to carry, when the impersonator is
	// already acting for someone; usually nil.
	Act *claims.Actor
	// Reason is the impersonator's stated reason; empty for none.
	Reason string
	// TTL is the lifetime; zero means DefaultTTL (or the cap, when it is
	// shorter). A TTL above the cap is refused (ErrLifetime).
	TTL time.Duration
}

// Mint signs a new subject token with a fresh 128-bit jti.
func (i *Issuer) Mint(ctx context.Context, p Params) (string, *Claims, error) {
	if p.Subject == "" || p.ClientID == "" || p.Actor == "" {
		return "", nil, errors.New("subjecttoken: mint needs a subject, a client and an actor")
	}
	if err := p.Act.Validate(i.maxDepth - 1); err != nil {
		return "", nil, fmt.Errorf("subjecttoken: mint: %w", err)
	}
	ttl, err := i.SubjectTokenTTL(p.TTL)
	if err != nil {
		return "", nil, err
	}
	now := i.now()
	c := &Claims{
		Registered: claims.Registered{
			Issuer:    i.issuer,
			Subject:   p.Subject,
			Audience:  claims.Audience{p.ClientID},
			IssuedAt:  claims.NewNumericDate(now),
			NotBefore: claims.NewNumericDate(now),
			Expiry:    claims.NewNumericDate(now.Add(ttl)),
			ID:        jose.NewID(),
		},
		AuthorizedParty: p.ClientID,
		ClientID:        p.ClientID,
		Scope:           p.Scope,
		MayAct:          &claims.MayAct{Subject: p.Actor},
		Act:             p.Act,
		Reason:          p.Reason,
	}
	tok, err := i.sign(ctx, HeaderType, c)
	if err != nil {
		return "", nil, err
	}
	return tok, c, nil
}

// IDTokenParams describe an ID token to mint for the impersonator.
type IDTokenParams struct {
	// Subject is the impersonator's user ID. Required.
	Subject string
	// ClientID is the audience. Required.
	ClientID string
	// Nonce from the authorize request.
	Nonce string
	// State from the authorize request; when not empty, s_hash is set.
	State string
	// AuthTime is when the impersonator authenticated; zero omits auth_time.
	AuthTime time.Time
	// Act marks an ID token for an impersonated user (Subject), naming
	// the impersonator; SessionID is the impersonation session it was
	// issued under, if any. Usually empty.
	Act       *claims.Actor
	SessionID string
	// LoginSession is the host's login session; the token carries its
	// hash as sid. Empty omits sid.
	LoginSession string
	// AMR are the authentication methods the host reports; nil omits amr.
	AMR []string
	// Org is the user's organisation (org_id, org_name); nil omits them.
	Org *store.Organization
	// TTL is the lifetime; zero means DefaultIDTokenTTL (or the cap, when
	// it is shorter). A TTL above the cap is refused (ErrLifetime).
	TTL time.Duration
}

// MintIDToken signs an OpenID Connect ID token.
func (i *Issuer) MintIDToken(ctx context.Context, p IDTokenParams) (string, *IDTokenClaims, error) {
	if p.Subject == "" || p.ClientID == "" {
		return "", nil, errors.New("subjecttoken: ID token needs a subject and a client")
	}
	ttl, err := lifetime("ID token", p.TTL, DefaultIDTokenTTL, i.maxIDTTL)
	if err != nil {
		return "", nil, err
	}
	now := i.now()
	c := &IDTokenClaims{
		Registered: claims.Registered{
			Issuer:   i.issuer,
			Subject:  p.Subject,
			Audience: claims.Audience{p.ClientID},
			IssuedAt: claims.NewNumericDate(now),
			Expiry:   claims.NewNumericDate(now.Add(ttl)),
			ID:       jose.NewID(),
		},
		AuthorizedParty: p.ClientID,
		Nonce:           p.Nonce,
	}
	if !p.AuthTime.IsZero() {
		c.AuthTime = claims.NewNumericDate(p.AuthTime)
	}
	if p.State != "" {
		c.StateHash = StateHash(p.State)
	}
	c.Act, c.SessionID, c.AMR = p.Act, p.SessionID, slices.Clone(p.AMR)
	if p.LoginSession != "" {
		c.LoginSessionID = LoginSessionHash(p.LoginSession)
	}
	if p.Org != nil {
		c.OrgID, c.OrgName = p.Org.ID, p.Org.Name
	}
	tok, err := i.sign(ctx, IDTokenHeaderType, c)
	if err != nil {
		return "", nil, err
	}
	return tok, c, nil
}

// LoginSessionHash returns the sid of a login session: the base64url
// SHA-256 of "sid:" and the session identifier, so that the ID token never
// carries the identifier the host's stores are keyed by, while the host can
// compute the sid of any of its sessions.
func LoginSessionHash(loginSession string) string {
	sum := sha256.Sum256([]byte("sid:" + loginSession))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// SubjectTokenTTL is the lifetime a subject token asked to live requested
// gets: requested, or DefaultTTL (the cap, when it is shorter) for zero; a
// requested lifetime above the cap is refused (ErrLifetime).
func (i *Issuer) SubjectTokenTTL(requested time.Duration) (time.Duration, error) {
	return lifetime("subject token", requested, DefaultTTL, i.maxTTL)
}

// lifetime is the one rule for the lifetimes an Issuer mints: requested,
// or def (at most cap) for zero or less; above cap refused.
func lifetime(what string, requested, def, cap time.Duration) (time.Duration, error) {
	if requested <= 0 {
		return min(def, cap), nil
	}
	if requested > cap {
		return 0, fmt.Errorf("%w: %s lifetime %v, cap %v", ErrLifetime, what, requested, cap)
	}
	return requested, nil
}

// StateHash returns s_hash for state: the base64url encoding of the left
// half of its SHA-256 (OpenID FAPI 1.0 Part 2 §5.1, computed like at_hash
// in OpenID Connect Core §3.1.3.6).
func StateHash(state string) string {
	sum := sha256.Sum256([]byte(state))
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
}

func (i *Issuer) sign(ctx context.Context, typ string, c any) (string, error) {
	key, err := i.signer.SigningKey(ctx)
	if err != nil {
		return "", fmt.Errorf("subjecttoken: signing key: %w", err)
	}
	tok, err := jose.Sign(key, typ, c)
	if err != nil {
		return "", fmt.Errorf("subjecttoken: %w", err)
	}
	return tok, nil
}

// Verify checks a subject token presented by clientID: signature by one of
// the issuer's keys with an allowed algorithm, a header naming no member
// twice, typ, iss, aud exactly the client (a single audience), client_id
// and azp equal to it, exp/nbf within the skew, iat plausible (see
// [claims.Registered.Validate]), jti and may_act.sub present, act chain
// within the depth limit. It does not check one-time use; the caller
// consumes the jti after its own checks.
func (v *Verifier) Verify(ctx context.Context, token, clientID string) (*Claims, error) {
	var c Claims
	if err := v.verify(ctx, token, HeaderType, &c); err != nil {
		return nil, err
	}
	if err := c.Registered.Validate(v.expect(clientID)); err != nil {
		return nil, fmt.Errorf("subjecttoken: %w", err)
	}
	if c.ClientID != clientID || c.AuthorizedParty != clientID {
		return nil, ErrClientMismatch
	}
	if len(c.Audience) != 1 {
		// Validate found the client among the audiences; a subject token
		// is for it alone, so no other party may hold it as its own.
		return nil, ErrAudienceNotExact
	}
	if c.MayAct == nil || c.MayAct.Subject == "" {
		return nil, ErrNoMayAct
	}
	if len(c.Scope) > claims.MaxScopeTokens {
		return nil, ErrTooManyScopes
	}
	if err := v.lifetime(c.Expiry, v.maxTTL); err != nil {
		return nil, err
	}
	if err := c.Act.Validate(v.maxDepth - 1); err != nil {
		return nil, fmt.Errorf("subjecttoken: %w", err)
	}
	return &c, nil
}

// VerifyIDToken checks an ID token of this issuer for clientID: signature,
// a header naming no member twice, typ JWT, iss, aud containing the client
// (OpenID Connect Core §3.1.3.7 allows other audiences beside it), azp
// equal to it when present, exp/nbf within the skew, iat plausible (see
// [claims.Registered.Validate]).
func (v *Verifier) VerifyIDToken(ctx context.Context, token, clientID string) (*IDTokenClaims, error) {
	var c IDTokenClaims
	if err := v.verify(ctx, token, IDTokenHeaderType, &c); err != nil {
		return nil, err
	}
	e := v.expect(clientID)
	e.RequireID = false
	if err := c.Registered.Validate(e); err != nil {
		return nil, fmt.Errorf("subjecttoken: ID token: %w", err)
	}
	if c.AuthorizedParty != "" && c.AuthorizedParty != clientID {
		return nil, ErrClientMismatch
	}
	if err := v.lifetime(c.Expiry, v.maxIDTTL); err != nil {
		return nil, err
	}
	return &c, nil
}

// VerifyIDTokenHint checks an ID token of this issuer that comes back as
// an id_token_hint (OpenID Connect RP-Initiated Logout 1.0 §2): as
// [Verifier.VerifyIDToken] checks it (signature, a header naming no member
// twice, typ JWT, iss, the lifetime cap), except two things. It may be for
// any client, so aud must name at least one and azp, when present, must be
// one of them; which client asks is the caller's to compare. And it may
// have expired, which the specification allows: an expired token is
// checked as of the last second it was valid, so nbf and iat still hold
// against its own exp. It proves only that this issuer once issued it;
// it authenticates nobody.
func (v *Verifier) VerifyIDTokenHint(ctx context.Context, token string) (*IDTokenClaims, error) {
	var c IDTokenClaims
	if err := v.verify(ctx, token, IDTokenHeaderType, &c); err != nil {
		return nil, err
	}
	e := v.expect("")
	e.RequireID = false
	if exp := c.Expiry.Time(); c.Expiry != 0 && !e.Now.Add(-e.Skew).Before(exp) {
		e.Now = exp.Add(-time.Second)
	}
	if err := c.Registered.Validate(e); err != nil {
		return nil, fmt.Errorf("subjecttoken: ID token: %w", err)
	}
	if len(c.Audience) == 0 {
		return nil, fmt.Errorf("subjecttoken: ID token: %w: aud", ErrMissingClaim)
	}
	if c.AuthorizedParty != "" && !c.Audience.Contains(c.AuthorizedParty) {
		return nil, ErrClientMismatch
	}
	if err := v.lifetime(c.Expiry, v.maxIDTTL); err != nil {
		return nil, err
	}
	return &c, nil
}

func (v *Verifier) expect(clientID string) claims.Expectations {
	return claims.Expectations{
		Issuer:    v.issuer,
		Audience:  clientID,
		Now:       v.now(),
		Skew:      v.skew,
		RequireID: true,
	}
}

func (v *Verifier) verify(ctx context.Context, token, typ string, out any) error {
	_, payload, err := jose.Verify(ctx, token, v.keys, v.algs, typ)
	if err != nil {
		return fmt.Errorf("subjecttoken: %w", err)
	}
	if err := jose.DecodeClaims(payload, out); err != nil {
		return fmt.Errorf("subjecttoken: %w", err)
	}
	return nil
}

// lifetime refuses a token that expires later than this issuer could
// have made it live (max), plus the skew: a token minted with another
// key or configuration, not by this issuer.
func (v *Verifier) lifetime(exp claims.NumericDate, max time.Duration) error {
	if exp.Time().After(v.now().Add(max + v.skew)) {
		return ErrLifetime
	}
	return nil
}

// Skew returns the clock skew the Issuer tolerates; stores that hold a
// jti must keep it for the token's exp plus this.
func (v *Verifier) Skew() time.Duration { return v.skew }
