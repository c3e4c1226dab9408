package main

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/actas/actas/examples/api"
	"github.com/actas/actas/impersonation"
	"github.com/actas/actas/impersonation/resource"
	"github.com/actas/actas/store"
	"github.com/actas/actas/subjecttoken"
	"github.com/actas/actas/tokenexchange"
)

// demoApp is the built-in business application (/app): a confidential
// client of the identity server that talks to it only over HTTP, as a
// separate application would, with its own cookie session. It starts an
// impersonation with an authorize request (response_type "id_token
// subject_token", response_mode form_post, state and nonce kept in its
// session), exchanges the tokens at the token endpoint with its own
// credentials, asking for the API's audience, keeps the access token
// server-side and calls the API with it. Every page under impersonation
// shows who is acting as whom, with an End impersonation button that
// revokes the access token.
//
// It shares two things with the identity server: the user directory, to
// show names instead of user IDs, and one call in each direction of an
// impersonation's life, because the impersonation session lives at the
// identity server and only the app holds the exchanged access token.
// After a successful exchange the callback, which runs in the browser
// that is signed in at the identity server (its session cookie comes
// along, path /), asks it to turn that login session into an
// impersonation session (Sessions.Start, with the reason the
// console asked for): from then on every ordinary sign-in through it, in
// demo app 2 or any other client, is bob's with act alice. End
// impersonation ends that session (Sessions.End) before revoking
// the token.
type demoApp struct {
	relyingParty
	// starts are the impersonations the console asked the app to start
	// (offerStart), each under a single-use handle.
	starts *startStore
}

// relyingParty is what both demo apps are to the identity server: a
// confidential client with a callback, talking to it over HTTP, verifying
// what it gets with the issuer's published keys as any relying party
// would, with a cookie session of its own.
type relyingParty struct {
	s           *server
	clientID    string
	secret      string
	callbackURL string
	scope       string
	// jwks reads the issuer's published keys; ids verifies ID tokens
	// with them.
	jwks *resource.RemoteKeySet
	ids  idTokenVerifier
	// problem says why the app cannot run with the loaded data; empty
	// when it can.
	problem  string
	sessions *sessionStore
}

// newRelyingParty sets up the app at path (its callback is path +
// "/callback", its cookie is named cookie and scoped to path) for the
// client clientID of the data, and returns the client for the app's own
// checks. problem is set when the client is missing, has no secret or does
// not register the callback, or when the keys cannot be read.
func newRelyingParty(s *server, secure bool, clientID, path, cookie string) (relyingParty, store.Client) {
	rp := relyingParty{
		s:           s,
		clientID:    clientID,
		secret:      s.dir.secrets[clientID],
		callbackURL: s.issuer + path + "/callback",
		sessions:    newSessionStore(cookie, path, secure, s.now),
	}
	c, ok := s.dir.client(clientID)
	switch {
	case !ok:
		rp.problem = fmt.Sprintf("the data has no client %q", clientID)
	case rp.secret == "":
		rp.problem = fmt.Sprintf("client %q has no secret", clientID)
	case !slices.Contains(c.RedirectURIs, rp.callbackURL):
		rp.problem = fmt.Sprintf("client %q does not register the redirect URI %s", clientID, rp.callbackURL)
	}
	var err error
	rp.jwks, err = resource.NewRemoteKeySet(s.issuer+"/oauth2/jwks", s.cfg.HTTPClient, resource.WithClock(s.now))
	rp.ids = idTokenVerifier{issuer: s.issuer, keys: rp.jwks, now: s.now}
	if err != nil && rp.problem == "" {
		rp.problem = "cannot verify tokens: " + err.Error()
	}
	return rp, c
}

// checkForm parses a POSTed form of the app and checks its CSRF token;
// message answers (400 or 403, nothing done) when it returns false.
func (rp *relyingParty) checkForm(w http.ResponseWriter, r *http.Request, message func(http.ResponseWriter, int, string, string)) (session, bool) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		message(w, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return session{}, false
	}
	sess, ok := rp.sessions.get(r)
	if !ok || !checkCSRF(r, sess) {
		message(w, http.StatusForbidden, "Forbidden", "The form has expired or did not come from this site.")
		return session{}, false
	}
	return sess, true
}

// takeFlash returns the app's session of r, if any, and its flash
// message, which it clears.
func (rp *relyingParty) takeFlash(r *http.Request) (session, bool, string) {
	sess, ok := rp.sessions.get(r)
	if !ok || sess.Flash == "" {
		return sess, ok, ""
	}
	rp.sessions.update(sess.ID, func(s *session) { s.Flash = "" })
	return sess, ok, sess.Flash
}

// errorAnswer is the text for an error response (RFC 6749 §4.1.2.1) of
// the authorize endpoint: its code and description.
func errorAnswer(code, description string) string {
	text := "The identity server answered " + code
	if description != "" {
		text += ": " + description
	}
	return text + "."
}

// scopeOf returns the scope the app asks for: first, then the client's
// registered scopes except those drop refuses.
func scopeOf(c store.Client, first []string, drop func(string) bool) string {
	scope := slices.Clone(first)
	for _, sc := range c.Scopes {
		if !slices.Contains(scope, sc) && !drop(sc) {
			scope = append(scope, sc)
		}
	}
	return strings.Join(scope, " ")
}

func newDemoApp(s *server, secure bool) *demoApp {
	// The app's cookie is its own, scoped to /app. SameSite=Lax is enough
	// for the form_post callback only because the app and the identity
	// server share an origin here; an app on another site receiving
	// form_post needs SameSite=None for its state cookie.
	rp, c := newRelyingParty(s, secure, s.cfg.AppClientID, "/app", "actas_demo_app")
	a := &demoApp{relyingParty: rp, starts: newStartStore(s.now)}
	switch {
	case a.problem != "":
	case !c.Impersonation || !slices.Contains(c.GrantTypes, tokenexchange.GrantType):
		a.problem = fmt.Sprintf("client %q needs impersonation on and the token exchange grant type", a.clientID)
	case len(c.ResponseModes) > 0 && !slices.Contains(c.ResponseModes, store.ResponseModeFormPost):
		a.problem = fmt.Sprintf("client %q does not allow the form_post response mode", a.clientID)
	case !slices.Contains(c.Audiences, s.apiAudience):
		a.problem = fmt.Sprintf("client %q does not list the API's audience %s", a.clientID, s.apiAudience)
	}
	a.scope = scopeOf(c, []string{"openid", subjecttoken.ScopeImpersonate}, func(string) bool { return false })
	return a
}

// appBody is the Body of the app page.
type appBody struct {
	SignedIn bool
	Acting   bool
	Subject  string
	Actor    string
	Me       string
	Flash    string
	Error    string
	// App2 links to demo app 2, where the impersonation session signs in.
	App2 bool
}

func (a *demoApp) render(w http.ResponseWriter, status int, sess session, body appBody) {
	render(w, a.s.logger, status, "app", pageData{Title: "Demo app", App: true, CSRF: sess.CSRF, Body: body})
}

func (a *demoApp) message(w http.ResponseWriter, status int, heading, text string) {
	message(w, a.s.logger, status, pageData{App: true}, messageBody{
		Heading: heading, Text: text, IsError: status >= 400, Link: "/console", LinkText: "Back to the console",
	})
}

// Starting an impersonation (issue 11, F2). No GET starts one: the
// console's CSRF-checked POST /console/impersonate hands the start to the
// app server-side (offerStart) and redirects the browser to
// /app/start?handle=<h>. The handle is random (256 bits), lives startTTL
// on the server's clock and is kept under the admin's identity-server
// login session (at most one per login session: a newer start replaces
// it): /app/start accepts it only from the browser whose actas_session
// cookie names that login session, signed in as the same user, and any
// presentation there, right or wrong, uses the pending start up. A link
// from another site carries no handle it could know, so it starts nothing.

// startTTL is how long a handle lives: the console redirects to
// /app/start at once.
const startTTL = time.Minute

// pendingStart is an impersonation the console asked the app to start.
type pendingStart struct {
	// handle is what /app/start must be given; user is the impersonator
	// (the login session's user).
	handle, user string
	// subject, reason and then are what the console checked: whom to
	// impersonate, why, and where to go after the exchange ("app2": demo
	// app 2, else /app).
	subject, reason, then string
	expires               time.Time
}

// startStore keeps the pending starts, at most one per login session
// (keyed by loginSessionID: a newer start replaces an older one). It is
// safe for concurrent use.
type startStore struct {
	now func() time.Time
	mu  sync.Mutex
	m   map[string]pendingStart
}

func newStartStore(now func() time.Time) *startStore {
	return &startStore{now: now, m: map[string]pendingStart{}}
}

// put keeps p for the login session login and returns its new handle.
func (st *startStore) put(login string, p pendingStart) string {
	p.handle = randomToken()
	p.expires = st.now().Add(startTTL)
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.m) >= maxSessions/2 {
		now := st.now()
		for k, v := range st.m {
			if !now.Before(v.expires) {
				delete(st.m, k)
			}
		}
	}
	if len(st.m) >= maxSessions {
		return "" // no room: the console asks to try again
	}
	st.m[login] = p
	return p.handle
}

// take removes the pending start of the login session login and returns
// it if handle is its handle and it has not expired.
func (st *startStore) take(login, handle string) (pendingStart, bool) {
	st.mu.Lock()
	p, ok := st.m[login]
	delete(st.m, login)
	st.mu.Unlock()
	if !ok || handle == "" || subtle.ConstantTimeCompare([]byte(handle), []byte(p.handle)) != 1 || !st.now().Before(p.expires) {
		return pendingStart{}, false
	}
	return p, true
}

// offerStart is the console's side: it keeps the start the console has
// checked for the admin's login session sess and returns the handle
// /app/start needs.
func (a *demoApp) offerStart(sess session, subject, reason, then string) string {
	return a.starts.put(loginSessionID(sess), pendingStart{user: sess.UserID, subject: subject, reason: reason, then: then})
}

// start is GET /app/start?handle=<h>, where the console's Impersonate
// sends the browser: it takes the pending start of the handle (refused
// with 400 when there is no handle, 403 when it is unknown, used, expired
// or another login session's; nothing starts), remembers a fresh state and
// nonce, the reason and where to go after the exchange, and sends the
// browser to the authorize endpoint. Any other parameter (user=, reason=)
// is ignored: whom to impersonate and why come from the handle alone.
func (a *demoApp) start(w http.ResponseWriter, r *http.Request) {
	if a.problem != "" {
		a.message(w, http.StatusServiceUnavailable, "Demo app unavailable", a.problem)
		return
	}
	handle := r.URL.Query().Get("handle")
	if handle == "" {
		a.message(w, http.StatusBadRequest, "Impersonation not started",
			"This link does not come from the console: the demo app starts an impersonation only when the console asks it to. Start it from the console.")
		return
	}
	idp, signedIn := a.s.signedIn(r)
	if !signedIn {
		a.message(w, http.StatusForbidden, "Impersonation not started",
			"You are not signed in at the identity server. Start it from the console.")
		return
	}
	ps, ok := a.starts.take(loginSessionID(idp), handle)
	if !ok || ps.user != idp.UserID {
		a.message(w, http.StatusForbidden, "Impersonation not started",
			"This link is unknown, used already, expired or was made for another sign-in. Start it from the console.")
		return
	}
	sess := a.sessions.ensure(w, r)
	p := &pendingAuth{State: randomToken(), Nonce: randomToken(), Subject: ps.subject, Reason: ps.reason, Then: ps.then}
	if !a.sessions.update(sess.ID, func(s *session) { s.Pending = p }) {
		a.message(w, http.StatusServiceUnavailable, "Try again", "The session expired.")
		return
	}
	v := url.Values{
		"client_id":         {a.clientID},
		"redirect_uri":      {a.callbackURL},
		"response_type":     {"id_token subject_token"},
		"response_mode":     {store.ResponseModeFormPost},
		"scope":             {a.scope},
		"requested_subject": {ps.subject},
		"state":             {p.State},
		"nonce":             {p.Nonce},
	}
	if ps.reason != "" {
		v.Set("impersonation_reason", ps.reason)
	}
	http.Redirect(w, r, a.s.issuer+"/oauth2/authorize?"+v.Encode(), http.StatusFound)
}

// callback is POST /app/callback, the form_post redirect URI: it checks
// state, exchanges the subject token and the ID token for an access token
// for the API, checks the ID token's nonce, keeps the access token in the
// session and has the identity server start the impersonation session.
// It goes on to /app, or with then=app2 to demo app 2's sign-in.
func (a *demoApp) callback(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		a.message(w, http.StatusBadRequest, "Bad request", "The response could not be read.")
		return
	}
	sess, ok := a.sessions.get(r)
	if !ok || sess.Pending == nil {
		a.message(w, http.StatusBadRequest, "No impersonation in progress", "No impersonation is being started in this browser.")
		return
	}
	p := sess.Pending
	state := r.PostForm.Get("state")
	if subtle.ConstantTimeCompare([]byte(state), []byte(p.State)) != 1 {
		a.message(w, http.StatusBadRequest, "Bad request", "The response does not belong to the impersonation started in this browser (state mismatch).")
		return
	}
	a.sessions.update(sess.ID, func(s *session) { s.Pending = nil }) // one response per request
	if code := r.PostForm.Get("error"); code != "" {
		a.message(w, http.StatusOK, "Impersonation not started", errorAnswer(code, r.PostForm.Get("error_description")))
		return
	}
	subjectToken, idToken := r.PostForm.Get("subject_token"), r.PostForm.Get("id_token")
	if subjectToken == "" || idToken == "" {
		a.message(w, http.StatusBadRequest, "Bad request", "The response lacks the subject token or the ID token.")
		return
	}

	ctx := r.Context()
	// Verify the ID token (signature with the issuer's JWKS, issuer,
	// audience, expiry) and its nonce before using anything from it: the
	// nonce ties it to the impersonation this browser started.
	claims, err := a.ids.verify(ctx, idToken, a.clientID)
	if err != nil || subtle.ConstantTimeCompare([]byte(claims.Nonce), []byte(p.Nonce)) != 1 {
		a.message(w, http.StatusBadRequest, "Bad request", "The ID token is invalid or was not issued for the impersonation started in this browser.")
		return
	}
	resp, err := tokenexchange.Exchange(ctx, a.s.cfg.HTTPClient, a.s.issuer+"/oauth2/token", a.clientID, a.secret, &tokenexchange.Request{
		GrantType:          tokenexchange.GrantType,
		SubjectToken:       subjectToken,
		SubjectTokenType:   tokenexchange.TokenTypeJWT,
		ActorToken:         idToken,
		ActorTokenType:     tokenexchange.TokenTypeIDToken,
		RequestedTokenType: tokenexchange.TokenTypeAccessToken,
		Audience:           []string{a.s.apiAudience},
	})
	if err != nil {
		a.message(w, http.StatusBadGateway, "Token exchange refused", describeRetrieveError(err))
		return
	}
	if sess.AccessToken != "" {
		a.revoke(ctx, sess.AccessToken) // a new impersonation ends the previous one
	}
	login, started, problem := a.s.startImpersonationSession(r, claims.Subject, resp.AccessToken, p.Reason)
	a.sessions.renew(w, r, func(n *session) {
		n.AccessToken = resp.AccessToken
		n.Flash = problem
		if started != nil {
			n.ImpersonationLogin, n.ImpersonationID = login, started.ID
		}
	})
	if p.Then == "app2" && started != nil && a.s.app2.problem == "" {
		http.Redirect(w, r, "/app2/login", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/app", http.StatusSeeOther)
}

// startImpersonationSession turns the identity server's login session of
// r (its session cookie) into an impersonation session for accessToken,
// the access token just exchanged, with reason. The login session must be
// the impersonator's: the one whose ID token the exchange used. It returns
// the login session key and the session, or a message for the app's page
// saying why there is none (the exchange itself stands).
func (s *server) startImpersonationSession(r *http.Request, impersonator, accessToken, reason string) (string, *store.ImpersonationSession, string) {
	idp, ok := s.signedIn(r)
	if !ok || idp.UserID != impersonator {
		return "", nil, "No impersonation session: this browser is not signed in at the identity server as the impersonator, so other apps will not sign in as the user."
	}
	login := loginSessionID(idp)
	sess, err := s.svc.Sessions().Start(r.Context(), login, accessToken, reason)
	switch {
	case errors.Is(err, impersonation.ErrReasonRequired):
		return "", nil, "No impersonation session: it needs a reason (the console asks for one), so other apps will not sign in as the user."
	case err != nil:
		s.logger.Error("start impersonation session", "err", err)
		return "", nil, "No impersonation session: the identity server could not start it, so other apps will not sign in as the user."
	}
	return login, sess, ""
}

// endImpersonationSession ends the impersonation session id of the login
// session login, if it is still the one that login session runs (a later
// impersonation in the same browser replaced it otherwise).
func (s *server) endImpersonationSession(ctx context.Context, login, id, reason string) error {
	if login == "" {
		return nil
	}
	active, err := s.svc.Sessions().Active(ctx, login, "")
	if err != nil || active == nil || active.ID != id {
		return err
	}
	return s.svc.Sessions().End(ctx, login, reason)
}

func describeRetrieveError(err error) string {
	var re *tokenexchange.RetrieveError
	if errors.As(err, &re) && re.ErrorCode != "" {
		s := fmt.Sprintf("The identity server answered %d %s", re.StatusCode, re.ErrorCode)
		if re.ErrorDescription != "" {
			s += ": " + re.ErrorDescription
		}
		return s + "."
	}
	return "The identity server could not be reached."
}

// home is GET /app: under impersonation, the banner and the API's answer.
func (a *demoApp) home(w http.ResponseWriter, r *http.Request) {
	sess, ok, flash := a.takeFlash(r)
	body := appBody{Flash: flash}
	if a.problem != "" {
		body.Error = "The demo app is not available: " + a.problem
	}
	if !ok || sess.AccessToken == "" {
		a.render(w, http.StatusOK, sess, body)
		return
	}
	status, raw, err := a.callAPI(r.Context(), http.MethodGet, "/api/me", sess.AccessToken)
	switch {
	case err != nil:
		body.Error = "The API could not be reached."
		a.render(w, http.StatusBadGateway, sess, body)
		return
	case status == http.StatusUnauthorized:
		a.sessions.update(sess.ID, func(s *session) { s.AccessToken = "" })
		body.Flash = "Your impersonation has ended: the API no longer accepts the access token."
		a.render(w, http.StatusOK, sess, body)
		return
	case status != http.StatusOK:
		body.Error = fmt.Sprintf("The API answered %d.", status)
		a.render(w, http.StatusBadGateway, sess, body)
		return
	}
	var me api.Me
	if err := json.Unmarshal(raw, &me); err != nil {
		body.Error = "The API's answer could not be read."
		a.render(w, http.StatusBadGateway, sess, body)
		return
	}
	var pretty bytes.Buffer
	_ = json.Indent(&pretty, raw, "", "  ")
	body.SignedIn = true
	body.Me = strings.TrimSpace(pretty.String())
	body.Subject = a.s.dir.username(me.Subject)
	if me.Act != nil {
		body.Acting = true
		body.Actor = a.s.dir.username(me.Act.Subject)
		body.App2 = sess.ImpersonationID != "" && a.s.app2.problem == ""
	}
	a.render(w, http.StatusOK, sess, body)
}

// password is POST /app/password: it tries the operation the API keeps
// for the account holder, and shows the answer.
func (a *demoApp) password(w http.ResponseWriter, r *http.Request) {
	sess, ok := a.checkForm(w, r)
	if !ok {
		return
	}
	flash := "You are not signed in to the demo app."
	if sess.AccessToken != "" {
		status, raw, err := a.callAPI(r.Context(), http.MethodPost, "/api/password", sess.AccessToken)
		switch {
		case err != nil:
			flash = "The API could not be reached."
		case status == http.StatusNoContent:
			flash = "POST /api/password: 204, the password would have been changed."
		default:
			var e struct {
				Description string `json:"error_description"`
			}
			_ = json.Unmarshal(raw, &e)
			flash = fmt.Sprintf("POST /api/password: %d, refused: %s.", status, e.Description)
		}
	}
	a.sessions.update(sess.ID, func(s *session) { s.Flash = flash })
	http.Redirect(w, r, "/app", http.StatusSeeOther)
}

// end is POST /app/end, End impersonation: it ends the impersonation
// session at the identity server (every token issued under it, in any
// app, is revoked), revokes the access token at the revocation endpoint,
// forgets it and returns to the console.
func (a *demoApp) end(w http.ResponseWriter, r *http.Request) {
	sess, ok := a.checkForm(w, r)
	if !ok {
		return
	}
	if err := a.s.endImpersonationSession(r.Context(), sess.ImpersonationLogin, sess.ImpersonationID, "ended in the demo app"); err != nil {
		a.s.logger.Error("demo app: end the impersonation session", "err", err)
		a.sessions.update(sess.ID, func(s *session) {
			s.Flash = "Impersonation not ended: the identity server could not end the impersonation session. Try again."
		})
		http.Redirect(w, r, "/app", http.StatusSeeOther)
		return
	}
	if sess.AccessToken != "" {
		err := tokenexchange.Revoke(r.Context(), a.s.cfg.HTTPClient, a.s.issuer+"/oauth2/revoke", a.clientID, a.secret,
			sess.AccessToken, tokenexchange.TokenTypeHintAccessToken)
		if err != nil {
			// Still impersonating: back to the app page, with its banner.
			a.s.logger.Error("demo app: revoke", "err", describeRetrieveError(err))
			a.sessions.update(sess.ID, func(s *session) {
				s.Flash = "Impersonation not ended: the access token could not be revoked. " + describeRetrieveError(err)
			})
			http.Redirect(w, r, "/app", http.StatusSeeOther)
			return
		}
	}
	a.sessions.destroy(w, r)
	http.Redirect(w, r, "/console", http.StatusSeeOther)
}

// checkForm parses a POSTed form of the app and checks its CSRF token
// (403, nothing done, when it is missing or wrong).
func (a *demoApp) checkForm(w http.ResponseWriter, r *http.Request) (session, bool) {
	return a.relyingParty.checkForm(w, r, a.message)
}

// revoke revokes token, best effort: failures are logged.
func (a *demoApp) revoke(ctx context.Context, token string) {
	err := tokenexchange.Revoke(ctx, a.s.cfg.HTTPClient, a.s.issuer+"/oauth2/revoke", a.clientID, a.secret, token, tokenexchange.TokenTypeHintAccessToken)
	if err != nil {
		a.s.logger.Error("demo app: revoke", "err", describeRetrieveError(err))
	}
}

// callAPI calls the API at the issuer with the access token.
func (a *demoApp) callAPI(ctx context.Context, method, path, token string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, a.s.issuer+path, nil)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := a.s.cfg.HTTPClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, raw, err
}
