package adversarial_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/store"
)

// tenantWorld is the suite's world with a second tenant that acts: gabe,
// an admin of globex (impersonator for app), next to acme's admins. Both
// tenants impersonate their own users, each tries the other's, and a
// malformed request leaves an event of no tenant. It returns the world and
// the organisation list the hosts would expand subtrees from.
func tenantWorld(t *testing.T) (*env, []store.Organization) {
	t.Helper()
	e := newEnv(t)
	ctx := context.Background()
	require.NoError(t, e.db.PutUser(store.User{ID: "gabe", Username: "gabe", Org: "globex"}))
	require.NoError(t, e.db.Assign(appID, "impersonator", "gabe"))

	for _, w := range [][2]string{{"alice", "bob"}, {"eve", "bob"}, {"alice", "frank"}, {"gabe", "mallory"}} {
		st, idt := e.genuine(t, appID, w[0], w[1])
		accessTokenOf(t, e.token(t, appID, exchangeForm(st, idt)))
	}
	// Across the tenant boundary: refused before the subject is resolved.
	for _, w := range [][2]string{{"gabe", "bob"}, {"alice", "mallory"}} {
		r := e.authorize(t, w[0], with(authorizeValues(appID, w[1]), "impersonation_reason", "probe by "+w[0]).Encode())
		require.Equal(t, http.StatusFound, r.status, r.body)
		require.Equal(t, "access_denied", r.oauthError(t))
	}
	r := e.token(t, appID, url.Values{"grant_type": {"password"}})
	require.Equal(t, http.StatusBadRequest, r.status)

	var orgs []store.Organization
	for _, id := range []string{"acme", "acme-eu", "acme-us", "globex"} {
		o, err := e.db.Organization(ctx, id)
		require.NoError(t, err)
		orgs = append(orgs, *o)
	}
	return e, orgs
}

// TestAuditScope is the audit log read by one tenant (issue 11, finding
// F3: an admin of globex read every organisation's events). A query
// scoped to an organisation subtree, the way a host shows its log to that
// organisation's admin, returns none of another tenant's events.
func TestAuditScope(t *testing.T) {
	t.Parallel()
	e, orgs := tenantWorld(t)
	ctx := context.Background()
	orgOf := func(user string) string {
		u, err := e.db.User(ctx, user)
		if err != nil {
			return ""
		}
		return u.Org
	}
	acme := store.OrgSubtree(orgs, "acme")
	require.Equal(t, []string{"acme", "acme-eu", "acme-us"}, acme)
	globex := store.OrgSubtree(orgs, "globex")
	require.Equal(t, []string{"globex"}, globex)

	tests := []struct {
		name  string
		scope store.AuditScope
		// foreign are the organisations none of whose events, or events
		// about whose users, may appear, except as the viewer's own.
		foreign []string
		// foreignActors are the organisations whose users may not appear
		// as impersonator. (A parent organisation's admin acting on a
		// child's user is the child's event.)
		foreignActors []string
		viewer        string
	}{
		{name: "F3_cross_tenant_admin_reads_the_audit_log", scope: store.AuditScope{Orgs: globex, User: "gabe"}, foreign: acme, foreignActors: acme, viewer: "gabe"},
		{name: "F3_cross_tenant_admin_reads_the_audit_log_without_own_events", scope: store.AuditScope{Orgs: globex}, foreign: acme, foreignActors: acme},
		{name: "admin_of_the_other_tenant_reads_the_audit_log", scope: store.AuditScope{Orgs: acme, User: "alice"}, foreign: globex, foreignActors: globex, viewer: "alice"},
		{name: "child_organisation_admin_reads_the_parents_events", scope: store.AuditScope{Orgs: store.OrgSubtree(orgs, "acme-eu"), User: "eve"}, foreign: append([]string{"acme", "acme-us"}, globex...), foreignActors: globex, viewer: "eve"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := e.db.QueryEvents(ctx, store.AuditQuery{Scope: &tc.scope})
			require.NoError(t, err)
			require.NotEmpty(t, got, "the tenant's own events are there")
			for _, ev := range got {
				own := tc.viewer != "" && (ev.Impersonator == tc.viewer || ev.Subject == tc.viewer)
				if own {
					continue
				}
				assert.NotContains(t, tc.foreign, ev.Org, "another tenant's event: %+v", ev)
				assert.NotContains(t, tc.foreign, orgOf(ev.Subject), "an event about another tenant's user: %+v", ev)
				assert.NotContains(t, tc.foreignActors, orgOf(ev.Impersonator), "an event of another tenant's admin: %+v", ev)
				assert.NotEmpty(t, ev.Org, "an event of no tenant: %+v", ev)
			}
		})
	}

	t.Run("refusal_naming_the_other_tenants_user_stays_with_its_actor", func(t *testing.T) {
		t.Parallel()
		// gabe asked for bob of acme-eu: the event names bob but was
		// recorded before bob was resolved, so acme's admin must not see
		// globex's justification through it; gabe sees his own action.
		got, err := e.db.QueryEvents(ctx, store.AuditQuery{Scope: &store.AuditScope{Orgs: acme, User: "alice"}, Impersonator: "gabe"})
		require.NoError(t, err)
		assert.Empty(t, got)
		got, err = e.db.QueryEvents(ctx, store.AuditQuery{Scope: &store.AuditScope{Orgs: globex, User: "gabe"}, Subject: "bob"})
		require.NoError(t, err)
		require.Len(t, got, 1)
		assert.Equal(t, store.EventImpersonationDenied, got[0].Type)
		assert.Empty(t, got[0].Org)
	})
	t.Run("empty_scope_reads_nothing", func(t *testing.T) {
		t.Parallel()
		for _, sc := range []store.AuditScope{{}, {Orgs: []string{}}, {Orgs: []string{""}}, {Orgs: store.OrgSubtree(orgs, "")}} {
			got, err := e.db.QueryEvents(ctx, store.AuditQuery{Scope: &sc})
			require.NoError(t, err)
			assert.Empty(t, got, "scope %+v", sc)
		}
	})
	t.Run("event_organisation_is_the_subjects", func(t *testing.T) {
		t.Parallel()
		// What the scope relies on: the library labels an event only with
		// the organisation of its resolved subject.
		n := 0
		for _, ev := range e.db.Events() {
			if ev.Org != "" {
				n++
				assert.Equal(t, orgOf(ev.Subject), ev.Org, "%+v", ev)
			}
		}
		require.Positive(t, n)
	})
	t.Run("unscoped_query_is_the_auditors_whole_log", func(t *testing.T) {
		t.Parallel()
		got, err := e.db.QueryEvents(ctx, store.AuditQuery{})
		require.NoError(t, err)
		assert.Len(t, got, len(e.db.Events()))
		assert.True(t, slices.ContainsFunc(got, func(ev store.Event) bool { return ev.Type == store.EventRequestRefused }))
	})
}
