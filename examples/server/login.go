package main

import (
	"crypto/sha256"
	"encoding/base64"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/actas/actas/impersonation"
	"github.com/actas/actas/store"
	"github.com/actas/actas/subjecttoken"
)

// The host's own login: a username and password form with a CSRF token,
// sessions in memory, and the impersonation.Authenticator the authorize
// endpoint asks.

// loginBody is the Body of the login page.
type loginBody struct {
	Error    string
	Username string
	ReturnTo string
}

// genericLoginError is the only thing a failed login says: it never tells
// whether the username exists.
const genericLoginError = "Invalid username or password."

// defaultReturn is where a login without a return target goes.
const defaultReturn = "/console"

// safeReturn returns target if it is a path on this server, defaultReturn
// otherwise: no scheme, no host, no protocol-relative //host or /\host
// forms, so that the login is no open redirect.
func safeReturn(target string) string {
	if target == "" || !strings.HasPrefix(target, "/") || strings.HasPrefix(target, "//") ||
		strings.ContainsAny(target, "\\\r\n\t") {
		return defaultReturn
	}
	u, err := url.Parse(target)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return defaultReturn
	}
	return target
}

// showLogin renders the login form in the (possibly new, anonymous)
// session of the request.
func (s *server) showLogin(w http.ResponseWriter, r *http.Request, status int, body loginBody) {
	sess := s.idp.ensure(w, r)
	body.ReturnTo = safeReturn(body.ReturnTo)
	render(w, s.logger, status, "login", pageData{Title: "Sign in", CSRF: sess.CSRF, Body: body})
}

// loginPage is GET /login?return_to=/local/path.
func (s *server) loginPage(w http.ResponseWriter, r *http.Request) {
	s.showLogin(w, r, http.StatusOK, loginBody{ReturnTo: r.URL.Query().Get("return_to")})
}

// login is POST /login: CSRF first (403, nothing done), then the
// credentials. A success starts a new session (new ID and CSRF token) and
// goes to the return target; a failure shows the form again with a
// generic error.
func (s *server) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		message(w, s.logger, http.StatusBadRequest, pageData{}, messageBody{Heading: "Bad request", Text: "The form could not be read.", IsError: true})
		return
	}
	sess, ok := s.idp.get(r)
	if !ok || !checkCSRF(r, sess) {
		s.forbidden(w, "The form has expired or did not come from this site. Reload the page and try again.")
		return
	}
	username, password := r.PostForm.Get("username"), r.PostForm.Get("password")
	returnTo := safeReturn(r.PostForm.Get("return_to"))
	userID, ok := s.checkPassword(username, password)
	if !ok {
		s.showLogin(w, r, http.StatusUnauthorized, loginBody{Error: genericLoginError, Username: username, ReturnTo: returnTo})
		return
	}
	if old, ok := s.signedIn(r); ok {
		// The previous login session of this browser ends here: so does
		// its impersonation, if any.
		if err := s.svc.Sessions().End(r.Context(), loginSessionID(old), "signed in again"); err != nil {
			s.logger.Error("login: end the impersonation session", "err", err)
		}
	}
	now := s.now()
	s.idp.renew(w, r, func(n *session) { n.UserID, n.AuthTime = userID, now })
	http.Redirect(w, r, returnTo, http.StatusSeeOther)
}

// loginSessionID is what the library knows a login session by
// (impersonation sessions are keyed by it, in stores that keep it in
// clear, such as Redis): the SHA-256 of the session ID, base64url, never
// the session cookie itself.
func loginSessionID(sess session) string {
	sum := sha256.Sum256([]byte("actas login session\x00" + sess.ID))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// checkPassword verifies a username and password. An unknown user, a
// user without a password and a disabled user cost the same hash work as
// a wrong password, so timing does not tell them apart.
func (s *server) checkPassword(username, password string) (string, bool) {
	acct, known := s.dir.accounts[username]
	hash := acct.hash
	if !known || hash == "" {
		hash = s.dir.dummyHash
	}
	match := store.VerifySecret(hash, password)
	if !known || acct.hash == "" || acct.disabled || !match {
		return "", false
	}
	return acct.userID, true
}

// logout is POST /logout (CSRF checked). It ends the impersonation
// session of the login session first, revoking every token issued under
// it; if that fails the user stays signed in (fail closed) and is told.
func (s *server) logout(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	_ = r.ParseForm()
	sess, ok := s.idp.get(r)
	if !ok {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	if !checkCSRF(r, sess) {
		s.forbidden(w, "The form has expired or did not come from this site.")
		return
	}
	if sess.UserID != "" {
		if err := s.svc.Sessions().End(r.Context(), loginSessionID(sess), "logout"); err != nil {
			s.logger.Error("logout: end the impersonation session", "err", err)
			message(w, s.logger, http.StatusServiceUnavailable, pageData{}, messageBody{
				Heading: "Not signed out", IsError: true, Link: "/console", LinkText: "Back to the console",
				Text: "Your impersonation could not be ended, so you are still signed in. Try again in a moment.",
			})
			return
		}
	}
	s.idp.destroy(w, r)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// signedIn returns the session of a signed-in user.
func (s *server) signedIn(r *http.Request) (session, bool) {
	sess, ok := s.idp.get(r)
	return sess, ok && sess.UserID != ""
}

// forbidden answers a refused CSRF check: 403, nothing done.
func (s *server) forbidden(w http.ResponseWriter, text string) {
	message(w, s.logger, http.StatusForbidden, pageData{}, messageBody{Heading: "Forbidden", Text: text, IsError: true})
}

// authenticator is the host's login as the authorize endpoint
// (impersonation.Authenticator) and the end-session endpoint
// (impersonation.Logins) see it.
type authenticator struct{ s *server }

var (
	_ impersonation.Authenticator = authenticator{}
	_ impersonation.Logins        = authenticator{}
)

// Authenticate implements impersonation.Authenticator: the signed-in
// user, or the login page, which comes back to this authorize request.
func (a authenticator) Authenticate(w http.ResponseWriter, r *http.Request) (impersonation.Login, bool) {
	if login, ok := a.SignedIn(r); ok {
		return login, true
	}
	a.s.showLogin(w, r, http.StatusOK, loginBody{ReturnTo: authorizeReturn(r)})
	return impersonation.Login{}, false
}

// SignedIn implements impersonation.Logins: the signed-in user, with the
// login session key impersonation sessions are bound to; never a page.
func (a authenticator) SignedIn(r *http.Request) (impersonation.Login, bool) {
	sess, ok := a.s.signedIn(r)
	if !ok {
		return impersonation.Login{}, false
	}
	// The login form is a password: amr "pwd" (RFC 8176).
	return impersonation.Login{UserID: sess.UserID, AuthTime: sess.AuthTime, Session: loginSessionID(sess), AMR: []string{"pwd"}}, true
}

// Logout implements impersonation.Logins: the login session ends and its
// cookie is cleared. The library has ended its impersonation session
// before.
func (a authenticator) Logout(w http.ResponseWriter, r *http.Request) error {
	a.s.idp.destroy(w, r)
	return nil
}

// logoutBody is the Body of the logout confirmation page.
type logoutBody struct {
	// App names the client that asks; empty when none was identified.
	App string
	// User is who is signed in; OtherUser: the app asked to sign out
	// another account.
	User      string
	OtherUser bool
	// Impersonating is whom the login impersonates, which the logout
	// ends; empty for nobody.
	Impersonating string
	// Action, Field and Confirmation make the form that confirms.
	Action, Field, Confirmation string
}

// logoutPage is the impersonation.LogoutPageFunc: the end-session
// endpoint's pages in the server's own layout.
func (s *server) logoutPage(w http.ResponseWriter, r *http.Request, p *impersonation.LogoutPage) {
	switch p.Kind {
	case impersonation.LogoutConfirm:
		body := logoutBody{
			User: s.dir.username(p.Login.UserID), OtherUser: p.OtherUser,
			Action: p.Action, Field: impersonation.LogoutConfirmField, Confirmation: p.Confirmation,
		}
		if p.Client != nil {
			body.App = clientName(p.Client)
		}
		if p.Impersonation != nil {
			body.Impersonating = s.dir.username(p.Impersonation.Subject)
		}
		sess, _ := s.signedIn(r)
		render(w, s.logger, p.Status, "logout", pageData{Title: "Sign out?", SignedIn: body.User, CSRF: sess.CSRF, Body: body})
	case impersonation.LogoutDone:
		message(w, s.logger, p.Status, pageData{}, messageBody{
			Heading: "Signed out", Text: "You are signed out of the identity server.", Link: "/login", LinkText: "Sign in again",
		})
	default:
		message(w, s.logger, p.Status, pageData{}, messageBody{
			Heading: "Sign-out refused", Text: "The sign-out request was refused: " + p.Error + ". Nobody was signed out.", IsError: true,
		})
	}
}

// authorizeReturn is the URL that repeats the authorize request r as a
// GET: its query, or for a POST its form without the consent page's own
// fields.
func authorizeReturn(r *http.Request) string {
	if r.Method != http.MethodPost {
		return r.URL.RequestURI()
	}
	return "/oauth2/authorize?" + authorizeParams(r).Encode()
}

// authorizeParams are the authorize request's parameters, without the
// consent page's own fields.
func authorizeParams(r *http.Request) url.Values {
	v := r.URL.Query()
	if r.Method == http.MethodPost {
		v = url.Values{}
		for k, vs := range r.PostForm {
			v[k] = slices.Clone(vs)
		}
	}
	v.Del(csrfField)
	v.Del(consentField)
	return v
}

// consentField carries the answer of the consent page: allow or deny.
const consentField = "consent"

// consentBody is the Body of the consent page.
type consentBody struct {
	Impersonator string
	Subject      string
	SubjectEmail string
	Org          string
	App          string
	Scope        string
	Reason       string
	Params       []param
}

type param struct{ Name, Value string }

// consent is the impersonation.ConsentFunc: clients registered with
// skip_consent go straight on; for the others the impersonator confirms
// on a page that names who acts as whom in which app, and posts back to
// the authorize endpoint with the request's parameters, the CSRF token
// and consent=allow or consent=deny.
func (s *server) consent(w http.ResponseWriter, r *http.Request, req *subjecttoken.AuthorizeRequest, d *impersonation.Decision) impersonation.Consent {
	if s.dir.skipConsent[req.ClientID] {
		return impersonation.ConsentGranted
	}
	sess, _ := s.signedIn(r)
	if r.Method == http.MethodPost && r.PostForm.Has(consentField) {
		if !checkCSRF(r, sess) {
			s.forbidden(w, "The consent form has expired or did not come from this site.")
			return impersonation.ConsentPending
		}
		switch r.PostForm.Get(consentField) {
		case "allow":
			return impersonation.ConsentGranted
		case "deny":
			return impersonation.ConsentDenied
		}
		message(w, s.logger, http.StatusBadRequest, pageData{}, messageBody{Heading: "Bad request", Text: "Answer Allow or Deny.", IsError: true})
		return impersonation.ConsentPending
	}

	params := authorizeParams(r)
	keys := slices.Sorted(maps.Keys(params))
	body := consentBody{
		Impersonator: d.Impersonator.Username,
		Subject:      d.Subject.Username,
		SubjectEmail: d.Subject.Email,
		Org:          d.Org.Name,
		App:          clientName(d.Client),
		Scope:        req.Scope.String(),
		Reason:       req.Reason,
	}
	for _, k := range keys {
		for _, v := range params[k] {
			body.Params = append(body.Params, param{k, v})
		}
	}
	render(w, s.logger, http.StatusOK, "consent", pageData{
		Title: "Impersonate " + body.Subject, SignedIn: body.Impersonator, CSRF: sess.CSRF, Body: body,
	})
	return impersonation.ConsentPending
}

func clientName(c *store.Client) string {
	if c.Name != "" {
		return c.Name
	}
	return c.ID
}
