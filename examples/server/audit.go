package main

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/actas/actas/store"
	"github.com/actas/actas/subjecttoken"
)

// The impersonation log: the audit log's events (store.AuditLog: the
// memory store, or PostgreSQL with -postgres, where every instance writes),
// newest first, as an HTML table or (?format=json) as JSON. Admins (users
// who may impersonate in some client) see every event; anyone else the
// events about themselves.

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

type auditBody struct{ Events []auditHTMLRow }

// audit is GET /console/audit[?format=json].
func (s *server) audit(w http.ResponseWriter, r *http.Request) {
	sess, ok := s.requireLogin(w, r)
	if !ok {
		return
	}
	rows, err := s.auditRows(r.Context(), sess.UserID)
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
	body := auditBody{Events: make([]auditHTMLRow, 0, len(rows))}
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

// auditRows returns the events viewer may see, newest first: the audit
// log answers oldest first, so they are read backwards.
func (s *server) auditRows(ctx context.Context, viewer string) ([]auditRow, error) {
	var q store.AuditQuery
	if !s.isAdmin(ctx, viewer) {
		q.User = viewer // the events whose subject or impersonator is the viewer
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

// isAdmin reports whether user may impersonate through some client, by
// the role grants of the directory store. A store error counts as no.
func (s *server) isAdmin(ctx context.Context, user string) bool {
	for _, c := range s.dir.clients {
		granted, err := s.stores.grants.GrantedScopes(ctx, c.ID, user)
		if err == nil && slices.Contains(granted, subjecttoken.ScopeImpersonate) {
			return true
		}
	}
	return false
}
