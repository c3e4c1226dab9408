package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/actas/actas/store"
)

var _ store.SubjectGrants = (*Store)(nil)

// Subject grant errors; like the session errors, their text holds no
// field of a grant.
var (
	errGrantIncomplete = errors.New("a subject grant needs an ID and a subject")
	errGrantText       = errors.New("a subject grant field is not valid UTF-8 or holds a NUL byte")
	errGrantTime       = errors.New("a subject grant time is outside the years 0 to 9999")
)

const (
	sqlPutSubjectGrant = `INSERT INTO {s}.subject_grants (subject, id, client_id, impersonator, created, expires, revoked)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (subject, id) DO UPDATE SET client_id = EXCLUDED.client_id, impersonator = EXCLUDED.impersonator,
	created = EXCLUDED.created, expires = EXCLUDED.expires, revoked = EXCLUDED.revoked`

	sqlSubjectGrantsOf = `SELECT id, client_id, impersonator, created, expires, revoked
FROM {s}.subject_grants WHERE subject = $1 AND expires > $2 ORDER BY created DESC, id`

	// sqlRevokeSubjectGrant sets revoked once (COALESCE keeps the first)
	// and returns the row as it is afterwards, in one statement: the row
	// lock makes concurrent revocations agree on the first time.
	sqlRevokeSubjectGrant = `UPDATE {s}.subject_grants SET revoked = COALESCE(revoked, $3)
WHERE subject = $1 AND id = $2
RETURNING client_id, impersonator, created, expires, revoked`
)

// PutSubjectGrant implements [store.SubjectGrants] with one upsert. A
// grant without an ID or a subject, with a field PostgreSQL's text cannot
// hold as given, or a time outside the years 0–9999, is refused without a
// query.
func (s *Store) PutSubjectGrant(ctx context.Context, g store.SubjectGrant) error {
	if err := checkGrant(g); err != nil {
		return fmt.Errorf("postgres: put subject grant: %w", err)
	}
	ctx, cancel, err := s.op(ctx)
	defer cancel()
	if err != nil {
		return fmt.Errorf("postgres: put subject grant: %w", err)
	}
	var revoked *time.Time
	if !g.Revoked.IsZero() {
		r := micro(g.Revoked)
		revoked = &r
	}
	_, err = s.pool.Exec(ctx, s.q.putSubjectGrant, g.Subject, g.ID, g.ClientID, g.Impersonator,
		micro(g.Created), micro(g.Expires), revoked)
	if err != nil {
		return fmt.Errorf("postgres: put subject grant: %w", err)
	}
	return nil
}

func checkGrant(g store.SubjectGrant) error {
	if g.ID == "" || g.Subject == "" {
		return errGrantIncomplete
	}
	for _, f := range []string{g.ID, g.Subject, g.ClientID, g.Impersonator} {
		if !validText(f) {
			return errGrantText
		}
	}
	for _, t := range []time.Time{g.Created, g.Expires, g.Revoked} {
		if !t.IsZero() && !validTime(t) {
			return errGrantTime
		}
	}
	return nil
}

// SubjectGrantsOf implements [store.SubjectGrants] with one SELECT, newest
// first; times come back in UTC, to the microsecond.
func (s *Store) SubjectGrantsOf(ctx context.Context, subject string, since time.Time) ([]store.SubjectGrant, error) {
	ctx, cancel, err := s.op(ctx)
	defer cancel()
	if err != nil {
		return nil, fmt.Errorf("postgres: subject grants: %w", err)
	}
	out := []store.SubjectGrant{}
	if !validText(subject) {
		return out, nil // no grant can be stored under it
	}
	if !validTime(since) {
		since = time.Time{}.AddDate(1, 0, 0)
	}
	rows, err := s.pool.Query(ctx, s.q.subjectGrantsOf, subject, micro(since))
	if err != nil {
		return nil, fmt.Errorf("postgres: subject grants: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		g := store.SubjectGrant{Subject: subject}
		var revoked *time.Time
		if err := rows.Scan(&g.ID, &g.ClientID, &g.Impersonator, &g.Created, &g.Expires, &revoked); err != nil {
			return nil, fmt.Errorf("postgres: subject grants: %w", err)
		}
		out = append(out, utcGrant(g, revoked))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: subject grants: %w", err)
	}
	return out, nil
}

// RevokeSubjectGrant implements [store.SubjectGrants] with one UPDATE ...
// RETURNING; no such grant of subject is an error wrapping
// [store.ErrNotFound].
func (s *Store) RevokeSubjectGrant(ctx context.Context, subject, id string, at time.Time) (*store.SubjectGrant, error) {
	ctx, cancel, err := s.op(ctx)
	defer cancel()
	if err != nil {
		return nil, fmt.Errorf("postgres: revoke subject grant: %w", err)
	}
	if !validText(subject) || !validText(id) {
		return nil, fmt.Errorf("postgres: revoke subject grant: %w", store.ErrNotFound)
	}
	if !validTime(at) {
		return nil, fmt.Errorf("postgres: revoke subject grant: %w", errGrantTime)
	}
	g := store.SubjectGrant{Subject: subject, ID: id}
	var revoked *time.Time
	err = s.pool.QueryRow(ctx, s.q.revokeSubjectGrant, subject, id, micro(at)).Scan(&g.ClientID, &g.Impersonator,
		&g.Created, &g.Expires, &revoked)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("postgres: revoke subject grant: %w", store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: revoke subject grant: %w", err)
	}
	g = utcGrant(g, revoked)
	return &g, nil
}

// utcGrant returns g with its times in UTC and Revoked set from revoked.
func utcGrant(g store.SubjectGrant, revoked *time.Time) store.SubjectGrant {
	g.Created, g.Expires = g.Created.UTC(), g.Expires.UTC()
	if revoked != nil {
		g.Revoked = revoked.UTC()
	}
	return g
}
