package impersonation

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/actas/actas/claims"
	"github.com/actas/actas/internal/accesstoken"
	"github.com/actas/actas/internal/authorizetoken"
	"github.com/actas/actas/internal/jose"
	"github.com/actas/actas/store"
	"github.com/actas/actas/tokenexchange"
)

// exchangeRefusal is an exchange the Service refused or could not carry
// out: the wire error for the client, the reason for the audit log, and
// for a server-side failure its cause. exchangeFailed records it; the
// endpoints' refusal recorder therefore skips it.
type exchangeRefusal struct {
	wire   *tokenexchange.Error
	reason string
	replay bool
	cause  error
}

func (r *exchangeRefusal) Error() string { return r.reason }
func (r *exchangeRefusal) Unwrap() error { return r.cause }

func refuse(wire *tokenexchange.Error, reason string) error {
	return &exchangeRefusal{wire: wire, reason: reason}
}

// Fixed descriptions: the client learns which parameter was unacceptable,
// never why in detail (that is in the audit event).
var (
	errBadSubjectToken = tokenexchange.ErrInvalidRequest.WithDescription("subject_token is invalid or unacceptable")
	errBadActorToken   = tokenexchange.ErrInvalidRequest.WithDescription("actor_token is invalid or unacceptable")
)

// Exchange implements tokenexchange.Exchanger: it turns a subject token
// and the impersonator's ID token (the actor token) into an impersonated
// access token for client and, with openid granted, the impersonated
// user's ID token beside it (sub the user, act the impersonator, auth_time
// the impersonator's authentication, the user's org_id and org_name).
//
// requested_token_type (RFC 8693 §2.1, §3) picks the issued token: none or
// access_token, the access token; jwt, the same, answered as
// issued_token_type jwt; id_token, the user's ID token alone (token_type
// N_A; openid must be granted); refresh_token, a refresh token (token_type
// N_A) for a client with RefreshTokens on a Service with sessions, which
// starts an impersonation session of its own (see WithSessions) whose every
// refresh passes the policy again. Anything else is invalid_request.
//
// The reason the impersonator gave at the authorize step (the subject
// token's impersonation_reason) is on the audit event and, with
// ReasonPolicy.Claim, in the access token; a client or service that
// requires a reason refuses a subject token without one.
//
// Checks, in order: the request's token types; the client is enabled, may
// use the token-exchange grant and has impersonation on; the subject token
// (signature, typ, iss, aud/azp/client_id equal to the client, times, jti,
// may_act); the actor token (an ID token of this issuer for this client
// whose sub is may_act.sub); the policy again (a role removed since the
// authorize step takes effect); the requested scope, audience and resource;
// and last the one-time use of the subject token's jti, so that a refused
// attempt cannot burn a token.
//
// Errors are *tokenexchange.Error values following RFC 8693 §2.2.2: an
// unacceptable token is invalid_request; the reason goes to the audit log.
func (s *Service) Exchange(ctx context.Context, client tokenexchange.Client, req *tokenexchange.Request) (*tokenexchange.Response, error) {
	ev := store.Event{
		Type:     store.EventTokenExchangeDenied,
		ClientID: client.ID,
		Outcome:  store.OutcomeDenied,
	}
	resp, err := s.exchange(ctx, client, req, &ev)
	if err != nil {
		return nil, s.exchangeFailed(ctx, ev, err)
	}
	return resp, nil
}

func (s *Service) exchange(ctx context.Context, client tokenexchange.Client, req *tokenexchange.Request, ev *store.Event) (*tokenexchange.Response, error) {
	switch {
	case req.SubjectTokenType != tokenexchange.TokenTypeJWT:
		return nil, refuse(tokenexchange.ErrInvalidRequest.WithDescription("subject_token_type must be "+tokenexchange.TokenTypeJWT), "subject_token_type unsupported")
	case req.ActorToken == "":
		return nil, refuse(tokenexchange.ErrInvalidRequest.WithDescription("actor_token is required for impersonation"), "actor_token missing")
	case req.ActorTokenType != tokenexchange.TokenTypeIDToken:
		return nil, refuse(tokenexchange.ErrInvalidRequest.WithDescription("actor_token_type must be "+tokenexchange.TokenTypeIDToken), "actor_token_type unsupported")
	case !requestable(req.RequestedTokenType):
		return nil, refuse(tokenexchange.ErrInvalidRequest.WithDescription("requested_token_type is not supported"), "requested_token_type unsupported")
	}
	c, err := s.stores.Clients.Client(ctx, client.ID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, refuse(tokenexchange.ErrInvalidClient, "client unknown")
		}
		return nil, err
	}
	switch {
	case c.Disabled:
		return nil, refuse(tokenexchange.ErrUnauthorizedClient, string(ReasonClientDisabled))
	case !slices.Contains(c.GrantTypes, tokenexchange.GrantType):
		return nil, refuse(tokenexchange.ErrUnauthorizedClient.WithDescription("the client may not use this grant type"), "grant type not allowed for client")
	case !c.Impersonation:
		return nil, refuse(tokenexchange.ErrUnauthorizedClient.WithDescription("impersonation is not enabled for the client"), string(ReasonImpersonationDisabled))
	case !apiAuthorized(c):
		return nil, refuse(tokenexchange.ErrUnauthorizedClient.WithDescription("the client is not authorized for user impersonation"), string(ReasonClientNotAuthorized))
	}
	if err := s.caps.Check(c); err != nil {
		return nil, err
	}
	switch {
	case req.RequestedTokenType == tokenexchange.TokenTypeRefreshToken && s.sessions == nil:
		return nil, refuse(tokenexchange.ErrInvalidRequest.WithDescription("this server issues no refresh tokens for an impersonation (it runs no impersonation sessions)"), "requested_token_type refresh_token: sessions are off")
	case req.RequestedTokenType == tokenexchange.TokenTypeRefreshToken && !c.RefreshTokens:
		return nil, refuse(tokenexchange.ErrInvalidRequest.WithDescription("the client does not receive refresh tokens"), "requested_token_type refresh_token: the client does not receive refresh tokens")
	}

	sub, err := s.tokens.Verify(ctx, req.SubjectToken, c.ID)
	if err != nil {
		return nil, refuse(errBadSubjectToken, "subject token: "+err.Error())
	}
	ev.Subject, ev.Impersonator, ev.JTI, ev.Scopes, ev.Justification = sub.Subject, sub.MayAct.Subject, sub.ID, sub.Scope, sub.Reason
	if sub.Reason == "" && s.reasonRequired(c) {
		// Minted before the requirement was switched on.
		return nil, refuse(tokenexchange.ErrInvalidRequest.WithDescription("the impersonation needs a reason: start it again with impersonation_reason"), string(ReasonMissingReason))
	}
	if req.RequestedTokenType == tokenexchange.TokenTypeRefreshToken && sub.Act != nil {
		// Refreshed tokens name one actor: a delegated chain would be lost.
		return nil, refuse(tokenexchange.ErrInvalidRequest.WithDescription("no refresh token for a subject token that already carries act"), "requested_token_type refresh_token: the subject token carries act")
	}

	actor, err := s.tokens.VerifyIDToken(ctx, req.ActorToken, c.ID)
	if err != nil {
		return nil, refuse(errBadActorToken, "actor token: "+err.Error())
	}
	if actor.Act != nil {
		// An ID token issued under an impersonation session speaks for the
		// impersonated user; it never makes anyone an impersonator.
		return nil, refuse(errBadActorToken, "actor token: issued under impersonation (act)")
	}
	if actor.Subject != sub.MayAct.Subject {
		return nil, refuse(errBadActorToken, "actor token: sub is not may_act.sub")
	}
	if s.actorMaxAge > 0 && s.now().Sub(actor.IssuedAt.Time()) > s.actorMaxAge+s.skew {
		return nil, refuse(errBadActorToken, "actor token: issued more than "+s.actorMaxAge.String()+" ago")
	}
	if sub.MayAct.Issuer != "" && actor.Issuer != sub.MayAct.Issuer {
		return nil, refuse(errBadActorToken, "actor token: iss is not may_act.iss")
	}

	d, err := s.decide(ctx, c, actor.Subject, sub.Subject)
	if err != nil {
		return nil, err
	}
	ev.Org = orgID(d.Org)

	scope, err := s.narrowScope(ctx, d, sub.Scope, req.Scope)
	if err != nil {
		return nil, err
	}
	aud, err := audiences(c, req)
	if err != nil {
		return nil, err
	}
	if req.RequestedTokenType == tokenexchange.TokenTypeIDToken && !scope.Contains("openid") {
		return nil, refuse(tokenexchange.ErrInvalidRequest.WithDescription("requested_token_type id_token needs the openid scope"), "requested_token_type id_token without openid")
	}

	// Last: consume the subject token. It is held past the longest time
	// Verify could still accept it (see holdUntil).
	if err := s.stores.OneTimeUse.Use(ctx, sub.ID, s.holdUntil(sub.Expiry)); err != nil {
		if errors.Is(err, store.ErrAlreadyUsed) {
			return nil, &exchangeRefusal{wire: errBadSubjectToken, reason: "subject token already used", replay: true}
		}
		return nil, err
	}

	x := exchanged{
		client: c, decision: d, scope: scope, aud: aud, reason: sub.Reason,
		// Verify capped the subject token's chain at maxDepth-1, so the
		// new chain is at most maxDepth deep.
		act:      &claims.Actor{Subject: d.Impersonator.ID, Act: sub.Act},
		authTime: actor.AuthTime.Time(),
	}
	var resp *tokenexchange.Response
	switch req.RequestedTokenType {
	case tokenexchange.TokenTypeIDToken:
		resp, err = s.exchangeIDToken(ctx, x, ev)
	case tokenexchange.TokenTypeRefreshToken:
		resp, err = s.sessions.exchangeRefreshToken(ctx, x, ev)
	default:
		resp, err = s.exchangeAccessToken(ctx, x, ev, req.RequestedTokenType)
	}
	if err != nil {
		return nil, err // a denial: the subject grant ran out before minting
	}
	if err := s.grantStillLive(ctx, d); err != nil {
		return nil, err
	}
	ev.Type, ev.Outcome, ev.Scopes, ev.Time = store.EventTokenExchanged, store.OutcomeGranted, scope, s.now().UTC()
	// The subject token this exchange consumed: the impersonation's start.
	ev.Parent = sub.ID
	if err := s.record(ctx, *ev); err != nil {
		// Nothing is issued that was not recorded.
		return nil, err
	}
	return resp, nil
}

// requestable reports whether the exchange serves requested_token_type
// rt (RFC 8693 §2.1, §3); empty means the access token.
func requestable(rt string) bool {
	switch rt {
	case "", tokenexchange.TokenTypeAccessToken, tokenexchange.TokenTypeJWT,
		tokenexchange.TokenTypeIDToken, tokenexchange.TokenTypeRefreshToken:
		return true
	}
	return false
}

// exchanged is a granted exchange, past every check and with the subject
// token consumed: what its tokens are minted from.
type exchanged struct {
	client   *store.Client
	decision *Decision
	scope    claims.Scope
	aud      claims.Audience
	act      *claims.Actor
	reason   string
	// authTime is when the impersonator authenticated (the actor token's
	// auth_time); zero when it did not say.
	authTime time.Time
}

// exchangeAccessToken mints the impersonated access token and, with
// openid granted, the impersonated user's ID token beside it. requested is
// the requested_token_type: jwt answers issued_token_type jwt (the access
// token is one), anything else access_token. ev gets the access token's
// jti and expiry.
func (s *Service) exchangeAccessToken(ctx context.Context, x exchanged, ev *store.Event, requested string) (*tokenexchange.Response, error) {
	tok, at, ttl, err := s.mintAccessToken(ctx, accessParams{
		client: x.client, subject: x.decision.Subject.ID, aud: x.aud, scope: x.scope,
		act: x.act, org: x.decision.Org, reason: x.reason, decision: x.decision,
	})
	if err != nil {
		return nil, err
	}
	ev.JTI, ev.Expires = at.ID, at.Expiry.Time().UTC()
	resp := &tokenexchange.Response{
		AccessToken:     tok,
		IssuedTokenType: tokenexchange.TokenTypeAccessToken,
		TokenType:       tokenexchange.BearerTokenType,
		ExpiresIn:       int64(ttl / time.Second),
		Scope:           x.scope,
	}
	if requested == tokenexchange.TokenTypeJWT {
		resp.IssuedTokenType = tokenexchange.TokenTypeJWT
	}
	if x.scope.Contains("openid") {
		if resp.IDToken, _, err = s.mintExchangedIDToken(ctx, x, min(s.idTTL, ttl)); err != nil {
			return nil, err
		}
	}
	return resp, nil
}

// exchangeIDToken issues the impersonated user's ID token as the issued
// token (RFC 8693 §2.2.1: token_type N_A, it is no access token). ev gets
// its jti and expiry.
func (s *Service) exchangeIDToken(ctx context.Context, x exchanged, ev *store.Event) (*tokenexchange.Response, error) {
	tok, c, err := s.mintExchangedIDToken(ctx, x, s.idTTL)
	if err != nil {
		return nil, err
	}
	ev.JTI, ev.Expires = c.ID, c.Expiry.Time().UTC()
	return issuedAlone(tok, tokenexchange.TokenTypeIDToken, c.Expiry.Time().Sub(c.IssuedAt.Time()), x.scope), nil
}

// issuedAlone is the response of an exchange whose issued token is no
// access token (RFC 8693 §2.2.1: token_type N_A) of type typ, living ttl.
func issuedAlone(tok, typ string, ttl time.Duration, scope claims.Scope) *tokenexchange.Response {
	return &tokenexchange.Response{
		AccessToken:     tok,
		IssuedTokenType: typ,
		TokenType:       tokenexchange.NotApplicableTokenType,
		ExpiresIn:       int64(ttl / time.Second),
		Scope:           scope,
	}
}

// mintExchangedIDToken signs the OpenID Connect ID token of the
// impersonated user for x's client: sub the user, act the impersonator,
// auth_time the impersonator's authentication, the user's org_id and
// org_name, no nonce (none was bound to the exchange), living ttl.
func (s *Service) mintExchangedIDToken(ctx context.Context, x exchanged, ttl time.Duration) (string, *authorizetoken.IDTokenClaims, error) {
	ttl, err := s.untilGrant(x.decision, ttl)
	if err != nil {
		return "", nil, err
	}
	return s.tokens.MintIDToken(ctx, authorizetoken.IDTokenParams{
		Subject:  x.decision.Subject.ID,
		ClientID: x.client.ID,
		AuthTime: x.authTime,
		Act:      x.act,
		Org:      x.decision.Org,
		TTL:      ttl,
	})
}

// accessParams describe an access token to mint.
type accessParams struct {
	client  *store.Client
	subject string
	aud     claims.Audience
	scope   claims.Scope
	act     *claims.Actor
	org     *store.Organization
	// session, when set, is the impersonation session the token is issued
	// under: its ID goes into isid and the token does not outlive it.
	session *store.ImpersonationSession
	// reason is the impersonator's stated reason, for the
	// impersonation_reason claim when ReasonPolicy.Claim is on.
	reason string
	// decision, when set, is the policy decision the token is issued
	// under: under a subject grant it carries sgid and ends with the grant.
	decision *Decision
}

// mintAccessToken signs an RFC 9068 access token for p and returns it, its
// claims and its lifetime.
func (s *Service) mintAccessToken(ctx context.Context, p accessParams) (string, *accesstoken.Claims, time.Duration, error) {
	// The client's lifetimes are within the caps: its exchange and its
	// sign-ins checked them (LifetimeCaps.Check) before anything else.
	ttl := p.client.AccessTokenTTL
	if ttl <= 0 {
		ttl = s.accessTTL
	}
	now := s.now()
	if p.session != nil {
		ttl = min(ttl, p.session.Expires.Sub(now).Truncate(time.Second))
	}
	ttl, err := s.untilGrant(p.decision, ttl)
	if err != nil {
		return "", nil, 0, err
	}
	at := &accesstoken.Claims{
		Registered: claims.Registered{
			Issuer:    s.issuer,
			Subject:   p.subject,
			Audience:  p.aud,
			IssuedAt:  claims.NewNumericDate(now),
			NotBefore: claims.NewNumericDate(now),
			Expiry:    claims.NewNumericDate(now.Add(ttl)),
			ID:        jose.NewID(),
		},
		AuthorizedParty:    p.client.ID,
		ClientID:           p.client.ID,
		Scope:              p.scope,
		Act:                p.act,
		AuthorizedUserType: accesstoken.AuthorizedUserType,
	}
	if p.org != nil {
		at.OrgID, at.OrgName = p.org.ID, p.org.Name
	}
	if p.session != nil {
		at.SessionID = p.session.ID
	}
	if s.reason.Claim {
		at.Reason = p.reason
	}
	if p.decision != nil && p.decision.Grant != nil {
		at.GrantID = p.decision.Grant.ID
	}
	key, err := s.stores.Keys.SigningKey(ctx)
	if err != nil {
		return "", nil, 0, err
	}
	tok, err := accesstoken.Mint(key, at)
	if err != nil {
		return "", nil, 0, err
	}
	return tok, at, ttl, nil
}

// narrowScope applies the requested scope, which must be a subset of the
// subject token's, and re-applies the scope rule so that grants removed
// since the authorize step are dropped.
func (s *Service) narrowScope(ctx context.Context, d *Decision, tokenScope, requested claims.Scope) (claims.Scope, error) {
	if len(requested) > 0 && !requested.SubsetOf(tokenScope) {
		return nil, refuse(tokenexchange.ErrInvalidScope.WithDescription("scope exceeds the subject token's scope"), "scope escalation")
	}
	want := tokenScope
	if len(requested) > 0 {
		want = requested
	}
	grants, err := s.grantsOf(ctx, d)
	if err != nil {
		return nil, err
	}
	return s.scopeRule(ctx, ScopeInput{
		Client: d.Client, Impersonator: d.Impersonator, Subject: d.Subject,
		Requested: want, SubjectGrants: grants,
	})
}

// audiences returns the access token's audiences: the requested audience
// and resource values, each of which must be the client itself or one of
// its registered audiences; the client when none is requested.
func audiences(c *store.Client, req *tokenexchange.Request) (claims.Audience, error) {
	if len(req.Audience) == 0 && len(req.Resource) == 0 {
		return claims.Audience{c.ID}, nil
	}
	var out claims.Audience
	for _, a := range slices.Concat(req.Audience, req.Resource) {
		if a != c.ID && !slices.Contains(c.Audiences, a) {
			return nil, refuse(tokenexchange.ErrInvalidTarget.WithDescription("the client may not ask for this audience or resource"), "audience not allowed")
		}
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out, nil
}

// exchangeFailed records a refused or failed exchange and returns its
// wire error. This is the one place where exchange-side errors get their
// wire code.
func (s *Service) exchangeFailed(ctx context.Context, ev store.Event, err error) error {
	var refusal *exchangeRefusal
	var denied *DeniedError
	switch {
	case errors.As(err, &refusal):
	case errors.As(err, &denied):
		// The policy refused (at the decision, or a subject grant that
		// ran out or was revoked before anything was handed out): the
		// subject token is what is unacceptable, the rule goes to the log.
		refusal = &exchangeRefusal{wire: errBadSubjectToken, reason: "policy: " + string(denied.Reason)}
	default:
		// A store, key or audit failure: fail closed, and tell the client
		// it may try again (with a new subject token if this one was
		// consumed before the failure).
		refusal = &exchangeRefusal{wire: tokenexchange.ErrTemporarilyUnavailable, reason: err.Error(), cause: err}
		if errors.Is(err, ErrConfiguration) {
			// Not going away on a retry: the host must fix it.
			refusal.wire = tokenexchange.ErrServerError
		}
		ev.Type, ev.Outcome = store.EventTokenExchangeDenied, store.OutcomeFailed
	}
	ev.Reason = refusal.reason
	if refusal.replay {
		ev.Type = store.EventReplayDetected
	}
	_ = s.record(ctx, ev)
	return refusal.wire.WithCause(refusal)
}

// recordRefusal is the tokenexchange.WithErrorObserver of the
// token, introspection and revocation endpoints of Handlers: it records a
// store.EventRequestRefused for every request the endpoint refused before
// the Service decided anything (wrong method or content type, oversized
// body, repeated parameter, failed client authentication, ...), so that
// every refusal leaves a trace. Refusals the Service decided are recorded
// already and skipped. The reason is the wire error code and its fixed
// description; the cause goes to the record only when it is not the
// client's input.
func (s *Service) recordRefusal(r *http.Request, clientID string, err error) {
	var decided *exchangeRefusal
	if errors.As(err, &decided) {
		return // recorded by exchangeFailed
	}
	var code, desc string
	cause := err
	var wire *tokenexchange.Error
	if errors.As(err, &wire) {
		code, desc = wire.Code, wire.Description
		if c := wire.Unwrap(); c != nil {
			cause = c
		}
	}
	ev := refusalEvent(r, code, desc, cause)
	ev.ClientID = untrusted(clientID) // claimed, not authenticated
	_ = s.record(r.Context(), ev)
}

// refusalEvent is the request.refused event of a request an endpoint
// refused with the wire error code and description (code empty when the
// error is not a wire error): the code and its fixed description as the
// reason, and for a server-side failure (server_error,
// temporarily_unavailable, the same codes in both error models) what
// failed (cause: the wire error's cause, or the error itself) too, with
// outcome failed.
func refusalEvent(r *http.Request, code, description string, cause error) store.Event {
	ev := store.Event{
		Type:    store.EventRequestRefused,
		Outcome: store.OutcomeDenied,
		Method:  r.Method,
		Path:    r.URL.Path,
		Reason:  "refused",
	}
	if code == "" {
		return ev
	}
	ev.Reason = code
	if description != "" {
		ev.Reason += ": " + description
	}
	if code == tokenexchange.ErrServerError.Code || code == tokenexchange.ErrTemporarilyUnavailable.Code {
		// A server-side failure: the record gets what failed, the
		// client only the code and description.
		ev.Outcome = store.OutcomeFailed
		ev.Reason += ": " + cause.Error()
	}
	return ev
}

// AuthenticateClient implements tokenexchange.ClientAuthenticator against
// the client store: the client exists, is enabled, has a secret, and the
// secret matches (constant-time). An unknown client costs the same hash
// work as a known one with a wrong secret, so timing does not tell which
// client IDs exist. A secret that matched once is remembered by its
// SHA-256 (see internal/secretcache), so a client's later requests skip the
// PBKDF2 work.
func (s *Service) AuthenticateClient(ctx context.Context, clientID, secret string) error {
	c, err := s.stores.Clients.Client(ctx, clientID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return tokenexchange.ErrTemporarilyUnavailable.WithCause(err)
	}
	hash := s.dummyHash
	if c != nil && c.SecretHash != "" {
		hash = c.SecretHash
	}
	ok := s.secrets.Verify(hash, secret)
	if c == nil || c.SecretHash == "" || c.Disabled || !ok {
		return errors.New("impersonation: client authentication failed")
	}
	return nil
}
