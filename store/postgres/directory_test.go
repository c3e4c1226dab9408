package postgres_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/store"
)

func TestClientListsKeepNilApartFromEmpty(t *testing.T) {
	t.Parallel()
	s := newStore(t, connect(t))
	ctx := context.Background()
	tests := []struct {
		name   string
		client store.Client
	}{
		{name: "zero value", client: store.Client{ID: "zero"}},
		{name: "empty lists", client: store.Client{ID: "empty", RedirectURIs: []string{}, Scopes: []string{},
			GrantTypes: []string{}, ResponseModes: []string{}, Audiences: []string{}, PostLogoutRedirectURIs: []string{}}},
		{name: "odd strings and durations", client: store.Client{ID: "odd", Name: "ünï \"c\"",
			RedirectURIs: []string{"https://a.example/cb?x=1,2", ""}, Scopes: []string{"NULL", `a"b`},
			SubjectTokenTTL: 1500 * time.Millisecond, AccessTokenTTL: 36 * time.Hour}},
		{name: "logout settings", client: store.Client{ID: "logout",
			PostLogoutRedirectURIs: []string{"https://a.example/bye?x=1,2&y={z}", "NULL"}, SkipLogoutConsent: true}},
		{name: "reason required", client: store.Client{ID: "reason", ReasonRequired: true}},
		{name: "subject grant required", client: store.Client{ID: "grant", RequireSubjectGrant: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.NoError(t, s.PutClient(ctx, tc.client))
			got, err := s.Client(ctx, tc.client.ID)
			require.NoError(t, err)
			assert.Equal(t, tc.client, *got)
		})
	}
}

func TestPutReplacesAndIsSeenByAnotherInstance(t *testing.T) {
	t.Parallel()
	a, b, _, _ := twoInstances(t)
	ctx := context.Background()
	require.NoError(t, a.PutOrganization(ctx, store.Organization{ID: "acme"}))
	require.NoError(t, a.PutOrganization(ctx, store.Organization{ID: "acme-eu", Parent: "acme"}))
	require.NoError(t, a.PutUser(ctx, store.User{ID: "bob", Username: "bob", Org: "acme-eu"}))
	require.NoError(t, a.PutClient(ctx, store.Client{ID: "app", Scopes: []string{"openid"}}))
	require.NoError(t, a.PutRole(ctx, store.Role{Name: "reader", ClientID: "app", Scopes: []string{"openid"}, Users: []string{"bob", "not-yet-a-user"}}))

	require.NoError(t, b.PutOrganization(ctx, store.Organization{ID: "acme", Name: "ACME Corp"}), "replacing a parent keeps its children")
	require.NoError(t, b.PutUser(ctx, store.User{ID: "bob", Username: "robert", Org: "acme", Disabled: true}))
	require.NoError(t, b.PutClient(ctx, store.Client{ID: "app", Disabled: true}), "replacing a client keeps its roles")

	o, err := a.Organization(ctx, "acme")
	require.NoError(t, err)
	assert.Equal(t, store.Organization{ID: "acme", Name: "ACME Corp"}, *o)
	u, err := a.User(ctx, "bob")
	require.NoError(t, err)
	assert.Equal(t, store.User{ID: "bob", Username: "robert", Org: "acme", Disabled: true}, *u)
	c, err := a.Client(ctx, "app")
	require.NoError(t, err)
	assert.True(t, c.Disabled)
	scopes, err := a.GrantedScopes(ctx, "app", "not-yet-a-user")
	require.NoError(t, err)
	assert.Equal(t, []string{"openid"}, scopes, "role members need not exist as users")

	require.NoError(t, b.PutRole(ctx, store.Role{Name: "reader", ClientID: "app", Scopes: []string{"openid"}}))
	scopes, err = a.GrantedScopes(ctx, "app", "bob")
	require.NoError(t, err)
	assert.Empty(t, scopes, "a role put without users has none")
}

func TestUsernameBelongsToOneUser(t *testing.T) {
	t.Parallel()
	s := newStore(t, connect(t))
	ctx := context.Background()
	require.NoError(t, s.PutOrganization(ctx, store.Organization{ID: "acme"}))
	require.NoError(t, s.PutUser(ctx, store.User{ID: "u1", Username: "alice", Org: "acme"}))
	err := s.PutUser(ctx, store.User{ID: "u2", Username: "alice", Org: "acme"})
	require.Error(t, err)
	assert.NotErrorIs(t, err, store.ErrNotFound)
	require.NoError(t, s.PutUser(ctx, store.User{ID: "u1", Username: "alice", Name: "Alice", Org: "acme"}), "the same user keeps it")
	require.NoError(t, s.PutUser(ctx, store.User{ID: "u3", Org: "acme"}))
	require.NoError(t, s.PutUser(ctx, store.User{ID: "u4", Org: "acme"}), "many users may have no username")
}

func TestConcurrentOrganizationPutsNeverBuildACycle(t *testing.T) {
	t.Parallel()
	a, b, _, _ := twoInstances(t)
	ctx := context.Background()
	for round := range 10 {
		x, y := "x"+string(rune('a'+round)), "y"+string(rune('a'+round))
		require.NoError(t, a.PutOrganization(ctx, store.Organization{ID: x}))
		require.NoError(t, a.PutOrganization(ctx, store.Organization{ID: y}))
		var errX, errY error
		var wg sync.WaitGroup
		wg.Go(func() { errX = a.PutOrganization(ctx, store.Organization{ID: x, Parent: y}) })
		wg.Go(func() { errY = b.PutOrganization(ctx, store.Organization{ID: y, Parent: x}) })
		wg.Wait()
		assert.True(t, (errX == nil) != (errY == nil), "round %d: exactly one succeeds (x: %v, y: %v)", round, errX, errY)
		ox, err := a.Organization(ctx, x)
		require.NoError(t, err)
		oy, err := a.Organization(ctx, y)
		require.NoError(t, err)
		assert.False(t, ox.Parent == y && oy.Parent == x, "round %d: no cycle", round)
	}
}

func TestLongOrganizationChain(t *testing.T) {
	t.Parallel()
	s := newStore(t, connect(t))
	ctx := context.Background()
	parent := ""
	ids := []string{}
	for i := range 50 {
		id := "org" + string(rune('A'+i%26)) + string(rune('a'+i/26))
		require.NoError(t, s.PutOrganization(ctx, store.Organization{ID: id, Parent: parent}))
		ids = append(ids, id)
		parent = id
	}
	assert.Error(t, s.PutOrganization(ctx, store.Organization{ID: ids[0], Parent: ids[49]}), "the root under its deepest descendant")
	require.NoError(t, s.PutOrganization(ctx, store.Organization{ID: ids[10], Parent: ids[0]}), "moving a subtree up is fine")
	o, err := s.Organization(ctx, ids[10])
	require.NoError(t, err)
	assert.Equal(t, ids[0], o.Parent)
}
