package store

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"time"
)

// EventType names what an audit [Event] records.
type EventType string

// Event types recorded by the library.
const (
	// EventImpersonationStarted: a subject token was issued at the
	// authorize endpoint.
	EventImpersonationStarted EventType = "impersonation.started"
	// EventImpersonationDenied: the authorize request was refused.
	EventImpersonationDenied EventType = "impersonation.denied"
	// EventTokenExchanged: an impersonated access token was issued.
	EventTokenExchanged EventType = "token.exchanged"
	// EventTokenExchangeDenied: a token exchange was refused.
	EventTokenExchangeDenied EventType = "token.exchange_denied"
	// EventReplayDetected: a subject token was presented a second time.
	EventReplayDetected EventType = "token.replay_detected"
	// EventImpersonatedRequest: a request was made with an impersonated
	// access token: a state-changing API request (the resource kit's
	// request audit), or a read of the user's claims at the issuer's
	// UserInfo endpoint.
	EventImpersonatedRequest EventType = "impersonation.request"
	// EventNotificationFailed: the impersonated user could not be told.
	EventNotificationFailed EventType = "impersonation.notification_failed"
	// EventImpersonationEnded: an impersonated access token was revoked,
	// or an impersonation session ended (explicitly, by logout, by expiry
	// or because the policy no longer allows it; Reason says which).
	EventImpersonationEnded EventType = "impersonation.ended"
	// EventSessionStarted: a login session became an impersonation
	// session.
	EventSessionStarted EventType = "impersonation.session_started"
	// EventSessionTokens: tokens were issued through an impersonation
	// session (authorization code or refresh).
	EventSessionTokens EventType = "impersonation.session_tokens"
	// EventRequestRefused: an endpoint refused a malformed or
	// unauthenticated request before any decision (Method, Path and the
	// wire error in Reason).
	EventRequestRefused EventType = "request.refused"
	// EventTokenRevoked: a token that was not an impersonated access token
	// (a subject token not yet exchanged, or a plain access token) was
	// revoked.
	EventTokenRevoked EventType = "token.revoked"
	// EventLoggedOut: a user's login at the identity server was ended
	// through the end-session endpoint (OpenID Connect RP-Initiated
	// Logout); Subject is the user, ClientID the client that asked, if
	// any. An impersonation session the login ran ends first, with its own
	// EventImpersonationEnded.
	EventLoggedOut EventType = "user.logged_out"
	// EventSubjectGrantCreated: a user gave access to be impersonated
	// (store.SubjectGrant); JTI is the grant's ID.
	EventSubjectGrantCreated EventType = "subject_grant.created"
	// EventSubjectGrantRevoked: a user revoked that access; the
	// impersonations that relied on it end.
	EventSubjectGrantRevoked EventType = "subject_grant.revoked"
)

// Outcomes of an [Event].
const (
	OutcomeGranted = "granted"
	OutcomeDenied  = "denied"
	OutcomeFailed  = "failed"
	// OutcomeAttempted: recorded before the outcome is known, such as an
	// impersonated request before its handler runs.
	OutcomeAttempted = "attempted"
)

// Event is one audit record. Fields that do not apply are empty. It never
// holds a token, a secret or a password.
type Event struct {
	Type         EventType
	Time         time.Time
	ClientID     string
	Impersonator string
	Subject      string
	Org          string
	// JTI is the ID of the token the event is about: the subject token at
	// the authorize endpoint, the access token issued at exchange, the
	// presented subject token when an exchange is refused.
	JTI     string
	Scopes  []string
	Outcome string
	// Reason says why, for denials and failures: a fixed text naming the
	// rule for a denial, the server-side error for a failure; never
	// client input echoed back.
	Reason string
	// Method and Path describe the request for EventImpersonatedRequest
	// and EventRequestRefused.
	Method string
	Path   string
	// Justification is the impersonator's stated reason for the
	// impersonation (free text or a ticket ID), when one was given.
	Justification string
	// Parent is the ID of what the event's token was obtained through,
	// which links the records of one impersonation: on
	// EventTokenExchanged, the jti of the subject token exchanged (the JTI
	// of its EventImpersonationStarted); on EventSessionTokens, and on
	// EventImpersonationEnded or EventTokenRevoked for a token issued
	// under an impersonation session, the session's ID. Empty otherwise.
	Parent string
	// Expires is when what the event issued stops on its own: the subject
	// token's expiry on EventImpersonationStarted, the issued token's on
	// EventTokenExchanged, the session's end on EventSessionStarted. Zero
	// otherwise. Stores may keep it to the microsecond.
	Expires time.Time
	// Cursor is the event's position in the log, set by
	// [AuditLog.QueryEvents] on the events it returns (Record ignores
	// it): pass it as [AuditQuery.After] to read on from this event. It
	// is opaque and meaningful only to the store that set it.
	Cursor string
}

// Auditor records audit events. Record must be safe for concurrent use.
// An error means the event may be lost; the library then refuses to issue
// (nothing is issued that was not recorded).
type Auditor interface {
	Record(ctx context.Context, e Event) error
}

// AuditQuery selects audit events. Zero fields select everything: From is
// inclusive, To exclusive; User matches events whose subject or
// impersonator is that user; Limit 0 means no limit. Scope nil means the
// whole log (an auditor's view); set it to show a viewer only their share.
// The criteria combine with AND.
//
// The answer is oldest first unless NewestFirst; Limit keeps the first
// events in that order. To read the log a page at a time, pass the Cursor
// of the last event of a page as After in the next query, with the same
// criteria and order: the pages then hold every selected event exactly
// once, events that share a Time included. Events recorded meanwhile
// with a later Time than the cursor's appear on later pages of an
// oldest-first reading; a newest-first reading goes back in time and
// does not see them.
type AuditQuery struct {
	User         string
	Subject      string
	Impersonator string
	From         time.Time
	To           time.Time
	// Types, when not empty, selects only the events of these types.
	Types []EventType
	// IDs, when not empty, selects only the events whose JTI or Parent is
	// one of IDs: the records of those tokens and sessions and of what was
	// obtained through them (see [Event.Parent]). An empty ID matches
	// nothing.
	IDs []string
	// Scope, when not nil, confines the selection to what one viewer may
	// see; see [AuditScope]. The other fields still narrow it further.
	Scope *AuditScope
	// NewestFirst orders the answer newest first (by Time, then the later
	// recorded first); Limit then keeps the newest.
	NewestFirst bool
	// After, when not empty, is the [Event.Cursor] of an event that an
	// earlier query with the same order returned: only the events after
	// it in that order are selected (older ones when NewestFirst). A
	// cursor the store cannot read is an error wrapping ErrInvalidCursor;
	// any cursor it can read is merely a position, so a forged one
	// selects nothing the other criteria do not.
	After string
	Limit int
}

// ErrInvalidCursor: [AuditQuery.After] is not a cursor the store wrote
// (altered, or from another store). A host that takes the cursor from a
// request should answer it as a client mistake (400), not a failure.
var ErrInvalidCursor = errors.New("store: invalid audit cursor")

// AuditScope is the share of the audit log one viewer may see, such as
// the administrator of one tenant: the events of an organisation subtree,
// plus the events about the viewer themselves. Its zero value selects
// nothing, so a scope computed from missing data fails closed.
//
// An event is in the scope when either
//   - its Org is one of Orgs, compared exactly, or
//   - User is not empty and the event's Subject or Impersonator is User.
//
// An event whose Org is empty belongs to no organisation and is never
// selected through Orgs, even when Orgs holds "" or the event's Subject
// names a user of the subtree: such events are refusals recorded before
// the subject was resolved (their Subject is what the client asked for,
// not a resolved user) and malformed requests, so they cannot be placed in
// a tenant, and hiding them is the safe default. Only an unscoped query
// (an auditor) or the User clause (the people named in them) finds them.
//
// [Event.Org] is the subject's organisation, so Orgs set to an
// organisation and its descendants ([OrgSubtree]) selects the events about
// users that an impersonator of that organisation may impersonate (the
// policy's rule), including other organisations' impersonators acting on
// them, and never the events about users elsewhere.
type AuditScope struct {
	// Orgs are organisation IDs, typically one organisation and its
	// descendants. The store need not know the organisation tree; the
	// caller expands it.
	Orgs []string
	// User is the viewer: their own actions (as impersonator, in any
	// organisation) and the events about them (as subject) are in scope.
	User string
}

// Matches reports whether e is selected by q (its order, After and Limit
// aside): what every AuditLog implementation must agree on.
func (q AuditQuery) Matches(e Event) bool {
	switch {
	case len(q.Types) > 0 && !slices.Contains(q.Types, e.Type):
		return false
	case len(q.IDs) > 0 && !q.related(e):
		return false
	case q.User != "" && e.Subject != q.User && e.Impersonator != q.User:
		return false
	case q.Subject != "" && e.Subject != q.Subject:
		return false
	case q.Impersonator != "" && e.Impersonator != q.Impersonator:
		return false
	case !q.From.IsZero() && e.Time.Before(q.From):
		return false
	case !q.To.IsZero() && !e.Time.Before(q.To):
		return false
	case q.Scope != nil && !q.Scope.Contains(e):
		return false
	}
	return true
}

// related reports whether e's JTI or Parent is one of q.IDs.
func (q AuditQuery) related(e Event) bool {
	return e.JTI != "" && slices.Contains(q.IDs, e.JTI) || e.Parent != "" && slices.Contains(q.IDs, e.Parent)
}

// Contains reports whether e is in the scope.
func (s AuditScope) Contains(e Event) bool {
	if s.User != "" && (e.Subject == s.User || e.Impersonator == s.User) {
		return true
	}
	return e.Org != "" && slices.Contains(s.Orgs, e.Org)
}

// OrgSubtree returns root and every organisation below it in orgs, the
// organisations an impersonator whose organisation is root may reach
// under the policy ("the subject's organisation is the impersonator's or
// one of its descendants"): root first, then its descendants level by
// level, each level in ID order. It is meant for [AuditScope.Orgs].
//
// orgs is the whole organisation list (parents may come after their
// children); duplicates and parent cycles are harmless. A root that is
// not in orgs has no known descendants: the result is just root. An empty
// root yields nil, which [AuditScope] treats as no organisation.
func OrgSubtree(orgs []Organization, root string) []string {
	if root == "" {
		return nil
	}
	children := map[string][]string{}
	for _, o := range orgs {
		if o.Parent != "" && o.ID != "" && o.ID != o.Parent {
			children[o.Parent] = append(children[o.Parent], o.ID)
		}
	}
	out := []string{root}
	seen := map[string]bool{root: true}
	for level := []string{root}; len(level) > 0; {
		var next []string
		for _, id := range level {
			for _, c := range children[id] {
				if !seen[c] {
					seen[c] = true
					next = append(next, c)
				}
			}
		}
		slices.Sort(next)
		out = append(out, next...)
		level = next
	}
	return out
}

// AuditLog reads back recorded events, for an audit page or an
// investigation ("what did this impersonator do between T1 and T2?").
type AuditLog interface {
	// QueryEvents returns the events q selects, oldest first (by Time,
	// then in the order recorded) or, with q.NewestFirst, newest first,
	// after q.After, at most q.Limit of them (the first in that order),
	// each with its Cursor set.
	QueryEvents(ctx context.Context, q AuditQuery) ([]Event, error)
}

// Notice tells a user that someone impersonated them. Every field comes
// from the stores or the impersonator's request, not from the user; a
// Notifier that puts them in a message escapes them for its format.
type Notice struct {
	UserID   string
	UserName string
	// Email is the user's address in the user store ([User.Email]); empty
	// when the store has none.
	Email            string
	ImpersonatorID   string
	ImpersonatorName string
	ClientID         string
	// ClientName is the client's [Client.Name], the application the
	// impersonation is for; empty when the client has none.
	ClientName string
	// Org and OrgName are the user's organisation (as [Event.Org]) and its
	// name; empty when the user has none or it is not found.
	Org     string
	OrgName string
	// Reason is the impersonator's stated reason (impersonation_reason:
	// free text or a ticket ID, as [Event.Justification]), when one was
	// given.
	Reason string
	// Time is when the impersonation started, in UTC.
	Time time.Time
}

// Notifier tells the impersonated user, once per impersonation start, who
// accessed their account and when. A failing Notifier never stops the flow;
// the failure is recorded as an audit event.
type Notifier interface {
	Notify(ctx context.Context, n Notice) error
}

// SlogAuditor writes events as log/slog records. Grants are logged at
// Info, denials at Info (they are client mistakes, not server errors),
// replays and notification failures at Warn, failures at Error.
type SlogAuditor struct {
	logger *slog.Logger
}

var _ Auditor = (*SlogAuditor)(nil)

// NewSlogAuditor returns an Auditor that writes to logger.
func NewSlogAuditor(logger *slog.Logger) *SlogAuditor {
	return &SlogAuditor{logger: logger}
}

// Record writes e as one record with message "audit".
func (a *SlogAuditor) Record(ctx context.Context, e Event) error {
	level := slog.LevelInfo
	switch {
	case e.Type == EventReplayDetected, e.Type == EventNotificationFailed:
		level = slog.LevelWarn
	case e.Outcome == OutcomeFailed:
		level = slog.LevelError
	}
	attrs := make([]slog.Attr, 0, 14)
	attrs = append(attrs,
		slog.String("event", string(e.Type)),
		slog.Time("at", e.Time.UTC()),
		slog.String("outcome", e.Outcome),
	)
	for _, kv := range [...][2]string{
		{"client_id", e.ClientID}, {"impersonator", e.Impersonator}, {"subject", e.Subject},
		{"org", e.Org}, {"jti", e.JTI}, {"parent", e.Parent}, {"reason", e.Reason}, {"method", e.Method}, {"path", e.Path},
		{"justification", e.Justification},
	} {
		if kv[1] != "" {
			attrs = append(attrs, slog.String(kv[0], kv[1]))
		}
	}
	if !e.Expires.IsZero() {
		attrs = append(attrs, slog.Time("expires", e.Expires.UTC()))
	}
	if len(e.Scopes) > 0 {
		attrs = append(attrs, slog.Any("scopes", e.Scopes))
	}
	a.logger.LogAttrs(ctx, level, "audit", attrs...)
	return nil
}

// MultiAuditor records every event to each of its auditors in order and
// returns the first error, after trying them all.
type MultiAuditor []Auditor

var _ Auditor = MultiAuditor(nil)

// Record implements Auditor.
func (m MultiAuditor) Record(ctx context.Context, e Event) error {
	var first error
	for _, a := range m {
		if err := a.Record(ctx, e); err != nil && first == nil {
			first = err
		}
	}
	return first
}
