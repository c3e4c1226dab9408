package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"unicode"
	"unicode/utf8"

	"github.com/actas/actas/impersonation"
	"github.com/actas/actas/subjecttoken"
)

// The admin console: the users the signed-in admin may impersonate in the
// demo app, each with an Impersonate form asking for a reason, which
// starts the real flow through /app/start?handle= (ending in /app, or with
// "Impersonate in demo app 2" in demo app 2's sign-in); and, while the
// admin's login session is an impersonation session, who is impersonated,
// until when, with "Open demo app 2" and "End impersonation".

// consoleBody is the Body of the console page.
type consoleBody struct {
	App            string
	MayImpersonate bool
	Users          []consoleUser
	Error          string
	AppProblem     string
	// Active is the impersonation session of the admin's login session;
	// nil when there is none.
	Active *activeImpersonation
	// App2 offers demo app 2 (its data is there).
	App2 bool
}

// activeImpersonation is an impersonation session as the console shows it.
type activeImpersonation struct {
	Subject, Org, App, Reason, Until string
}

type consoleUser struct {
	ID, Username, Email, Org string
}

// indexBody is the Body of the index page.
type indexBody struct{ Issuer string }

func (s *server) index(w http.ResponseWriter, r *http.Request) {
	sess, _ := s.signedIn(r)
	render(w, s.logger, http.StatusOK, "index", pageData{
		Title: "Home", SignedIn: s.dir.username(sess.UserID), CSRF: sess.CSRF, Body: indexBody{Issuer: s.issuer},
	})
}

// requireLogin returns the signed-in user's session, or sends the browser
// to the login page, which comes back here.
func (s *server) requireLogin(w http.ResponseWriter, r *http.Request) (session, bool) {
	sess, ok := s.signedIn(r)
	if !ok {
		back := r.URL.Path
		if r.Method == http.MethodGet && r.URL.RawQuery != "" {
			back = r.URL.RequestURI()
		}
		http.Redirect(w, r, "/login?"+url.Values{"return_to": {back}}.Encode(), http.StatusSeeOther)
	}
	return sess, ok
}

// console is GET /console.
func (s *server) console(w http.ResponseWriter, r *http.Request) {
	sess, ok := s.requireLogin(w, r)
	if !ok {
		return
	}
	s.renderConsole(w, r, sess, http.StatusOK, "")
}

func (s *server) renderConsole(w http.ResponseWriter, r *http.Request, sess session, status int, problem string) {
	users, may, err := s.impersonable(r.Context(), sess.UserID)
	if err != nil {
		s.logger.Error("console", "err", err)
		message(w, s.logger, http.StatusServiceUnavailable, pageData{}, messageBody{Heading: "Unavailable", Text: "The console cannot list users right now.", IsError: true})
		return
	}
	body := consoleBody{
		App: s.cfg.AppClientID, MayImpersonate: may, Users: users, Error: problem, AppProblem: s.app.problem,
		App2: s.app2.problem == "",
	}
	// The library's hook, as at every authorize request: it re-checks the
	// policy, and a session it no longer allows ends here.
	active, err := s.svc.Sessions().Active(r.Context(), loginSessionID(sess), "")
	switch {
	case err != nil:
		s.logger.Error("console: impersonation session", "err", err)
		if body.Error == "" {
			body.Error = "Your impersonation session cannot be read right now."
		}
	case active != nil:
		body.Active = &activeImpersonation{
			Subject: s.dir.username(active.Subject), App: active.ClientID, Reason: active.Reason,
			Until: active.Expires.UTC().Format("15:04:05 UTC"),
		}
		if o, ok := s.dir.orgs[active.Org]; ok {
			body.Active.Org = o.Name
		}
	}
	render(w, s.logger, status, "console", pageData{
		Title: "Console", SignedIn: s.dir.username(sess.UserID), CSRF: sess.CSRF, Body: body,
	})
}

// impersonable lists the users that the policy (Service.Decide) lets
// admin impersonate in the demo app, and whether admin holds the
// impersonation role for it at all. The policy limits them to admin's
// organisation and its descendants.
func (s *server) impersonable(ctx context.Context, admin string) ([]consoleUser, bool, error) {
	granted, err := s.stores.grants.GrantedScopes(ctx, s.cfg.AppClientID, admin)
	if err != nil {
		return nil, false, err
	}
	if !slices.Contains(granted, subjecttoken.ScopeImpersonate) {
		return nil, false, nil
	}
	var out []consoleUser
	for _, u := range s.dir.users {
		if u.ID == admin {
			continue
		}
		d, err := s.svc.Decide(ctx, s.cfg.AppClientID, admin, u.ID)
		switch {
		case errors.Is(err, impersonation.ErrNotPermitted):
			continue
		case err != nil:
			return nil, true, err
		}
		out = append(out, consoleUser{ID: u.ID, Username: u.Username, Email: u.Email, Org: d.Org.Name})
	}
	return out, true, nil
}

// impersonate is POST /console/impersonate (user, reason, CSRF token,
// open=app2 for demo app 2): it checks the request and hands over to the
// demo app, which runs the real flow (authorize, consent, form_post, token
// exchange) and starts the impersonation session. The hand-over is
// server-side (demoApp.offerStart): the browser goes on to
// /app/start?handle=<h> with a single-use handle bound to this login
// session, and nothing else starts an impersonation. Inside an
// impersonation session only its own user may be impersonated again.
func (s *server) impersonate(w http.ResponseWriter, r *http.Request) {
	sess, ok := s.consoleForm(w, r)
	if !ok {
		return
	}
	if s.app.problem != "" {
		s.renderConsole(w, r, sess, http.StatusServiceUnavailable, "The demo app is not available: "+s.app.problem)
		return
	}
	subject, reason := r.PostForm.Get("user"), r.PostForm.Get("reason")
	switch {
	case reason == "":
		s.renderConsole(w, r, sess, http.StatusBadRequest, "Give a reason (free text or a ticket ID) to impersonate someone.")
		return
	case !validReason(reason):
		s.renderConsole(w, r, sess, http.StatusBadRequest, "The reason must be printable text of at most 512 bytes.")
		return
	}
	if _, err := s.svc.Decide(r.Context(), s.cfg.AppClientID, sess.UserID, subject); err != nil {
		// The authorize endpoint would refuse and audit it; say so here.
		s.renderConsole(w, r, sess, http.StatusForbidden, "You may not impersonate this user.")
		return
	}
	switch active, err := s.svc.Sessions().Active(r.Context(), loginSessionID(sess), subject); {
	case errors.Is(err, impersonation.ErrOtherSubject):
		// The authorize endpoint would refuse it too.
		s.renderConsole(w, r, sess, http.StatusConflict, fmt.Sprintf(
			"You are impersonating %s. End that impersonation before impersonating someone else.", s.dir.username(sessionSubject(active))))
		return
	case err != nil:
		s.logger.Error("console: impersonation session", "err", err)
		s.renderConsole(w, r, sess, http.StatusServiceUnavailable, "Your impersonation session cannot be read right now.")
		return
	}
	then := ""
	if r.PostForm.Get("open") == "app2" && s.app2.problem == "" {
		then = "app2"
	}
	// The start goes to the demo app server-side, under a single-use
	// handle bound to this login session: no GET of /app/start starts an
	// impersonation without it (issue 11, F2).
	handle := s.app.offerStart(sess, subject, reason, then)
	if handle == "" {
		s.renderConsole(w, r, sess, http.StatusServiceUnavailable, "The demo app is busy. Try again in a moment.")
		return
	}
	http.Redirect(w, r, "/app/start?"+url.Values{"handle": {handle}}.Encode(), http.StatusSeeOther)
}

// endImpersonation is POST /console/end (CSRF token), End impersonation:
// the impersonation session of the admin's login session ends, and with
// it every token issued under it, in every app.
func (s *server) endImpersonation(w http.ResponseWriter, r *http.Request) {
	sess, ok := s.consoleForm(w, r)
	if !ok {
		return
	}
	if err := s.svc.Sessions().End(r.Context(), loginSessionID(sess), "ended in the console"); err != nil {
		s.logger.Error("console: end the impersonation session", "err", err)
		s.renderConsole(w, r, sess, http.StatusServiceUnavailable, "The impersonation could not be ended. Try again in a moment.")
		return
	}
	http.Redirect(w, r, "/console", http.StatusSeeOther)
}

// consoleForm parses a POSTed console form and checks that its browser is
// signed in and its CSRF token; it has answered when it returns false.
func (s *server) consoleForm(w http.ResponseWriter, r *http.Request) (session, bool) {
	return s.signedInForm(w, r, "Reload the console and try again.")
}

// signedInForm parses a POSTed form of the identity server's pages and
// checks that its browser is signed in and its CSRF token; it has answered
// when it returns false. reload ends the text of a CSRF refusal: how to
// get a fresh form.
func (s *server) signedInForm(w http.ResponseWriter, r *http.Request, reload string) (session, bool) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		message(w, s.logger, http.StatusBadRequest, pageData{}, messageBody{Heading: "Bad request", Text: "The form could not be read.", IsError: true})
		return session{}, false
	}
	sess, ok := s.requireLogin(w, r)
	if !ok {
		return session{}, false
	}
	if !checkCSRF(r, sess) {
		s.forbidden(w, "The form has expired or did not come from this site. "+reload)
		return session{}, false
	}
	return sess, true
}

// validReason mirrors what the authorize endpoint accepts as
// impersonation_reason: printable UTF-8, at most
// subjecttoken.MaxReasonBytes.
func validReason(s string) bool {
	if len(s) > subjecttoken.MaxReasonBytes || !utf8.ValidString(s) {
		return false
	}
	for _, c := range s {
		if !unicode.IsPrint(c) {
			return false
		}
	}
	return true
}
