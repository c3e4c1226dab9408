package memory_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/actas/actas/internal/testkit"
	"github.com/actas/actas/store"
	"github.com/actas/actas/store/memory"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// newClock returns a test clock at a fixed time.
func newClock() *testkit.Clock { return testkit.NewClockAt(time.Unix(1_800_000_000, 0)) }

// clockedStore returns an empty Store on a new test clock.
func clockedStore() (*testkit.Clock, *memory.Store) {
	clk := newClock()
	return clk, memory.New(memory.WithClock(clk.Now))
}

// assertRevoked checks through s whether id is revoked.
func assertRevoked(t testing.TB, s store.Revocation, id string, want bool, msgAndArgs ...any) {
	t.Helper()
	revoked, err := s.Revoked(context.Background(), id)
	require.NoError(t, err)
	assert.Equal(t, want, revoked, msgAndArgs...)
}

// newKeySet returns an ES256 key set on a new test clock, with its
// signing key.
func newKeySet(t testing.TB) (*memory.KeySet, *testkit.Clock, store.PrivateKey) {
	t.Helper()
	clk := newClock()
	ks, err := memory.GenerateKeySet(store.ES256, memory.WithClock(clk.Now))
	require.NoError(t, err)
	return ks, clk, signingKey(t, ks)
}

// signingKey returns the current signing key of ks.
func signingKey(t testing.TB, ks *memory.KeySet) store.PrivateKey {
	t.Helper()
	k, err := ks.SigningKey(context.Background())
	require.NoError(t, err)
	return k
}

// generateKey returns a new private key for alg.
func generateKey(t testing.TB, alg string) store.PrivateKey {
	t.Helper()
	k, err := store.GenerateKey(alg)
	require.NoError(t, err)
	return k
}

// publicKeys returns the published keys of ks.
func publicKeys(t testing.TB, ks *memory.KeySet) []store.PublicKey {
	t.Helper()
	pubs, err := ks.PublicKeys(context.Background())
	require.NoError(t, err)
	return pubs
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
	clk, s := clockedStore()
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
	errs := make([]error, 64)
	testkit.Alternate(len(errs), s, s, func(i int, s *memory.Store) {
		errs[i] = s.Use(context.Background(), "same", exp)
	})
	testkit.AssertOneWinner(t, errs, store.ErrAlreadyUsed)
}

// TestUsedSetStaysBounded streams 100 000 one-time uses through simulated
// time, each token living three minutes, and checks that the set never
// holds much more than the tokens alive at one time.
func TestUsedSetStaysBounded(t *testing.T) {
	t.Parallel()
	clk, s := clockedStore()
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
	clk, s := clockedStore()
	ctx := context.Background()
	assertRevoked(t, s, "at-1", false)
	require.NoError(t, s.Revoke(ctx, "at-1", clk.Now().Add(time.Hour)))
	assertRevoked(t, s, "at-1", true)
	clk.Advance(time.Hour)
	assertRevoked(t, s, "at-1", false, "the token has expired anyway; the entry is gone")
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
	ks, clk, first := newKeySet(t)
	ctx := context.Background()

	next := generateKey(t, store.EdDSA)
	require.NoError(t, ks.Rotate(next, clk.Now().Add(time.Hour)))
	assert.Equal(t, next.ID, signingKey(t, ks).ID)

	pubs := publicKeys(t, ks)
	require.Len(t, pubs, 2)
	assert.Equal(t, next.ID, pubs[0].ID, "the current key first")
	_, err := ks.PublicKey(ctx, first.ID)
	assert.NoError(t, err, "the old key verifies until it retires")

	clk.Advance(time.Hour)
	_, err = ks.PublicKey(ctx, first.ID)
	assert.ErrorIs(t, err, store.ErrNotFound)
	assert.Len(t, publicKeys(t, ks), 1)

	assert.Error(t, ks.Rotate(next, clk.Now()), "the same kid twice")
	_, err = memory.NewKeySet(store.PrivateKey{})
	assert.Error(t, err)
}

func TestKeySetPublishThenRotate(t *testing.T) {
	t.Parallel()
	ks, clk, first := newKeySet(t)
	ctx := context.Background()
	next := generateKey(t, store.ES256)

	require.NoError(t, ks.Add(next.Public(), time.Time{}))
	assert.Len(t, publicKeys(t, ks), 2, "the next key is published before it signs")
	assert.Equal(t, first.ID, signingKey(t, ks).ID, "publishing does not rotate")
	assert.Error(t, ks.Add(next.Public(), time.Time{}), "the same kid twice")

	require.NoError(t, ks.Rotate(next, clk.Now().Add(time.Hour)), "a published key can become the signing key")
	assert.Equal(t, next.ID, signingKey(t, ks).ID)

	impostor := generateKey(t, store.ES256)
	impostor.ID = first.ID
	assert.Error(t, ks.Rotate(impostor, clk.Now()), "a kid already published for another key")

	retiring := generateKey(t, store.EdDSA)
	require.NoError(t, ks.Add(retiring.Public(), clk.Now().Add(time.Minute)))
	clk.Advance(time.Minute)
	_, err := ks.PublicKey(ctx, retiring.ID)
	assert.ErrorIs(t, err, store.ErrNotFound, "an added key retires at its time")
}
