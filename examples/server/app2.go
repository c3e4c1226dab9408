package main

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/actas/actas/impersonation/resource"
	"github.com/actas/actas/subjecttoken"
	"github.com/actas/actas/tokenexchange"
)

// demoApp2 is the second built-in business application (/app2), an
// ordinary OpenID Connect client that knows nothing about impersonation
// (the same code serves demo app 3 at /app3, for a client that does not
// allow impersonation, where a sign-in under an impersonation session is
// refused):
// it signs its users in with the authorization-code flow and PKCE S256
// (state, nonce and code verifier in its own cookie session, path /app2),
// redeems the code at the token endpoint with its client secret, verifies
// the ID token (issuer keys, audience, nonce) and the access token (issued
// for itself: aud demo-app2) and keeps the tokens server-side. Each page
// asks the introspection endpoint whether the access token is still
// active, refreshing it once when it is not, and signs the user out when
// that fails too.
//
// The demo API accepts only tokens for its own audience (<issuer>/api),
// and the code flow's access token is for the client itself, so the app
// does not call the API: it shows the claims of its own verified access
// token. When that token carries act, the page says so ("You are acting
// as bob — signed in as alice"): that is all the app knows of
// impersonation, and all it needs.
type demoApp2 struct {
	relyingParty
	// access verifies the app's own access tokens.
	access *resource.Verifier
	// path is where the app is mounted (/app2, /app3); brand its name.
	path, brand string
	// signedOutURL is where the end-session endpoint sends the browser
	// back to after a logout (path + "/signed-out"), when the client
	// registers it; empty otherwise.
	signedOutURL string
}

func newDemoApp2(s *server, secure bool) *demoApp2 {
	return newCodeFlowApp(s, secure, s.cfg.App2ClientID, "/app2", "Demo app 2")
}

// newCodeFlowApp sets up an ordinary OpenID Connect client app for the
// client clientID at path, named brand.
func newCodeFlowApp(s *server, secure bool, clientID, path, brand string) *demoApp2 {
	rp, c := newRelyingParty(s, secure, clientID, path, "actas_demo_"+strings.TrimPrefix(path, "/"))
	a := &demoApp2{relyingParty: rp, path: path, brand: brand}
	if a.problem == "" && !slices.Contains(c.GrantTypes, tokenexchange.GrantTypeAuthorizationCode) {
		a.problem = fmt.Sprintf("client %q needs the authorization_code grant type", a.clientID)
	}
	a.scope = scopeOf(c, []string{"openid"}, func(sc string) bool { return sc == subjecttoken.ScopeImpersonate })
	if u := s.issuer + path + "/signed-out"; slices.Contains(c.PostLogoutRedirectURIs, u) {
		a.signedOutURL = u
	}
	var err error
	if a.access, err = resource.NewVerifier(s.issuer, a.clientID, a.jwks, resource.WithClock(s.now)); err != nil && a.problem == "" {
		a.problem = "cannot verify tokens: " + err.Error()
	}
	return a
}

// app2Body is the Body of the app2 page.
type app2Body struct {
	SignedIn bool
	// Acting: the access token carries act; Subject is the user it is
	// for, Actor who acts.
	Acting  bool
	Subject string
	Actor   string
	// Claims are the access token's claims, indented JSON.
	Claims     string
	CanRefresh bool
	Flash      string
	Error      string
	// Path is where the app is mounted, Name its name.
	Path, Name string
}

func (a *demoApp2) render(w http.ResponseWriter, status int, sess session, body app2Body) {
	body.Path, body.Name = a.path, a.brand
	render(w, a.s.logger, status, "app2", pageData{Title: a.brand, Brand: a.brand, CSRF: sess.CSRF, Body: body})
}

func (a *demoApp2) message(w http.ResponseWriter, status int, heading, text string) {
	message(w, a.s.logger, status, pageData{Brand: a.brand}, messageBody{
		Heading: heading, Text: text, IsError: status >= 400, Link: a.path, LinkText: "Back to " + strings.ToLower(a.brand[:1]) + a.brand[1:],
	})
}

// login is GET /app2/login: it remembers a fresh state, nonce and PKCE
// code verifier and sends the browser to the authorize endpoint with
// response_type=code and the S256 code challenge.
func (a *demoApp2) login(w http.ResponseWriter, r *http.Request) {
	if a.problem != "" {
		a.message(w, http.StatusServiceUnavailable, a.brand+" unavailable", a.problem)
		return
	}
	sess := a.sessions.ensure(w, r)
	p := &pendingAuth{State: randomToken(), Nonce: randomToken(), Verifier: randomToken()}
	if !a.sessions.update(sess.ID, func(s *session) { s.Pending = p }) {
		a.message(w, http.StatusServiceUnavailable, "Try again", "The session expired.")
		return
	}
	v := url.Values{
		"client_id":             {a.clientID},
		"redirect_uri":          {a.callbackURL},
		"response_type":         {responseTypeCode},
		"scope":                 {a.scope},
		"state":                 {p.State},
		"nonce":                 {p.Nonce},
		"code_challenge":        {s256(p.Verifier)},
		"code_challenge_method": {pkceS256},
	}
	http.Redirect(w, r, a.s.issuer+"/oauth2/authorize?"+v.Encode(), http.StatusFound)
}

// callback is GET /app2/callback, the redirect URI: it checks the state,
// redeems the code with the code verifier and the client secret,
// verifies the ID token and its nonce and the access token, and keeps the
// tokens in a new session.
func (a *demoApp2) callback(w http.ResponseWriter, r *http.Request) {
	sess, ok := a.sessions.get(r)
	if !ok || sess.Pending == nil {
		a.message(w, http.StatusBadRequest, "No sign-in in progress", "No sign-in to "+a.path+" is being started in this browser.")
		return
	}
	p := sess.Pending
	q := r.URL.Query()
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(p.State)) != 1 {
		a.message(w, http.StatusBadRequest, "Bad request", "The response does not belong to the sign-in started in this browser (state mismatch).")
		return
	}
	a.sessions.update(sess.ID, func(s *session) { s.Pending = nil }) // one response per request
	if code := q.Get("error"); code != "" {
		a.message(w, http.StatusOK, "Not signed in", errorAnswer(code, q.Get("error_description")))
		return
	}
	code := q.Get("code")
	if code == "" {
		a.message(w, http.StatusBadRequest, "Bad request", "The response has no code.")
		return
	}
	ctx := r.Context()
	tr, err := a.token(ctx, url.Values{
		"grant_type":    {tokenexchange.GrantTypeAuthorizationCode},
		"code":          {code},
		"redirect_uri":  {a.callbackURL},
		"code_verifier": {p.Verifier},
	})
	if err != nil {
		a.message(w, http.StatusBadGateway, "Sign-in failed", describeRetrieveError(err))
		return
	}
	id, err := a.ids.verify(ctx, tr.IDToken, a.clientID)
	if err != nil || subtle.ConstantTimeCompare([]byte(id.Nonce), []byte(p.Nonce)) != 1 {
		a.message(w, http.StatusBadGateway, "Sign-in failed", "The ID token is invalid or was not issued for the sign-in started in this browser.")
		return
	}
	if at, err := a.access.Verify(ctx, tr.AccessToken); err != nil || at.Subject != id.Subject {
		a.message(w, http.StatusBadGateway, "Sign-in failed", "The access token is invalid or not for the user of the ID token.")
		return
	}
	// A previous sign-in of this browser is forgotten, not revoked: under
	// an impersonation session, revoking its tokens would end the session
	// this sign-in runs in.
	a.sessions.renew(w, r, func(n *session) {
		n.AccessToken, n.RefreshToken, n.Subject, n.IDToken = tr.AccessToken, tr.RefreshToken, id.Subject, tr.IDToken
	})
	http.Redirect(w, r, a.path, http.StatusSeeOther)
}

// home is GET /app2: who is signed in (from the app's own verified access
// token, with the banner when it carries act) and its claims.
func (a *demoApp2) home(w http.ResponseWriter, r *http.Request) {
	sess, ok, flash := a.takeFlash(r)
	body := app2Body{Flash: flash}
	if a.problem != "" {
		body.Error = a.brand + " is not available: " + a.problem
	}
	if !ok || sess.AccessToken == "" {
		a.render(w, http.StatusOK, sess, body)
		return
	}
	ctx := r.Context()
	active, err := a.active(ctx, sess.AccessToken)
	if err != nil {
		body.Error = "The identity server could not be reached."
		a.render(w, http.StatusBadGateway, sess, body)
		return
	}
	if !active && sess.RefreshToken != "" {
		// Expired or revoked: a refresh, if the identity server still
		// allows one, carries on.
		if sess, err = a.doRefresh(ctx, sess); err == nil {
			active, err = a.active(ctx, sess.AccessToken)
		}
		if err != nil && !errors.Is(err, errRefreshRefused) {
			body.Error = "The identity server could not be reached."
			a.render(w, http.StatusBadGateway, sess, body)
			return
		}
	}
	if !active {
		a.sessions.update(sess.ID, forgetTokens)
		body.Flash = "You have been signed out: the identity server no longer accepts your session."
		a.render(w, http.StatusOK, sess, body)
		return
	}
	at, err := a.access.Verify(ctx, sess.AccessToken)
	if err != nil {
		body.Error = "The access token could not be verified."
		a.render(w, http.StatusBadGateway, sess, body)
		return
	}
	body.SignedIn = true
	body.Subject = a.s.dir.username(at.Subject)
	if at.Actor != nil {
		body.Acting = true
		body.Actor = a.s.dir.username(at.Actor.Subject)
	}
	body.Claims = tokenClaimsJSON(sess.AccessToken)
	body.CanRefresh = sess.RefreshToken != ""
	a.render(w, http.StatusOK, sess, body)
}

// active asks the introspection endpoint whether token is active.
func (a *demoApp2) active(ctx context.Context, token string) (bool, error) {
	in, err := tokenexchange.Introspect(ctx, a.s.cfg.HTTPClient, a.s.issuer+"/oauth2/introspect", a.clientID, a.secret, token, tokenexchange.TokenTypeHintAccessToken)
	if err != nil {
		a.s.logger.Error(a.path+": introspect", "err", describeRetrieveError(err))
		return false, err
	}
	return in.Active, nil
}

// refresh is POST /app2/refresh: the refresh token grant, and back to the
// page with what happened.
func (a *demoApp2) refresh(w http.ResponseWriter, r *http.Request) {
	sess, ok := a.checkForm(w, r)
	if !ok {
		return
	}
	flash := "You are not signed in to " + a.path + "."
	if sess.RefreshToken != "" {
		_, err := a.doRefresh(r.Context(), sess)
		switch {
		case err == nil:
			flash = "Tokens refreshed: a new access token, ID token and refresh token."
		case errors.Is(err, errRefreshRefused):
			a.sessions.update(sess.ID, forgetTokens)
			flash = "You have been signed out: " + err.Error()
		default:
			flash = "The tokens could not be refreshed: " + describeRetrieveError(err)
		}
	}
	a.sessions.update(sess.ID, func(s *session) { s.Flash = flash })
	http.Redirect(w, r, a.path, http.StatusSeeOther)
}

// errRefreshRefused: the identity server refused the refresh token, or
// answered with tokens the app does not accept.
var errRefreshRefused = errors.New("the identity server refused to refresh the session")

// doRefresh redeems the session's refresh token and keeps the new tokens
// (OpenID Connect Core §12.2: the new ID token must name the same user).
func (a *demoApp2) doRefresh(ctx context.Context, sess session) (session, error) {
	tr, err := a.token(ctx, url.Values{"grant_type": {tokenexchange.GrantTypeRefreshToken}, "refresh_token": {sess.RefreshToken}})
	var re *tokenexchange.RetrieveError
	switch {
	case errors.As(err, &re) && re.ErrorCode != "" && re.ErrorCode != tokenexchange.ErrTemporarilyUnavailable.Code && re.ErrorCode != tokenexchange.ErrServerError.Code:
		return sess, fmt.Errorf("%w (%s)", errRefreshRefused, re.ErrorCode)
	case err != nil:
		return sess, err
	}
	if tr.IDToken != "" {
		id, err := a.ids.verify(ctx, tr.IDToken, a.clientID)
		if err != nil || id.Subject != sess.Subject {
			return sess, errRefreshRefused
		}
	}
	if at, err := a.access.Verify(ctx, tr.AccessToken); err != nil || at.Subject != sess.Subject {
		return sess, errRefreshRefused
	}
	sess.AccessToken, sess.RefreshToken = tr.AccessToken, tr.RefreshToken
	if tr.IDToken != "" {
		sess.IDToken = tr.IDToken
	}
	a.sessions.update(sess.ID, func(s *session) {
		s.AccessToken, s.RefreshToken, s.IDToken = sess.AccessToken, sess.RefreshToken, sess.IDToken
	})
	return sess, nil
}

// forgetTokens signs the app's session out: its tokens are gone.
func forgetTokens(s *session) {
	s.AccessToken, s.RefreshToken, s.Subject, s.IDToken = "", "", "", ""
}

// logout is POST /app2/logout: OpenID Connect RP-Initiated Logout. The
// app forgets its tokens and sends the browser (303, so a GET: the
// identity server's SameSite=Lax cookie comes along) to the end-session
// endpoint with its ID token as id_token_hint, its client_id, and, when
// the client registers it, post_logout_redirect_uri path/signed-out with a
// fresh state. The identity server signs the user out there (after asking,
// unless the client skips logout consent), which under an impersonation
// session ends that session and every token issued under it: the
// identity server decides that, the app does not know. The app revokes
// its own tokens (RFC 7009) when the browser comes back.
func (a *demoApp2) logout(w http.ResponseWriter, r *http.Request) {
	sess, ok := a.checkForm(w, r)
	if !ok {
		return
	}
	if sess.AccessToken == "" && sess.IDToken == "" {
		a.sessions.destroy(w, r)
		http.Redirect(w, r, a.path, http.StatusSeeOther)
		return
	}
	v := url.Values{"client_id": {a.clientID}}
	if sess.IDToken != "" {
		v.Set("id_token_hint", sess.IDToken)
	}
	if a.signedOutURL == "" {
		// Nowhere to come back to: the identity server says the user is
		// signed out, and the app revokes its tokens now.
		a.revoke(r.Context(), sess.RefreshToken, sess.AccessToken)
		a.sessions.destroy(w, r)
	} else {
		p := &pendingLogout{State: randomToken(), AccessToken: sess.AccessToken, RefreshToken: sess.RefreshToken}
		a.sessions.update(sess.ID, func(s *session) { forgetTokens(s); s.PendingLogout = p })
		v.Set("post_logout_redirect_uri", a.signedOutURL)
		v.Set("state", p.State)
	}
	http.Redirect(w, r, a.s.issuer+"/oauth2/logout?"+v.Encode(), http.StatusSeeOther)
}

// signedOut is GET /app2/signed-out, the post-logout redirect URI: the
// state must be the one the app's logout sent; then the app revokes the
// tokens it forgot (those issued under an impersonation session the
// identity server has revoked already) and says so on its page.
func (a *demoApp2) signedOut(w http.ResponseWriter, r *http.Request) {
	sess, ok := a.sessions.get(r)
	if !ok || sess.PendingLogout == nil {
		a.message(w, http.StatusBadRequest, "No sign-out in progress", "No sign-out of "+a.path+" was started in this browser.")
		return
	}
	p := sess.PendingLogout
	if subtle.ConstantTimeCompare([]byte(r.URL.Query().Get("state")), []byte(p.State)) != 1 {
		a.message(w, http.StatusBadRequest, "Bad request", "The response does not belong to the sign-out started in this browser (state mismatch).")
		return
	}
	a.revoke(r.Context(), p.RefreshToken, p.AccessToken)
	a.sessions.update(sess.ID, func(s *session) {
		s.PendingLogout = nil
		s.Flash = "You are signed out of " + a.brand + " and of the identity server."
	})
	http.Redirect(w, r, a.path, http.StatusSeeOther)
}

// checkForm parses a POSTed form of the app and checks its CSRF token.
func (a *demoApp2) checkForm(w http.ResponseWriter, r *http.Request) (session, bool) {
	return a.relyingParty.checkForm(w, r, a.message)
}

// revoke revokes tokens, best effort: failures are logged.
func (a *demoApp2) revoke(ctx context.Context, tokens ...string) {
	for _, t := range tokens {
		if t == "" {
			continue
		}
		if err := tokenexchange.Revoke(ctx, a.s.cfg.HTTPClient, a.s.issuer+"/oauth2/revoke", a.clientID, a.secret, t, ""); err != nil {
			a.s.logger.Error(a.path+": revoke", "err", describeRetrieveError(err))
		}
	}
}

// tokenResponse is a token endpoint response of the code and refresh
// grants (RFC 6749 §5.1, OpenID Connect Core §3.1.3.3).
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	Scope        string `json:"scope"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token"`
}

// token posts form to the token endpoint with client_secret_basic and
// decodes the answer. An OAuth error comes back as a
// *tokenexchange.RetrieveError.
func (a *demoApp2) token(ctx context.Context, form url.Values) (*tokenResponse, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.s.issuer+"/oauth2/token", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(url.QueryEscape(a.clientID), url.QueryEscape(a.secret))
	resp, err := a.s.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		_ = json.Unmarshal(raw, &e)
		return nil, &tokenexchange.RetrieveError{StatusCode: resp.StatusCode, ErrorCode: e.Error, ErrorDescription: e.Description}
	}
	var tr tokenResponse
	if err := json.Unmarshal(raw, &tr); err != nil {
		return nil, fmt.Errorf("token response: %w", err)
	}
	if tr.AccessToken == "" || !strings.EqualFold(tr.TokenType, tokenexchange.BearerTokenType) {
		return nil, errors.New("token response: no bearer access token")
	}
	return &tr, nil
}

// tokenClaimsJSON returns the payload of a JWT (verified by the caller)
// as indented JSON.
func tokenClaimsJSON(jwt string) string {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return ""
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var out bytes.Buffer
	if err := json.Indent(&out, raw, "", "  "); err != nil {
		return ""
	}
	return out.String()
}
