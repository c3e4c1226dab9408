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
}

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
	render(w, a.s.logger, status, "account", pageData{
		Title: "Your account", SignedIn: a.s.dir.username(sess.UserID), CSRF: sess.CSRF, Body: body,
	})
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
	sess, ok := a.s.signedInForm(w, r, "Reload your account page and try again.")
	if !ok {
		return
	}
	ids := r.PostForm["id"]
	if len(ids) != 1 || ids[0] == "" || len(ids[0]) > 256 {
		a.render(w, r, sess, http.StatusBadRequest, "", "The form did not say which impersonation to end.")
		return
	}
	imp, err := a.history.End(r.Context(), sess.UserID, ids[0])
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
