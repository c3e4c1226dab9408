package memory_test

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/actas/actas/store"
	"github.com/actas/actas/store/memory"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// clock is a test clock moved by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Unix(1_800_000_000, 0)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func seeded(t testing.TB) *memory.Store {
	t.Helper()
	s := memory.New()
	require.NoError(t, s.PutOrganization(store.Organization{ID: "acme", Name: "ACME"}))
	require.NoError(t, s.PutOrganization(store.Organization{ID: "acme-eu", Name: "ACME EU", Parent: "acme"}))
	require.NoError(t, s.PutUser(store.User{ID: "alice", Org: "acme"}))
	require.NoError(t, s.PutClient(store.Client{ID: "app", RedirectURIs: []string{"https://app/cb"}}))
	require.NoError(t, s.PutClient(store.Client{ID: "app2"}))
	return s
}

func TestStoreLookups(t *testing.T) {
	t.Parallel()
	s := seeded(t)
	ctx := context.Background()

	c, err := s.Client(ctx, "app")
	require.NoError(t, err)
	assert.Equal(t, "app", c.ID)
	u, err := s.User(ctx, "alice")
	require.NoError(t, err)
	assert.Equal(t, "acme", u.Org)
	o, err := s.Organization(ctx, "acme-eu")
	require.NoError(t, err)
	assert.Equal(t, "acme", o.Parent)

	_, err = s.Client(ctx, "nope")
	assert.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.User(ctx, "nope")
	assert.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.Organization(ctx, "nope")
	assert.ErrorIs(t, err, store.ErrNotFound)
}

func TestStoreCopiesValues(t *testing.T) {
	t.Parallel()
	s := seeded(t)
	ctx := context.Background()
	c, err := s.Client(ctx, "app")
	require.NoError(t, err)
	c.RedirectURIs[0] = "https://evil/cb"
	c.Impersonation = true
	again, err := s.Client(ctx, "app")
	require.NoError(t, err)
	assert.Equal(t, []string{"https://app/cb"}, again.RedirectURIs)
	assert.False(t, again.Impersonation)
}

func TestStorePutValidates(t *testing.T) {
	t.Parallel()
	s := seeded(t)
	assert.Error(t, s.PutClient(store.Client{}))
	assert.Error(t, s.PutUser(store.User{ID: "x", Org: "missing"}))
	assert.ErrorIs(t, s.PutOrganization(store.Organization{ID: "x", Parent: "missing"}), store.ErrNotFound)
	assert.Error(t, s.PutOrganization(store.Organization{ID: "acme", Parent: "acme-eu"}), "acme would be its own ancestor")
	assert.Error(t, s.PutRole(memory.Role{Name: "r", ClientID: "missing"}))
	assert.ErrorIs(t, s.Assign("app", "missing", "alice"), store.ErrNotFound)
}

func TestGrantedScopesArePerClient(t *testing.T) {
	t.Parallel()
	s := seeded(t)
	ctx := context.Background()
	require.NoError(t, s.PutRole(memory.Role{Name: "admin", ClientID: "app", Scopes: []string{"internal_user_impersonate", "openid"}}))
	require.NoError(t, s.PutRole(memory.Role{Name: "reader", ClientID: "app", Scopes: []string{"openid", "orders:read"}, Users: []string{"alice"}}))
	require.NoError(t, s.Assign("app", "admin", "alice"))

	got, err := s.GrantedScopes(ctx, "app", "alice")
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"internal_user_impersonate", "openid", "orders:read"}, got)

	other, err := s.GrantedScopes(ctx, "app2", "alice")
	require.NoError(t, err)
	assert.Empty(t, other, "a role for app grants nothing for app2")

	require.NoError(t, s.Unassign("app", "admin", "alice"))
	got, err = s.GrantedScopes(ctx, "app", "alice")
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"openid", "orders:read"}, got)
}

func TestUseIsOneTime(t *testing.T) {
	t.Parallel()
	clk := newClock()
	s := memory.New(memory.WithClock(clk.Now))
	ctx := context.Background()
	exp := clk.Now().Add(time.Minute)
	require.NoError(t, s.Use(ctx, "jti-1", exp))
	assert.ErrorIs(t, s.Use(ctx, "jti-1", exp), store.ErrAlreadyUsed)
	assert.NoError(t, s.Use(ctx, "jti-2", exp))
	clk.Advance(time.Minute)
	assert.NoError(t, s.Use(ctx, "jti-1", clk.Now().Add(time.Minute)), "an expired entry no longer blocks")
}

func TestUseConcurrentExactlyOneWins(t *testing.T) {
	t.Parallel()
	s := memory.New()
	exp := time.Now().Add(time.Minute)
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if s.Use(context.Background(), "same", exp) == nil {
				wins.Add(1)
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, int32(1), wins.Load())
}

// TestUsedSetStaysBounded streams 100 000 one-time uses through simulated
// time, each token living three minutes, and checks that the set never
// holds much more than the tokens alive at one time.
func TestUsedSetStaysBounded(t *testing.T) {
	t.Parallel()
	clk := newClock()
	s := memory.New(memory.WithClock(clk.Now))
	ctx := context.Background()
	const ttl = 3 * time.Minute
	// 10 uses per simulated second: 1 800 alive at once.
	maxLen := 0
	for i := range 100_000 {
		if i%10 == 0 {
			clk.Advance(time.Second)
		}
		require.NoError(t, s.Use(ctx, "jti-"+strconv.Itoa(i), clk.Now().Add(ttl)))
		maxLen = max(maxLen, s.UsedLen())
	}
	assert.LessOrEqual(t, maxLen, 4*1800, "bounded by a small multiple of the live entries")
	clk.Advance(ttl)
	for i := range 2048 {
		require.NoError(t, s.Use(ctx, "late-"+strconv.Itoa(i), clk.Now().Add(ttl)))
	}
	assert.LessOrEqual(t, s.UsedLen(), 2*2048+1, "everything from the stream was evicted after expiry")
}

func TestRevocation(t *testing.T) {
	t.Parallel()
	clk := newClock()
	s := memory.New(memory.WithClock(clk.Now))
	ctx := context.Background()
	revoked, err := s.Revoked(ctx, "at-1")
	require.NoError(t, err)
	assert.False(t, revoked)
	require.NoError(t, s.Revoke(ctx, "at-1", clk.Now().Add(time.Hour)))
	revoked, err = s.Revoked(ctx, "at-1")
	require.NoError(t, err)
	assert.True(t, revoked)
	clk.Advance(time.Hour)
	revoked, err = s.Revoked(ctx, "at-1")
	require.NoError(t, err)
	assert.False(t, revoked, "the token has expired anyway; the entry is gone")
}

func TestEventsAndNoticesAreCopies(t *testing.T) {
	t.Parallel()
	s := memory.New()
	ctx := context.Background()
	scopes := []string{"openid"}
	require.NoError(t, s.Record(ctx, store.Event{Type: store.EventTokenExchanged, Scopes: scopes}))
	scopes[0] = "changed"
	require.NoError(t, s.Notify(ctx, store.Notice{UserID: "bob"}))
	ev := s.Events()
	require.Len(t, ev, 1)
	assert.Equal(t, []string{"openid"}, ev[0].Scopes)
	ev[0].Type = "tampered"
	assert.Equal(t, store.EventTokenExchanged, s.Events()[0].Type)
	assert.Equal(t, "bob", s.Notices()[0].UserID)
}

func TestKeySetRotation(t *testing.T) {
	t.Parallel()
	clk := newClock()
	ctx := context.Background()
	ks, err := memory.GenerateKeySet(store.ES256, memory.WithKeyClock(clk.Now))
	require.NoError(t, err)
	first, err := ks.SigningKey(ctx)
	require.NoError(t, err)

	next, err := store.GenerateKey(store.EdDSA)
	require.NoError(t, err)
	require.NoError(t, ks.Rotate(next, clk.Now().Add(time.Hour)))
	cur, err := ks.SigningKey(ctx)
	require.NoError(t, err)
	assert.Equal(t, next.ID, cur.ID)

	pubs, err := ks.PublicKeys(ctx)
	require.NoError(t, err)
	require.Len(t, pubs, 2)
	assert.Equal(t, next.ID, pubs[0].ID, "the current key first")
	_, err = ks.PublicKey(ctx, first.ID)
	assert.NoError(t, err, "the old key verifies until it retires")

	clk.Advance(time.Hour)
	_, err = ks.PublicKey(ctx, first.ID)
	assert.ErrorIs(t, err, store.ErrNotFound)
	pubs, err = ks.PublicKeys(ctx)
	require.NoError(t, err)
	assert.Len(t, pubs, 1)

	assert.Error(t, ks.Rotate(next, clk.Now()), "the same kid twice")
	_, err = memory.NewKeySet(store.PrivateKey{})
	assert.Error(t, err)
}

func TestKeySetPublishThenRotate(t *testing.T) {
	t.Parallel()
	clk := newClock()
	ctx := context.Background()
	ks, err := memory.GenerateKeySet(store.ES256, memory.WithKeyClock(clk.Now))
	require.NoError(t, err)
	first, err := ks.SigningKey(ctx)
	require.NoError(t, err)
	next, err := store.GenerateKey(store.ES256)
	require.NoError(t, err)

	require.NoError(t, ks.Add(next.Public(), time.Time{}))
	pubs, err := ks.PublicKeys(ctx)
	require.NoError(t, err)
	assert.Len(t, pubs, 2, "the next key is published before it signs")
	cur, err := ks.SigningKey(ctx)
	require.NoError(t, err)
	assert.Equal(t, first.ID, cur.ID, "publishing does not rotate")
	assert.Error(t, ks.Add(next.Public(), time.Time{}), "the same kid twice")

	require.NoError(t, ks.Rotate(next, clk.Now().Add(time.Hour)), "a published key can become the signing key")
	cur, err = ks.SigningKey(ctx)
	require.NoError(t, err)
	assert.Equal(t, next.ID, cur.ID)

	impostor, err := store.GenerateKey(store.ES256)
	require.NoError(t, err)
	impostor.ID = first.ID
	assert.Error(t, ks.Rotate(impostor, clk.Now()), "a kid already published for another key")

	retiring, err := store.GenerateKey(store.EdDSA)
	require.NoError(t, err)
	require.NoError(t, ks.Add(retiring.Public(), clk.Now().Add(time.Minute)))
	clk.Advance(time.Minute)
	_, err = ks.PublicKey(ctx, retiring.ID)
	assert.ErrorIs(t, err, store.ErrNotFound, "an added key retires at its time")
}
