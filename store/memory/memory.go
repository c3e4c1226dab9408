package memory

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/actas/actas/internal/ratelimit"
	"github.com/actas/actas/store"
)

// Store holds clients, users, organisations, roles, used and revoked token
// IDs, audit events and notices in memory.
type Store struct {
	now func() time.Time

	mu      sync.RWMutex
	clients map[string]store.Client
	users   map[string]store.User
	orgs    map[string]store.Organization
	roles   map[roleKey]*Role

	usedMu    sync.Mutex
	used      expirySet
	revokedMu sync.Mutex
	revoked   expirySet

	limits ratelimit.Counter

	sessMu   sync.Mutex
	sessions map[string]store.ImpersonationSession

	grantMu sync.Mutex
	grants  map[string][]store.SubjectGrant // by subject

	logMu   sync.Mutex
	events  []store.Event
	notices []store.Notice
}

var (
	_ store.SubjectGrants = (*Store)(nil)
	_ store.Clients       = (*Store)(nil)
	_ store.Users         = (*Store)(nil)
	_ store.Organizations = (*Store)(nil)
	_ store.Grants        = (*Store)(nil)
	_ store.OneTimeUse    = (*Store)(nil)
	_ store.Revocation    = (*Store)(nil)
	_ store.Auditor       = (*Store)(nil)
	_ store.Notifier      = (*Store)(nil)
	_ store.RateLimiter   = (*Store)(nil)
	_ store.AuditLog      = (*Store)(nil)
	_ store.Sessions      = (*Store)(nil)
)

// Role is store.Role, kept here for callers of PutRole.
type Role = store.Role

type roleKey struct{ client, name string }

// Option configures a Store ([New]) or a KeySet ([NewKeySet],
// [GenerateKeySet]).
type Option func(*options)

type options struct{ now func() time.Time }

// WithClock sets the time source: when a Store's entries expire, when a
// KeySet's retired keys stop verifying; default time.Now.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// apply returns the options opts set.
func apply(opts []Option) options {
	o := options{now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// New returns an empty Store.
func New(opts ...Option) *Store {
	s := &Store{
		now:     apply(opts).now,
		clients: map[string]store.Client{},
		users:   map[string]store.User{},
		orgs:    map[string]store.Organization{},
		roles:   map[roleKey]*Role{},
		used:    newExpirySet(),
		revoked: newExpirySet(),
	}
	return s
}

// PutClient adds or replaces a client.
func (s *Store) PutClient(c store.Client) error {
	if c.ID == "" {
		return errors.New("memory: client without ID")
	}
	c = cloneClient(c)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clients[c.ID] = c
	return nil
}

// PutUser adds or replaces a user. Its organisation, when it names one,
// must exist; a user with none belongs to no organisation (see
// impersonation.WithoutOrganizations).
func (s *Store) PutUser(u store.User) error {
	if u.ID == "" {
		return errors.New("memory: user without ID")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.orgs[u.Org]; !ok && u.Org != "" {
		return fmt.Errorf("memory: user %q: organisation %q: %w", u.ID, u.Org, store.ErrNotFound)
	}
	s.users[u.ID] = u
	return nil
}

// PutOrganization adds or replaces an organisation. Its parent, when set,
// must exist, and it must not become its own ancestor.
func (s *Store) PutOrganization(o store.Organization) error {
	if o.ID == "" {
		return errors.New("memory: organisation without ID")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for p, n := o.Parent, 0; p != ""; n++ {
		if p == o.ID || n > len(s.orgs) {
			return fmt.Errorf("memory: organisation %q: parent cycle", o.ID)
		}
		parent, ok := s.orgs[p]
		if !ok {
			return fmt.Errorf("memory: organisation %q: parent %q: %w", o.ID, p, store.ErrNotFound)
		}
		p = parent.Parent
	}
	s.orgs[o.ID] = o
	return nil
}

// PutRole adds or replaces a role. Its client must exist.
func (s *Store) PutRole(r Role) error {
	if r.Name == "" || r.ClientID == "" {
		return errors.New("memory: role needs a name and a client")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.clients[r.ClientID]; !ok {
		return fmt.Errorf("memory: role %q: client %q: %w", r.Name, r.ClientID, store.ErrNotFound)
	}
	r.Scopes = slices.Clone(r.Scopes)
	r.Users = slices.Clone(r.Users)
	s.roles[roleKey{r.ClientID, r.Name}] = &r
	return nil
}

// Assign gives the role of clientID named role to userID.
func (s *Store) Assign(clientID, role, userID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.roles[roleKey{clientID, role}]
	if !ok {
		return fmt.Errorf("memory: role %q of client %q: %w", role, clientID, store.ErrNotFound)
	}
	if !slices.Contains(r.Users, userID) {
		r.Users = append(r.Users, userID)
	}
	return nil
}

// Unassign takes the role of clientID named role away from userID.
func (s *Store) Unassign(clientID, role, userID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.roles[roleKey{clientID, role}]
	if !ok {
		return fmt.Errorf("memory: role %q of client %q: %w", role, clientID, store.ErrNotFound)
	}
	r.Users = slices.DeleteFunc(r.Users, func(u string) bool { return u == userID })
	return nil
}

// Client implements store.Clients.
func (s *Store) Client(_ context.Context, id string) (*store.Client, error) {
	s.mu.RLock()
	c, ok := s.clients[id]
	s.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("memory: client: %w", store.ErrNotFound)
	}
	c = cloneClient(c)
	return &c, nil
}

// User implements store.Users.
func (s *Store) User(_ context.Context, id string) (*store.User, error) {
	s.mu.RLock()
	u, ok := s.users[id]
	s.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("memory: user: %w", store.ErrNotFound)
	}
	return &u, nil
}

// Organization implements store.Organizations.
func (s *Store) Organization(_ context.Context, id string) (*store.Organization, error) {
	s.mu.RLock()
	o, ok := s.orgs[id]
	s.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("memory: organisation: %w", store.ErrNotFound)
	}
	return &o, nil
}

// GrantedScopes implements store.Grants.
func (s *Store) GrantedScopes(_ context.Context, clientID, userID string) ([]string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []string
	for k, r := range s.roles {
		if k.client != clientID || !slices.Contains(r.Users, userID) {
			continue
		}
		for _, sc := range r.Scopes {
			if !slices.Contains(out, sc) {
				out = append(out, sc)
			}
		}
	}
	return out, nil
}

// Use implements store.OneTimeUse.
func (s *Store) Use(_ context.Context, id string, exp time.Time) error {
	s.usedMu.Lock()
	defer s.usedMu.Unlock()
	if !s.used.add(id, exp, s.now()) {
		return store.ErrAlreadyUsed
	}
	return nil
}

// UsedLen returns how many used IDs are held, expired ones not yet evicted
// included: the figure that must stay bounded.
func (s *Store) UsedLen() int {
	s.usedMu.Lock()
	defer s.usedMu.Unlock()
	return len(s.used.m)
}

// Revoke implements store.Revocation.
func (s *Store) Revoke(_ context.Context, id string, exp time.Time) error {
	s.revokedMu.Lock()
	defer s.revokedMu.Unlock()
	s.revoked.add(id, exp, s.now())
	return nil
}

// Revoked implements store.Revocation.
func (s *Store) Revoked(_ context.Context, id string) (bool, error) {
	s.revokedMu.Lock()
	defer s.revokedMu.Unlock()
	return s.revoked.has(id, s.now()), nil
}

// Allow implements store.RateLimiter with fixed windows on the store's
// clock; windows that ended are evicted.
func (s *Store) Allow(_ context.Context, key string, limit int, per time.Duration) (bool, error) {
	return s.limits.Allow(key, limit, per, s.now()), nil
}

// PutSession implements store.Sessions.
func (s *Store) PutSession(_ context.Context, sess store.ImpersonationSession) error {
	if sess.LoginSession == "" || sess.ID == "" {
		return errors.New("memory: session needs an ID and a login session")
	}
	s.sessMu.Lock()
	defer s.sessMu.Unlock()
	if s.sessions == nil {
		s.sessions = map[string]store.ImpersonationSession{}
	}
	now := s.now()
	for k, v := range s.sessions { // bounded by live sessions
		if !now.Before(v.Expires) {
			delete(s.sessions, k)
		}
	}
	s.sessions[sess.LoginSession] = sess
	return nil
}

// SessionFor implements store.Sessions.
func (s *Store) SessionFor(_ context.Context, loginSession string) (*store.ImpersonationSession, error) {
	s.sessMu.Lock()
	defer s.sessMu.Unlock()
	sess, ok := s.sessions[loginSession]
	if !ok || !s.now().Before(sess.Expires) {
		return nil, fmt.Errorf("memory: session: %w", store.ErrNotFound)
	}
	return &sess, nil
}

// DeleteSession implements store.Sessions.
func (s *Store) DeleteSession(_ context.Context, loginSession string) error {
	s.sessMu.Lock()
	defer s.sessMu.Unlock()
	delete(s.sessions, loginSession)
	return nil
}

// PutSubjectGrant implements store.SubjectGrants. Grants expired for a
// day are dropped on the way.
func (s *Store) PutSubjectGrant(_ context.Context, g store.SubjectGrant) error {
	if g.ID == "" || g.Subject == "" {
		return errors.New("memory: subject grant needs an ID and a subject")
	}
	s.grantMu.Lock()
	defer s.grantMu.Unlock()
	if s.grants == nil {
		s.grants = map[string][]store.SubjectGrant{}
	}
	keep := s.now().Add(-grantRetention)
	gs := slices.DeleteFunc(s.grants[g.Subject], func(old store.SubjectGrant) bool {
		return old.ID == g.ID || !old.Expires.After(keep)
	})
	s.grants[g.Subject] = append(gs, g)
	return nil
}

// grantRetention is how long the memory store keeps an expired grant, so
// that a refusal can say it expired.
const grantRetention = 24 * time.Hour

// SubjectGrantsOf implements store.SubjectGrants.
func (s *Store) SubjectGrantsOf(_ context.Context, subject string, since time.Time) ([]store.SubjectGrant, error) {
	s.grantMu.Lock()
	defer s.grantMu.Unlock()
	out := []store.SubjectGrant{}
	for _, g := range s.grants[subject] {
		if g.Expires.After(since) {
			out = append(out, g)
		}
	}
	slices.SortStableFunc(out, func(a, b store.SubjectGrant) int { return b.Created.Compare(a.Created) })
	return out, nil
}

// RevokeSubjectGrant implements store.SubjectGrants.
func (s *Store) RevokeSubjectGrant(_ context.Context, subject, id string, at time.Time) (*store.SubjectGrant, error) {
	s.grantMu.Lock()
	defer s.grantMu.Unlock()
	gs := s.grants[subject]
	for i := range gs {
		if gs[i].ID != id {
			continue
		}
		if gs[i].Revoked.IsZero() {
			gs[i].Revoked = at
		}
		g := gs[i]
		return &g, nil
	}
	return nil, fmt.Errorf("memory: subject grant: %w", store.ErrNotFound)
}

// Record implements store.Auditor by keeping the event (without a
// Cursor: QueryEvents sets it).
func (s *Store) Record(_ context.Context, e store.Event) error {
	e.Scopes = slices.Clone(e.Scopes)
	e.Cursor = ""
	s.logMu.Lock()
	defer s.logMu.Unlock()
	s.events = append(s.events, e)
	return nil
}

// QueryEvents implements store.AuditLog. A Cursor is the event's index in
// the order recorded, in decimal; events are ordered by Time, then by that
// index.
func (s *Store) QueryEvents(_ context.Context, q store.AuditQuery) ([]store.Event, error) {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	after := -1
	if q.After != "" {
		n, err := strconv.Atoi(q.After)
		if err != nil || n < 0 || n >= len(s.events) || strconv.Itoa(n) != q.After {
			return nil, fmt.Errorf("memory: query audit events: %w", store.ErrInvalidCursor)
		}
		after = n
	}
	// order compares the positions of the events of indexes i and j.
	order := func(i, j int) int {
		if c := s.events[i].Time.Compare(s.events[j].Time); c != 0 {
			return c
		}
		return cmp.Compare(i, j)
	}
	if q.NewestFirst {
		oldestFirst := order
		order = func(i, j int) int { return oldestFirst(j, i) }
	}
	var picked []int
	for i, e := range s.events {
		if q.Matches(e) && (after < 0 || order(i, after) > 0) {
			picked = append(picked, i)
		}
	}
	slices.SortFunc(picked, order)
	if q.Limit > 0 && len(picked) > q.Limit {
		picked = picked[:q.Limit]
	}
	var out []store.Event
	for _, i := range picked {
		e := s.events[i]
		e.Scopes = slices.Clone(e.Scopes)
		e.Cursor = strconv.Itoa(i)
		out = append(out, e)
	}
	return out, nil
}

// Events returns a copy of the recorded audit events, oldest first.
func (s *Store) Events() []store.Event {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return slices.Clone(s.events)
}

// Notify implements store.Notifier by keeping the notice.
func (s *Store) Notify(_ context.Context, n store.Notice) error {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	s.notices = append(s.notices, n)
	return nil
}

// Notices returns a copy of the notices sent, oldest first.
func (s *Store) Notices() []store.Notice {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return slices.Clone(s.notices)
}

func cloneClient(c store.Client) store.Client {
	c.RedirectURIs = slices.Clone(c.RedirectURIs)
	c.Scopes = slices.Clone(c.Scopes)
	c.GrantTypes = slices.Clone(c.GrantTypes)
	c.ResponseModes = slices.Clone(c.ResponseModes)
	c.Audiences = slices.Clone(c.Audiences)
	c.PostLogoutRedirectURIs = slices.Clone(c.PostLogoutRedirectURIs)
	return c
}

// expirySet holds IDs until they expire. Expired entries are swept when
// the set has doubled since the last sweep, so the cost is amortised O(1)
// per add and the size stays within twice the live entries (plus a floor).
type expirySet struct {
	m         map[string]time.Time
	nextSweep int
}

const sweepFloor = 1024

func newExpirySet() expirySet {
	return expirySet{m: map[string]time.Time{}, nextSweep: sweepFloor}
}

// add inserts id unless it is present and unexpired; it reports whether it
// inserted.
func (e *expirySet) add(id string, exp, now time.Time) bool {
	if old, ok := e.m[id]; ok && now.Before(old) {
		return false
	}
	if len(e.m) >= e.nextSweep {
		for k, t := range e.m {
			if !now.Before(t) {
				delete(e.m, k)
			}
		}
		e.nextSweep = max(2*len(e.m), sweepFloor)
	}
	e.m[id] = exp
	return true
}

func (e *expirySet) has(id string, now time.Time) bool {
	t, ok := e.m[id]
	return ok && now.Before(t)
}
