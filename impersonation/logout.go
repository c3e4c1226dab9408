package impersonation

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/actas/actas/claims"
	"github.com/actas/actas/internal/authorizetoken"
	"github.com/actas/actas/internal/jose"
	"github.com/actas/actas/internal/logoutconfirm"
	"github.com/actas/actas/internal/wire"
	"github.com/actas/actas/store"
)

// OpenID Connect RP-Initiated Logout 1.0
// (https://openid.net/specs/openid-connect-rpinitiated-1_0.html): the
// end-session endpoint of [Service.Handlers], [Endpoints.EndSession].
//
// OpenID Connect Session Management (session_state, check_session_iframe)
// is deliberately not offered: it needs the identity server's cookie in an
// iframe embedded by the client's site, a third-party cookie, which
// browsers block.

// Logins is the host's login as the end-session endpoint sees it: who is
// signed in, and ending that login. The host owns its login sessions; the
// library never reads or writes their cookies itself.
//
// Both methods are called with the request to the end-session endpoint,
// may be called concurrently and must not write a response body or
// status.
type Logins interface {
	// SignedIn returns the user signed in at the host in the browser of
	// r, with the same Login that [Authenticator.Authenticate] returns
	// (its Session is the login session an impersonation session is bound
	// to), and ok false when nobody is. Unlike Authenticate it never
	// writes a response: nobody signed in is no reason for a login page
	// when logging out.
	SignedIn(r *http.Request) (login Login, ok bool)
	// Logout ends the login of r at the host: it forgets the login
	// session and may set headers on w (clearing the session cookie), but
	// writes no body or status. An error leaves the user signed in and
	// makes the endpoint answer 503; an impersonation session of the
	// login has been ended before it is called.
	Logout(w http.ResponseWriter, r *http.Request) error
}

// LogoutConfirmField is the form field of the confirmation the end-session
// endpoint asks for: a page that confirms a logout posts
// [LogoutPage.Confirmation] under this name to [LogoutPage.Action].
const LogoutConfirmField = "logout_confirmation"

// MaxLogoutStateBytes is the longest state the end-session endpoint
// accepts: it travels in the confirmation form and back in the redirect.
const MaxLogoutStateBytes = 2048

// LogoutPageKind says which page the end-session endpoint shows.
type LogoutPageKind int

// Pages of the end-session endpoint.
const (
	// LogoutConfirm asks the signed-in user to confirm the logout.
	LogoutConfirm LogoutPageKind = iota + 1
	// LogoutDone says the user is signed out, when there is no
	// post-logout redirect.
	LogoutDone
	// LogoutRefused says why a logout request was refused; nobody was
	// logged out and nothing was redirected to.
	LogoutRefused
)

// LogoutPage is what a page of the end-session endpoint shows. Every value
// is for display, and every string in it is to be escaped (html/template
// does).
type LogoutPage struct {
	// Kind is the page.
	Kind LogoutPageKind
	// Status is the HTTP status to answer with: 200 for LogoutConfirm and
	// LogoutDone, 4xx or 503 for LogoutRefused.
	Status int
	// Login is the user signed in (LogoutConfirm) or just signed out
	// (LogoutDone; the zero Login when nobody was signed in).
	Login Login
	// User is Login's user, nil when unknown.
	User *store.User
	// Client is the client that asked to log the user out, nil when none
	// was identified.
	Client *store.Client
	// OtherUser (LogoutConfirm): the client's id_token_hint names another
	// user than the one signed in.
	OtherUser bool
	// Impersonation (LogoutConfirm) is the impersonation session the login
	// runs, which the logout ends too; nil when none.
	Impersonation *store.ImpersonationSession
	// Action and Confirmation (LogoutConfirm): the page posts
	// LogoutConfirmField=Confirmation to Action (the metadata's
	// end_session_endpoint; empty when it names none, and then the page's
	// own URL) as application/x-www-form-urlencoded, and nothing else is
	// needed.
	Action       string
	Confirmation string
	// Error (LogoutRefused) says what was wrong: fixed text, never the
	// request's values.
	Error string
}

// LogoutPageFunc renders a page of the end-session endpoint: it writes
// p.Status and the page. The endpoint has set Cache-Control: no-store; a
// confirmation page should also forbid framing (X-Frame-Options,
// frame-ancestors) so that its button cannot be clickjacked.
type LogoutPageFunc func(w http.ResponseWriter, r *http.Request, p *LogoutPage)

// WithLogout serves OpenID Connect RP-Initiated Logout 1.0 at the
// end-session endpoint ([Endpoints.EndSession], end_session_endpoint in the
// metadata), with logins as the host's login. Without it there is no
// end-session endpoint.
//
// The endpoint (GET, or POST with a form, §2) takes id_token_hint (an ID
// token of this issuer, expired or not), client_id (which must then be an
// audience of the hint, and its azp when it has one),
// post_logout_redirect_uri (compared byte for byte with the client's
// store.Client.PostLogoutRedirectURIs, and then needing a client, from
// client_id or the hint) and state (returned with the redirect);
// ui_locales and logout_hint are ignored, and no parameter may be repeated.
// A request it cannot honour (a bad hint, an unknown or disabled client, a
// client_id the hint does not name, an unregistered redirect URI) is
// answered with an error page (400), recorded as request.refused, and
// never redirected.
//
// A valid request with nobody signed in logs nobody out: it redirects to
// the post_logout_redirect_uri, or shows that the user is signed out. With
// someone signed in, the user is asked to confirm first (§2 requires it
// without a hint, and when the hint is not the signed-in user's), unless
// the request carries a hint for the signed-in user — the user, or under
// an impersonation session the impersonator (the hint's act.sub) — from a
// client with store.Client.SkipLogoutConsent. The logout then ends the
// login's impersonation session, if any ([Sessions.End]: every token
// issued under it is revoked and the end audited), then the login
// ([Logins.Logout]), records a user.logged_out event, and redirects (303)
// to the registered URI with state added to its query, or shows that the
// user is signed out.
//
// # The confirmation
//
// The library does not own the host's cookies, so the confirmation form is
// made safe against cross-site request forgery by what it carries: a
// confirmation token that the endpoint signs with the issuer's signing key
// (typ logout-confirm+jwt, for the issuer alone), valid five minutes,
// bound to the login it was shown to (its user, Login.Session and
// AuthTime) and usable once (the issuer's one-time-use store). Another
// site can neither read one from the page nor make one, and one made for
// another login, reused or expired is refused (403); with nobody signed
// in any more (signed out in another tab) a valid one only redirects. A
// signed token,
// rather than a random handle kept in memory or an HMAC under a key of
// the process, is what every instance of an issuer that runs on several
// verifies without a new shared secret or store. Give Login.Session: then
// the binding is to that one login session, not to the user's every
// login. The confirmation holds the request as validated (client, redirect
// URI, state), and the redirect URI is checked again when it comes back.
//
// # Cookies
//
// A client's POST to the endpoint from its own site is a cross-site
// request: a login cookie with SameSite=Lax or Strict does not come with
// it, so SignedIn sees nobody and nobody is logged out. Clients should
// send the browser with GET (a redirect), which the specification
// supports as well.
func WithLogout(logins Logins) HandlerOption {
	return func(c *handlerConfig) { c.logout, c.logins = true, logins }
}

// WithLogoutPage renders the pages of the end-session endpoint (the
// confirmation, signed out, refused) with f instead of the library's
// minimal built-in ones. It needs [WithLogout].
func WithLogoutPage(f LogoutPageFunc) HandlerOption {
	return func(c *handlerConfig) { c.logoutPage = f }
}

// Logout parameters (RP-Initiated Logout 1.0 §2).
const (
	paramIDTokenHint           = "id_token_hint"
	paramLogoutClientID        = "client_id"
	paramPostLogoutRedirectURI = "post_logout_redirect_uri"
	paramLogoutState           = "state"
)

// maxLogoutFormBytes caps a POSTed logout request.
const maxLogoutFormBytes = 64 << 10

// newEndSessionHandler is the end-session endpoint of s, posting its
// confirmations to action (the metadata's end_session_endpoint).
func newEndSessionHandler(s *Service, logins Logins, page LogoutPageFunc, action string) (http.Handler, error) {
	if logins == nil {
		return nil, errors.New("impersonation: WithLogout needs Logins")
	}
	if page == nil {
		page = builtinLogoutPage
	}
	return &endSessionHandler{svc: s, logins: logins, page: page, action: action}, nil
}

type endSessionHandler struct {
	svc    *Service
	logins Logins
	page   LogoutPageFunc
	action string
}

// logoutRequest is a validated logout request.
type logoutRequest struct {
	// client is the client that asked; nil when none was identified.
	client *store.Client
	// hint is the verified id_token_hint; nil without one.
	hint *authorizetoken.IDTokenClaims
	// redirectURI is a registered post_logout_redirect_uri of client, ""
	// for none; state goes back with it.
	redirectURI string
	state       string
}

// logoutRefusal is why a logout request is refused: status, a fixed
// description for the page and the record, the cause for the record only
// (fixed text of a failed check), the client it claimed, and failed for a
// server-side failure.
type logoutRefusal struct {
	status   int
	desc     string
	cause    error
	clientID string
	failed   bool
}

// refused is a client's mistake: 400.
func refused(desc string, cause error) *logoutRefusal {
	return &logoutRefusal{status: http.StatusBadRequest, desc: desc, cause: cause}
}

// forbidden is a confirmation that does not hold: 403.
func forbidden(desc string, cause error) *logoutRefusal {
	return &logoutRefusal{status: http.StatusForbidden, desc: desc, cause: cause}
}

// unavailable is a server-side failure: 503, nobody logged out.
func unavailable(cause error) *logoutRefusal {
	return &logoutRefusal{status: http.StatusServiceUnavailable, desc: "the sign-out could not be completed; try again in a moment", cause: cause, failed: true}
}

// ServeHTTP is the end-session endpoint; see [WithLogout].
func (h *endSessionHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		h.refuse(w, r, &logoutRefusal{status: http.StatusMethodNotAllowed, desc: "the end-session endpoint takes GET and POST only"})
		return
	}
	v, err := readLogoutParams(w, r)
	if err != nil {
		h.refuse(w, r, err)
		return
	}
	if v.Has(LogoutConfirmField) {
		if r.Method != http.MethodPost {
			h.refuse(w, r, refused("a sign-out confirmation must be posted", nil))
			return
		}
		h.confirm(w, r, v.Get(LogoutConfirmField))
		return
	}
	req, err := h.svc.parseLogout(r.Context(), v)
	if err != nil {
		h.refuse(w, r, err)
		return
	}
	login, ok := h.logins.SignedIn(r)
	switch {
	case !ok:
		// Nobody to log out: no confirmation, no login page.
		h.finish(w, r, req.redirectURI, req.state, Login{})
	case req.needsConfirmation(login):
		h.ask(w, r, req, login)
	default:
		h.logout(w, r, login, req.client, req.redirectURI, req.state, "logout requested by the client with an ID token of the user")
	}
}

// readLogoutParams reads the parameters of a GET (the query) or a POST (a
// form body, capped; the query is ignored, and r.PostForm holds the form
// afterwards). No parameter may be repeated; an empty value is an absent
// one, except for an empty confirmation, which is a missing one.
func readLogoutParams(w http.ResponseWriter, r *http.Request) (url.Values, *logoutRefusal) {
	var v url.Values
	if r.Method == http.MethodPost {
		mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || mt != "application/x-www-form-urlencoded" {
			return nil, refused("the request body must be application/x-www-form-urlencoded", nil)
		}
		var fe *wire.FormError
		if v, fe = wire.ReadForm(w, r, maxLogoutFormBytes); fe != nil {
			if fe.Malformed {
				return nil, refused("malformed parameters", nil)
			}
			return nil, refused("request body unreadable or too large", nil)
		}
		r.PostForm = v
	} else {
		var err error
		if v, err = url.ParseQuery(r.URL.RawQuery); err != nil {
			return nil, refused("malformed parameters", nil)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(v)) {
		vs := v[k]
		if len(vs) > 1 {
			switch k {
			case paramIDTokenHint, paramLogoutClientID, paramPostLogoutRedirectURI, paramLogoutState,
				LogoutConfirmField, "ui_locales", "logout_hint":
				return nil, refused(k+" is repeated", nil)
			}
			return nil, refused("a parameter is repeated", nil)
		}
		if vs[0] == "" && k != LogoutConfirmField {
			delete(v, k)
		}
	}
	return v, nil
}

// parseLogout validates a logout request: the hint, the client, the
// redirect URI. Nothing here depends on who is signed in.
func (s *Service) parseLogout(ctx context.Context, v url.Values) (*logoutRequest, *logoutRefusal) {
	req := &logoutRequest{state: v.Get(paramLogoutState)}
	clientID := v.Get(paramLogoutClientID)
	if len(req.state) > MaxLogoutStateBytes {
		return nil, withClient(refused("state is too long", nil), clientID)
	}
	if raw := v.Get(paramIDTokenHint); raw != "" {
		hint, err := s.tokens.VerifyIDTokenHint(ctx, raw)
		if err != nil {
			return nil, withClient(refused("id_token_hint is not a valid ID token of this issuer", err), clientID)
		}
		req.hint = hint
		switch {
		case clientID == "":
			clientID = hint.AuthorizedParty
			if clientID == "" && len(hint.Audience) == 1 {
				clientID = hint.Audience[0]
			}
		case !hint.Audience.Contains(clientID) || hint.AuthorizedParty != "" && hint.AuthorizedParty != clientID:
			return nil, withClient(refused("client_id does not match the id_token_hint", nil), clientID)
		}
	}
	if clientID != "" {
		c, err := s.stores.Clients.Client(ctx, clientID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return nil, withClient(refused("unknown client", nil), clientID)
		case err != nil:
			return nil, withClient(unavailable(err), clientID)
		case c.Disabled:
			return nil, withClient(refused("the client is disabled", nil), clientID)
		}
		req.client = c
	}
	if uri := v.Get(paramPostLogoutRedirectURI); uri != "" {
		if req.client == nil {
			return nil, refused("post_logout_redirect_uri needs client_id or id_token_hint", nil)
		}
		if !slices.Contains(req.client.PostLogoutRedirectURIs, uri) {
			return nil, withClient(refused("post_logout_redirect_uri is not registered for the client", nil), req.client.ID)
		}
		if u, err := url.Parse(uri); err != nil || !u.IsAbs() {
			return nil, withClient(refused("the client's registered post_logout_redirect_uri is not an absolute URI", nil), req.client.ID)
		}
		req.redirectURI = uri
	}
	return req, nil
}

func withClient(e *logoutRefusal, clientID string) *logoutRefusal {
	e.clientID = clientID
	return e
}

// hintActor is who the hint says acts: the impersonator (act.sub) in an ID
// token issued under an impersonation session, else its subject.
func (req *logoutRequest) hintActor() string {
	if req.hint.Act != nil {
		return req.hint.Act.Subject
	}
	return req.hint.Subject
}

// needsConfirmation reports whether login must confirm: always, unless a
// client that skips logout consent sent a hint for the signed-in user
// (RP-Initiated Logout 1.0 §2: the OP MUST ask without a hint, or when the
// hint is not the current user's).
func (req *logoutRequest) needsConfirmation(login Login) bool {
	return req.client == nil || !req.client.SkipLogoutConsent || req.hint == nil || req.hintActor() != login.UserID
}

// ask shows the confirmation page with a fresh confirmation for login.
func (h *endSessionHandler) ask(w http.ResponseWriter, r *http.Request, req *logoutRequest, login Login) {
	s := h.svc
	ctx := r.Context()
	now := s.now()
	c := &logoutconfirm.Claims{
		Registered: claims.Registered{
			Issuer: s.issuer, Subject: login.UserID, Audience: claims.Audience{s.issuer},
			IssuedAt: claims.NewNumericDate(now), Expiry: claims.NewNumericDate(now.Add(logoutconfirm.TTL)), ID: jose.NewID(),
		},
		Login:       logoutBinding(login),
		RedirectURI: req.redirectURI,
		State:       req.state,
	}
	if req.client != nil {
		c.ClientID = req.client.ID
	}
	key, err := s.stores.Keys.SigningKey(ctx)
	if err != nil {
		h.refuse(w, r, withClient(unavailable(fmt.Errorf("signing key: %w", err)), c.ClientID))
		return
	}
	tok, err := logoutconfirm.Mint(key, c)
	if err != nil {
		h.refuse(w, r, withClient(unavailable(err), c.ClientID))
		return
	}
	h.render(w, r, &LogoutPage{
		Kind: LogoutConfirm, Status: http.StatusOK, Login: login, User: s.logoutUser(ctx, login.UserID),
		Client: req.client, OtherUser: req.hint != nil && req.hintActor() != login.UserID,
		Impersonation: s.logoutImpersonation(ctx, login), Action: h.action, Confirmation: tok,
	})
}

// confirm is the confirmation form coming back: the confirmation must be
// valid, for the login signed in now, and unused.
func (h *endSessionHandler) confirm(w http.ResponseWriter, r *http.Request, token string) {
	s := h.svc
	ctx := r.Context()
	if token == "" {
		h.refuse(w, r, forbidden("the sign-out confirmation is missing", nil))
		return
	}
	c, err := logoutconfirm.Verify(ctx, token, s.stores.Keys, logoutconfirm.Expect{Issuer: s.issuer, Now: s.now(), Skew: s.skew, Algs: s.algs})
	if err != nil {
		h.refuse(w, r, forbidden("the sign-out confirmation is not valid or has expired; start again", err))
		return
	}
	login, ok := h.logins.SignedIn(r)
	if !ok {
		// Signed out meanwhile (another tab): nothing to confirm.
		h.finish(w, r, s.stillRegistered(ctx, c.ClientID, c.RedirectURI), c.State, Login{})
		return
	}
	if login.UserID != c.Subject || subtle.ConstantTimeCompare([]byte(logoutBinding(login)), []byte(c.Login)) != 1 {
		h.refuse(w, r, withClient(forbidden("the sign-out confirmation was made for another sign-in", nil), c.ClientID))
		return
	}
	// Used last, so that a foreign attempt cannot burn the user's own.
	switch err := s.stores.OneTimeUse.Use(ctx, "logout-confirm:"+c.ID, c.Expiry.Time().Add(s.skew+holdMargin)); {
	case errors.Is(err, store.ErrAlreadyUsed):
		h.refuse(w, r, withClient(forbidden("the sign-out confirmation was used already", err), c.ClientID))
		return
	case err != nil:
		h.refuse(w, r, withClient(unavailable(err), c.ClientID))
		return
	}
	var client *store.Client
	if c.ClientID != "" {
		if cl, err := s.stores.Clients.Client(ctx, c.ClientID); err == nil {
			client = cl
		}
	}
	h.logout(w, r, login, client, s.stillRegistered(ctx, c.ClientID, c.RedirectURI), c.State, "logout confirmed by the user")
}

// stillRegistered returns uri if it is still a post-logout redirect URI of
// the enabled client clientID, "" otherwise: a confirmation comes back
// minutes after the request was checked.
func (s *Service) stillRegistered(ctx context.Context, clientID, uri string) string {
	if clientID == "" || uri == "" {
		return ""
	}
	c, err := s.stores.Clients.Client(ctx, clientID)
	if err != nil || c.Disabled || !slices.Contains(c.PostLogoutRedirectURIs, uri) {
		return ""
	}
	return uri
}

// logout ends login: its impersonation session first (every token issued
// under it revoked, recorded), then the host's login, then records the
// logout and answers. A failure leaves the login (fail closed: 503).
func (h *endSessionHandler) logout(w http.ResponseWriter, r *http.Request, login Login, client *store.Client, redirectURI, state, reason string) {
	s := h.svc
	ctx := r.Context()
	var clientID string
	if client != nil {
		clientID = client.ID
	}
	if login.Session != "" {
		if err := s.sessions.End(ctx, login.Session, "logout"); err != nil {
			h.refuse(w, r, withClient(unavailable(err), clientID))
			return
		}
	}
	if err := h.logins.Logout(w, r); err != nil {
		h.refuse(w, r, withClient(unavailable(fmt.Errorf("host logout: %w", err)), clientID))
		return
	}
	ev := store.Event{Type: store.EventLoggedOut, ClientID: clientID, Subject: login.UserID, Outcome: store.OutcomeGranted, Reason: reason}
	if u := s.logoutUser(ctx, login.UserID); u != nil {
		ev.Org = u.Org
	}
	_ = s.record(ctx, ev) // the login has ended; a lost record goes to the fallback
	h.finish(w, r, redirectURI, state, login)
}

// finish redirects to redirectURI (303, with state), or shows that the
// user is signed out.
func (h *endSessionHandler) finish(w http.ResponseWriter, r *http.Request, redirectURI, state string, login Login) {
	if redirectURI != "" {
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, withState(redirectURI, state), http.StatusSeeOther)
		return
	}
	h.render(w, r, &LogoutPage{Kind: LogoutDone, Status: http.StatusOK, Login: login, User: h.svc.logoutUser(r.Context(), login.UserID)})
}

// withState adds state to the query of uri, keeping the registered URI
// byte for byte before it.
func withState(uri, state string) string {
	if state == "" {
		return uri
	}
	base, fragment, hasFragment := strings.Cut(uri, "#")
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
		if strings.HasSuffix(base, "?") || strings.HasSuffix(base, "&") {
			sep = ""
		}
	}
	out := base + sep + url.Values{paramLogoutState: {state}}.Encode()
	if hasFragment {
		out += "#" + fragment
	}
	return out
}

// refuse records a refused logout request as request.refused (its code,
// the fixed description and, for a failed check or a server failure, the
// cause; never a token or a parameter's value) and shows the refusal:
// nobody is logged out, nothing is redirected to.
func (h *endSessionHandler) refuse(w http.ResponseWriter, r *http.Request, e *logoutRefusal) {
	code := "invalid_request"
	if e.failed {
		code = "temporarily_unavailable"
	} else if e.status == http.StatusForbidden {
		code = "access_denied"
	}
	ev := refusalEvent(r, code, e.desc, e.cause)
	if !e.failed && e.cause != nil {
		ev.Reason += ": " + untrusted(e.cause.Error())
	}
	ev.ClientID = untrusted(e.clientID)
	_ = h.svc.record(r.Context(), ev)
	h.render(w, r, &LogoutPage{Kind: LogoutRefused, Status: e.status, Error: e.desc})
}

func (h *endSessionHandler) render(w http.ResponseWriter, r *http.Request, p *LogoutPage) {
	w.Header().Set("Cache-Control", "no-store")
	h.page(w, r, p)
}

// logoutUser is the user id for a page or an event, nil when unknown.
func (s *Service) logoutUser(ctx context.Context, id string) *store.User {
	if id == "" {
		return nil
	}
	u, err := s.stores.Users.User(ctx, id)
	if err != nil {
		return nil
	}
	return u
}

// logoutImpersonation is the impersonation session login runs, for the
// confirmation page; nil when none (or it cannot be read: the logout ends
// it anyway).
func (s *Service) logoutImpersonation(ctx context.Context, login Login) *store.ImpersonationSession {
	if s.sessions == nil || login.Session == "" {
		return nil
	}
	sess, err := s.sessions.store.SessionFor(ctx, login.Session)
	if err != nil {
		return nil
	}
	return sess
}

// logoutBinding is what binds a confirmation to login: a digest of its
// user, login session and authentication time.
func logoutBinding(l Login) string {
	h := sha256.New()
	for _, p := range []string{"actas logout confirmation", l.UserID, l.Session, strconv.FormatInt(l.AuthTime.Unix(), 10)} {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

// builtinLogoutPage renders the library's minimal pages.
func builtinLogoutPage(w http.ResponseWriter, _ *http.Request, p *LogoutPage) {
	view := struct {
		*LogoutPage
		Title, Who, Client, Subject string
		Confirm, Done               bool
	}{LogoutPage: p, Confirm: p.Kind == LogoutConfirm, Done: p.Kind == LogoutDone}
	switch p.Kind {
	case LogoutConfirm:
		view.Title = "Sign out?"
	case LogoutDone:
		view.Title = "You are signed out"
	default:
		view.Title = "Sign-out request refused"
	}
	view.Who = p.Login.UserID
	if p.User != nil && p.User.Username != "" {
		view.Who = p.User.Username
	}
	if p.Client != nil {
		view.Client = p.Client.ID
		if p.Client.Name != "" {
			view.Client = p.Client.Name
		}
	}
	if p.Impersonation != nil {
		view.Subject = p.Impersonation.Subject
	}
	var buf bytes.Buffer
	if err := logoutTemplate.Execute(&buf, view); err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	// No form-action: browsers apply it to the redirect that follows the
	// confirmation, to the client's own site.
	h.Set("Content-Security-Policy", "default-src 'none'; base-uri 'none'; frame-ancestors 'none'")
	w.WriteHeader(p.Status)
	_, _ = w.Write(buf.Bytes())
}

var logoutTemplate = template.Must(template.New("logout").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
</head>
<body>
<main>
<h1>{{.Title}}</h1>
{{- if .Confirm}}
<p id="logout-question">{{if .Client}}{{.Client}} asks to sign you out.{{else}}Do you want to sign out?{{end}} You are signed in as {{.Who}}.</p>
{{- if .OtherUser}}
<p id="logout-other-user">The application asked to sign out another account than yours.</p>
{{- end}}
{{- if .Subject}}
<p id="logout-impersonation">Signing out also ends your impersonation of {{.Subject}}.</p>
{{- end}}
<form method="post" action="{{.Action}}">
<input type="hidden" name="logout_confirmation" value="{{.Confirmation}}">
<button type="submit">Sign out</button>
</form>
{{- else if .Done}}
<p id="logout-done">You are signed out.</p>
{{- else}}
<p id="logout-error">{{.Error}}. Nobody was signed out.</p>
{{- end}}
</main>
</body>
</html>
`))
