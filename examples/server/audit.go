package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/actas/actas/store"
	"github.com/actas/actas/subjecttoken"
)

// The impersonation log: the audit log's events (store.AuditLog: the
// memory store, or PostgreSQL with -postgres, where every instance writes),
// newest first, as an HTML table or (?format=json) as JSON, scoped by the
// policy's organisation rule (store.AuditScope):
//   - auditors (the data file's "auditors") see every event;
//   - admins (users who may impersonate through some client) see the
//     events of their organisation and its descendants (the events about
//     the users they may impersonate, whoever acted), and their own
//     actions and the events about them anywhere;
//   - anyone else sees the events naming them, as subject or impersonator.
//
// An event of another tenant is never shown to an admin. Events without an
// organisation (a refusal before the subject was resolved, a malformed
// request) cannot be placed in a tenant: only an auditor and the users
// they name see them.

// auditRow is one event as the page shows it.
type auditRow struct {
	Time             string   `json:"time"`
	Event            string   `json:"event"`
	Impersonator     string   `json:"impersonator,omitempty"`
	ImpersonatorName string   `json:"impersonator_name,omitempty"`
	User             string   `json:"user,omitempty"`
	UserName         string   `json:"user_name,omitempty"`
	Organization     string   `json:"organization,omitempty"`
	App              string   `json:"app,omitempty"`
	Scopes           []string `json:"scopes"`
	Outcome          string   `json:"outcome,omitempty"`
	Reason           string   `json:"reason,omitempty"`
	Justification    string   `json:"justification,omitempty"`
	Method           string   `json:"method,omitempty"`
	Path             string   `json:"path,omitempty"`
	JTI              string   `json:"jti,omitempty"`
}

// auditHTMLRow is an auditRow with names for people and a joined scope.
type auditHTMLRow struct {
	Time, Event, Impersonator, User, Organization, App, Scopes, Outcome, Reason, Justification, Method, Path string
}

type auditBody struct {
	// Scope says which events the viewer sees.
	Scope  string
	Events []auditHTMLRow
}

// audit is GET /console/audit[?format=json].
func (s *server) audit(w http.ResponseWriter, r *http.Request) {
	sess, ok := s.requireLogin(w, r)
	if !ok {
		return
	}
	scope, all, err := s.auditScope(r.Context(), sess.UserID)
	var rows []auditRow
	if err == nil {
		rows, err = s.auditRows(r.Context(), scope, all)
	}
	if err != nil {
		s.logger.Error("audit page", "err", err)
		if r.URL.Query().Get("format") == "json" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"error":"temporarily_unavailable","error_description":"the audit log cannot be read right now"}` + "\n"))
			return
		}
		message(w, s.logger, http.StatusServiceUnavailable, pageData{}, messageBody{Heading: "Unavailable", Text: "The audit log cannot be read right now.", IsError: true})
		return
	}
	if r.URL.Query().Get("format") == "json" {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rows)
		return
	}
	body := auditBody{Scope: s.describeScope(scope, all), Events: make([]auditHTMLRow, 0, len(rows))}
	for _, e := range rows {
		body.Events = append(body.Events, auditHTMLRow{
			Time: e.Time, Event: e.Event, Impersonator: e.ImpersonatorName, User: e.UserName,
			Organization: e.Organization, App: e.App, Scopes: strings.Join(e.Scopes, " "), Outcome: e.Outcome,
			Reason: e.Reason, Justification: e.Justification, Method: e.Method, Path: e.Path,
		})
	}
	render(w, s.logger, http.StatusOK, "audit", pageData{
		Title: "Impersonation log", SignedIn: s.dir.username(sess.UserID), CSRF: sess.CSRF, Body: body,
	})
}

// auditRows returns the events of scope (every event when all), newest
// first: the audit log answers oldest first, so they are read backwards.
func (s *server) auditRows(ctx context.Context, scope store.AuditScope, all bool) ([]auditRow, error) {
	var q store.AuditQuery
	if !all {
		q.Scope = &scope
	}
	events, err := s.stores.auditLog.QueryEvents(ctx, q)
	if err != nil {
		return nil, err
	}
	rows := make([]auditRow, 0, len(events))
	for _, e := range slices.Backward(events) {
		row := auditRow{
			Time: e.Time.UTC().Format(time.RFC3339), Event: string(e.Type),
			Impersonator: e.Impersonator, User: e.Subject, Organization: e.Org, App: e.ClientID,
			Scopes: slices.Clone(e.Scopes), Outcome: e.Outcome, Reason: e.Reason,
			Justification: e.Justification, Method: e.Method, Path: e.Path, JTI: e.JTI,
		}
		if row.Scopes == nil {
			row.Scopes = []string{}
		}
		if e.Impersonator != "" {
			row.ImpersonatorName = s.dir.username(e.Impersonator)
		}
		if e.Subject != "" {
			row.UserName = s.dir.username(e.Subject)
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// auditScope returns the share of the audit log viewer may see (see the
// comment at the top of the file): all for an auditor; otherwise a scope
// that always holds the events naming the viewer and, for an admin, the
// events of the admin's organisation and its descendants, the same
// subtree the policy lets them impersonate in. The viewer's organisation
// and state come from the directory store the policy reads; a disabled or
// unknown viewer is no auditor and no admin. A store error is an error:
// the page then shows nothing rather than guessing.
func (s *server) auditScope(ctx context.Context, viewer string) (scope store.AuditScope, all bool, err error) {
	scope = store.AuditScope{User: viewer}
	u, err := s.stores.users.User(ctx, viewer)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return scope, false, nil
	case err != nil:
		return store.AuditScope{}, false, err
	case u.Disabled:
		return scope, false, nil
	case s.dir.auditors[u.ID]:
		return store.AuditScope{}, true, nil
	case s.isAdmin(ctx, u.ID):
		scope.Orgs = store.OrgSubtree(s.dir.orgOrder, u.Org)
	}
	return scope, false, nil
}

// describeScope says in a sentence which events the page shows.
func (s *server) describeScope(scope store.AuditScope, all bool) string {
	if all {
		return "You are an auditor: every event is shown."
	}
	if len(scope.Orgs) == 0 {
		return "The events about you are shown."
	}
	names := make([]string, 0, len(scope.Orgs))
	for _, id := range scope.Orgs {
		if o, ok := s.dir.orgs[id]; ok && o.Name != "" {
			names = append(names, o.Name)
		} else {
			names = append(names, id)
		}
	}
	return "The events of " + strings.Join(names, ", ") + " and the events about you are shown."
}

// isAdmin reports whether user may impersonate through some client: holds
// internal_user_impersonate, by the role grants of the directory store,
// for a client that is enabled and has impersonation on. A store error
// counts as no.
func (s *server) isAdmin(ctx context.Context, user string) bool {
	for _, c := range s.dir.clients {
		if c.Disabled || !c.Impersonation {
			continue
		}
		granted, err := s.stores.grants.GrantedScopes(ctx, c.ID, user)
		if err == nil && slices.Contains(granted, subjecttoken.ScopeImpersonate) {
			return true
		}
	}
	return false
}
