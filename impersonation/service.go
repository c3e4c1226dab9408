package impersonation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/actas/actas/claims"
	"github.com/actas/actas/internal/accesstoken"
	"github.com/actas/actas/internal/authorizetoken"
	"github.com/actas/actas/internal/jose"
	"github.com/actas/actas/internal/ratelimit"
	"github.com/actas/actas/internal/secretcache"
	"github.com/actas/actas/store"
	"github.com/actas/actas/subjecttoken"
	"github.com/actas/actas/tokenexchange"
)

// Access token lifetimes of a [Service].
const (
	// DefaultAccessTokenTTL is the impersonated access token lifetime, as
	// in the flow's reference document (3600 s).
	DefaultAccessTokenTTL = accesstoken.DefaultTTL
	// MaxAccessTokenTTL is the default cap of an access token's lifetime
	// (LifetimeCaps.AccessToken) and the most any cap may be: every
	// verifier refuses a token that lives longer.
	MaxAccessTokenTTL = accesstoken.MaxTTL
	// DefaultMaxSubjectTokenTTL is the default cap of a subject token's
	// lifetime: a bearer credential for someone else's account.
	DefaultMaxSubjectTokenTTL = authorizetoken.DefaultMaxTTL
	// DefaultMaxIDTokenTTL is the default cap of an ID token's lifetime.
	DefaultMaxIDTokenTTL = authorizetoken.DefaultMaxIDTokenTTL
)

// ErrConfiguration is matched (errors.Is) by a refusal caused by the
// host's configuration rather than the request, such as a client lifetime
// above its cap. The client gets server_error; the audit event says what
// to fix.
var ErrConfiguration = errors.New("impersonation: configuration error")

// LifetimeCaps are the longest lifetimes a [Service] gives each kind of
// token; a zero field is its default, and no cap may exceed
// MaxAccessTokenTTL. A lifetime above its cap is a configuration error,
// never silently shortened: [New] refuses a default lifetime (from
// WithAccessTokenTTL or WithIDTokenTTL) above it, and a client whose
// SubjectTokenTTL or AccessTokenTTL exceeds it is refused at its first use
// (server_error, audited, matching ErrConfiguration) until its
// registration is fixed. [LifetimeCaps.Check] checks a registration
// beforehand, as a data file loader should.
type LifetimeCaps struct {
	// SubjectToken caps subject tokens; zero means
	// DefaultMaxSubjectTokenTTL (10 min).
	SubjectToken time.Duration
	// IDToken caps ID tokens; zero means DefaultMaxIDTokenTTL (1 h).
	IDToken time.Duration
	// AccessToken caps access tokens; zero means MaxAccessTokenTTL (24 h).
	AccessToken time.Duration
}

// WithLifetimeCaps sets the [LifetimeCaps]; default the defaults of each.
func WithLifetimeCaps(c LifetimeCaps) Option { return func(s *Service) { s.caps = c } }

// orDefaults returns l with each zero field set to its default.
func (l LifetimeCaps) orDefaults() LifetimeCaps {
	if l.SubjectToken == 0 {
		l.SubjectToken = DefaultMaxSubjectTokenTTL
	}
	if l.IDToken == 0 {
		l.IDToken = DefaultMaxIDTokenTTL
	}
	if l.AccessToken == 0 {
		l.AccessToken = MaxAccessTokenTTL
	}
	return l
}

// Check reports whether c's lifetimes are within the caps (a zero field of
// l is its default): nil, or an error matching ErrConfiguration that names
// the client, the field and the cap.
func (l LifetimeCaps) Check(c *store.Client) error {
	l = l.orDefaults()
	switch {
	case c.SubjectTokenTTL > l.SubjectToken:
		return fmt.Errorf("%w: client %q: SubjectTokenTTL %v exceeds the subject token cap %v", ErrConfiguration, c.ID, c.SubjectTokenTTL, l.SubjectToken)
	case c.AccessTokenTTL > l.AccessToken:
		return fmt.Errorf("%w: client %q: AccessTokenTTL %v exceeds the access token cap %v", ErrConfiguration, c.ID, c.AccessTokenTTL, l.AccessToken)
	}
	return nil
}

// Stores are what a [Service] reads and writes. Every field is required,
// but Organizations with [WithoutOrganizations]; store/memory's Store
// implements all but Keys, which its KeySet does.
type Stores struct {
	Clients       store.Clients
	Users         store.Users
	Organizations store.Organizations
	Grants        store.Grants
	OneTimeUse    store.OneTimeUse
	Keys          store.Keys
}

// check names the first missing store; Organizations may be missing
// when flat.
func (st Stores) check(flat bool) error {
	for _, f := range []struct {
		name    string
		missing bool
	}{
		{"Clients", st.Clients == nil}, {"Users", st.Users == nil},
		{"Organizations", st.Organizations == nil && !flat}, {"Grants", st.Grants == nil},
		{"OneTimeUse", st.OneTimeUse == nil}, {"Keys", st.Keys == nil},
	} {
		if f.missing {
			return fmt.Errorf("impersonation: Stores.%s is required", f.name)
		}
	}
	return nil
}

// WithActorTokenMaxAge refuses an actor token issued more than d ago (its
// iat), however long it still lives: for a host whose own ID tokens are
// valid actor tokens (it shares actas's signing key), so that only a
// recent authentication of the impersonator starts an impersonation. Zero,
// the default, asks only that the token be unexpired.
func WithActorTokenMaxAge(d time.Duration) Option { return func(s *Service) { s.actorMaxAge = d } }

// WithoutOrganizations turns the organisation rule off, for a host
// without tenants: an impersonator holding the role for the client may
// impersonate any enabled user (every other rule stays: not themselves,
// not a protected user, a subject grant where the client requires one).
// Stores.Organizations may then be nil; users need no organisation, and
// tokens and audit events name none.
func WithoutOrganizations() Option { return func(s *Service) { s.flat = true } }

// orgID is o's ID, empty for none.
func orgID(o *store.Organization) string {
	if o == nil {
		return ""
	}
	return o.ID
}

// ProtectedFunc reports whether subject may never be impersonated through
// client. An error refuses the impersonation as a server failure.
type ProtectedFunc func(ctx context.Context, client *store.Client, subject *store.User) (bool, error)

// ScopeInput is what a [ScopeRule] decides from.
type ScopeInput struct {
	Client       *store.Client
	Impersonator *store.User
	Subject      *store.User
	// Requested is the scope of the authorize request.
	Requested claims.Scope
	// SubjectGrants are the scopes the subject's roles grant for the client.
	SubjectGrants []string
}

// ScopeRule returns the scope granted to an impersonation. It runs at the
// authorize endpoint, and again at the token endpoint with the subject
// token's scope as Requested so that a grant removed in between narrows the
// access token.
type ScopeRule func(ctx context.Context, in ScopeInput) (claims.Scope, error)

// DefaultScopeRule grants the requested scopes, minus
// internal_user_impersonate, that the subject holds for the client (so the
// impersonator sees what the user would see), plus openid if requested;
// when the client registers its Scopes, only those.
func DefaultScopeRule(_ context.Context, in ScopeInput) (claims.Scope, error) {
	out := claims.Scope{}
	for _, s := range in.Requested {
		switch {
		case s == subjecttoken.ScopeImpersonate:
		case len(in.Client.Scopes) > 0 && !slices.Contains(in.Client.Scopes, s):
		case s == "openid", slices.Contains(in.SubjectGrants, s):
			out = append(out, s)
		}
	}
	return out, nil
}

// Service decides and carries out impersonations: the authorize side
// ([Service.Authorize]) and the token exchange ([Service.Exchange],
// implementing tokenexchange.Exchanger). It is safe for concurrent use.
type Service struct {
	issuer     string
	stores     Stores
	tokens     *authorizetoken.Issuer
	now        func() time.Time
	skew       time.Duration
	algs       []string
	maxDepth   int
	auditor    store.Auditor
	fallback   store.Auditor
	notifier   store.Notifier
	protected  ProtectedFunc
	scopeRule  ScopeRule
	accessTTL  time.Duration
	idTTL      time.Duration
	revocation store.Revocation
	secrets    secretcache.Cache
	reason     ReasonPolicy
	caps       LifetimeCaps
	// flat is WithoutOrganizations: no organisation rule.
	flat bool
	// actorMaxAge is WithActorTokenMaxAge; zero for none.
	actorMaxAge time.Duration

	// sessions are nil unless WithSessions; the three fields after it
	// are what WithSessions gave, for New to build them.
	sessions          *Sessions
	sessionStore      store.Sessions
	sessionRevocation store.Revocation
	sessionConfig     *SessionConfig

	// grants are nil unless WithSubjectGrants (grantsSet).
	grants    *Grants
	grantsSet bool

	limiter     store.RateLimiter
	startLimit  int
	startWindow time.Duration
	// dummyHash is verified against for unknown clients; no secret matches
	// it, as it hashes a random value thrown away.
	dummyHash string
}

var (
	_ tokenexchange.Exchanger           = (*Service)(nil)
	_ tokenexchange.ClientAuthenticator = (*Service)(nil)
)

// Option configures a [Service].
type Option func(*Service)

// WithClock sets the time source; default time.Now.
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

// WithSkew sets the clock skew tolerated on exp, nbf and iat; default 30 s,
// at most claims.MaxSkew.
func WithSkew(d time.Duration) Option { return func(s *Service) { s.skew = d } }

// WithAlgorithms sets the signature algorithms accepted on presented
// tokens; default ES256, RS256 and EdDSA.
func WithAlgorithms(algs ...string) Option {
	return func(s *Service) { s.algs = slices.Clone(algs) }
}

// WithMaxActDepth sets the deepest act chain an issued access token may
// carry; default claims.DefaultMaxActDepth. Exchanges that would go deeper
// are refused.
func WithMaxActDepth(n int) Option { return func(s *Service) { s.maxDepth = n } }

// WithAuditor sets where audit events go; default a store.SlogAuditor
// writing to slog.Default().
func WithAuditor(a store.Auditor) Option { return func(s *Service) { s.auditor = a } }

// WithFallbackAuditor sets where an event goes when the auditor fails
// (a shared audit store unreachable): the event, with the auditor's error
// in its reason, is written here, and the request that needed it is
// refused. Default: a store.SlogAuditor on slog.Default().
func WithFallbackAuditor(a store.Auditor) Option { return func(s *Service) { s.fallback = a } }

// WithNotifier sets who tells impersonated users; default none.
func WithNotifier(n store.Notifier) Option { return func(s *Service) { s.notifier = n } }

// WithProtected replaces the protected-user predicate. The default
// protects users who themselves hold internal_user_impersonate for the
// client: one impersonator cannot become another.
func WithProtected(f ProtectedFunc) Option { return func(s *Service) { s.protected = f } }

// WithScopeRule replaces [DefaultScopeRule].
func WithScopeRule(r ScopeRule) Option { return func(s *Service) { s.scopeRule = r } }

// Default start limit: how many impersonations one impersonator may start
// (authorize requests that reach the policy) per window.
const (
	DefaultStartLimit  = 10
	DefaultStartWindow = time.Minute
)

// WithStartLimit limits how many impersonations one impersonator may
// start per window, counted in limiter (a shared store when several
// instances serve one issuer). Requests over the limit are refused with
// temporarily_unavailable ("slow down") and audited with reason
// rate_limited. The default is DefaultStartLimit per DefaultStartWindow in
// process memory; n <= 0 turns the limit off.
func WithStartLimit(limiter store.RateLimiter, n int, per time.Duration) Option {
	return func(s *Service) { s.limiter, s.startLimit, s.startWindow = limiter, n, per }
}

// ReasonPolicy says what a [Service] asks of the impersonator's stated
// reason: the impersonation_reason of the authorize request, which the
// subject token carries on to the exchange, and the reason given to
// [Sessions.Start]. The zero value asks nothing and puts it in no token.
type ReasonPolicy struct {
	// Required refuses an impersonation started without a reason: an
	// authorize request is answered invalid_request (audited with reason
	// reason_missing) and Sessions.Start returns ErrReasonRequired.
	// store.Client.ReasonRequired asks the same of one client's
	// impersonations.
	Required bool
	// Claim puts the reason into the tokens of the impersonation as
	// impersonation_reason (ClaimReason): the exchanged access token and
	// the tokens issued under an impersonation session, so that resource
	// servers can show it and the resource-server kit's request audit
	// records it.
	Claim bool
}

// WithReason sets the [ReasonPolicy]; default none.
func WithReason(p ReasonPolicy) Option { return func(s *Service) { s.reason = p } }

// reasonRequired reports whether an impersonation through c needs a
// reason.
func (s *Service) reasonRequired(c *store.Client) bool { return s.reason.Required || c.ReasonRequired }

// WithAccessTokenTTL sets the access token lifetime for clients that do
// not set their own; default DefaultAccessTokenTTL, at most
// LifetimeCaps.AccessToken.
func WithAccessTokenTTL(d time.Duration) Option { return func(s *Service) { s.accessTTL = d } }

// WithIDTokenTTL sets the lifetime of the ID tokens; default 5 min, at
// most LifetimeCaps.IDToken.
func WithIDTokenTTL(d time.Duration) Option { return func(s *Service) { s.idTTL = d } }

// New returns a Service for the issuer identifier iss: the exact iss of
// every token it mints and expects.
func New(iss string, stores Stores, opts ...Option) (*Service, error) {
	s := &Service{
		issuer:    iss,
		stores:    stores,
		now:       time.Now,
		skew:      claims.DefaultSkew,
		algs:      slices.Clone(jose.DefaultAlgorithms),
		maxDepth:  claims.DefaultMaxActDepth,
		accessTTL: DefaultAccessTokenTTL,
		idTTL:     authorizetoken.DefaultIDTokenTTL,
		scopeRule: DefaultScopeRule,

		startLimit:  DefaultStartLimit,
		startWindow: DefaultStartWindow,
	}
	for _, o := range opts {
		o(s)
	}
	if err := stores.check(s.flat); err != nil {
		return nil, err
	}
	switch {
	case s.scopeRule == nil:
		return nil, errors.New("impersonation: scope rule is nil")
	case s.accessTTL <= 0 || s.idTTL <= 0:
		return nil, errors.New("impersonation: token lifetimes must be positive")
	case s.actorMaxAge < 0 || s.actorMaxAge > claims.MaxTokenAge:
		return nil, fmt.Errorf("impersonation: the actor token's maximum age must be between 0 and %v", claims.MaxTokenAge)
	case s.caps.SubjectToken < 0 || s.caps.IDToken < 0 || s.caps.AccessToken < 0 ||
		s.caps.SubjectToken > MaxAccessTokenTTL || s.caps.IDToken > MaxAccessTokenTTL || s.caps.AccessToken > MaxAccessTokenTTL:
		return nil, fmt.Errorf("impersonation: lifetime caps must be positive and at most %v", MaxAccessTokenTTL)
	}
	s.caps = s.caps.orDefaults()
	switch {
	case s.accessTTL > s.caps.AccessToken:
		return nil, fmt.Errorf("%w: WithAccessTokenTTL %v exceeds the access token cap %v", ErrConfiguration, s.accessTTL, s.caps.AccessToken)
	case s.idTTL > s.caps.IDToken:
		return nil, fmt.Errorf("%w: WithIDTokenTTL %v exceeds the ID token cap %v", ErrConfiguration, s.idTTL, s.caps.IDToken)
	}
	if s.startLimit > 0 && s.startWindow <= 0 {
		return nil, errors.New("impersonation: start limit window must be positive")
	}
	if s.limiter == nil {
		s.limiter = &localLimiter{now: s.now}
	}
	if s.auditor == nil {
		s.auditor = store.NewSlogAuditor(slog.Default())
	}
	if s.fallback == nil {
		s.fallback = store.NewSlogAuditor(slog.Default())
	}
	if s.sessionConfig != nil {
		// SessionConfig.ReasonClaim predates WithReason and means the same.
		s.reason.Claim = s.reason.Claim || s.sessionConfig.ReasonClaim
		ss, err := newSessions(s, s.sessionStore, s.sessionRevocation, *s.sessionConfig)
		if err != nil {
			return nil, err
		}
		s.sessions = ss
	}
	s.sessionStore, s.sessionRevocation, s.sessionConfig = nil, nil, nil

	tokens, err := authorizetoken.NewIssuer(iss, stores.Keys,
		authorizetoken.WithClock(s.now),
		authorizetoken.WithSkew(s.skew),
		authorizetoken.WithAlgorithms(s.algs...),
		// A subject token's act chain gains the impersonator on exchange.
		authorizetoken.WithMaxActDepth(s.maxDepth),
		authorizetoken.WithCaps(s.caps.SubjectToken, s.caps.IDToken),
	)
	if err != nil {
		return nil, fmt.Errorf("impersonation: %w", err)
	}
	s.tokens = tokens
	if s.dummyHash, err = store.HashSecret(jose.NewID(), store.ClientSecretIterations); err != nil {
		return nil, fmt.Errorf("impersonation: %w", err)
	}
	if s.grantsSet {
		// Last: a Grants is bound only to a Service that New returns.
		if err := s.grants.bind(s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// record writes an audit event stamped with the service clock.
func (s *Service) record(ctx context.Context, e store.Event) error {
	if e.Time.IsZero() {
		e.Time = s.now().UTC()
	}
	err := s.auditor.Record(ctx, e)
	if err != nil {
		f := e
		f.Outcome = store.OutcomeFailed
		f.Reason = strings.TrimPrefix(e.Reason+"; ", "; ") + "audit store failed: " + err.Error()
		_ = s.fallback.Record(ctx, f)
	}
	return err
}

// localLimiter is the default store.RateLimiter: in process memory, on the
// service clock.
type localLimiter struct {
	now func() time.Time
	c   ratelimit.Counter
}

func (l *localLimiter) Allow(_ context.Context, key string, limit int, per time.Duration) (bool, error) {
	return l.c.Allow(key, limit, per, l.now()), nil
}

// holdMargin keeps a used subject token's jti beyond the last moment
// Verify could accept the token, so that the hold is in the future even
// when the token expires between the check and the one-time use.
const holdMargin = time.Minute

// holdUntil is how long a subject token with expiry exp is held as used:
// past its expiry plus the skew Verify allows, plus holdMargin.
func (s *Service) holdUntil(exp claims.NumericDate) time.Time {
	return exp.Time().Add(s.skew + holdMargin)
}
