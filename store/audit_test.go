package store_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/actas/actas/store"
)

// TestAuditQueryMatchesScope: the scope admits an event by its
// organisation or by the viewer named in it, never an event of another
// tenant, and never an event without an organisation through Orgs.
func TestAuditQueryMatchesScope(t *testing.T) {
	t.Parallel()
	at := time.Date(2030, 1, 1, 10, 0, 0, 0, time.UTC)
	acme := []string{"acme", "acme-eu"}
	tests := []struct {
		name  string
		scope *store.AuditScope
		e     store.Event
		want  bool
	}{
		{name: "no scope is the whole log", scope: nil, e: store.Event{Org: "globex", Subject: "dave"}, want: true},
		{name: "no scope includes events without organisation", scope: nil, e: store.Event{Type: store.EventRequestRefused}, want: true},
		{name: "zero scope selects nothing", scope: &store.AuditScope{}, e: store.Event{Org: "acme", Subject: "bob"}, want: false},
		{name: "zero scope selects nothing without organisation", scope: &store.AuditScope{}, e: store.Event{}, want: false},
		{name: "empty orgs select nothing", scope: &store.AuditScope{Orgs: []string{}}, e: store.Event{Org: "acme"}, want: false},
		{name: "event of the root", scope: &store.AuditScope{Orgs: acme}, e: store.Event{Org: "acme", Subject: "frank"}, want: true},
		{name: "event of a descendant", scope: &store.AuditScope{Orgs: acme}, e: store.Event{Org: "acme-eu", Subject: "bob"}, want: true},
		{name: "another impersonator acting in the subtree", scope: &store.AuditScope{Orgs: acme, User: "alice"}, e: store.Event{Org: "acme-eu", Impersonator: "root-admin", Subject: "bob"}, want: true},
		{name: "event of another tenant", scope: &store.AuditScope{Orgs: acme}, e: store.Event{Org: "globex", Impersonator: "gina", Subject: "dave"}, want: false},
		{name: "event of another tenant with the viewer as user", scope: &store.AuditScope{Orgs: acme, User: "alice"}, e: store.Event{Org: "globex", Impersonator: "gina", Subject: "dave"}, want: false},
		{name: "the parent of the subtree is outside", scope: &store.AuditScope{Orgs: []string{"acme-eu"}}, e: store.Event{Org: "acme", Subject: "frank"}, want: false},
		{name: "a sibling is outside", scope: &store.AuditScope{Orgs: []string{"acme-eu"}}, e: store.Event{Org: "acme-us", Subject: "carol"}, want: false},
		{name: "organisations compare exactly", scope: &store.AuditScope{Orgs: acme}, e: store.Event{Org: "ACME"}, want: false},
		{name: "organisations are not prefixes", scope: &store.AuditScope{Orgs: acme}, e: store.Event{Org: "acme-eu-2"}, want: false},
		{name: "no organisation is never in the subtree", scope: &store.AuditScope{Orgs: acme}, e: store.Event{Subject: "bob", Impersonator: "gina", Reason: "subject_outside_organization"}, want: false},
		{name: "an empty org listed selects no event without organisation", scope: &store.AuditScope{Orgs: []string{"", "acme"}}, e: store.Event{Type: store.EventRequestRefused}, want: false},
		{name: "the viewer's own action in another tenant", scope: &store.AuditScope{Orgs: acme, User: "alice"}, e: store.Event{Org: "globex", Impersonator: "alice", Subject: "dave"}, want: true},
		{name: "the viewer's own refusal without organisation", scope: &store.AuditScope{Orgs: acme, User: "alice"}, e: store.Event{Impersonator: "alice", Subject: "dave"}, want: true},
		{name: "the viewer as subject", scope: &store.AuditScope{User: "bob"}, e: store.Event{Impersonator: "gina", Subject: "bob"}, want: true},
		{name: "user only: someone else", scope: &store.AuditScope{User: "bob"}, e: store.Event{Org: "acme-eu", Impersonator: "alice", Subject: "carol"}, want: false},
		{name: "an empty viewer matches nobody", scope: &store.AuditScope{Orgs: acme}, e: store.Event{Org: "globex"}, want: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.e.Time = at
			q := store.AuditQuery{Scope: tc.scope}
			assert.Equal(t, tc.want, q.Matches(tc.e))
			if tc.scope != nil {
				assert.Equal(t, tc.want, tc.scope.Contains(tc.e))
			}
		})
	}
}

// TestAuditQueryScopeAndOtherCriteria: the scope narrows the other
// criteria and never widens them.
func TestAuditQueryScopeAndOtherCriteria(t *testing.T) {
	t.Parallel()
	at := time.Date(2030, 1, 1, 10, 0, 0, 0, time.UTC)
	acme := &store.AuditScope{Orgs: []string{"acme", "acme-eu"}, User: "alice"}
	tests := []struct {
		name string
		q    store.AuditQuery
		e    store.Event
		want bool
	}{
		{name: "in scope and in the window", q: store.AuditQuery{Scope: acme, From: at}, e: store.Event{Time: at, Org: "acme-eu"}, want: true},
		{name: "in scope, before the window", q: store.AuditQuery{Scope: acme, From: at.Add(time.Nanosecond)}, e: store.Event{Time: at, Org: "acme-eu"}, want: false},
		{name: "in scope, another subject asked for", q: store.AuditQuery{Scope: acme, Subject: "carol"}, e: store.Event{Time: at, Org: "acme-eu", Subject: "bob"}, want: false},
		{name: "the subject asked for, outside the scope", q: store.AuditQuery{Scope: acme, Subject: "dave"}, e: store.Event{Time: at, Org: "globex", Subject: "dave"}, want: false},
		{name: "the user asked for, outside the scope", q: store.AuditQuery{Scope: acme, User: "dave"}, e: store.Event{Time: at, Org: "globex", Subject: "dave", Impersonator: "gina"}, want: false},
		{name: "the impersonator asked for, in the scope by the viewer", q: store.AuditQuery{Scope: acme, Impersonator: "alice"}, e: store.Event{Time: at, Org: "globex", Subject: "dave", Impersonator: "alice"}, want: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, tc.q.Matches(tc.e))
		})
	}
}

// TestAuditQueryTypesAndIDs: Types selects by event type, IDs by the
// event's JTI or Parent, never by an empty one.
func TestAuditQueryTypesAndIDs(t *testing.T) {
	t.Parallel()
	started := store.Event{Type: store.EventImpersonationStarted, JTI: "st1"}
	exchanged := store.Event{Type: store.EventTokenExchanged, JTI: "at1", Parent: "st1"}
	bare := store.Event{Type: store.EventRequestRefused}
	tests := []struct {
		name string
		q    store.AuditQuery
		e    store.Event
		want bool
	}{
		{name: "no types select every type", q: store.AuditQuery{}, e: started, want: true},
		{name: "a listed type", q: store.AuditQuery{Types: []store.EventType{store.EventTokenExchanged, store.EventImpersonationStarted}}, e: started, want: true},
		{name: "a type not listed", q: store.AuditQuery{Types: []store.EventType{store.EventTokenExchanged}}, e: started, want: false},
		{name: "by JTI", q: store.AuditQuery{IDs: []string{"st1"}}, e: started, want: true},
		{name: "by Parent", q: store.AuditQuery{IDs: []string{"st1"}}, e: exchanged, want: true},
		{name: "by its own JTI too", q: store.AuditQuery{IDs: []string{"at1"}}, e: exchanged, want: true},
		{name: "another ID", q: store.AuditQuery{IDs: []string{"st2"}}, e: exchanged, want: false},
		{name: "an empty ID matches no empty JTI or Parent", q: store.AuditQuery{IDs: []string{""}}, e: bare, want: false},
		{name: "IDs and Types combine with AND", q: store.AuditQuery{IDs: []string{"st1"}, Types: []store.EventType{store.EventTokenExchanged}}, e: started, want: false},
		{name: "order, After and Limit do not select", q: store.AuditQuery{NewestFirst: true, After: "anything", Limit: 1}, e: started, want: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, tc.q.Matches(tc.e))
		})
	}
}

func TestOrgSubtree(t *testing.T) {
	t.Parallel()
	// Children listed before their parents, on purpose.
	orgs := []store.Organization{
		{ID: "acme-eu-de", Parent: "acme-eu"},
		{ID: "acme-us", Parent: "acme"},
		{ID: "acme-eu", Parent: "acme"},
		{ID: "acme"},
		{ID: "globex"},
		{ID: "globex-uk", Parent: "globex"},
	}
	tests := []struct {
		name string
		orgs []store.Organization
		root string
		want []string
	}{
		{name: "root and its descendants, level by level", orgs: orgs, root: "acme", want: []string{"acme", "acme-eu", "acme-us", "acme-eu-de"}},
		{name: "a child and its descendants, not its parent or siblings", orgs: orgs, root: "acme-eu", want: []string{"acme-eu", "acme-eu-de"}},
		{name: "a leaf", orgs: orgs, root: "acme-us", want: []string{"acme-us"}},
		{name: "another root", orgs: orgs, root: "globex", want: []string{"globex", "globex-uk"}},
		{name: "unknown root", orgs: orgs, root: "initech", want: []string{"initech"}},
		{name: "empty root", orgs: orgs, root: "", want: nil},
		{name: "no organisations", orgs: nil, root: "acme", want: []string{"acme"}},
		{name: "a cycle ends", orgs: []store.Organization{{ID: "a", Parent: "b"}, {ID: "b", Parent: "a"}, {ID: "c", Parent: "c"}}, root: "a", want: []string{"a", "b"}},
		{name: "its own parent is no descendant", orgs: []store.Organization{{ID: "c", Parent: "c"}}, root: "c", want: []string{"c"}},
		{name: "duplicates once", orgs: append(orgs, store.Organization{ID: "acme-us", Parent: "acme"}), root: "acme", want: []string{"acme", "acme-eu", "acme-us", "acme-eu-de"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, store.OrgSubtree(tc.orgs, tc.root))
		})
	}
}

func ExampleOrgSubtree() {
	orgs := []store.Organization{
		{ID: "acme"}, {ID: "acme-eu", Parent: "acme"}, {ID: "globex"},
	}
	// An administrator in acme sees the events of acme and acme-eu, and
	// their own.
	q := store.AuditQuery{Scope: &store.AuditScope{Orgs: store.OrgSubtree(orgs, "acme"), User: "alice"}}
	for _, e := range []store.Event{
		{Type: store.EventImpersonationStarted, Impersonator: "alice", Subject: "bob", Org: "acme-eu"},
		{Type: store.EventImpersonationStarted, Impersonator: "gina", Subject: "dave", Org: "globex"},
		{Type: store.EventImpersonationDenied, Impersonator: "alice", Subject: "dave"},
		{Type: store.EventRequestRefused, Reason: "invalid_request"},
	} {
		fmt.Printf("%s by %q as %q in %q: %v\n", e.Type, e.Impersonator, e.Subject, e.Org, q.Matches(e))
	}
	// Output:
	// impersonation.started by "alice" as "bob" in "acme-eu": true
	// impersonation.started by "gina" as "dave" in "globex": false
	// impersonation.denied by "alice" as "dave" in "": true
	// request.refused by "" as "" in "": false
}
