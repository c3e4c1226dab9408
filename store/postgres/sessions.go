package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/actas/actas/store"
)

// Session errors. Their text never holds a login session or any field of a
// session: the library copies error text into audit records. Errors from
// the database are wrapped as they are; PostgreSQL's messages name no
// parameter values, and values it would quote (a byte sequence that is not
// UTF-8) are refused here before they are sent.
var (
	errSessionIncomplete = errors.New("a session needs an ID and a login session")
	errSessionText       = errors.New("a session field is not valid UTF-8 or holds a NUL byte")
	errSessionTime       = errors.New("a session time is outside the years 0 to 9999")
)

// validText reports whether PostgreSQL can store v in a text column as it
// is: valid UTF-8 (the encoding the tables are used with) without NUL.
func validText(v string) bool {
	return utf8.ValidString(v) && !strings.ContainsRune(v, 0)
}

// validTime reports whether t is within the years the Store accepts:
// well inside timestamptz's range, and where pgx's conversion to
// microseconds cannot overflow.
func validTime(t time.Time) bool {
	y := t.UTC().Year()
	return y >= 0 && y <= 9999
}

// micro returns t to the microsecond, rounded down: what a timestamptz
// holds, whichever protocol mode the pool's connections use.
func micro(t time.Time) time.Time { return t.Truncate(time.Microsecond) }

// PutSession implements [store.Sessions] with one upsert: the row of
// sess.LoginSession holds sess, replacing any session it held, live or
// expired. Times are stored to the microsecond, rounded down, so a session
// ends at most a microsecond before sess.Expires, never after. A session
// whose Expires has already passed (on the Store's clock) is stored but
// never returned, and swept later. A session without an ID or a login
// session, with a field that is not valid UTF-8 or holds a NUL byte, or
// with a time outside the years 0–9999, is refused without a query.
//
// Every 256th call first deletes up to 1000 expired sessions, as writes to
// the other expiring tables do.
func (s *Store) PutSession(ctx context.Context, sess store.ImpersonationSession) error {
	if err := checkSession(sess); err != nil {
		return fmt.Errorf("postgres: put session: %w", err)
	}
	ctx, cancel, err := s.op(ctx)
	defer cancel()
	if err != nil {
		return fmt.Errorf("postgres: put session: %w", err)
	}
	if err := s.trim(ctx, sweepSessions, micro(s.now())); err != nil {
		return fmt.Errorf("postgres: put session: %w", err)
	}
	_, err = s.pool.Exec(ctx, s.q.putSession, sess.LoginSession, sess.ID, sess.Impersonator, sess.Subject,
		sess.ClientID, sess.Org, sess.Reason, micro(sess.Started), micro(sess.Expires),
		sess.StartTokenID, micro(sess.StartTokenExpiry))
	if err != nil {
		return fmt.Errorf("postgres: put session: %w", err)
	}
	return nil
}

// checkSession refuses what the table cannot hold as given.
func checkSession(sess store.ImpersonationSession) error {
	if sess.ID == "" || sess.LoginSession == "" {
		return errSessionIncomplete
	}
	for _, f := range []string{sess.ID, sess.LoginSession, sess.Impersonator, sess.Subject,
		sess.ClientID, sess.Org, sess.Reason, sess.StartTokenID} {
		if !validText(f) {
			return errSessionText
		}
	}
	for _, t := range []time.Time{sess.Started, sess.Expires, sess.StartTokenExpiry} {
		if !validTime(t) {
			return errSessionTime
		}
	}
	return nil
}

// SessionFor implements [store.Sessions] with one SELECT of the row whose
// expires is after the Store's clock. No such row is an error wrapping
// [store.ErrNotFound]; any other failure (the database unreachable, slow
// or refusing) is an error that does not, so a caller never takes a
// failure for "not impersonating". Times come back in UTC, to the
// microsecond. A loginSession that PutSession would refuse (not valid
// UTF-8, or holding a NUL byte) has no session: ErrNotFound, without a
// query.
func (s *Store) SessionFor(ctx context.Context, loginSession string) (*store.ImpersonationSession, error) {
	ctx, cancel, err := s.op(ctx)
	defer cancel()
	if err != nil {
		return nil, fmt.Errorf("postgres: session: %w", err)
	}
	if !validText(loginSession) {
		return nil, fmt.Errorf("postgres: session: %w", store.ErrNotFound)
	}
	sess := store.ImpersonationSession{LoginSession: loginSession}
	err = s.pool.QueryRow(ctx, s.q.session, loginSession, micro(s.now())).Scan(&sess.ID, &sess.Impersonator,
		&sess.Subject, &sess.ClientID, &sess.Org, &sess.Reason, &sess.Started, &sess.Expires,
		&sess.StartTokenID, &sess.StartTokenExpiry)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("postgres: session: %w", store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: session: %w", err)
	}
	sess.Started, sess.Expires, sess.StartTokenExpiry = sess.Started.UTC(), sess.Expires.UTC(), sess.StartTokenExpiry.UTC()
	return &sess, nil
}

// DeleteSession implements [store.Sessions] with one DELETE; no session
// is no error.
func (s *Store) DeleteSession(ctx context.Context, loginSession string) error {
	ctx, cancel, err := s.op(ctx)
	defer cancel()
	if err != nil {
		return fmt.Errorf("postgres: delete session: %w", err)
	}
	if !validText(loginSession) {
		return nil // no session can be stored under it
	}
	if _, err := s.pool.Exec(ctx, s.q.deleteSession, loginSession); err != nil {
		return fmt.Errorf("postgres: delete session: %w", err)
	}
	return nil
}
