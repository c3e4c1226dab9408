package impersonation_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/impersonation"
	"github.com/actas/actas/internal/testkit"
	"github.com/actas/actas/store"
	"github.com/actas/actas/store/memory"
	"github.com/actas/actas/subjecttoken"
	"github.com/actas/actas/tokenexchange"
)

// A host without tenants: WithoutOrganizations, no organisation store,
// users in no organisation.

// flatWorld is a memory store of users in no organisation and a service
// over it WithoutOrganizations, with no Organizations store.
func flatWorld(t *testing.T) (*impersonation.Service, *memory.Store) {
	t.Helper()
	clock := testkit.NewClock()
	db := memory.New(memory.WithClock(clock.Now))
	for _, u := range []store.User{{ID: "alice"}, {ID: "bob"}, {ID: "carol", Disabled: true}, {ID: "dave"}} {
		require.NoError(t, db.PutUser(u), "a user in no organisation")
	}
	require.NoError(t, db.PutClient(store.Client{
		ID: appID, RedirectURIs: []string{appRedirect}, Impersonation: true,
		Scopes:     []string{"openid", subjecttoken.ScopeImpersonate, scopeOrdersRead},
		GrantTypes: []string{tokenexchange.GrantType},
	}))
	require.NoError(t, db.PutRole(memory.Role{Name: roleImpersonator, ClientID: appID, Scopes: []string{subjecttoken.ScopeImpersonate}, Users: []string{"alice", "dave"}}))
	require.NoError(t, db.PutRole(memory.Role{Name: roleCustomer, ClientID: appID, Scopes: []string{scopeOrdersRead}, Users: []string{"bob"}}))
	keys, err := memory.GenerateKeySet(store.ES256, memory.WithClock(clock.Now))
	require.NoError(t, err)
	svc, err := impersonation.New(testIssuer, impersonation.Stores{
		Clients: db, Users: db, Grants: db, OneTimeUse: db, Keys: keys,
	}, impersonation.WithoutOrganizations(), impersonation.WithClock(clock.Now), impersonation.WithAuditor(db))
	require.NoError(t, err)
	return svc, db
}

func TestWithoutOrganizations_TheFlowWorks(t *testing.T) {
	t.Parallel()
	svc, db := flatWorld(t)
	ctx := context.Background()
	req, _, err := subjecttoken.ParseAuthorizeValues(ctx, authorizeValues(appID, "bob"), db)
	require.NoError(t, err)
	resp, err := svc.Authorize(ctx, req, impersonation.Login{UserID: "alice"})
	require.NoError(t, err)
	assert.NotContains(t, testkit.DecodeJWT(t, resp.IDToken).Claims, "org_id")

	out, err := svc.Exchange(ctx, clientApp(), exchangeRequest(resp.SubjectToken, resp.IDToken))
	require.NoError(t, err)
	at := testkit.DecodeJWT(t, out.AccessToken)
	assert.Equal(t, "bob", at.Str(t, "sub"))
	assert.NotContains(t, at.Claims, "org_id", "no organisation to name")
	for _, e := range db.Events() {
		assert.Empty(t, e.Org, "%s names no organisation", e.Type)
	}
}

func TestWithoutOrganizations_TheOtherRulesStay(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, impersonator, subject string
		want                        impersonation.Reason
	}{
		{name: "without the role", impersonator: "bob", subject: "alice", want: impersonation.ReasonNoRole},
		{name: "themselves", impersonator: "alice", subject: "alice", want: impersonation.ReasonSelf},
		{name: "a protected user (another impersonator)", impersonator: "alice", subject: "dave", want: impersonation.ReasonProtected},
		{name: "a disabled user", impersonator: "alice", subject: "carol", want: impersonation.ReasonSubjectDisabled},
		{name: "an unknown user", impersonator: "alice", subject: "nobody", want: impersonation.ReasonUnknownSubject},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			svc, _ := flatWorld(t)
			_, err := svc.Decide(context.Background(), appID, tc.impersonator, tc.subject)
			var denied *impersonation.DeniedError
			require.ErrorAs(t, err, &denied)
			assert.Equal(t, tc.want, denied.Reason)
		})
	}
}

// TestNew_NamesTheMissingStore: each missing store is named; the
// organisation store may be missing only WithoutOrganizations.
func TestNew_NamesTheMissingStore(t *testing.T) {
	t.Parallel()
	db := memory.New()
	keys, err := memory.GenerateKeySet(store.ES256)
	require.NoError(t, err)
	full := impersonation.Stores{Clients: db, Users: db, Organizations: db, Grants: db, OneTimeUse: db, Keys: keys}
	for name, drop := range map[string]func(*impersonation.Stores){
		"Clients":       func(s *impersonation.Stores) { s.Clients = nil },
		"Users":         func(s *impersonation.Stores) { s.Users = nil },
		"Organizations": func(s *impersonation.Stores) { s.Organizations = nil },
		"Grants":        func(s *impersonation.Stores) { s.Grants = nil },
		"OneTimeUse":    func(s *impersonation.Stores) { s.OneTimeUse = nil },
		"Keys":          func(s *impersonation.Stores) { s.Keys = nil },
	} {
		st := full
		drop(&st)
		svc, err := impersonation.New(testIssuer, st)
		require.Error(t, err, name)
		assert.Nil(t, svc)
		assert.EqualError(t, err, "impersonation: Stores."+name+" is required")
	}
	st := full
	st.Organizations = nil
	svc, err := impersonation.New(testIssuer, st, impersonation.WithoutOrganizations())
	require.NoError(t, err)
	assert.NotNil(t, svc)
}
