package impersonation

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/actas/actas/claims"
	"github.com/actas/actas/internal/accesstoken"
	"github.com/actas/actas/store"
)

// The impersonated user's side: what was done as them, read back from the
// audit log, and ending what still runs. Every impersonation starts with
// the authorize step's store.EventImpersonationStarted (its JTI, the
// subject token's, names the impersonation); the exchange's
// store.EventTokenExchanged names it as Parent; the impersonation session
// the exchange started, if any, has the exchanged token's jti as its ID;
// and its end is a store.EventImpersonationEnded (or store.EventTokenRevoked)
// naming one of them, or a token under the session as Parent.

// History page sizes ([HistoryQuery.Limit]).
const (
	DefaultHistoryLimit = 20
	MaxHistoryLimit     = 100
)

// EndedBySubject is the Reason of the store.EventImpersonationEnded that
// [History.End] records: the impersonated user ended it.
const EndedBySubject = "ended by the impersonated user"

// History errors.
var (
	// ErrNoImpersonation: no impersonation of this user has that ID. It is
	// the answer both for an ID that names nothing and for an
	// impersonation of someone else, so that it tells nobody what exists.
	ErrNoImpersonation = errors.New("impersonation: no such impersonation of this user")
	// ErrImpersonationOver: the impersonation has already ended or
	// expired.
	ErrImpersonationOver = errors.New("impersonation: the impersonation is over")
)

// errEndRace: the subject token was used between reading the
// impersonation and ending it, and its exchange is not recorded yet.
var errEndRace = errors.New("impersonation: end: the impersonation is being exchanged right now; try again")

// maxImpersonationIDBytes bounds the IDs History looks up: a subject
// token's jti is far shorter.
const maxImpersonationIDBytes = 256

// Impersonation is one impersonation of a user, as the audit log tells it
// ([Impersonations]).
type Impersonation struct {
	// ID names the impersonation: the jti of the subject token the
	// authorize step issued. Pass it to [History.End].
	ID           string
	Impersonator string
	Subject      string
	// ClientID is the application the impersonation went through.
	ClientID string
	Org      string
	// Reason is the impersonator's stated reason, if any: the one given
	// at the authorize step or, without one, when the session started.
	Reason string
	// Scopes are the scopes granted: the subject token's, then those of
	// the exchange.
	Scopes []string
	// Started is when the authorize step issued the subject token.
	Started time.Time
	// Exchanged is when the subject token was exchanged; zero if it was
	// not (it then gave no access, and expires within minutes).
	Exchanged time.Time
	// Token is the jti of what the exchange issued (an access token, an
	// ID token or a refresh token), which is also the ID of the
	// impersonation session it started, if any; empty until exchanged.
	Token string
	// Session reports whether the exchange started an impersonation
	// session ([Sessions.Start], or a refresh token).
	Session bool
	// Expires is when it stops on its own: the subject token's expiry
	// until it is exchanged, then the later of the exchanged token's and
	// the session's. Zero when the log does not say (events recorded
	// before it did).
	Expires time.Time
	// Ended is when it was ended (revoked, the session ended, ended by
	// the user); zero if it was not, though it may have expired.
	Ended time.Time
	// EndReason is the reason its end was recorded with (such as
	// "logout", "ended in the console", [EndedBySubject]); it may be
	// empty, for a revoked token.
	EndReason string
}

// Running reports whether the impersonation still runs at now: it has not
// ended and not expired.
func (i *Impersonation) Running(now time.Time) bool {
	return i.Ended.IsZero() && now.Before(i.Expires)
}

// Impersonations turns audit events into the impersonations they record,
// newest first (by Started; of two started at the same time, the one that
// comes later in events first). events are one user's, in the log's
// order (as store.AuditLog.QueryEvents answers, oldest first); what they
// need of each impersonation is its store.EventImpersonationStarted, its
// store.EventTokenExchanged, its store.EventSessionStarted and its
// store.EventImpersonationEnded and store.EventTokenRevoked events; other
// events are ignored. An event whose Subject is not its impersonation's is
// ignored too, and an impersonation whose start is not among events is
// not listed.
func Impersonations(events []store.Event) []Impersonation {
	byID := map[string]*Impersonation{}
	var order []*Impersonation
	for _, e := range events {
		if e.Type != store.EventImpersonationStarted || e.Outcome != store.OutcomeGranted || e.JTI == "" || byID[e.JTI] != nil {
			continue
		}
		imp := &Impersonation{
			ID: e.JTI, Impersonator: e.Impersonator, Subject: e.Subject, ClientID: e.ClientID, Org: e.Org,
			Reason: e.Justification, Scopes: slices.Clone(e.Scopes), Started: e.Time, Expires: e.Expires,
		}
		byID[e.JTI] = imp
		order = append(order, imp)
	}
	byToken := map[string]*Impersonation{}
	for _, e := range events {
		if e.Type != store.EventTokenExchanged || e.Outcome != store.OutcomeGranted || e.JTI == "" {
			continue
		}
		imp := byID[e.Parent]
		if imp == nil || imp.Token != "" || e.Subject != imp.Subject {
			continue
		}
		imp.Token, imp.Exchanged, imp.Expires = e.JTI, e.Time, e.Expires
		imp.Scopes = slices.Clone(e.Scopes)
		if imp.Reason == "" {
			imp.Reason = e.Justification
		}
		byToken[e.JTI] = imp
	}
	for _, e := range events {
		switch e.Type {
		case store.EventSessionStarted:
			if imp := byToken[e.JTI]; imp != nil && e.Subject == imp.Subject && e.Outcome == store.OutcomeGranted {
				imp.Session = true
				if e.Expires.After(imp.Expires) {
					imp.Expires = e.Expires
				}
				if imp.Reason == "" {
					imp.Reason = e.Justification // given when the session started
				}
			}
		case store.EventImpersonationEnded, store.EventTokenRevoked:
			if e.Outcome != store.OutcomeGranted {
				continue
			}
			imp := byID[e.JTI]
			if imp == nil {
				imp = byToken[e.JTI]
			}
			if imp == nil && e.Parent != "" {
				imp = byToken[e.Parent] // a token issued under the session
			}
			if imp != nil && e.Subject == imp.Subject && (imp.Ended.IsZero() || e.Time.Before(imp.Ended)) {
				imp.Ended, imp.EndReason = e.Time, e.Reason
			}
		}
	}
	out := make([]Impersonation, 0, len(order))
	for _, imp := range slices.Backward(order) {
		out = append(out, *imp)
	}
	slices.SortStableFunc(out, func(a, b Impersonation) int { return b.Started.Compare(a.Started) })
	return out
}

// History shows users the impersonations of them, from the audit log, and
// lets them end one that still runs ([History.End]). Get one with
// [NewHistory]. It is safe for concurrent use.
//
// It answers for the user the host names, who must be the one signed in:
// it never lists or ends another user's impersonations, whatever ID it is
// given. It decides nothing about impersonators and issues no token.
type History struct {
	svc *Service
	log store.AuditLog
}

// NewHistory returns the History of svc's impersonations, read from log,
// which must read back what svc's auditor ([WithAuditor]) records, with
// the criteria, order and cursors of store.AuditQuery. svc needs a
// revocation store ([WithRevocationStore] or [WithSessions]) to end
// impersonations.
func NewHistory(svc *Service, log store.AuditLog) (*History, error) {
	switch {
	case svc == nil || log == nil:
		return nil, errors.New("impersonation: NewHistory needs a Service and an audit log")
	case svc.revocation == nil:
		return nil, errors.New("impersonation: NewHistory needs a Service with a revocation store (WithRevocationStore or WithSessions), to end impersonations")
	}
	return &History{svc: svc, log: log}, nil
}

// HistoryQuery asks for one page of a user's impersonations.
type HistoryQuery struct {
	// Subject is the user, the one signed in; required.
	Subject string
	// After is the Next of the previous page; empty for the newest.
	After string
	// Limit is the page size; zero or less means DefaultHistoryLimit, and
	// more than MaxHistoryLimit means MaxHistoryLimit.
	Limit int
}

// HistoryPage is one page of a user's impersonations, newest first.
type HistoryPage struct {
	Impersonations []Impersonation
	// Next is the cursor of the next (older) page, for HistoryQuery.After;
	// empty when this is the last.
	Next string
}

// List returns a page of the impersonations of q.Subject, newest first,
// as [Impersonations] reads them from the audit log in three queries: the
// page's starts (Limit, from the cursor), then only the records linked to
// them (by IDs), so that a page costs the same however long the log. An
// After the audit log
// cannot read is an error matching store.ErrInvalidCursor (a client
// mistake when it came from a request); any other error is the audit
// log's failure.
func (h *History) List(ctx context.Context, q HistoryQuery) (*HistoryPage, error) {
	if q.Subject == "" {
		return nil, errors.New("impersonation: history: no user")
	}
	limit := q.Limit
	switch {
	case limit <= 0:
		limit = DefaultHistoryLimit
	case limit > MaxHistoryLimit:
		limit = MaxHistoryLimit
	}
	starts, err := h.log.QueryEvents(ctx, store.AuditQuery{
		Subject: q.Subject, Types: []store.EventType{store.EventImpersonationStarted},
		NewestFirst: true, After: q.After, Limit: limit + 1,
	})
	if err != nil {
		return nil, fmt.Errorf("impersonation: history: %w", err)
	}
	page := &HistoryPage{}
	if len(starts) > limit {
		starts = starts[:limit]
		page.Next = starts[limit-1].Cursor
	}
	slices.Reverse(starts) // the log's order
	events, err := h.around(ctx, q.Subject, starts)
	if err != nil {
		return nil, err
	}
	page.Impersonations = Impersonations(events)
	return page, nil
}

// around returns starts (impersonation.started events of subject, in the
// log's order) with the events that say what became of them: their
// exchanges and the ends of their subject tokens, then the sessions and
// ends of what the exchanges issued.
func (h *History) around(ctx context.Context, subject string, starts []store.Event) ([]store.Event, error) {
	if len(starts) == 0 {
		return nil, nil
	}
	ids := make([]string, 0, len(starts))
	for _, e := range starts {
		ids = append(ids, e.JTI)
	}
	exchanges, err := h.log.QueryEvents(ctx, store.AuditQuery{
		Subject: subject, IDs: ids,
		Types: []store.EventType{store.EventTokenExchanged, store.EventImpersonationEnded, store.EventTokenRevoked},
	})
	if err != nil {
		return nil, fmt.Errorf("impersonation: history: %w", err)
	}
	var tokens []string
	for _, e := range exchanges {
		if e.Type == store.EventTokenExchanged && e.JTI != "" {
			tokens = append(tokens, e.JTI)
		}
	}
	events := append(slices.Clone(starts), exchanges...)
	if len(tokens) == 0 {
		return events, nil
	}
	after, err := h.log.QueryEvents(ctx, store.AuditQuery{
		Subject: subject, IDs: tokens,
		Types: []store.EventType{store.EventSessionStarted, store.EventImpersonationEnded, store.EventTokenRevoked},
	})
	if err != nil {
		return nil, fmt.Errorf("impersonation: history: %w", err)
	}
	return append(events, after...), nil
}

// find returns subject's impersonation id, or ErrNoImpersonation.
func (h *History) find(ctx context.Context, subject, id string) (*Impersonation, error) {
	if subject == "" || id == "" || len(id) > maxImpersonationIDBytes {
		return nil, ErrNoImpersonation
	}
	found, err := h.log.QueryEvents(ctx, store.AuditQuery{
		Subject: subject, IDs: []string{id}, Types: []store.EventType{store.EventImpersonationStarted},
	})
	if err != nil {
		return nil, fmt.Errorf("impersonation: history: %w", err)
	}
	found = slices.DeleteFunc(found, func(e store.Event) bool { return e.JTI != id || e.Outcome != store.OutcomeGranted })
	if len(found) == 0 {
		return nil, ErrNoImpersonation
	}
	events, err := h.around(ctx, subject, found[:1])
	if err != nil {
		return nil, err
	}
	imps := Impersonations(events)
	if len(imps) != 1 || imps[0].Subject != subject {
		return nil, ErrNoImpersonation
	}
	return &imps[0], nil
}

// End ends subject's impersonation id ([Impersonation.ID]) at the request
// of subject, the signed-in user: an exchanged one is revoked as
// [Sessions.End] revokes a session (the exchanged token and, when it
// started an impersonation session, the session and every token issued
// under it, in every application; the impersonator's login session drops
// it at its next use), and a subject token not yet exchanged is consumed,
// so that it can no longer be. The end is recorded as a
// store.EventImpersonationEnded with reason [EndedBySubject]. It returns
// the impersonation as it now is.
//
// Refusals: [ErrNoImpersonation] for an ID that is not an impersonation of
// subject (unknown, malformed or someone else's: the same answer) and
// [ErrImpersonationOver] for one that has ended or expired. Any other
// error is a store failure; the impersonation may then still run, and the
// user should try again.
func (h *History) End(ctx context.Context, subject, id string) (*Impersonation, error) {
	imp, err := h.find(ctx, subject, id)
	if err != nil {
		return nil, err
	}
	s := h.svc
	if over(imp, s.now(), s.skew) {
		return nil, ErrImpersonationOver
	}
	if imp.Token == "" {
		// Not exchanged: consume the subject token, as the exchange would,
		// until no verifier could accept it any more.
		err := s.stores.OneTimeUse.Use(ctx, imp.ID, imp.Expires.Add(s.skew+holdMargin))
		switch {
		case errors.Is(err, store.ErrAlreadyUsed):
			// Exchanged or revoked since it was read.
			if imp, err = h.find(ctx, subject, id); err != nil {
				return nil, err
			}
			if over(imp, s.now(), s.skew) {
				return nil, ErrImpersonationOver
			}
			if imp.Token == "" {
				return nil, errEndRace
			}
		case err != nil:
			return nil, fmt.Errorf("impersonation: end: %w", err)
		}
	}
	ended := imp.ID
	if imp.Token != "" {
		// One key: the exchanged token's jti, which is the session's ID.
		if err := s.revocation.Revoke(ctx, accesstoken.SessionRevocationKey(imp.Token), imp.Expires.Add(claims.MaxSkew)); err != nil {
			return nil, fmt.Errorf("impersonation: end: %w", err)
		}
		ended = imp.Token
	}
	ev := store.Event{
		Type: store.EventImpersonationEnded, Time: s.now().UTC(), ClientID: imp.ClientID,
		Impersonator: imp.Impersonator, Subject: imp.Subject, Org: imp.Org, JTI: ended,
		Outcome: store.OutcomeGranted, Reason: EndedBySubject, Justification: imp.Reason,
	}
	if err := s.record(ctx, ev); err != nil {
		return nil, fmt.Errorf("impersonation: end: revoked, but the record failed: %w", err)
	}
	imp.Ended, imp.EndReason = ev.Time, EndedBySubject
	return imp, nil
}

// over reports whether imp has ended or expired at now, past the skew a
// verifier allows.
func over(imp *Impersonation, now time.Time, skew time.Duration) bool {
	return !imp.Ended.IsZero() || !now.Before(imp.Expires.Add(skew))
}
