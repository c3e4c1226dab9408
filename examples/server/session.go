package main

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"sync"
	"time"
)

// A session is server-side state behind a random cookie. The identity
// server and the two demo apps each have their own store and cookie, as
// separate applications would.
type session struct {
	ID string
	// CSRF is the anti-CSRF token every state-changing form of the
	// session carries (synchroniser token pattern).
	CSRF    string
	Expires time.Time

	// Identity server: who signed in, and when.
	UserID   string
	AuthTime time.Time

	// Demo apps: the sign-in or impersonation being started, the tokens
	// (never sent to the browser) and a one-time message.
	Pending      *pendingAuth
	AccessToken  string
	RefreshToken string
	Flash        string
	// Demo app: the impersonation session its exchange started at the
	// identity server (login session key and session ID), which its End
	// impersonation ends.
	ImpersonationLogin string
	ImpersonationID    string
	// Demo app 2: the user its ID token names, the ID token itself (the
	// id_token_hint of its logout), and the logout it sent to the
	// identity server's end-session endpoint.
	Subject       string
	IDToken       string
	PendingLogout *pendingLogout
}

// pendingLogout is what demo app 2 remembers between sending the browser
// to the end-session endpoint and it coming back: the state it sent, and
// the tokens it forgot, to revoke then.
type pendingLogout struct {
	State        string
	AccessToken  string
	RefreshToken string
}

// pendingAuth is what a demo app remembers between sending the browser to
// the authorize endpoint and the response coming back.
type pendingAuth struct {
	State string
	Nonce string
	// Subject and Reason (demo app): whom the impersonator asked for, and
	// why. Then is where the app goes after the exchange: "app2" opens
	// demo app 2, anything else /app.
	Subject string
	Reason  string
	Then    string
	// Verifier (demo app 2) is the PKCE code verifier.
	Verifier string
}

// Session lifetimes: anonymous sessions exist only to carry the CSRF token
// of a login form.
const (
	anonymousSessionTTL = time.Hour
	sessionTTL          = 8 * time.Hour
	// maxSessions bounds the store: beyond it the oldest sessions go.
	maxSessions = 100_000
)

// sessionStore keeps sessions in memory. It is safe for concurrent use;
// callers get copies and change sessions through update.
type sessionStore struct {
	cookie string
	path   string
	secure bool
	now    func() time.Time

	mu sync.Mutex
	m  map[string]*session
}

func newSessionStore(cookie, path string, secure bool, now func() time.Time) *sessionStore {
	return &sessionStore{cookie: cookie, path: path, secure: secure, now: now, m: map[string]*session{}}
}

// randomToken returns 256 random bits, base64url.
func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// get returns a copy of the request's session.
func (s *sessionStore) get(r *http.Request) (session, bool) {
	c, err := r.Cookie(s.cookie)
	if err != nil || c.Value == "" {
		return session{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.m[c.Value]
	if !ok {
		return session{}, false
	}
	if !s.now().Before(sess.Expires) {
		delete(s.m, c.Value)
		return session{}, false
	}
	return *sess, true
}

// ensure returns the request's session, starting an anonymous one (and
// setting its cookie) when there is none.
func (s *sessionStore) ensure(w http.ResponseWriter, r *http.Request) session {
	if sess, ok := s.get(r); ok {
		return sess
	}
	return s.create(w, func(*session) {}, anonymousSessionTTL)
}

// renew replaces the request's session with a new one under a new ID and
// CSRF token (against session fixation), set up by init: what a sign-in
// does. The old session, if any, is gone.
func (s *sessionStore) renew(w http.ResponseWriter, r *http.Request, init func(*session)) session {
	s.drop(r)
	return s.create(w, init, sessionTTL)
}

func (s *sessionStore) create(w http.ResponseWriter, init func(*session), ttl time.Duration) session {
	now := s.now()
	sess := &session{ID: randomToken(), CSRF: randomToken(), Expires: now.Add(ttl)}
	init(sess)
	s.mu.Lock()
	s.sweep(now)
	s.m[sess.ID] = sess
	s.mu.Unlock()
	http.SetCookie(w, s.cookieFor(sess.ID, 0))
	return *sess
}

// sweep drops expired sessions and, past maxSessions, the oldest ones.
// s.mu is held.
func (s *sessionStore) sweep(now time.Time) {
	if len(s.m) < maxSessions/2 {
		return
	}
	for id, sess := range s.m {
		if !now.Before(sess.Expires) {
			delete(s.m, id)
		}
	}
	for len(s.m) >= maxSessions {
		var oldest string
		for id, sess := range s.m {
			if oldest == "" || sess.Expires.Before(s.m[oldest].Expires) {
				oldest = id
			}
		}
		delete(s.m, oldest)
	}
}

// update changes the session with id; false if it is gone.
func (s *sessionStore) update(id string, f func(*session)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.m[id]
	if ok {
		f(sess)
	}
	return ok
}

// destroy ends the request's session and clears its cookie.
func (s *sessionStore) destroy(w http.ResponseWriter, r *http.Request) {
	s.drop(r)
	http.SetCookie(w, s.cookieFor("", -1))
}

func (s *sessionStore) drop(r *http.Request) {
	if c, err := r.Cookie(s.cookie); err == nil {
		s.mu.Lock()
		delete(s.m, c.Value)
		s.mu.Unlock()
	}
}

func (s *sessionStore) cookieFor(value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name:     s.cookie,
		Value:    value,
		Path:     s.path,
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   s.secure,
		SameSite: http.SameSiteLaxMode,
	}
}

// csrfField is the name of the anti-CSRF form field.
const csrfField = "csrf_token"

// checkCSRF reports whether the form of r (already parsed) carries the
// session's CSRF token.
func checkCSRF(r *http.Request, sess session) bool {
	got := r.PostFormValue(csrfField)
	return got != "" && sess.CSRF != "" && subtle.ConstantTimeCompare([]byte(got), []byte(sess.CSRF)) == 1
}
