package impersonation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"

	"github.com/actas/actas/claims"
	"github.com/actas/actas/internal/accesstoken"
	"github.com/actas/actas/internal/wire"
	"github.com/actas/actas/store"
	"github.com/actas/actas/tokenexchange"
)

// Scopes the UserInfo endpoint reads (OpenID Connect Core 1.0 §5.4).
const (
	scopeOpenID  = "openid"
	scopeProfile = "profile"
	scopeEmail   = "email"
)

// userInfoRealm is the realm of the UserInfo endpoint's Bearer challenges.
const userInfoRealm = "userinfo"

// The RFC 6750 §3.1 error codes that are not also OAuth token endpoint
// codes.
const (
	codeInvalidToken      = "invalid_token"
	codeInsufficientScope = "insufficient_scope"
)

// formContentType is the one media type of a UserInfo POST body (RFC 6750
// §2.2).
const formContentType = "application/x-www-form-urlencoded"

// UserInfo is the response of the OpenID Connect UserInfo endpoint
// ([Endpoints.UserInfo], OpenID Connect Core 1.0 §5.3.2,
// https://openid.net/specs/openid-connect-core-1_0.html#UserInfoResponse):
// the claims about the user an access token speaks for. Members other than
// Subject are left out of the JSON when empty.
//
// The endpoint answers GET and POST (§5.3.1). The access token comes as
// Bearer credentials in the Authorization header (RFC 6750 §2.1) or, in a
// POST, as the access_token parameter of an
// application/x-www-form-urlencoded body (§2.2); never in the URL query
// (refused: URLs end up in logs and browser history), and never both ways
// at once. It must be an access token of this issuer, verified as
// introspection verifies one (typ at+jwt, signature by a key of the
// issuer, iss, exp, nbf and iat within the skew, not revoked when the
// Service has a revocation store), whose scope holds openid (OpenID Connect
// Core 1.0 §5.3). Its audience and client do not matter: OpenID Connect
// asks the UserInfo endpoint for no audience check, and any holder of such
// a token may read what the token's scopes reveal about its subject.
//
// Errors follow RFC 6750 §3 with realm "userinfo": 401 with a bare Bearer
// challenge when no token was sent; 401 invalid_token for a token that
// does not verify, has expired or was revoked, or whose user no longer
// exists or is disabled; 400 invalid_request for a malformed request (a
// token in the query, two tokens, a POST body that is not a form); 403
// insufficient_scope (scope="openid") without openid; 405 with Allow for
// other methods; 503 temporarily_unavailable when a store fails. No
// response echoes the token or says which check failed; every refusal is
// recorded as a store.EventRequestRefused whose reason does, and a
// successful request with an impersonated token as a
// store.EventImpersonatedRequest, with the token's impersonation_reason as
// its Justification (if that record fails, the request is refused with
// 503).
type UserInfo struct {
	// Subject is sub: the token's sub, under impersonation the
	// impersonated user.
	Subject string `json:"sub"`
	// Name and PreferredUsername (the user's Username) come with the
	// profile scope.
	Name              string `json:"name,omitempty"`
	PreferredUsername string `json:"preferred_username,omitempty"`
	// Email comes with the email scope.
	Email string `json:"email,omitempty"`
	// OrgID and OrgName are the token's org_id and org_name.
	OrgID   string `json:"org_id,omitempty"`
	OrgName string `json:"org_name,omitempty"`
	// Act is the token's act chain (RFC 8693 §4.1): who is acting as
	// Subject, for an "acting as" banner. Nil for the user's own token.
	Act *claims.Actor `json:"act,omitempty"`
}

// userInfoRefusal is a UserInfo request refused for the client's mistake:
// the HTTP status, the RFC 6750 §3.1 error code (empty when the request
// carried no token), its fixed description and, for insufficient_scope,
// the scope required; detail says, for the audit record only, what failed.
type userInfoRefusal struct {
	status int
	code   string
	desc   string
	scope  string
	detail string
}

func (e *userInfoRefusal) Error() string {
	msg := "userinfo: " + e.code + ": " + e.desc
	if e.detail != "" {
		msg += ": " + e.detail
	}
	return msg
}

func userInfoBadRequest(desc string) error {
	return &userInfoRefusal{status: http.StatusBadRequest, code: tokenexchange.ErrInvalidRequest.Code, desc: desc}
}

func userInfoBadToken(detail string) error {
	return &userInfoRefusal{status: http.StatusUnauthorized, code: codeInvalidToken, desc: "the access token is invalid", detail: detail}
}

// userInfoHandler is the UserInfo endpoint of [Service.Handlers].
type userInfoHandler struct{ svc *Service }

func (h *userInfoHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s := h.svc
	token, err := userInfoToken(w, r)
	if err != nil {
		s.userInfoFailed(w, r, nil, err)
		return
	}
	info, p, err := s.userInfo(r.Context(), token)
	if err != nil {
		s.userInfoFailed(w, r, p, err)
		return
	}
	body, err := json.Marshal(info)
	if err != nil {
		s.userInfoFailed(w, r, p, fmt.Errorf("userinfo: encode: %w", err))
		return
	}
	if p.Impersonated() {
		// What the impersonator read of the user is on record before it
		// is sent.
		err := s.record(r.Context(), store.Event{
			Type: store.EventImpersonatedRequest, ClientID: p.ClientID, Impersonator: p.Act.Subject,
			Subject: p.Subject, Org: p.OrgID, JTI: p.ID, Scopes: p.Scope, Outcome: store.OutcomeGranted,
			Method: r.Method, Path: r.URL.Path, Justification: p.Reason,
		})
		if err != nil {
			s.userInfoFailed(w, r, p, err)
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(body)
}

// userInfoToken returns the access token of a UserInfo request, from the
// Authorization header or a POST's form body, or the refusal.
func userInfoToken(w http.ResponseWriter, r *http.Request) (string, error) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		return "", &userInfoRefusal{status: http.StatusMethodNotAllowed, code: tokenexchange.ErrInvalidRequest.Code,
			desc: "the userinfo endpoint accepts only GET and POST"}
	}
	if r.URL.Query().Has("access_token") {
		return "", userInfoBadRequest("the access token must not be sent in the URL")
	}
	header, inHeader := wire.BearerToken(r)
	var body string
	if r.Method == http.MethodPost {
		var err error
		if body, err = bodyToken(w, r); err != nil {
			return "", err
		}
	}
	switch {
	case inHeader && body != "":
		// RFC 6750 §2: no more than one method per request.
		return "", userInfoBadRequest("the access token must be sent one way only")
	case inHeader:
		return header, nil
	case body != "":
		return body, nil
	}
	return "", &userInfoRefusal{status: http.StatusUnauthorized, detail: "no access token"}
}

// bodyToken returns the access_token parameter of a POST body (RFC 6750
// §2.2), "" when there is none. A body must be a form of at most
// tokenexchange.DefaultMaxBodyBytes; a POST without a body (the token in
// the header) is fine.
func bodyToken(w http.ResponseWriter, r *http.Request) (string, error) {
	ct := r.Header.Get("Content-Type")
	if r.Body == nil || (ct == "" && r.ContentLength == 0) {
		return "", nil
	}
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != formContentType {
		return "", userInfoBadRequest("Content-Type must be " + formContentType)
	}
	form, fe := wire.ReadForm(w, r, tokenexchange.DefaultMaxBodyBytes)
	if fe != nil {
		return "", userInfoBadRequest(fe.Description)
	}
	if len(form["access_token"]) > 1 {
		return "", userInfoBadRequest("access_token must be given once")
	}
	return form.Get("access_token"), nil
}

// userInfo verifies token and returns the claims of its user, with the
// token's claims once it verified (for the audit record of a refusal).
// Refusals are *userInfoRefusal; any other error is a store failure.
func (s *Service) userInfo(ctx context.Context, token string) (*UserInfo, *accesstoken.Claims, error) {
	p, err := s.verifyAccess(ctx, token)
	switch {
	case errors.Is(err, accesstoken.ErrInvalid):
		return nil, nil, userInfoBadToken(err.Error())
	case err != nil:
		return nil, nil, fmt.Errorf("userinfo: verify: %w", err)
	}
	if !p.Scope.Contains(scopeOpenID) {
		return nil, p, &userInfoRefusal{status: http.StatusForbidden, code: codeInsufficientScope,
			desc: "the access token lacks the openid scope", scope: scopeOpenID, detail: "no openid scope"}
	}
	u, err := s.stores.Users.User(ctx, p.Subject)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, p, userInfoBadToken("the user no longer exists")
	case err != nil:
		return nil, p, fmt.Errorf("userinfo: user: %w", err)
	case u.Disabled:
		return nil, p, userInfoBadToken("the user is disabled")
	}
	info := &UserInfo{Subject: p.Subject, OrgID: p.OrgID, OrgName: p.OrgName, Act: p.Act}
	if p.Scope.Contains(scopeProfile) {
		info.Name, info.PreferredUsername = u.Name, u.Username
	}
	if p.Scope.Contains(scopeEmail) {
		info.Email = u.Email
	}
	return info, p, nil
}

// userInfoFailed is the one place where a UserInfo refusal gets its wire
// form and its audit record: the RFC 6750 error for the client, a
// request.refused event with what failed (and, once the token verified,
// whose token it was) for the log. Anything but a *userInfoRefusal is a
// server-side failure: 503, outcome failed.
func (s *Service) userInfoFailed(w http.ResponseWriter, r *http.Request, p *accesstoken.Claims, err error) {
	var ev store.Event
	var refusal *userInfoRefusal
	switch {
	case !errors.As(err, &refusal):
		// A key, revocation, user or audit store failure: the token may be
		// fine; fail closed and say nothing about it.
		const desc = "try again later"
		wire.WriteError(w, http.StatusServiceUnavailable, tokenexchange.ErrTemporarilyUnavailable.Code, desc)
		ev = refusalEvent(r, tokenexchange.ErrTemporarilyUnavailable.Code, desc, err)
	case refusal.status == http.StatusMethodNotAllowed:
		// Not a matter of credentials: no challenge.
		wire.WriteError(w, refusal.status, refusal.code, refusal.desc)
		ev = refusalEvent(r, refusal.code, refusal.desc, nil)
	default:
		wire.WriteBearerError(w, refusal.status, userInfoRealm, refusal.code, refusal.desc, refusal.scope)
		ev = refusalEvent(r, refusal.code, refusal.desc, nil)
	}
	if refusal != nil && refusal.detail != "" {
		ev.Reason += ": " + refusal.detail
	}
	if p != nil {
		ev.ClientID, ev.Subject, ev.Org, ev.JTI, ev.Scopes = p.ClientID, p.Subject, p.OrgID, p.ID, p.Scope
		if p.Act != nil {
			ev.Impersonator = p.Act.Subject
		}
	}
	_ = s.record(r.Context(), ev)
}
