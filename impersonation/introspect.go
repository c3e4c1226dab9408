package impersonation

import (
	"context"
	"errors"
	"slices"

	"github.com/actas/actas/claims"
	"github.com/actas/actas/internal/accesstoken"
	"github.com/actas/actas/internal/authorizetoken"
	"github.com/actas/actas/store"
	"github.com/actas/actas/tokenexchange"
)

var (
	_ tokenexchange.Introspector = (*Service)(nil)
	_ tokenexchange.Revoker      = (*Service)(nil)
)

// WithRevocationStore lets the Service revoke tokens ([Service.Revoke])
// and makes introspection report revoked tokens inactive. Resource servers
// see revocations through a Verifier built WithRevocation on the same
// store.
func WithRevocationStore(r store.Revocation) Option { return func(s *Service) { s.revocation = r } }

// Introspect implements tokenexchange.Introspector (RFC 7662): an access
// token of this issuer, unexpired, not revoked, and either issued to
// client or naming client in its aud (a resource server registered as a
// client, introspecting the tokens meant for it), is active and described;
// anything else (expired, revoked, issued to and meant for other clients,
// a subject token or an ID token, garbage) is inactive. RFC 7662 §4 leaves
// who may introspect what to the server; this is the rule. A store failure
// is temporarily_unavailable.
func (s *Service) Introspect(ctx context.Context, client tokenexchange.Client, token, _ string) (*tokenexchange.Introspection, error) {
	p, err := s.verifyAccess(ctx, token)
	switch {
	case errors.Is(err, accesstoken.ErrInvalid):
		s.recordInactive(ctx, client, nil, "introspection: inactive: "+err.Error())
		return &tokenexchange.Introspection{Active: false}, nil
	case err != nil:
		return nil, tokenexchange.ErrTemporarilyUnavailable.WithCause(err)
	case p.ClientID != client.ID && !slices.Contains(p.Audience, client.ID):
		s.recordInactive(ctx, client, p, "introspection: inactive: the token was issued to another client and is not meant for this one")
		return &tokenexchange.Introspection{Active: false}, nil
	}
	in := &tokenexchange.Introspection{
		Active:    true,
		Scope:     p.Scope,
		ClientID:  p.ClientID,
		TokenType: tokenexchange.BearerTokenType,
		Expiry:    p.Expiry.Time().Unix(),
		IssuedAt:  p.IssuedAt.Time().Unix(),
		Subject:   p.Subject,
		Audience:  p.Audience,
		Issuer:    s.issuer,
		ID:        p.ID,
		Act:       p.Act,
		OrgID:     p.OrgID,
		OrgName:   p.OrgName,
	}
	if u, err := s.stores.Users.User(ctx, p.Subject); err == nil {
		in.Username = u.Username
	}
	return in, nil
}

// recordInactive records an introspection answered inactive, so that a
// client probing with tokens that are not its own leaves a trace. p, when
// known, names whose token it was.
func (s *Service) recordInactive(ctx context.Context, client tokenexchange.Client, p *accesstoken.Claims, reason string) {
	ev := store.Event{
		Type:     store.EventRequestRefused,
		ClientID: client.ID,
		Outcome:  store.OutcomeDenied,
		Reason:   reason,
	}
	if p != nil {
		ev.Subject, ev.JTI, ev.Org = p.Subject, p.ID, p.OrgID
		if p.Act != nil {
			ev.Impersonator = p.Act.Subject
		}
	}
	_ = s.record(ctx, ev)
}

// Revoke implements tokenexchange.Revoker (RFC 7009) for client:
//
//   - an access token issued to client is revoked until it expires; if it
//     is impersonated, that ends the impersonation (audit
//     store.EventImpersonationEnded), otherwise store.EventTokenRevoked;
//   - a subject token issued to client is consumed, so it can no longer be
//     exchanged (store.EventTokenRevoked);
//   - a valid token issued to another client is refused with
//     unauthorized_client (RFC 7009 §2.1);
//   - anything else (expired, garbage) is ignored: the endpoint answers 200
//     (RFC 7009 §2.2).
//
// Without [WithRevocationStore] every revocation is refused with
// unsupported_token_type.
func (s *Service) Revoke(ctx context.Context, client tokenexchange.Client, token, _ string) error {
	return revokeWire(s.revoke(ctx, client, token))
}

// The refusals of a revocation, which revokeWire maps to the wire; any
// other error is a server-side failure.
var (
	errRevocationOff = errors.New("revocation is not enabled")
	errNotTheClients = errors.New("the token was not issued to this client")
)

// revokeWire is the one mapping of revocation refusals to RFC 7009 §2.2.1.
func revokeWire(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errRevocationOff):
		return tokenexchange.ErrUnsupportedTokenType.WithDescription(errRevocationOff.Error())
	case errors.Is(err, errNotTheClients):
		return tokenexchange.ErrUnauthorizedClient.WithDescription(errNotTheClients.Error())
	}
	return tokenexchange.ErrTemporarilyUnavailable.WithCause(err)
}

// revoke is Revoke with domain errors.
func (s *Service) revoke(ctx context.Context, client tokenexchange.Client, token string) error {
	if s.revocation == nil {
		return errRevocationOff
	}
	p, err := s.verifyAccess(ctx, token)
	switch {
	case err == nil:
		return s.revokeAccessToken(ctx, client, p)
	case errors.Is(err, accesstoken.ErrRevoked):
		return nil // already revoked
	case !errors.Is(err, accesstoken.ErrInvalid):
		return err
	}
	if rc, err := s.parseRefresh(ctx, token); err == nil {
		return s.revokeRefreshToken(ctx, client, rc)
	}
	st, err := s.tokens.Verify(ctx, token, client.ID)
	switch {
	case errors.Is(err, authorizetoken.ErrAudience), errors.Is(err, authorizetoken.ErrClientMismatch):
		// Signed by this issuer for another client (the signature, typ and
		// iss are checked before the audience).
		return errNotTheClients
	case err != nil:
		return nil
	}
	switch err := s.stores.OneTimeUse.Use(ctx, st.ID, s.holdUntil(st.Expiry)); {
	case errors.Is(err, store.ErrAlreadyUsed):
		return nil // already exchanged or revoked: nothing happens, nothing to record
	case err != nil:
		return err
	}
	_ = s.record(ctx, store.Event{
		Type: store.EventTokenRevoked, ClientID: client.ID, Impersonator: st.MayAct.Subject,
		Subject: st.Subject, JTI: st.ID, Scopes: st.Scope, Outcome: store.OutcomeGranted,
	})
	return nil
}

func (s *Service) revokeAccessToken(ctx context.Context, client tokenexchange.Client, p *accesstoken.Claims) error {
	if p.ClientID != client.ID {
		return errNotTheClients
	}
	// Held until no verifier could accept the token any more, whatever skew
	// it allows (at most claims.MaxSkew).
	hold := p.Expiry.Time().Add(claims.MaxSkew)
	if p.Impersonated() && s.sessions != nil {
		// The token may have started an impersonation session (whose ID
		// is its jti) or been issued under one: the session, ended now,
		// must stay ended for as long as any session can last, not only as
		// long as this token.
		if end := s.now().Add(s.sessions.maxDuration + claims.MaxSkew); end.After(hold) {
			hold = end
		}
	}
	if err := s.revocation.Revoke(ctx, p.ID, hold); err != nil {
		return err
	}
	if p.SessionID != "" {
		// A token of an impersonation session: revoking it ends the
		// session, and with it every token issued under it.
		if err := s.revocation.Revoke(ctx, accesstoken.SessionRevocationKey(p.SessionID), hold); err != nil {
			return err
		}
	}
	ev := store.Event{
		Type: store.EventTokenRevoked, ClientID: client.ID, Subject: p.Subject, Org: p.OrgID,
		JTI: p.ID, Scopes: p.Scope, Outcome: store.OutcomeGranted,
		// A token of a session: its revocation ended the session.
		Parent: p.SessionID,
	}
	if p.Impersonated() {
		ev.Type, ev.Impersonator = store.EventImpersonationEnded, p.Act.Subject
	}
	if err := s.record(ctx, ev); err != nil {
		// The token is revoked; the client should know the record failed.
		return err
	}
	return nil
}

// verifyAccess verifies an access token of this issuer for any audience
// (the callers check client_id) and, with a revocation store, that it is
// not revoked. Refusals match accesstoken.ErrInvalid.
func (s *Service) verifyAccess(ctx context.Context, token string) (*accesstoken.Claims, error) {
	return accesstoken.Verify(ctx, token, s.stores.Keys, accesstoken.Expect{
		Issuer: s.issuer, Now: s.now(), Skew: s.skew, Algs: s.algs, MaxDepth: s.maxDepth, Revocation: s.revocation,
	})
}
