package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"

	"github.com/actas/actas/store"
)

// Session errors. Their text never holds a login session ID or any field of
// a session: the library copies error text into audit records.
var (
	errSessionIncomplete = errors.New("a session needs an ID and a login session")
	errSessionNotUTF8    = errors.New("a session field is not valid UTF-8")
	errSessionEncode     = errors.New("cannot encode the session")
	errSessionCorrupt    = errors.New("the stored value is not a valid session")
)

func (s *Store) sessionKey(loginSession string) string { return s.prefix + "session:" + loginSession }

// sessionRecord is the stored JSON form of a [store.ImpersonationSession].
// It is part of the key layout's compatibility promise: its field names
// change only with a new major version. Times are encoded in RFC 3339 with
// nanoseconds, in UTC.
type sessionRecord struct {
	ID               string    `json:"id"`
	LoginSession     string    `json:"login_session"`
	Impersonator     string    `json:"impersonator"`
	Subject          string    `json:"subject"`
	ClientID         string    `json:"client_id"`
	Org              string    `json:"org"`
	Reason           string    `json:"reason"`
	Started          time.Time `json:"started"`
	Expires          time.Time `json:"expires"`
	StartTokenID     string    `json:"start_token_id"`
	StartTokenExpiry time.Time `json:"start_token_expiry"`
}

func encodeSession(sess store.ImpersonationSession) ([]byte, error) {
	if sess.ID == "" || sess.LoginSession == "" {
		return nil, errSessionIncomplete
	}
	// encoding/json would replace invalid UTF-8 with U+FFFD, storing a
	// session other than the one given: refuse it instead.
	for _, f := range []string{sess.ID, sess.LoginSession, sess.Impersonator, sess.Subject,
		sess.ClientID, sess.Org, sess.Reason, sess.StartTokenID} {
		if !utf8.ValidString(f) {
			return nil, errSessionNotUTF8
		}
	}
	b, err := json.Marshal(sessionRecord{
		ID: sess.ID, LoginSession: sess.LoginSession, Impersonator: sess.Impersonator,
		Subject: sess.Subject, ClientID: sess.ClientID, Org: sess.Org, Reason: sess.Reason,
		Started: sess.Started.UTC(), Expires: sess.Expires.UTC(),
		StartTokenID: sess.StartTokenID, StartTokenExpiry: sess.StartTokenExpiry.UTC(),
	})
	if err != nil {
		// A year outside 0–9999. The error's text is not passed on, so
		// that no session data reaches an audit record.
		return nil, errSessionEncode
	}
	return b, nil
}

// decodeSession decodes the value stored for loginSession. A value that
// does not decode, or that belongs to another login session, is an error
// whose text holds nothing of the value.
func decodeSession(data []byte, loginSession string) (*store.ImpersonationSession, error) {
	var r sessionRecord
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, errSessionCorrupt
	}
	if r.ID == "" || r.LoginSession != loginSession {
		return nil, errSessionCorrupt
	}
	return &store.ImpersonationSession{
		ID: r.ID, LoginSession: r.LoginSession, Impersonator: r.Impersonator,
		Subject: r.Subject, ClientID: r.ClientID, Org: r.Org, Reason: r.Reason,
		Started: r.Started.UTC(), Expires: r.Expires.UTC(),
		StartTokenID: r.StartTokenID, StartTokenExpiry: r.StartTokenExpiry.UTC(),
	}, nil
}

// PutSession implements [store.Sessions] with a single SET … PX: the key of
// sess.LoginSession holds the session, as JSON, until sess.Expires, and
// replaces whatever it held. An Expires that has already passed (on the
// Store's clock) stores nothing and deletes any session the login session
// had, so SessionFor reports none. A session without an ID or a login
// session, or with a field that is not valid UTF-8, is refused.
func (s *Store) PutSession(ctx context.Context, sess store.ImpersonationSession) error {
	data, err := encodeSession(sess)
	if err != nil {
		return fmt.Errorf("redisstore: session: %w", err)
	}
	key := s.sessionKey(sess.LoginSession)
	ttl := sess.Expires.Sub(s.now()).Milliseconds()
	err = s.do(ctx, func(ctx context.Context) error {
		if ttl <= 0 {
			return s.c.Del(ctx, key).Err()
		}
		// PX always (go-redis's Set would send EX for whole seconds).
		return s.c.Do(ctx, "set", key, data, "px", ttl).Err()
	})
	if err != nil {
		return fmt.Errorf("redisstore: session: %w", err)
	}
	return nil
}

// SessionFor implements [store.Sessions] with GET. No session, or one whose
// Expires has passed on the Store's clock (Redis may not have dropped it
// yet), is an error wrapping [store.ErrNotFound]; any other error (Redis
// unreachable, a value that is not a session) is not, so a caller never
// takes a failure for "not impersonating".
func (s *Store) SessionFor(ctx context.Context, loginSession string) (*store.ImpersonationSession, error) {
	key := s.sessionKey(loginSession)
	var data []byte
	err := s.do(ctx, func(ctx context.Context) (err error) {
		data, err = s.c.Get(ctx, key).Bytes()
		return err
	})
	if errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("redisstore: session: %w", store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("redisstore: session: %w", err)
	}
	sess, err := decodeSession(data, loginSession)
	if err != nil {
		return nil, fmt.Errorf("redisstore: session: %w", err)
	}
	if !s.now().Before(sess.Expires) {
		return nil, fmt.Errorf("redisstore: session: %w", store.ErrNotFound)
	}
	return sess, nil
}

// DeleteSession implements [store.Sessions] with DEL; no session is no
// error.
func (s *Store) DeleteSession(ctx context.Context, loginSession string) error {
	key := s.sessionKey(loginSession)
	err := s.do(ctx, func(ctx context.Context) error {
		return s.c.Del(ctx, key).Err()
	})
	if err != nil {
		return fmt.Errorf("redisstore: session: %w", err)
	}
	return nil
}
