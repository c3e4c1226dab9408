package main

import (
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/actas/actas/impersonation"
	"github.com/actas/actas/store"
)

// The user's own page, /account: what concerns the signed-in user as the
// one impersonated. It has sections, each a field of accountBody and a
// block of the "account" template:
//   - the impersonations of the user (impersonation.History): who, when,
//     in which application, why and whether it still runs, newest first,
//     accountPageSize a page with an "Older" link, and an End button on
//     each running one (POST /account/end).
//   - the access the user gives to be impersonated (impersonation.Grants),
//     for the clients that require it (require_subject_grant): give it for
//     an hour, a day or a week, to every impersonator of the client or one
//     named (POST /account/grant), and revoke it (POST /account/revoke).
//
// Nobody sees or ends anyone else's impersonations here: every call names
// the signed-in user, and an ID of someone else's is answered like an
// unknown one.

// accountPageSize is how many impersonations a page shows.
const accountPageSize = 20

// maxCursorBytes bounds the ?after= cursor of the page; the audit
// stores' cursors are far shorter.
const maxCursorBytes = 128

// accountPage serves /account and its forms.
type accountPage struct {
	s       *server
	history *impersonation.History
	// pageSize is accountPageSize; tests lower it.
	pageSize int
}

func newAccountPage(s *server) (*accountPage, error) {
	h, err := impersonation.NewHistory(s.svc, s.stores.auditLog)
	if err != nil {
		return nil, err
	}
	return &accountPage{s: s, history: h, pageSize: accountPageSize}, nil
}

// accountBody is the Body of the account page: one field per section.
type accountBody struct {
	// Error, when set, says what went wrong with the last request.
	Error          string
	Impersonations impersonationsSection
	Grants         grantsSection
}

// grantsSection is the page's list of the access the user gives, and the
// form to give more. It is shown when some client requires it.
type grantsSection struct {
	// Clients are the clients that require a grant, to choose from.
	Clients []grantClient
	// Durations are the lengths a grant may have, up to the longest the
	// server allows.
	Durations []grantDuration
	Rows      []grantRow
	// Unavailable: the grants could not be read.
	Unavailable bool
}

type grantClient struct{ ID, Name string }

type grantDuration struct{ Value, Text string }

// grantRow is one grant as the page shows it.
type grantRow struct {
	ID, App, Who, Until string
	// State is live, expired or revoked (the row's data-state).
	State string
}

// grantDurations are what the page offers, shortest first.
var grantDurations = []struct {
	d    time.Duration
	text string
}{{time.Hour, "1 hour"}, {24 * time.Hour, "1 day"}, {7 * 24 * time.Hour, "1 week"}}

// impersonationsSection is the page's list of the impersonations of the
// user.
type impersonationsSection struct {
	Rows []impersonationRow
	// Older is the link to the next, older page; empty on the last.
	Older string
	// Later: this is not the newest page (a link leads back to it).
	Later bool
	// Unavailable: the list could not be read.
	Unavailable bool
}

// impersonationRow is one impersonation as the page shows it.
type impersonationRow struct {
	ID           string
	Impersonator string
	Started      string // RFC 3339, for <time datetime>
	StartedText  string
	App          string
	Reason       string
	// State is running, ended or expired (the row's data-state); Status
	// says it in words.
	State  string
	Status string
}

// show is GET /account[?after=CURSOR].
func (a *accountPage) show(w http.ResponseWriter, r *http.Request) {
	sess, ok := a.s.requireLogin(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	after := q.Get("after")
	if len(q["after"]) > 1 || len(after) > maxCursorBytes {
		a.badLink(w, sess)
		return
	}
	a.render(w, r, sess, http.StatusOK, after, "")
}

// badLink answers a page link that is not one of ours: 400, and the way
// back to the newest page.
func (a *accountPage) badLink(w http.ResponseWriter, sess session) {
	message(w, a.s.logger, http.StatusBadRequest, pageData{SignedIn: a.s.dir.username(sess.UserID), CSRF: sess.CSRF}, messageBody{
		Heading: "Bad link", IsError: true, Link: "/account", LinkText: "The newest impersonations of you",
		Text: "This page link is not valid.",
	})
}

// render writes the page for sess with status: the page of impersonations
// after the cursor after, and problem as the page's error.
func (a *accountPage) render(w http.ResponseWriter, r *http.Request, sess session, status int, after, problem string) {
	body := accountBody{Error: problem}
	page, err := a.history.List(r.Context(), impersonation.HistoryQuery{Subject: sess.UserID, After: after, Limit: a.pageSize})
	switch {
	case errors.Is(err, store.ErrInvalidCursor):
		a.badLink(w, sess)
		return
	case err != nil:
		a.s.logger.Error("account: impersonations", "err", err)
		body.Impersonations.Unavailable = true
		if status == http.StatusOK {
			status = http.StatusServiceUnavailable
		}
	default:
		body.Impersonations = a.section(page, after != "")
	}
	body.Grants = a.grants(r, sess.UserID)
	if body.Grants.Unavailable && status == http.StatusOK {
		status = http.StatusServiceUnavailable
	}
	render(w, a.s.logger, status, "account", pageData{
		Title: "Your account", SignedIn: a.s.dir.username(sess.UserID), CSRF: sess.CSRF, Body: body,
	})
}

// grants is the grants section for user: empty when no client requires a
// grant.
func (a *accountPage) grants(r *http.Request, user string) grantsSection {
	var sec grantsSection
	for _, c := range a.s.dir.clients {
		if c.RequireSubjectGrant && c.Impersonation && !c.Disabled {
			sec.Clients = append(sec.Clients, grantClient{ID: c.ID, Name: clientName(&c)})
		}
	}
	if len(sec.Clients) == 0 {
		return sec
	}
	max := a.s.grants.MaxDuration()
	for _, d := range grantDurations {
		if d.d <= max {
			sec.Durations = append(sec.Durations, grantDuration{Value: d.d.String(), Text: d.text})
		}
	}
	all, err := a.s.grants.Of(r.Context(), user)
	if err != nil {
		a.s.logger.Error("account: grants", "err", err)
		sec.Unavailable = true
		return sec
	}
	now := a.s.now()
	for _, g := range all {
		row := grantRow{ID: g.ID, App: g.ClientID, Who: "every impersonator", Until: clock(g.Expires), State: "live"}
		if c, ok := a.s.dir.client(g.ClientID); ok {
			row.App = clientName(&c)
		}
		if g.Impersonator != "" {
			row.Who = a.s.dir.username(g.Impersonator)
		}
		switch {
		case !g.Revoked.IsZero():
			row.State, row.Until = "revoked", "revoked at "+clock(g.Revoked)
		case !g.Live(now):
			row.State, row.Until = "expired", "expired at "+clock(g.Expires)
		}
		sec.Rows = append(sec.Rows, row)
	}
	return sec
}

// give is POST /account/grant (CSRF token, client, duration, and an
// optional impersonator username): the signed-in user gives access to be
// impersonated through the client.
func (a *accountPage) give(w http.ResponseWriter, r *http.Request) {
	sess, ok := a.s.signedInForm(w, r, "Reload your account page and try again.")
	if !ok {
		return
	}
	f := r.PostForm
	if len(f["client"]) != 1 || len(f["duration"]) != 1 || len(f["impersonator"]) > 1 {
		a.render(w, r, sess, http.StatusBadRequest, "", "The form did not say which application and for how long.")
		return
	}
	c, ok := a.s.dir.client(f.Get("client"))
	if !ok || !c.RequireSubjectGrant {
		a.render(w, r, sess, http.StatusBadRequest, "", "Access can be given only for an application that asks for it.")
		return
	}
	var d time.Duration
	for _, o := range grantDurations {
		if o.d.String() == f.Get("duration") {
			d = o.d
		}
	}
	if d == 0 || d > a.s.grants.MaxDuration() {
		a.render(w, r, sess, http.StatusBadRequest, "", "Choose one of the durations offered.")
		return
	}
	impersonator := ""
	if name := f.Get("impersonator"); name != "" {
		acc, ok := a.s.dir.accounts[name]
		if !ok || acc.disabled {
			a.render(w, r, sess, http.StatusBadRequest, "", "There is no such user to give access to.")
			return
		}
		impersonator = acc.userID
	}
	if impersonator == sess.UserID {
		a.render(w, r, sess, http.StatusBadRequest, "", "You cannot give access to yourself.")
		return
	}
	g, err := a.s.grants.Give(r.Context(), sess.UserID, c.ID, impersonator, d)
	if err != nil {
		a.s.logger.Error("account: give access", "err", err)
		a.render(w, r, sess, http.StatusServiceUnavailable, "", "The access could not be given. Try again in a moment.")
		return
	}
	a.s.logger.Info("account: access given", "user", sess.UserID, "client_id", c.ID, "impersonator", impersonator, "until", g.Expires)
	http.Redirect(w, r, "/account", http.StatusSeeOther)
}

// idForm reads a CSRF-checked form of the signed-in user that names one
// id; a missing, repeated or over-long id is answered 400 with missing.
func (a *accountPage) idForm(w http.ResponseWriter, r *http.Request, missing string) (session, string, bool) {
	sess, ok := a.s.signedInForm(w, r, "Reload your account page and try again.")
	if !ok {
		return session{}, "", false
	}
	ids := r.PostForm["id"]
	if len(ids) != 1 || ids[0] == "" || len(ids[0]) > 256 {
		a.render(w, r, sess, http.StatusBadRequest, "", missing)
		return session{}, "", false
	}
	return sess, ids[0], true
}

// revoke is POST /account/revoke (CSRF token, id): the signed-in user
// revokes access they gave; the impersonations that relied on it end.
func (a *accountPage) revoke(w http.ResponseWriter, r *http.Request) {
	sess, id, ok := a.idForm(w, r, "The form did not say which access to revoke.")
	if !ok {
		return
	}
	err := a.s.grants.Revoke(r.Context(), sess.UserID, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		a.render(w, r, sess, http.StatusNotFound, "", "There is no such access of yours.")
		return
	case err != nil:
		a.s.logger.Error("account: revoke access", "err", err)
		a.render(w, r, sess, http.StatusServiceUnavailable, "", "The access could not be revoked. Try again in a moment.")
		return
	}
	a.s.logger.Info("account: access revoked", "user", sess.UserID, "grant", id)
	http.Redirect(w, r, "/account", http.StatusSeeOther)
}

// section is page as the page shows it, at the server's clock.
func (a *accountPage) section(page *impersonation.HistoryPage, later bool) impersonationsSection {
	now := a.s.now()
	sec := impersonationsSection{Later: later}
	if page.Next != "" {
		sec.Older = "/account?" + url.Values{"after": {page.Next}}.Encode()
	}
	for _, imp := range page.Impersonations {
		row := impersonationRow{
			ID:           imp.ID,
			Impersonator: a.s.dir.username(imp.Impersonator),
			Started:      imp.Started.UTC().Format(time.RFC3339),
			StartedText:  clock(imp.Started),
			App:          imp.ClientID,
			Reason:       imp.Reason,
		}
		if c, ok := a.s.dir.client(imp.ClientID); ok {
			row.App = clientName(&c)
		}
		switch {
		case imp.Running(now) && imp.Token == "":
			row.State, row.Status = "running", "Started, not used yet; expires "+clock(imp.Expires)
		case imp.Running(now):
			row.State, row.Status = "running", "Running until "+clock(imp.Expires)
		case !imp.Ended.IsZero() && imp.EndReason == impersonation.EndedBySubject:
			row.State, row.Status = "ended", "Ended by you at "+clock(imp.Ended)
		case !imp.Ended.IsZero() && imp.EndReason != "":
			row.State, row.Status = "ended", "Ended at "+clock(imp.Ended)+" ("+imp.EndReason+")"
		case !imp.Ended.IsZero():
			row.State, row.Status = "ended", "Ended at "+clock(imp.Ended)
		case imp.Expires.IsZero():
			row.State, row.Status = "expired", "Over"
		case imp.Token == "":
			row.State, row.Status = "expired", "Never used; expired at "+clock(imp.Expires)
		default:
			row.State, row.Status = "expired", "Expired at "+clock(imp.Expires)
		}
		sec.Rows = append(sec.Rows, row)
	}
	return sec
}

// clock is t as the page says it.
func clock(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

// end is POST /account/end (CSRF token, id): the signed-in user ends a
// running impersonation of them, and is sent back to /account, where it
// shows as ended.
func (a *accountPage) end(w http.ResponseWriter, r *http.Request) {
	sess, id, ok := a.idForm(w, r, "The form did not say which impersonation to end.")
	if !ok {
		return
	}
	imp, err := a.history.End(r.Context(), sess.UserID, id)
	switch {
	case errors.Is(err, impersonation.ErrNoImpersonation):
		a.render(w, r, sess, http.StatusNotFound, "", "There is no such impersonation of you.")
		return
	case errors.Is(err, impersonation.ErrImpersonationOver):
		a.render(w, r, sess, http.StatusConflict, "", "That impersonation is already over.")
		return
	case err != nil:
		a.s.logger.Error("account: end an impersonation", "err", err)
		a.render(w, r, sess, http.StatusServiceUnavailable, "", "The impersonation could not be ended. Try again in a moment.")
		return
	}
	a.s.logger.Info("account: impersonation ended by its subject", "user", sess.UserID, "impersonator", imp.Impersonator, "client_id", imp.ClientID)
	http.Redirect(w, r, "/account", http.StatusSeeOther)
}
