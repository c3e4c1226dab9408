package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/actas/actas/claims"
	"github.com/actas/actas/impersonation"
	"github.com/actas/actas/store"
	"github.com/actas/actas/subjecttoken"
	"github.com/actas/actas/tokenexchange"
)

// The authorize endpoint serves two flows. The impersonation response
// types ("subject_token", "id_token subject_token") go to the library's
// handler, which also refuses, inside an impersonation session, a request
// for another user (one user per session).
// response_type=code is the host's own OpenID Connect authorization-code
// flow with PKCE (RFC 7636, S256 only, required of every client): the
// code is redeemed at the token endpoint (codeGrant), where the library
// issues the tokens (Sessions.Issue) — the impersonated user's, with
// act, when the login session is an impersonation session.

// Authorization-code flow constants.
const (
	responseTypeCode = "code"
	// codeTTL is how long an authorization code may be redeemed.
	codeTTL = 60 * time.Second
	// codeReplayWindow is how long a redeemed code is remembered, so that
	// a second redemption revokes the tokens of the first (RFC 6749
	// §4.1.2: "SHOULD revoke ... all tokens previously issued based on
	// that authorization code").
	codeReplayWindow = 10 * time.Minute
	// maxCodes bounds the codes and redeemed codes held.
	maxCodes = 100_000
	// pkceS256 is the only code_challenge_method accepted.
	pkceS256 = "S256"
	// maxOpaqueBytes caps state and nonce.
	maxOpaqueBytes = 512
)

// authorizeEndpoint is /oauth2/authorize: response_type=code goes to the
// code flow, anything else to lib, the library's impersonation authorize
// handler, which answers malformed requests itself.
func (s *server) authorizeEndpoint(lib http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, ok := readAuthorizeParams(r)
		switch {
		case !ok:
			lib.ServeHTTP(w, r)
		case v.Get("response_type") == responseTypeCode:
			s.codeAuthorize(w, r, v)
		default:
			lib.ServeHTTP(w, r)
		}
	})
}

// readAuthorizeParams returns the parameters of an authorize request (the
// query of a GET, the form body of a POST), leaving the request as the
// library's handler expects it: a POST body read here is put back. ok is
// false for anything the library refuses on its own (another method or
// content type, an oversized or malformed body).
func readAuthorizeParams(r *http.Request) (url.Values, bool) {
	switch r.Method {
	case http.MethodGet:
		v, err := url.ParseQuery(r.URL.RawQuery)
		return v, err == nil
	case http.MethodPost:
		mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || mt != "application/x-www-form-urlencoded" || r.Body == nil {
			return nil, false
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, maxFormBytes+1))
		r.Body = io.NopCloser(bytes.NewReader(body))
		if err != nil || len(body) > maxFormBytes {
			return nil, false
		}
		v, err := url.ParseQuery(string(body))
		return v, err == nil
	}
	return nil, false
}

// codeRequest is where a code flow answers: the validated redirect URI,
// in the query (the response mode of response_type=code), with the state.
type codeRequest struct {
	redirectURI string
	state       string
}

// redirect sends p (and the state) to the redirect URI's query, keeping
// the registered query byte for byte.
func (c codeRequest) redirect(w http.ResponseWriter, p url.Values) {
	if c.state != "" {
		p.Set("state", c.state)
	}
	sep := "?"
	if strings.Contains(c.redirectURI, "?") {
		sep = "&"
		if strings.HasSuffix(c.redirectURI, "?") || strings.HasSuffix(c.redirectURI, "&") {
			sep = ""
		}
	}
	h := w.Header()
	h.Set("Location", c.redirectURI+sep+p.Encode())
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(http.StatusFound)
}

// codeAuthorize is the authorization-code flow's authorize step (OpenID
// Connect Core §3.1.2). client_id and redirect_uri are checked first; a
// problem with them is shown, never redirected (RFC 6749 §4.1.2.1). Then,
// with errors sent to the redirect URI: no repeated parameter, the query
// response mode, a client allowed the authorization_code grant, a scope
// with openid and only scopes the client registers, state and nonce of at
// most 512 printable bytes, and PKCE: code_challenge_method S256 (plain is
// refused) and a code_challenge. Then the user signs in (the login page,
// or prompt=none's login_required), the library's authorize hook tells
// whether the login session impersonates and whether the policy allows
// that for this client (access_denied when not), and a one-time code bound
// to all of it goes back with the state.
func (s *server) codeAuthorize(w http.ResponseWriter, r *http.Request, v url.Values) {
	ctx := r.Context()
	show := func(desc string) {
		subjecttoken.WriteAuthorizeError(w, subjecttoken.ErrInvalidRequest.WithDescription(desc))
	}
	clientIDs, redirectURIs := v["client_id"], v["redirect_uri"]
	if len(clientIDs) != 1 || clientIDs[0] == "" {
		show("client_id is missing or repeated")
		return
	}
	if len(redirectURIs) != 1 || redirectURIs[0] == "" {
		show("redirect_uri is missing or repeated")
		return
	}
	c, err := s.stores.clients.Client(ctx, clientIDs[0])
	switch {
	case errors.Is(err, store.ErrNotFound):
		show("unknown client_id")
		return
	case err != nil:
		s.logger.Error("authorize: look up client", "err", err)
		subjecttoken.WriteAuthorizeError(w, subjecttoken.ErrTemporarilyUnavailable.WithDescription("the client cannot be looked up right now"))
		return
	case !slices.Contains(c.RedirectURIs, redirectURIs[0]):
		show("redirect_uri is not registered for the client")
		return
	}

	// From here on errors go back to the client.
	cr := codeRequest{redirectURI: redirectURIs[0]}
	fail := func(code, desc string) {
		cr.redirect(w, url.Values{"error": {code}, "error_description": {desc}})
	}
	if len(v["state"]) > 1 {
		fail(subjecttoken.ErrInvalidRequest.Code, "state is repeated")
		return
	}
	cr.state = v.Get("state")
	for _, k := range slices.Sorted(maps.Keys(v)) {
		if len(v[k]) > 1 {
			fail(subjecttoken.ErrInvalidRequest.Code, "a parameter is repeated")
			return
		}
	}
	if m := v.Get("response_mode"); m != "" && m != store.ResponseModeQuery {
		fail(subjecttoken.ErrInvalidRequest.Code, "response_mode must be query for response_type code")
		return
	}
	if c.Disabled || !slices.Contains(c.GrantTypes, tokenexchange.GrantTypeAuthorizationCode) {
		fail(subjecttoken.ErrUnauthorizedClient.Code, "the client may not use the authorization code flow")
		return
	}
	scope := claims.ParseScope(v.Get("scope"))
	switch {
	case len(scope) > claims.MaxScopeTokens:
		fail(subjecttoken.ErrInvalidScope.Code, "too many scope values")
		return
	case !scope.Contains("openid"):
		fail(subjecttoken.ErrInvalidScope.Code, "scope must include openid")
		return
	case scope.Contains(subjecttoken.ScopeImpersonate):
		fail(subjecttoken.ErrInvalidScope.Code, subjecttoken.ScopeImpersonate+" belongs to the impersonation response types, not to response_type code")
		return
	case len(c.Scopes) > 0 && !scope.SubsetOf(c.Scopes):
		fail(subjecttoken.ErrInvalidScope.Code, "scope includes a value the client is not registered for")
		return
	}
	nonce := v.Get("nonce")
	if !opaqueParam(cr.state) || !opaqueParam(nonce) {
		fail(subjecttoken.ErrInvalidRequest.Code, "state and nonce must be at most 512 bytes of printable ASCII")
		return
	}
	challenge, method := v.Get("code_challenge"), v.Get("code_challenge_method")
	switch {
	case challenge == "":
		fail(subjecttoken.ErrInvalidRequest.Code, "code_challenge is required (PKCE, RFC 7636)")
		return
	case method != pkceS256:
		fail(subjecttoken.ErrInvalidRequest.Code, "code_challenge_method must be S256 (plain is not supported)")
		return
	case !validChallenge(challenge):
		fail(subjecttoken.ErrInvalidRequest.Code, "code_challenge must be the base64url SHA-256 of the code verifier (43 characters)")
		return
	}

	// The user signs in.
	if v.Get("prompt") == "none" {
		if _, ok := s.signedIn(r); !ok {
			fail("login_required", "the user is not signed in")
			return
		}
	}
	if r.Method == http.MethodPost {
		r.PostForm = v // the login page's return target repeats the request
	}
	signIn, ok := authenticator{s}.Authenticate(w, r)
	if !ok {
		return
	}
	login := signIn.Session
	// The library's authorize hook: is this login session impersonating,
	// and does the policy allow that for this client? It re-checks the
	// policy for the session's own client, and ends the session (with an
	// audit event) when it no longer holds: the sign-in is then the user's
	// own. For a client the policy refuses (impersonation off for it, or
	// the impersonator holds no impersonation role for it) the sign-in is
	// refused and recorded, and the session stays: it gets neither the
	// user's tokens nor the impersonator's own.
	active, err := s.svc.Sessions().SignIn(ctx, login, c.ID)
	if errors.Is(err, impersonation.ErrNotPermitted) {
		fail(subjecttoken.ErrAccessDenied.Code, fmt.Sprintf(
			"you are impersonating %s, and this application does not allow impersonation: end the impersonation to sign in as yourself",
			s.dir.username(sessionSubject(active))))
		return
	}
	if err != nil {
		s.logger.Error("authorize: impersonation session", "err", err)
		fail(subjecttoken.ErrTemporarilyUnavailable.Code, "the sign-in cannot be completed right now")
		return
	}
	grant := authCode{
		ClientID: c.ID, RedirectURI: cr.redirectURI, Scope: scope, Nonce: nonce, Challenge: challenge,
		LoginSession: login, User: signIn.UserID, AuthTime: signIn.AuthTime,
	}
	if active != nil {
		grant.SessionID = active.ID
	}
	code, err := s.codes.issue(grant)
	if err != nil {
		s.logger.Error("authorize: issue code", "err", err)
		fail(subjecttoken.ErrTemporarilyUnavailable.Code, "the sign-in cannot be completed right now")
		return
	}
	cr.redirect(w, url.Values{"code": {code}})
}

// opaqueParam accepts state and nonce values: at most maxOpaqueBytes of
// printable ASCII.
func opaqueParam(s string) bool {
	if len(s) > maxOpaqueBytes {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// validChallenge accepts an S256 code_challenge: 43 base64url characters,
// the unpadded encoding of 32 bytes.
func validChallenge(c string) bool {
	b, err := base64.RawURLEncoding.DecodeString(c)
	return len(c) == 43 && err == nil && len(b) == sha256.Size
}

// validVerifier accepts a code_verifier (RFC 7636 §4.1): 43 to 128
// characters of [A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~".
func validVerifier(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}

// s256 is the S256 code challenge of verifier: BASE64URL(SHA256(verifier)).
func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// authCode is what an authorization code stands for.
type authCode struct {
	ClientID     string
	RedirectURI  string
	Scope        claims.Scope
	Nonce        string
	Challenge    string
	LoginSession string
	User         string
	AuthTime     time.Time
	// SessionID is the impersonation session the authorize request was
	// made in; empty for none.
	SessionID string
	Expires   time.Time
}

// redeemedCode remembers a redeemed code: the tokens issued for it, to
// revoke if it comes again.
type redeemedCode struct {
	clientID string
	tokens   []string
	// replayed: the code came again before its tokens were known.
	replayed bool
	until    time.Time
}

// codeStore holds authorization codes in memory, keyed by their SHA-256
// (the codes themselves are not kept). It is safe for concurrent use.
type codeStore struct {
	now func() time.Time

	mu       sync.Mutex
	codes    map[string]authCode
	redeemed map[string]*redeemedCode
}

func newCodeStore(now func() time.Time) *codeStore {
	return &codeStore{now: now, codes: map[string]authCode{}, redeemed: map[string]*redeemedCode{}}
}

func codeKey(code string) string {
	sum := sha256.Sum256([]byte(code))
	return string(sum[:])
}

// errTooManyCodes: the store is full of live codes.
var errTooManyCodes = errors.New("too many authorization codes outstanding")

// issue stores a and returns its code: 256 random bits, valid codeTTL.
func (c *codeStore) issue(a authCode) (string, error) {
	now := c.now()
	a.Expires = now.Add(codeTTL)
	code := randomToken()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sweep(now)
	if len(c.codes)+len(c.redeemed) >= maxCodes {
		return "", errTooManyCodes
	}
	c.codes[codeKey(code)] = a
	return code, nil
}

// sweep drops expired codes and forgotten redemptions; c.mu is held.
func (c *codeStore) sweep(now time.Time) {
	if len(c.codes)+len(c.redeemed) < maxCodes/2 {
		return
	}
	for k, a := range c.codes {
		if !now.Before(a.Expires) {
			delete(c.codes, k)
		}
	}
	for k, r := range c.redeemed {
		if !now.Before(r.until) {
			delete(c.redeemed, k)
		}
	}
}

// take consumes code, whatever happens next: ok is true for a live code,
// which is remembered as redeemed. For a code redeemed before, replay
// holds what to revoke (nil when its tokens are not known yet: redeemed
// then reports the replay).
func (c *codeStore) take(code string) (a authCode, replay *redeemedCode, ok bool) {
	k := codeKey(code)
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if r, used := c.redeemed[k]; used && now.Before(r.until) {
		if len(r.tokens) == 0 {
			r.replayed = true
			return authCode{}, nil, false
		}
		out := *r
		r.tokens = nil // revoked once
		return authCode{}, &out, false
	}
	a, ok = c.codes[k]
	if !ok {
		return authCode{}, nil, false
	}
	delete(c.codes, k)
	c.redeemed[k] = &redeemedCode{clientID: a.ClientID, until: now.Add(codeReplayWindow)}
	if !now.Before(a.Expires) {
		return authCode{}, nil, false
	}
	return a, nil, true
}

// issued records the tokens issued for code. It reports whether the code
// was presented again meanwhile: the caller then revokes them.
func (c *codeStore) issued(code string, tokens ...string) (replayed bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.redeemed[codeKey(code)]
	if !ok {
		return false
	}
	if r.replayed {
		return true
	}
	r.tokens = slices.DeleteFunc(tokens, func(t string) bool { return t == "" })
	return false
}

// codeGrant serves the authorization_code grant at the token endpoint
// (RFC 6749 §4.1.3, RFC 7636 §4.6) for the authenticated client. The code
// is used once: it is consumed before any check, so a failed redemption
// uses it up too, and a second redemption of a redeemed code revokes the
// tokens the first one got. Every refusal is invalid_grant.
type codeGrant struct{ s *server }

var _ tokenexchange.GrantHandler = codeGrant{}

// Grant implements tokenexchange.GrantHandler.
func (g codeGrant) Grant(ctx context.Context, client tokenexchange.Client, req *tokenexchange.GrantRequest) (*tokenexchange.Response, error) {
	invalid := tokenexchange.ErrInvalidGrant
	code := req.Code
	if code == "" {
		return nil, tokenexchange.ErrInvalidRequest.WithDescription("code is required")
	}
	a, replay, ok := g.s.codes.take(code)
	if !ok {
		if replay != nil {
			g.s.revokeAll(ctx, replay.clientID, replay.tokens, "authorization code replayed")
		}
		return nil, invalid.WithDescription("the code is invalid, expired or used")
	}
	verifier := req.CodeVerifier
	switch {
	case a.ClientID != client.ID:
		return nil, invalid.WithDescription("the code was issued to another client")
	case req.RedirectURI != a.RedirectURI:
		return nil, invalid.WithDescription("redirect_uri does not match the authorization request")
	case !validVerifier(verifier):
		return nil, invalid.WithDescription("code_verifier is missing or malformed")
	case subtle.ConstantTimeCompare([]byte(s256(verifier)), []byte(a.Challenge)) != 1:
		return nil, invalid.WithDescription("code_verifier does not match the code_challenge")
	}
	// The impersonation the code was issued in must still be the one of
	// the login session: a sign-in does not change identity on the way.
	active, err := g.s.svc.Sessions().Active(ctx, a.LoginSession, "")
	if err != nil {
		return nil, tokenexchange.ErrTemporarilyUnavailable.WithCause(err)
	}
	if activeID := sessionID(active); activeID != a.SessionID {
		return nil, invalid.WithDescription("the impersonation changed since the authorization request: sign in again")
	}
	t, err := g.s.svc.Sessions().Issue(ctx, impersonation.SignIn{
		LoginSession: a.LoginSession, User: a.User, ClientID: a.ClientID,
		Scope: a.Scope, Nonce: a.Nonce, AuthTime: a.AuthTime,
	})
	if err != nil {
		var denied *impersonation.DeniedError
		var te *tokenexchange.Error
		switch {
		case errors.As(err, &denied):
			return nil, invalid.WithDescription("the sign-in is not allowed").WithCause(err)
		case errors.Is(err, impersonation.ErrSessionEnded):
			return nil, invalid.WithDescription("the impersonation ended: sign in again").WithCause(err)
		case errors.As(err, &te):
			return nil, err
		}
		return nil, tokenexchange.ErrTemporarilyUnavailable.WithCause(err)
	}
	if g.s.codes.issued(code, t.AccessToken, t.RefreshToken) {
		g.s.revokeAll(ctx, client.ID, []string{t.AccessToken, t.RefreshToken}, "authorization code replayed")
		return nil, invalid.WithDescription("the code is invalid, expired or used")
	}
	return t.Response(), nil
}

// sessionSubject is the user an impersonation session impersonates.
func sessionSubject(s *store.ImpersonationSession) string {
	if s == nil {
		return "another user"
	}
	return s.Subject
}

// sessionID is the ID of an impersonation session, "" for none.
func sessionID(s *store.ImpersonationSession) string {
	if s == nil {
		return ""
	}
	return s.ID
}

// revokeAll revokes tokens of clientID through the library (which ends
// the impersonation session of a token issued under one), logging why.
func (s *server) revokeAll(ctx context.Context, clientID string, tokens []string, why string) {
	s.logger.Warn("revoking tokens", "client_id", clientID, "why", why)
	for _, t := range tokens {
		if t == "" {
			continue
		}
		if err := s.svc.Revoke(ctx, tokenexchange.Client{ID: clientID, AuthMethod: tokenexchange.AuthMethodBasic}, t, ""); err != nil {
			s.logger.Error("revoke", "client_id", clientID, "err", err)
		}
	}
}
