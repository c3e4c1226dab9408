package impersonation

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/actas/actas/claims"
	"github.com/actas/actas/internal/accesstoken"
	"github.com/actas/actas/internal/authorizetoken"
	"github.com/actas/actas/internal/jose"
	"github.com/actas/actas/internal/refreshtoken"
	"github.com/actas/actas/store"
	"github.com/actas/actas/subjecttoken"
	"github.com/actas/actas/tokenexchange"
)

// Impersonation sessions: after a successful exchange the impersonator's
// login session at the identity server becomes bound to the impersonated
// user ([Sessions.Start]); while it lasts, ordinary OpenID Connect
// sign-ins through it yield tokens for that user with act naming the
// impersonator ([Sessions.Issue]), in every application for which the
// whole policy passes (impersonation on for it, the impersonator holding the
// impersonation role for it, the user impersonable), which needs no change;
// any other application's sign-in is refused ([Sessions.SignIn]).
// Every token issued under it carries the session's ID in isid, so
// that ending it ([Sessions.End], an impersonator's logout, revoking
// one of its tokens, its maximum duration) revokes them all.

// Session defaults and claim names.
const (
	// DefaultSessionMaxDuration is how long an impersonation session lasts
	// at most, unless SessionConfig says otherwise.
	DefaultSessionMaxDuration = time.Hour
	// DefaultRefreshTokenTTL is a refresh token's lifetime outside an
	// impersonation session; inside one it ends with the session.
	DefaultRefreshTokenTTL = refreshtoken.DefaultTTL
	// ClaimSessionID names the impersonation session in tokens.
	ClaimSessionID = "isid"
	// ClaimReason carries the impersonator's reason in tokens, when
	// SessionConfig.ReasonClaim is set.
	ClaimReason = "impersonation_reason"
)

// ErrSessionEnded: tokens would be issued under an impersonation session
// that has ended in the meantime; the host should start the sign-in again.
var ErrSessionEnded = errors.New("impersonation: the impersonation session has ended")

// errSessionsOff: a method of a nil *Sessions (a Service built without
// WithSessions) that would need them.
var errSessionsOff = errors.New("impersonation: impersonation sessions are off (no WithSessions)")

// Session errors.
var (
	// ErrNotImpersonated: Start got a token that is not an
	// impersonated access token of this issuer.
	ErrNotImpersonated = errors.New("impersonation: not an impersonated access token")
	// ErrReasonRequired: a reason is required to start a session.
	ErrReasonRequired = errors.New("impersonation: a reason is required")
	// ErrOtherSubject: an impersonation session impersonates one user; a
	// request for another user inside it is refused.
	ErrOtherSubject = errors.New("impersonation: this session impersonates another user; end it first")
)

// SessionConfig configures impersonation sessions ([WithSessions]). The
// zero value is the defaults.
type SessionConfig struct {
	// MaxDuration is how long a session lasts at most; zero means
	// DefaultSessionMaxDuration, at most claims.MaxTokenAge.
	MaxDuration time.Duration
	// RefreshTokenTTL is a refresh token's lifetime outside an
	// impersonation session (inside one it ends with the session); zero
	// means DefaultRefreshTokenTTL, at most claims.MaxTokenAge.
	RefreshTokenTTL time.Duration
	// ReasonRequired makes a reason mandatory to start a session (and
	// only that: ReasonPolicy.Required asks for one at every start,
	// authorize requests included).
	ReasonRequired bool
	// ReasonClaim is ReasonPolicy.Claim ([WithReason]): the reason goes
	// into the tokens of the impersonation, exchanged access tokens
	// included, as the claim impersonation_reason (ClaimReason).
	ReasonClaim bool
}

// WithSessions enables impersonation sessions ([Service.Sessions]) over
// st, ending them through rev (store/memory's Store for both, or shared
// stores when several instances serve one issuer). rev is also the
// Service's revocation store ([WithRevocationStore]); both are required.
func WithSessions(st store.Sessions, rev store.Revocation, cfg SessionConfig) Option {
	return func(s *Service) {
		s.sessionStore, s.sessionRevocation, s.sessionConfig = st, rev, &cfg
	}
}

// Sessions are the impersonation sessions of a [Service]: starting one
// after an exchange ([Sessions.Start]), the sign-ins through it
// ([Sessions.SignIn], [Sessions.Issue]), refresh ([Sessions.Refresh],
// [Sessions.Grant]) and its end ([Sessions.End]). Get them from
// [Service.Sessions]. They are safe for concurrent use.
type Sessions struct {
	svc           *Service
	store         store.Sessions
	maxDuration   time.Duration
	refreshTTL    time.Duration
	requireReason bool
}

var _ tokenexchange.GrantHandler = (*Sessions)(nil)

// newSessions checks cfg and builds the sessions of svc.
func newSessions(svc *Service, st store.Sessions, rev store.Revocation, cfg SessionConfig) (*Sessions, error) {
	switch {
	case st == nil || rev == nil:
		return nil, errors.New("impersonation: WithSessions needs a sessions store and a revocation store")
	case svc.revocation != nil && svc.revocation != rev:
		return nil, errors.New("impersonation: WithSessions and WithRevocationStore name different revocation stores")
	}
	ss := &Sessions{svc: svc, store: st, maxDuration: cfg.MaxDuration, refreshTTL: cfg.RefreshTokenTTL,
		requireReason: cfg.ReasonRequired || svc.reason.Required}
	if ss.maxDuration == 0 {
		ss.maxDuration = DefaultSessionMaxDuration
	}
	if ss.refreshTTL == 0 {
		ss.refreshTTL = DefaultRefreshTokenTTL
	}
	if ss.maxDuration < 0 || ss.refreshTTL < 0 {
		return nil, errors.New("impersonation: session and refresh lifetimes must be positive")
	}
	if ss.maxDuration > claims.MaxTokenAge || ss.refreshTTL > claims.MaxTokenAge {
		// Every verifier refuses an iat older than MaxTokenAge: such a
		// token would be refused before it expired.
		return nil, fmt.Errorf("impersonation: session and refresh lifetimes must be at most %v (claims.MaxTokenAge)", claims.MaxTokenAge)
	}
	svc.revocation = rev
	return ss, nil
}

// Sessions returns the impersonation sessions, nil unless the Service was
// built [WithSessions]. A nil *Sessions is usable: no login session is
// impersonating (Active and SignIn answer nil, End does nothing), and
// Start, Issue, Refresh and Grant refuse.
func (s *Service) Sessions() *Sessions { return s.sessions }

// Start binds loginSession (an identifier of the impersonator's
// login session at the host — not the session cookie itself: stores keep
// it in clear) to the impersonation that accessToken, the access token
// just obtained by token exchange, carries. reason is the impersonator's
// stated reason (at most subjecttoken.MaxReasonBytes of printable text);
// empty takes the one accessToken carries, if any (ReasonPolicy.Claim). It
// is required (ErrReasonRequired) with SessionConfig.ReasonRequired,
// ReasonPolicy.Required or the client's ReasonRequired. The session lasts the
// configured maximum duration; a previous session of the login session is
// ended first.
func (ss *Sessions) Start(ctx context.Context, loginSession, accessToken, reason string) (*store.ImpersonationSession, error) {
	if ss == nil {
		return nil, errSessionsOff
	}
	s := ss.svc
	if loginSession == "" {
		return nil, errors.New("impersonation: Start needs a login session")
	}
	if !cleanText(reason) || len(reason) > subjecttoken.MaxReasonBytes {
		return nil, errors.New("impersonation: the reason must be at most 512 bytes of printable text")
	}
	p, err := s.verifyAccess(ctx, accessToken)
	if err != nil {
		return nil, fmt.Errorf("impersonation: start session: %w", err)
	}
	if !p.Impersonated() {
		return nil, ErrNotImpersonated
	}
	if reason == "" {
		// The reason given at the authorize step, when the exchanged token
		// carries it (ReasonPolicy.Claim).
		reason = p.Reason
	}
	if reason == "" {
		required := ss.requireReason
		if !required {
			c, err := s.stores.Clients.Client(ctx, p.ClientID)
			if err != nil {
				return nil, fmt.Errorf("impersonation: start session: %w", err)
			}
			required = c.ReasonRequired
		}
		if required {
			return nil, ErrReasonRequired
		}
	}
	if p.SessionID != "" {
		// A token issued under a session cannot start another one: that
		// would stretch an impersonation past its maximum duration
		// without a new exchange.
		return nil, fmt.Errorf("%w: issued under an impersonation session", ErrNotImpersonated)
	}
	if old, err := ss.store.SessionFor(ctx, loginSession); err == nil {
		if old.ID == p.ID {
			return old, nil // the same exchange: the session already runs
		}
		if err := ss.end(ctx, old, "replaced by a new impersonation"); err != nil {
			return nil, err
		}
	}
	// One exchange starts one session: once it has run its course (or
	// runs for another login session), the same token starts no other.
	switch err := s.stores.OneTimeUse.Use(ctx, "session-start:"+p.ID, p.Expiry.Time().Add(s.skew+holdMargin)); {
	case errors.Is(err, store.ErrAlreadyUsed):
		return nil, fmt.Errorf("%w: this exchange started a session already", ErrSessionEnded)
	case err != nil:
		return nil, fmt.Errorf("impersonation: start session: %w", err)
	}
	now := s.now().UTC()
	expires := now.Add(ss.maxDuration)
	sess := store.ImpersonationSession{
		ID:               p.ID,
		LoginSession:     loginSession,
		Impersonator:     p.Act.Subject,
		Subject:          p.Subject,
		ClientID:         p.ClientID,
		Org:              p.OrgID,
		Reason:           reason,
		Started:          now,
		Expires:          expires,
		StartTokenID:     p.ID,
		StartTokenExpiry: p.Expiry.Time(),
	}
	if err := ss.store.PutSession(ctx, sess); err != nil {
		return nil, fmt.Errorf("impersonation: start session: %w", err)
	}
	started := sessionEvent(store.EventSessionStarted, &sess, store.OutcomeGranted, "")
	started.Expires = sess.Expires
	if err := s.record(ctx, started); err != nil {
		_ = ss.store.DeleteSession(ctx, loginSession)
		return nil, err
	}
	return &sess, nil
}

// Active is the hook an authorize endpoint calls for a signed-in user:
// is this login session impersonating, and whom? It returns nil, nil when
// it is not. The policy is checked again on every call (the impersonator
// must still hold the role for the session's client, the user must still
// be impersonable): when it no longer allows the impersonation, or the
// session has ended elsewhere, the session ends (with an audit event
// saying why) and the login falls back to the impersonator's own. A
// requestedSubject other than the session's subject (a new impersonation
// inside this one) is refused with ErrOtherSubject; empty means any.
func (ss *Sessions) Active(ctx context.Context, loginSession, requestedSubject string) (*store.ImpersonationSession, error) {
	if ss == nil {
		return nil, nil // without sessions no login session impersonates
	}
	sess, _, err := ss.active(ctx, loginSession, requestedSubject)
	return sess, err
}

// active is Active, also returning the policy decision for the session's
// own client that it just made (nil with no session), so that a sign-in
// through that same client need not decide again (ss.gateAfter).
func (ss *Sessions) active(ctx context.Context, loginSession, requestedSubject string) (*store.ImpersonationSession, *Decision, error) {
	s := ss.svc
	sess, err := ss.store.SessionFor(ctx, loginSession)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("impersonation: session: %w", err)
	}
	revoked, err := s.revocation.Revoked(ctx, accesstoken.SessionRevocationKey(sess.ID))
	if err != nil {
		return nil, nil, fmt.Errorf("impersonation: session: %w", err)
	}
	if revoked {
		// Ended elsewhere: one of its tokens, or the exchanged token that
		// started it, was revoked.
		if err := ss.store.DeleteSession(ctx, loginSession); err != nil {
			return nil, nil, fmt.Errorf("impersonation: session: %w", err)
		}
		_ = s.record(ctx, sessionEvent(store.EventImpersonationEnded, sess, store.OutcomeGranted,
			"revoked: a token of the session, or the one that started it, was revoked"))
		return nil, nil, nil
	}
	d, err := s.Decide(ctx, sess.ClientID, sess.Impersonator, sess.Subject)
	if err != nil {
		var denied *DeniedError
		if !errors.As(err, &denied) {
			return nil, nil, err
		}
		if err := ss.end(ctx, sess, "policy: "+string(denied.Reason)); err != nil {
			return nil, nil, err
		}
		return nil, nil, nil
	}
	if requestedSubject != "" && requestedSubject != sess.Subject {
		return sess, d, ErrOtherSubject
	}
	return sess, d, nil
}

// End ends the impersonation session of loginSession: every token
// issued under it, and the access token that started it, are revoked and
// an audit event records reason. The host calls it for an explicit "End
// impersonation" and on the impersonator's logout. No session is no error.
func (ss *Sessions) End(ctx context.Context, loginSession, reason string) error {
	if ss == nil {
		return nil
	}
	sess, err := ss.store.SessionFor(ctx, loginSession)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("impersonation: end session: %w", err)
	}
	return ss.end(ctx, sess, reason)
}

func (ss *Sessions) end(ctx context.Context, sess *store.ImpersonationSession, reason string) error {
	s := ss.svc
	// Tokens issued under the session expire with it at the latest.
	hold := sess.Expires.Add(claims.MaxSkew)
	if start := sess.StartTokenExpiry.Add(claims.MaxSkew); start.After(hold) {
		hold = start
	}
	// One key: the starting token's jti, which is the session's ID.
	if err := s.revocation.Revoke(ctx, accesstoken.SessionRevocationKey(sess.ID), hold); err != nil {
		return fmt.Errorf("impersonation: end session: %w", err)
	}
	if sess.LoginSession != "" {
		if err := ss.store.DeleteSession(ctx, sess.LoginSession); err != nil {
			return fmt.Errorf("impersonation: end session: %w", err)
		}
	}
	return s.record(ctx, sessionEvent(store.EventImpersonationEnded, sess, store.OutcomeGranted, reason))
}

func sessionEvent(typ store.EventType, sess *store.ImpersonationSession, outcome, reason string) store.Event {
	return store.Event{
		Type: typ, ClientID: sess.ClientID, Impersonator: sess.Impersonator, Subject: sess.Subject,
		Org: sess.Org, JTI: sess.ID, Outcome: outcome, Reason: reason, Justification: sess.Reason,
	}
}

// Tokens are what a sign-in or a refresh issues.
type Tokens struct {
	IDToken      string
	AccessToken  string
	RefreshToken string
	ExpiresIn    int64
	Scope        claims.Scope
	// Session is the impersonation session the tokens were issued under;
	// nil for the user's own tokens.
	Session *store.ImpersonationSession
}

// Response returns t as a token endpoint response (with id_token).
func (t *Tokens) Response() *tokenexchange.Response {
	return &tokenexchange.Response{
		AccessToken:     t.AccessToken,
		IssuedTokenType: tokenexchange.TokenTypeAccessToken,
		TokenType:       tokenexchange.BearerTokenType,
		ExpiresIn:       t.ExpiresIn,
		Scope:           t.Scope,
		RefreshToken:    t.RefreshToken,
		IDToken:         t.IDToken,
	}
}

// SignIn describes an authorization-code sign-in, after the host has
// checked the code, the redirect URI and PKCE.
type SignIn struct {
	// LoginSession is the host's login session the code was issued in.
	LoginSession string
	// User is the signed-in user (the impersonator, under impersonation).
	User string
	// ClientID is the client redeeming the code.
	ClientID string
	// Scope is the scope of the authorization request.
	Scope claims.Scope
	// Nonce of the authorization request, for the ID token.
	Nonce string
	// AuthTime is when User authenticated.
	AuthTime time.Time
}

// SignIn is the authorize hook of an ordinary sign-in (the
// authorization-code flow, or any other way a host issues a user's tokens)
// of client clientID through loginSession. It answers:
//
//   - nil, nil: the login session is not impersonating (or its
//     impersonation just ended, see [Sessions.Active]): the sign-in is the
//     user's own.
//   - the session, nil: the whole policy passes for clientID (the client is
//     enabled and has impersonation on, the impersonator holds the
//     impersonation role for it, the subject is impersonable): the
//     sign-in is for the session's subject, with act naming the
//     impersonator.
//   - the session and a *[DeniedError] (errors.Is [ErrNotPermitted]): the
//     policy refuses the impersonation for clientID. The refusal is
//     recorded (an impersonation.denied event naming clientID and the
//     rule); the host must refuse the sign-in (access_denied to the
//     client's redirect URI) and must not fall back to the impersonator's
//     own tokens: they believe they act as the user. The session itself
//     stays, for the clients that allow it.
//   - nil and another error: a store failure; refuse the sign-in.
//
// The policy is checked for the client that receives the tokens, not only
// for the client the impersonation started through: a role for one
// application never becomes the user's rights in another.
// [Sessions.Issue] and [Sessions.Refresh] apply the same gate again.
func (ss *Sessions) SignIn(ctx context.Context, loginSession, clientID string) (*store.ImpersonationSession, error) {
	if ss == nil {
		return nil, nil
	}
	s := ss.svc
	sess, own, err := ss.active(ctx, loginSession, "")
	if err != nil || sess == nil {
		return nil, err
	}
	c, err := s.stores.Clients.Client(ctx, clientID)
	if err != nil {
		err = notFoundAs(err, ReasonUnknownClient)
		var denied *DeniedError
		if !errors.As(err, &denied) {
			return nil, err
		}
		ss.recordDenial(ctx, untrusted(clientID), sess, gateSignIn, denied)
		return sess, err
	}
	if _, err := ss.gateAfter(ctx, c, sess, own, gateSignIn); err != nil {
		var denied *DeniedError
		if errors.As(err, &denied) {
			return sess, err
		}
		return nil, err
	}
	return sess, nil
}

// What a session gate refusal was refusing, in its audit reason.
const (
	gateSignIn  = "session sign-in"
	gateRefresh = "session refresh"
)

// sessionGate is the policy gate for tokens issued under sess to client c:
// the whole policy for c, the client that receives them. A refusal is
// recorded as an impersonation.denied event naming c and the rule, and
// returned as the *DeniedError. Every path that issues tokens under an
// impersonation session passes here: [Service.issue] takes the Decision
// it returns.
func (ss *Sessions) gate(ctx context.Context, c *store.Client, sess *store.ImpersonationSession, what string) (*Decision, error) {
	s := ss.svc
	d, err := s.decide(ctx, c, sess.Impersonator, sess.Subject)
	if err == nil && sess.Reason == "" && s.reasonRequired(c) {
		// The receiving client requires a reason the session never had.
		d, err = nil, deny(ReasonMissingReason)
	}
	var denied *DeniedError
	if errors.As(err, &denied) {
		ss.recordDenial(ctx, c.ID, sess, what, denied)
	}
	return d, err
}

// gateAfter is gate for c, given own, the decision active just made for
// the session's own client: when c is that client, the same decision
// serves, and the policy is not decided twice for one sign-in.
func (ss *Sessions) gateAfter(ctx context.Context, c *store.Client, sess *store.ImpersonationSession, own *Decision, what string) (*Decision, error) {
	if own != nil && own.Client.ID == c.ID {
		return own, nil
	}
	d, err := ss.gate(ctx, c, sess, what)
	if err == nil && d.Grant == nil && own != nil && own.Grant != nil {
		// The session relies on the grant its own client required: the
		// tokens it issues to any client name that grant and end with it,
		// so that revoking it revokes them all.
		d.Grant = own.Grant
	}
	return d, err
}

// recordDenial records a session gate refusal; the request is
// refused whether or not this is recorded.
func (ss *Sessions) recordDenial(ctx context.Context, clientID string, sess *store.ImpersonationSession, what string, denied *DeniedError) {
	s := ss.svc
	ev := sessionEvent(store.EventImpersonationDenied, sess, store.OutcomeDenied, what+": policy: "+string(denied.Reason))
	ev.ClientID = clientID
	_ = s.record(ctx, ev)
}

// Issue issues the tokens of an authorization-code sign-in. When the
// login session is an impersonation session, they are for the impersonated
// user, and only when the policy allows the impersonation for the client
// that signs in (as [Sessions.SignIn] decides): sub is that user,
// act.sub the impersonator, isid the session, scope what the user holds for
// this client (and the client may ask for), and they expire with the
// session. When the policy refuses it for this client, Issue returns
// the *[DeniedError] (recorded) and issues nothing, not even the
// impersonator's own tokens. Without an impersonation session they are the
// signed-in user's own. A refresh token comes only for clients that enable
// RefreshTokens.
func (ss *Sessions) Issue(ctx context.Context, in SignIn) (*Tokens, error) {
	if ss == nil {
		return nil, errSessionsOff
	}
	s := ss.svc
	c, err := s.stores.Clients.Client(ctx, in.ClientID)
	if err != nil {
		return nil, fmt.Errorf("impersonation: issue tokens: %w", err)
	}
	if c.Disabled {
		return nil, deny(ReasonClientDisabled)
	}
	sess, own, err := ss.active(ctx, in.LoginSession, "")
	if err != nil {
		return nil, err
	}
	if sess != nil && sess.Expires.Sub(s.now()) < time.Second {
		// Less than the one-second resolution of exp is left: the session
		// is over, and the sign-in is the user's own.
		if err := ss.end(ctx, sess, "expired"); err != nil {
			return nil, err
		}
		sess = nil
	}
	if sess == nil {
		return ss.issue(ctx, c, nil, nil, in.User, in.Scope, in.Nonce, in.AuthTime)
	}
	d, err := ss.gateAfter(ctx, c, sess, own, gateSignIn)
	if err != nil {
		return nil, err
	}
	return ss.issue(ctx, c, d, sess, in.User, in.Scope, in.Nonce, in.AuthTime)
}

// errNoDecision: tokens under an impersonation session were about to be
// issued without the policy gate's decision for their client. It is a
// programming error, never a client's.
var errNoDecision = errors.New("impersonation: session tokens need the policy decision for their client")

// issue mints the tokens of a sign-in or a refresh for client c. Under an
// impersonation session (sess not nil) d must be the decision of
// [Service.sessionGate] for c and sess: the tokens are for d.Subject with
// act d.Impersonator; user is then ignored. Without one they are user's
// own.
func (ss *Sessions) issue(ctx context.Context, c *store.Client, d *Decision, sess *store.ImpersonationSession, user string, requested claims.Scope, nonce string, authTime time.Time) (*Tokens, error) {
	s := ss.svc
	if err := s.caps.Check(c); err != nil {
		return nil, err
	}
	var (
		u   *store.User
		org *store.Organization
		act *claims.Actor
		imp *store.User
		err error
	)
	if sess != nil {
		if d == nil || d.Client.ID != c.ID || d.Subject.ID != sess.Subject || d.Impersonator.ID != sess.Impersonator {
			return nil, errNoDecision
		}
		u, org, imp = d.Subject, d.Org, d.Impersonator
		act = &claims.Actor{Subject: d.Impersonator.ID}
	} else {
		if u, err = s.stores.Users.User(ctx, user); err != nil {
			return nil, notFoundAs(err, ReasonUnknownSubject)
		}
		if u.Disabled {
			return nil, deny(ReasonSubjectDisabled)
		}
		if org, err = s.orgOf(ctx, u); err != nil {
			return nil, err
		}
	}
	var grants []string
	if d != nil {
		grants, err = s.grantsOf(ctx, d)
	} else {
		grants, err = s.stores.Grants.GrantedScopes(ctx, c.ID, u.ID)
	}
	if err != nil {
		return nil, err
	}
	scope, err := s.scopeRule(ctx, ScopeInput{Client: c, Impersonator: imp, Subject: u, Requested: requested, SubjectGrants: grants})
	if err != nil {
		return nil, err
	}
	ap := accessParams{client: c, subject: u.ID, aud: claims.Audience{c.ID}, scope: scope, act: act, org: org, session: sess, decision: d}
	if sess != nil {
		ap.reason = sess.Reason
	}
	tok, at, ttl, err := s.mintAccessToken(ctx, ap)
	if err != nil {
		return nil, err
	}
	if ttl <= 0 {
		return nil, ErrSessionEnded
	}
	t := &Tokens{AccessToken: tok, ExpiresIn: int64(ttl / time.Second), Scope: scope, Session: sess}
	if scope.Contains("openid") {
		idp := authorizetoken.IDTokenParams{
			Subject: u.ID, ClientID: c.ID, Nonce: nonce, AuthTime: authTime, TTL: min(s.idTTL, ttl), Act: act,
		}
		if sess != nil {
			idp.SessionID = sess.ID
		}
		if t.IDToken, _, err = s.tokens.MintIDToken(ctx, idp); err != nil {
			return nil, err
		}
	}
	if c.RefreshTokens {
		if t.RefreshToken, _, err = ss.mintRefreshToken(ctx, c, "", u.ID, act, sess, scope, authTime); err != nil {
			return nil, err
		}
	}
	if err := s.grantStillLive(ctx, d); err != nil {
		return nil, err
	}
	if sess == nil {
		return t, nil // a user's own sign-in is no impersonation event
	}
	ev := store.Event{
		Type: store.EventSessionTokens, ClientID: c.ID, Subject: u.ID, JTI: at.ID, Scopes: scope,
		Outcome: store.OutcomeGranted, Impersonator: sess.Impersonator, Justification: sess.Reason, Parent: sess.ID,
	}
	if org != nil {
		ev.Org = org.ID
	}
	// Tokens under impersonation are always recorded; nothing is issued
	// that was not.
	if err := s.record(ctx, ev); err != nil {
		return nil, err
	}
	return t, nil
}

// mintRefreshToken signs a refresh token for client c; jti is its ID,
// empty for a fresh random one.
func (ss *Sessions) mintRefreshToken(ctx context.Context, c *store.Client, jti, subject string, act *claims.Actor, sess *store.ImpersonationSession, scope claims.Scope, authTime time.Time) (string, *refreshtoken.Claims, error) {
	s := ss.svc
	now := s.now()
	exp := now.Add(ss.refreshTTL)
	if jti == "" {
		jti = jose.NewID()
	}
	rc := refreshtoken.Claims{
		Registered: claims.Registered{
			Issuer: s.issuer, Subject: subject, Audience: claims.Audience{s.issuer},
			IssuedAt: claims.NewNumericDate(now), Expiry: claims.NewNumericDate(exp), ID: jti,
		},
		ClientID: c.ID, Scope: scope, Act: act,
	}
	if sess != nil {
		// Never outlives the impersonation session.
		if sess.Expires.Before(exp) {
			rc.Expiry = claims.NewNumericDate(sess.Expires)
		}
		rc.SessionID = sess.ID
		rc.Session = &refreshtoken.Session{
			ClientID: sess.ClientID, Org: sess.Org, Expires: claims.NewNumericDate(sess.Expires), Reason: sess.Reason,
		}
	}
	if !authTime.IsZero() {
		rc.AuthTime = claims.NewNumericDate(authTime)
	}
	key, err := s.stores.Keys.SigningKey(ctx)
	if err != nil {
		return "", nil, err
	}
	tok, err := refreshtoken.Mint(key, &rc)
	if err != nil {
		return "", nil, err
	}
	return tok, &rc, nil
}

// exchangeRefreshToken issues a refresh token as the issued token of an
// exchange (requested_token_type refresh_token; RFC 8693 §2.2.1: token_type
// N_A). The impersonation it carries is a session that no login session
// holds: it lasts SessionConfig.MaxDuration, every token refreshed from it
// carries its ID in isid and passes the policy gate again for the client
// that receives it, and revoking any of them ends it. The session's ID is
// the refresh token's jti, as a session started by [Sessions.Start] has
// the exchanged access token's, so that the exchange's audit event and the
// session's name the same impersonation. The session's start is recorded;
// ev gets the refresh token's jti and expiry.
func (ss *Sessions) exchangeRefreshToken(ctx context.Context, x exchanged, ev *store.Event) (*tokenexchange.Response, error) {
	s := ss.svc
	now := s.now().UTC()
	sess := &store.ImpersonationSession{
		ID:           jose.NewID(),
		Impersonator: x.decision.Impersonator.ID,
		Subject:      x.decision.Subject.ID,
		ClientID:     x.client.ID,
		Org:          orgID(x.decision.Org),
		Reason:       x.reason,
		Started:      now,
	}
	// Under a subject grant, no longer than the grant.
	life, err := s.untilGrant(x.decision, ss.maxDuration)
	if err != nil {
		return nil, err
	}
	sess.Expires = now.Add(life)
	rt, rc, err := ss.mintRefreshToken(ctx, x.client, sess.ID, sess.Subject, &claims.Actor{Subject: sess.Impersonator}, sess, x.scope, x.authTime)
	if err != nil {
		return nil, err
	}
	started := sessionEvent(store.EventSessionStarted, sess, store.OutcomeGranted, "token exchange: refresh token")
	started.Expires = sess.Expires
	if err := s.record(ctx, started); err != nil {
		return nil, err
	}
	ev.JTI, ev.Expires = rc.ID, rc.Expiry.Time().UTC()
	return issuedAlone(rt, tokenexchange.TokenTypeRefreshToken, rc.Expiry.Time().Sub(now), x.scope), nil
}

// Refresh redeems a refresh token of client (used once: a new refresh
// token comes with the new tokens). Under impersonation the new tokens
// keep act and isid, and a refresh after the session ended (explicitly,
// by expiry or because the policy no longer allows it) is refused. Errors
// are *tokenexchange.Error values (invalid_grant for a bad, used, expired
// or foreign refresh token), mapped in one place, refreshWire.
func (ss *Sessions) Refresh(ctx context.Context, client tokenexchange.Client, refreshToken string, requested claims.Scope) (*Tokens, error) {
	if ss == nil {
		return nil, tokenexchange.ErrUnsupportedGrantType.WithCause(errSessionsOff)
	}
	t, err := ss.refresh(ctx, client, refreshToken, requested)
	if err != nil {
		return nil, refreshWire(err)
	}
	return t, nil
}

// The refusals of a refresh, which refreshWire maps to the wire; any
// other error is a server-side failure.
var (
	errRefreshInvalid = errors.New("the refresh token is invalid, expired or used")
	errRefreshScope   = errors.New("scope exceeds the refresh token's scope")
	errRefreshClient  = errors.New("the client may not use refresh tokens")
)

// invalidRefresh is errRefreshInvalid because of cause.
func invalidRefresh(cause error) error { return fmt.Errorf("%w: %w", errRefreshInvalid, cause) }

// refreshWire is the one mapping of refresh refusals to RFC 6749 §5.2.
func refreshWire(err error) error {
	switch {
	case errors.Is(err, errRefreshInvalid):
		return tokenexchange.ErrInvalidGrant.WithDescription(errRefreshInvalid.Error()).WithCause(err)
	case errors.Is(err, errRefreshScope):
		return tokenexchange.ErrInvalidScope.WithDescription(errRefreshScope.Error())
	case errors.Is(err, errRefreshClient):
		return tokenexchange.ErrUnauthorizedClient.WithDescription(errRefreshClient.Error())
	case errors.Is(err, ErrConfiguration):
		return tokenexchange.ErrServerError.WithCause(err)
	}
	return tokenexchange.ErrTemporarilyUnavailable.WithCause(err)
}

// refresh is Refresh with domain errors.
func (ss *Sessions) refresh(ctx context.Context, client tokenexchange.Client, refreshToken string, requested claims.Scope) (*Tokens, error) {
	s := ss.svc
	rc, err := s.parseRefresh(ctx, refreshToken)
	switch {
	case err != nil:
		return nil, invalidRefresh(err)
	case rc.ClientID != client.ID:
		return nil, invalidRefresh(errors.New("refresh token of another client"))
	case len(requested) > 0 && !requested.SubsetOf(rc.Scope):
		return nil, errRefreshScope
	}
	c, err := s.stores.Clients.Client(ctx, client.ID)
	if err != nil || c.Disabled || !c.RefreshTokens {
		return nil, errRefreshClient
	}
	var (
		sess *store.ImpersonationSession
		d    *Decision
	)
	if rc.SessionID == "" && rc.Act != nil {
		// This issuer puts act into refresh tokens only under a session.
		return nil, invalidRefresh(errors.New("refresh token with act but no impersonation session"))
	}
	if rc.SessionID != "" {
		if rc.Act == nil || rc.Session == nil {
			return nil, invalidRefresh(errors.New("refresh token of a session without act or session"))
		}
		sess = &store.ImpersonationSession{
			ID: rc.SessionID, Impersonator: rc.Act.Subject, Subject: rc.Subject, ClientID: rc.Session.ClientID,
			Org: rc.Session.Org, Reason: rc.Session.Reason, Expires: rc.Session.Expires.Time(),
		}
		if !s.now().Before(sess.Expires) {
			return nil, invalidRefresh(ErrSessionEnded)
		}
		revoked, err := s.revocation.Revoked(ctx, accesstoken.SessionRevocationKey(rc.SessionID))
		if err != nil {
			return nil, err
		}
		if revoked {
			return nil, invalidRefresh(ErrSessionEnded)
		}
		// The policy holds for every token issued under the session, as
		// at every sign-in through it.
		own, err := s.Decide(ctx, sess.ClientID, sess.Impersonator, sess.Subject)
		if err != nil {
			var denied *DeniedError
			if !errors.As(err, &denied) {
				return nil, err
			}
			if err := ss.end(ctx, sess, "policy: "+string(denied.Reason)); err != nil {
				return nil, err
			}
			return nil, invalidRefresh(err)
		}
		// And the gate for the client that receives the new tokens, before
		// the refresh token is used up.
		if d, err = ss.gateAfter(ctx, c, sess, own, gateRefresh); err != nil {
			var denied *DeniedError
			if errors.As(err, &denied) {
				return nil, invalidRefresh(err)
			}
			return nil, err
		}
	}
	if err := s.stores.OneTimeUse.Use(ctx, "refresh:"+rc.ID, rc.Expiry.Time().Add(s.skew+holdMargin)); err != nil {
		if errors.Is(err, store.ErrAlreadyUsed) {
			return nil, invalidRefresh(err)
		}
		return nil, err
	}
	scope := rc.Scope
	if len(requested) > 0 {
		scope = requested
	}
	t, err := ss.issue(ctx, c, d, sess, rc.Subject, scope, "", rc.AuthTime.Time())
	if err != nil {
		var denied *DeniedError
		if errors.As(err, &denied) || errors.Is(err, ErrSessionEnded) {
			return nil, invalidRefresh(err)
		}
		return nil, err
	}
	return t, nil
}

// parseRefresh verifies a refresh token of this issuer.
func (s *Service) parseRefresh(ctx context.Context, token string) (*refreshtoken.Claims, error) {
	return refreshtoken.Verify(ctx, token, s.stores.Keys, refreshtoken.Expect{Issuer: s.issuer, Now: s.now(), Skew: s.skew, Algs: s.algs})
}

// revokeRefreshToken consumes a refresh token of client (RFC 7009 §2.1:
// refresh tokens must be revocable); one of an impersonation session ends
// the session with every token issued under it.
func (s *Service) revokeRefreshToken(ctx context.Context, client tokenexchange.Client, rc *refreshtoken.Claims) error {
	if rc.ClientID != client.ID {
		return errNotTheClients
	}
	switch err := s.stores.OneTimeUse.Use(ctx, "refresh:"+rc.ID, rc.Expiry.Time().Add(s.skew+holdMargin)); {
	case errors.Is(err, store.ErrAlreadyUsed):
		return nil
	case err != nil:
		return err
	}
	ev := store.Event{Type: store.EventTokenRevoked, ClientID: client.ID, Subject: rc.Subject, JTI: rc.ID, Scopes: rc.Scope, Outcome: store.OutcomeGranted}
	if rc.SessionID != "" && rc.Act != nil && rc.Session != nil && s.sessions != nil {
		ended, err := s.revocation.Revoked(ctx, accesstoken.SessionRevocationKey(rc.SessionID))
		if err != nil {
			return err
		}
		if !ended {
			sess := &store.ImpersonationSession{
				ID: rc.SessionID, Impersonator: rc.Act.Subject, Subject: rc.Subject, ClientID: rc.Session.ClientID,
				Org: rc.Session.Org, Reason: rc.Session.Reason, Expires: rc.Session.Expires.Time(),
			}
			return s.sessions.end(ctx, sess, "a refresh token of the session was revoked")
		}
		// The session has ended already, and its end is recorded (a
		// client revoking its tokens after the impersonator's logout):
		// this is only the refresh token's revocation.
		ev.Impersonator, ev.Org, ev.Parent = rc.Act.Subject, rc.Session.Org, rc.SessionID
	}
	if err := s.record(ctx, ev); err != nil {
		return err
	}
	return nil
}

// Grant implements tokenexchange.GrantHandler for the refresh_token grant
// (RFC 6749 §6), for mounting on the token endpoint with
// tokenexchange.WithGrant(tokenexchange.GrantTypeRefreshToken, svc.Sessions()).
func (ss *Sessions) Grant(ctx context.Context, client tokenexchange.Client, req *tokenexchange.GrantRequest) (*tokenexchange.Response, error) {
	if ss == nil {
		return nil, tokenexchange.ErrUnsupportedGrantType.WithCause(errSessionsOff)
	}
	if req.RefreshToken == "" {
		return nil, tokenexchange.ErrInvalidRequest.WithDescription("refresh_token is required")
	}
	t, err := ss.Refresh(ctx, client, req.RefreshToken, req.Scope)
	if err != nil {
		return nil, err
	}
	return t.Response(), nil
}
