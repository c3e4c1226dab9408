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

// Record implements [store.Auditor]: one INSERT into the append-only
// audit_events table. e.Time is kept to the nanosecond; the Store does not
// set it.
func (s *Store) Record(ctx context.Context, e store.Event) error {
	ctx, cancel, err := s.op(ctx)
	defer cancel()
	if err != nil {
		return fmt.Errorf("postgres: record audit event: %w", err)
	}
	at, nanos := splitTime(e.Time)
	_, err = s.pool.Exec(ctx, s.q.record, at, nanos, string(e.Type), e.ClientID, e.Impersonator, e.Subject, e.Org,
		e.JTI, e.Scopes, e.Outcome, e.Reason, e.Method, e.Path, e.Justification)
	if err != nil {
		return fmt.Errorf("postgres: record audit event: %w", err)
	}
	return nil
}

// QueryEvents implements [store.AuditLog] with the selection of
// [store.AuditQuery.Matches] in SQL: User matches the subject or the
// impersonator, From is inclusive and To exclusive (to the nanosecond), a
// Scope admits the rows whose org is one of its Orgs (never an empty org)
// or whose subject or impersonator is its User, oldest first by time and
// then in the order recorded, at most q.Limit (the oldest) when it is
// positive. Times come back in UTC.
func (s *Store) QueryEvents(ctx context.Context, q store.AuditQuery) ([]store.Event, error) {
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
	var sql strings.Builder
	sql.WriteString(s.q.queryEvents)
	if len(where) > 0 {
		sql.WriteString("\nWHERE " + strings.Join(where, " AND "))
	}
	sql.WriteString("\nORDER BY at, at_nanos, id")
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
			e     store.Event
			at    time.Time
			nanos int16
			typ   string
		)
		if err := rows.Scan(&at, &nanos, &typ, &e.ClientID, &e.Impersonator, &e.Subject, &e.Org,
			&e.JTI, &e.Scopes, &e.Outcome, &e.Reason, &e.Method, &e.Path, &e.Justification); err != nil {
			return nil, fmt.Errorf("postgres: query audit events: %w", err)
		}
		e.Type = store.EventType(typ)
		e.Time = at.Add(time.Duration(nanos)).UTC()
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: query audit events: %w", err)
	}
	return out, nil
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
