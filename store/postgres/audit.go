package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/actas/actas/store"
)

// splitTime returns t to the microsecond (what timestamptz holds) and the
// nanoseconds below it, so the two columns give t back exactly.
func splitTime(t time.Time) (time.Time, int16) {
	micro := t.Truncate(time.Microsecond)
	return micro, int16(t.Sub(micro))
}

// Record implements [store.Auditor]: one statement inserting into the
// append-only audit_events table and, when e has a Parent or an Expires,
// into audit_event_links. e.Time is kept to the nanosecond, e.Expires to
// the microsecond; the Store does not set the time, and e.Cursor is
// ignored.
func (s *Store) Record(ctx context.Context, e store.Event) error {
	ctx, cancel, err := s.op(ctx)
	defer cancel()
	if err != nil {
		return fmt.Errorf("postgres: record audit event: %w", err)
	}
	at, nanos := splitTime(e.Time)
	var expires *time.Time
	if !e.Expires.IsZero() {
		expires = &e.Expires
	}
	_, err = s.pool.Exec(ctx, s.q.record, at, nanos, string(e.Type), e.ClientID, e.Impersonator, e.Subject, e.Org,
		e.JTI, e.Scopes, e.Outcome, e.Reason, e.Method, e.Path, e.Justification, e.Parent, expires)
	if err != nil {
		return fmt.Errorf("postgres: record audit event: %w", err)
	}
	return nil
}

// QueryEvents implements [store.AuditLog] with the selection of
// [store.AuditQuery.Matches] in SQL: User matches the subject or the
// impersonator, From is inclusive and To exclusive (to the nanosecond), a
// Scope admits the rows whose org is one of its Orgs (never an empty org)
// or whose subject or impersonator is its User, Types the rows of those
// types and IDs the rows whose jti or parent (in audit_event_links) is
// one of them (never an empty one); oldest first by time and then in the order recorded (the
// row's id), or the reverse with NewestFirst, after the After cursor, at
// most q.Limit (the first in that order) when it is positive. Times come
// back in UTC.
//
// A cursor is the row's position: its time in Unix seconds and
// nanoseconds and its id, "sec.nsec.id", compared as a row value so that
// a page costs an index range scan however long the log.
func (s *Store) QueryEvents(ctx context.Context, q store.AuditQuery) ([]store.Event, error) {
	var after *auditCursor
	if q.After != "" {
		c, err := parseAuditCursor(q.After)
		if err != nil {
			return nil, fmt.Errorf("postgres: query audit events: %w", err)
		}
		after = &c
	}
	ctx, cancel, err := s.op(ctx)
	defer cancel()
	if err != nil {
		return nil, fmt.Errorf("postgres: query audit events: %w", err)
	}
	var (
		where []string
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if q.User != "" {
		p := arg(q.User)
		where = append(where, "(subject = "+p+" OR impersonator = "+p+")")
	}
	if q.Subject != "" {
		where = append(where, "subject = "+arg(q.Subject))
	}
	if q.Impersonator != "" {
		where = append(where, "impersonator = "+arg(q.Impersonator))
	}
	if len(q.Types) > 0 {
		types := make([]string, len(q.Types))
		for i, t := range q.Types {
			types[i] = string(t)
		}
		where = append(where, "type = ANY("+arg(types)+"::text[])")
	}
	if len(q.IDs) > 0 {
		var ids []string
		for _, id := range q.IDs {
			if id != "" {
				ids = append(ids, id)
			}
		}
		if len(ids) == 0 {
			where = append(where, "FALSE")
		} else {
			where = append(where, strings.ReplaceAll(s.q.eventsByID, "$ID", arg(ids)))
		}
	}
	if q.Scope != nil {
		where = append(where, scopeSQL(*q.Scope, arg))
	}
	if !q.From.IsZero() {
		at, nanos := splitTime(q.From)
		where = append(where, "(at, at_nanos) >= ("+arg(at)+"::timestamptz, "+arg(nanos)+"::smallint)")
	}
	if !q.To.IsZero() {
		at, nanos := splitTime(q.To)
		where = append(where, "(at, at_nanos) < ("+arg(at)+"::timestamptz, "+arg(nanos)+"::smallint)")
	}
	cmp, order := ">", "at, at_nanos, a.id"
	if q.NewestFirst {
		cmp, order = "<", "at DESC, at_nanos DESC, a.id DESC"
	}
	if after != nil {
		at, nanos := splitTime(after.at)
		where = append(where, "(at, at_nanos, a.id) "+cmp+" ("+arg(at)+"::timestamptz, "+arg(nanos)+"::smallint, "+arg(after.id)+"::bigint)")
	}
	var sql strings.Builder
	sql.WriteString(s.q.queryEvents)
	if len(where) > 0 {
		sql.WriteString("\nWHERE " + strings.Join(where, " AND "))
	}
	sql.WriteString("\nORDER BY " + order)
	if q.Limit > 0 {
		sql.WriteString("\nLIMIT " + arg(int64(q.Limit)))
	}

	rows, err := s.pool.Query(ctx, sql.String(), args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: query audit events: %w", err)
	}
	defer rows.Close()
	var out []store.Event
	for rows.Next() {
		var (
			e       store.Event
			id      int64
			at      time.Time
			nanos   int16
			typ     string
			expires *time.Time
		)
		if err := rows.Scan(&id, &at, &nanos, &typ, &e.ClientID, &e.Impersonator, &e.Subject, &e.Org,
			&e.JTI, &e.Scopes, &e.Outcome, &e.Reason, &e.Method, &e.Path, &e.Justification, &e.Parent, &expires); err != nil {
			return nil, fmt.Errorf("postgres: query audit events: %w", err)
		}
		e.Type = store.EventType(typ)
		e.Time = at.Add(time.Duration(nanos)).UTC()
		if expires != nil {
			e.Expires = expires.UTC()
		}
		e.Cursor = auditCursor{at: e.Time, id: id}.String()
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: query audit events: %w", err)
	}
	return out, nil
}

// auditCursor is the position of a row of audit_events in the log's
// order: its time and its id.
type auditCursor struct {
	at time.Time
	id int64
}

// String is the cursor as [store.Event.Cursor]: "sec.nsec.id".
func (c auditCursor) String() string {
	return strconv.FormatInt(c.at.Unix(), 10) + "." + strconv.Itoa(c.at.Nanosecond()) + "." + strconv.FormatInt(c.id, 10)
}

// parseAuditCursor reads a cursor String wrote, in its canonical form
// only; anything else is store.ErrInvalidCursor.
func parseAuditCursor(s string) (auditCursor, error) {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return auditCursor{}, store.ErrInvalidCursor
	}
	sec, err1 := strconv.ParseInt(parts[0], 10, 64)
	nsec, err2 := strconv.ParseInt(parts[1], 10, 64)
	id, err3 := strconv.ParseInt(parts[2], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || nsec < 0 || nsec >= int64(time.Second) || id < 0 {
		return auditCursor{}, store.ErrInvalidCursor
	}
	c := auditCursor{at: time.Unix(sec, nsec).UTC(), id: id}
	if !validTime(c.at) {
		// A position no row can have, and outside what timestamptz holds.
		return auditCursor{}, store.ErrInvalidCursor
	}
	if c.String() != s {
		return auditCursor{}, store.ErrInvalidCursor // not canonical: "+1", "01"
	}
	return c, nil
}

// scopeSQL is the condition of [store.AuditScope.Contains]; arg adds a
// parameter and returns its placeholder. An empty org is never in the
// scope, and a scope with neither organisations nor user selects nothing.
func scopeSQL(sc store.AuditScope, arg func(any) string) string {
	var orgs []string
	for _, o := range sc.Orgs {
		if o != "" {
			orgs = append(orgs, o)
		}
	}
	var or []string
	if len(orgs) > 0 {
		or = append(or, "org = ANY("+arg(orgs)+"::text[])")
	}
	if sc.User != "" {
		p := arg(sc.User)
		or = append(or, "subject = "+p, "impersonator = "+p)
	}
	if len(or) == 0 {
		return "FALSE"
	}
	return "(" + strings.Join(or, " OR ") + ")"
}
