package postgres_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/store"
	"github.com/actas/actas/store/memory"
	"github.com/actas/actas/store/postgres"
)

// sampleEvent is an event with every field set.
func sampleEvent(at time.Time, jti string) store.Event {
	return store.Event{
		Type: store.EventTokenExchanged, Time: at, ClientID: "app", Impersonator: "alice", Subject: "bob",
		Org: "acme-eu", JTI: jti, Scopes: []string{"openid", "orders:read"}, Outcome: store.OutcomeGranted,
		Reason: "policy ok", Method: "POST", Path: "/api/orders", Justification: "ticket 4711",
	}
}

// assertSameEvents checks got against want in order, every field equal and
// times equal as instants, except Cursor, which each store writes its own
// way: it must be set when want's is.
func assertSameEvents(t *testing.T, want, got []store.Event) {
	t.Helper()
	require.Len(t, got, len(want))
	for i := range want {
		assert.True(t, want[i].Time.Equal(got[i].Time), "event %d: time %s, got %s", i, want[i].Time, got[i].Time)
		assert.True(t, want[i].Expires.Equal(got[i].Expires), "event %d: expires %s, got %s", i, want[i].Expires, got[i].Expires)
		g, w := got[i], want[i]
		if w.Cursor != "" {
			assert.NotEmpty(t, g.Cursor, "event %d: cursor", i)
		}
		g.Time, g.Expires, g.Cursor = w.Time, w.Expires, ""
		w.Cursor = ""
		assert.Equal(t, w, g, "event %d", i)
	}
}

func TestAuditDurabilityAcrossInstances(t *testing.T) {
	t.Parallel()
	poolA, poolB := connect(t), connect(t)
	schema := newSchema(t, poolA)
	a, err := postgres.New(poolA, postgres.WithSchema(schema))
	require.NoError(t, err)
	require.NoError(t, a.Migrate(context.Background()))
	b, err := postgres.New(poolB, postgres.WithSchema(schema))
	require.NoError(t, err)
	ctx := context.Background()

	base := time.Date(2030, 5, 6, 7, 8, 9, 0, time.FixedZone("CEST", 2*3600))
	var want []store.Event
	// Recorded out of time order, some at the same instant (then the
	// order recorded decides), some a nanosecond apart.
	for i, off := range []time.Duration{5 * time.Second, time.Second, 5 * time.Second, 1, 0, 5 * time.Second, 999, 1000, 1001} {
		e := sampleEvent(base.Add(off), fmt.Sprint("jti-", i))
		e.Type = []store.EventType{store.EventImpersonationStarted, store.EventTokenExchanged, store.EventReplayDetected}[i%3]
		e.Impersonator, e.Subject = fmt.Sprint("imp-", i%2), fmt.Sprint("sub-", i%3)
		switch i {
		case 3:
			e.Scopes = nil
		case 4:
			e.Scopes = []string{}
		case 5:
			e = store.Event{Type: store.EventRequestRefused, Time: e.Time, Outcome: store.OutcomeDenied, Reason: "invalid_request", Method: "GET", Path: "/token"}
		case 6:
			e.Justification = "ünïcode — \"quotes\", 'apostrophes', {braces}, \\ backslash"
			e.Scopes = []string{"a,b", `"q"`, "", "NULL"}
		}
		require.NoError(t, a.Record(ctx, e))
		want = append(want, e)
	}
	slices.SortStableFunc(want, func(x, y store.Event) int { return x.Time.Compare(y.Time) })

	got, err := b.QueryEvents(ctx, store.AuditQuery{})
	require.NoError(t, err)
	assertSameEvents(t, want, got)
	for _, e := range got {
		assert.Equal(t, time.UTC, e.Time.Location(), "times come back in UTC")
	}
}

func TestQueryEventsAgreesWithAuditQueryMatches(t *testing.T) {
	t.Parallel()
	s := newStore(t, connect(t))
	ref := memory.New()
	ctx := context.Background()

	t1 := time.Date(2030, 1, 1, 10, 0, 0, 0, time.UTC)
	t2 := t1.Add(time.Hour)
	who := [][3]string{ // impersonator, subject, organisation
		{"alice", "bob", "acme-eu"}, {"alice", "carol", "acme"}, {"dave", "bob", "acme-eu"}, {"", "alice", ""},
		{"bob", "erin", "globex"}, {"alice", "bob", "acme-eu"},
	}
	times := []time.Time{
		t1.Add(-time.Nanosecond), t1, t1.Add(time.Nanosecond), t1.Add(30 * time.Minute),
		t2.Add(-time.Nanosecond), t2, t2.Add(time.Minute), t1.Add(1500 * time.Nanosecond),
	}
	n := 0
	for _, at := range times {
		for _, w := range who {
			e := store.Event{Type: store.EventImpersonationStarted, Time: at, Impersonator: w[0], Subject: w[1], Org: w[2], JTI: fmt.Sprint("jti-", n)}
			if n%4 == 1 {
				// Exchanged: linked to the start before it, and expiring.
				e.Type, e.Parent, e.Expires = store.EventTokenExchanged, fmt.Sprint("jti-", n-1), at.Truncate(time.Microsecond).Add(time.Hour)
			}
			n++
			require.NoError(t, s.Record(ctx, e))
			require.NoError(t, ref.Record(ctx, e))
		}
	}

	tests := []struct {
		name string
		q    store.AuditQuery
		want int // the number of events selected, as a cross-check
	}{
		{name: "everything", q: store.AuditQuery{}, want: n},
		{name: "events of user bob between T1 and T2", q: store.AuditQuery{User: "bob", From: t1, To: t2}, want: 5 * 4},
		{name: "user matches either side", q: store.AuditQuery{User: "alice"}, want: 4 * 8},
		{name: "by impersonator", q: store.AuditQuery{Impersonator: "alice"}, want: 3 * 8},
		{name: "by impersonator between T1 and T2", q: store.AuditQuery{Impersonator: "alice", From: t1, To: t2}, want: 3 * 5},
		{name: "by subject", q: store.AuditQuery{Subject: "bob"}, want: 3 * 8},
		{name: "subject and impersonator", q: store.AuditQuery{Subject: "bob", Impersonator: "dave"}, want: 8},
		{name: "from is inclusive to the nanosecond", q: store.AuditQuery{From: t1.Add(time.Nanosecond)}, want: 6 * 6},
		{name: "to is exclusive to the nanosecond", q: store.AuditQuery{To: t2.Add(-time.Nanosecond)}, want: 6 * 5},
		{name: "inside one microsecond", q: store.AuditQuery{From: t1.Add(time.Nanosecond), To: t1.Add(2 * time.Nanosecond)}, want: 6},
		{name: "limit keeps the oldest", q: store.AuditQuery{Limit: 3}, want: 3},
		{name: "limit with a filter", q: store.AuditQuery{User: "bob", From: t1, Limit: 4}, want: 4},
		{name: "negative limit is no limit", q: store.AuditQuery{Limit: -1}, want: n},
		{name: "nobody", q: store.AuditQuery{User: "zed"}, want: 0},
		{name: "empty window", q: store.AuditQuery{From: t2, To: t1}, want: 0},
		{name: "scope: acme subtree", q: store.AuditQuery{Scope: &store.AuditScope{Orgs: []string{"acme", "acme-eu"}}}, want: 4 * 8},
		{name: "scope: acme-eu only, not its parent", q: store.AuditQuery{Scope: &store.AuditScope{Orgs: []string{"acme-eu"}}}, want: 3 * 8},
		{name: "scope: globex", q: store.AuditQuery{Scope: &store.AuditScope{Orgs: []string{"globex"}}}, want: 8},
		{name: "scope: acme subtree and its user bob", q: store.AuditQuery{Scope: &store.AuditScope{Orgs: []string{"acme", "acme-eu"}, User: "bob"}}, want: 5 * 8},
		{name: "scope: user alice only", q: store.AuditQuery{Scope: &store.AuditScope{User: "alice"}}, want: 4 * 8},
		{name: "scope: globex between T1 and T2", q: store.AuditQuery{Scope: &store.AuditScope{Orgs: []string{"globex"}}, From: t1, To: t2}, want: 5},
		{name: "scope: acme subtree, limit", q: store.AuditQuery{Scope: &store.AuditScope{Orgs: []string{"acme", "acme-eu"}}, Limit: 3}, want: 3},
		{name: "scope: acme subtree asking for erin of globex", q: store.AuditQuery{Scope: &store.AuditScope{Orgs: []string{"acme", "acme-eu"}}, Subject: "erin"}, want: 0},
		{name: "scope: an empty org is no organisation", q: store.AuditQuery{Scope: &store.AuditScope{Orgs: []string{""}}}, want: 0},
		{name: "scope: zero selects nothing", q: store.AuditQuery{Scope: &store.AuditScope{}}, want: 0},
		{name: "scope: empty orgs select nothing", q: store.AuditQuery{Scope: &store.AuditScope{Orgs: []string{}}}, want: 0},
		{name: "scope: unknown org", q: store.AuditQuery{Scope: &store.AuditScope{Orgs: []string{"initech", "'; DROP TABLE audit_events; --"}}}, want: 0},
		{name: "by type", q: store.AuditQuery{Types: []store.EventType{store.EventTokenExchanged}}, want: n / 4},
		{name: "by two types", q: store.AuditQuery{Types: []store.EventType{store.EventTokenExchanged, store.EventImpersonationStarted}}, want: n},
		{name: "by type and subject", q: store.AuditQuery{Types: []store.EventType{store.EventImpersonationStarted}, Subject: "bob"}, want: 20},
		{name: "by IDs: a start and what it was exchanged for", q: store.AuditQuery{IDs: []string{"jti-0"}}, want: 2},
		{name: "by IDs: the exchanged token alone", q: store.AuditQuery{IDs: []string{"jti-1"}}, want: 1},
		{name: "by IDs: several", q: store.AuditQuery{IDs: []string{"jti-4", "jti-8", "jti-3", "nobody"}}, want: 5},
		{name: "by IDs: an empty one matches nothing", q: store.AuditQuery{IDs: []string{""}}, want: 0},
		{name: "by IDs: injection is a value", q: store.AuditQuery{IDs: []string{"') OR TRUE --"}}, want: 0},
		{name: "newest first", q: store.AuditQuery{NewestFirst: true}, want: n},
		{name: "newest first, limit keeps the newest", q: store.AuditQuery{NewestFirst: true, Limit: 5}, want: 5},
		{name: "newest first by subject between T1 and T2", q: store.AuditQuery{NewestFirst: true, Subject: "bob", From: t1, To: t2}, want: 3 * 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := s.QueryEvents(ctx, tc.q)
			require.NoError(t, err)
			want, err := ref.QueryEvents(ctx, tc.q)
			require.NoError(t, err)
			assert.Len(t, got, tc.want)
			assertSameEvents(t, want, got)
			for _, e := range got {
				assert.True(t, tc.q.Matches(e))
			}
		})
	}
}

// TestAuditLogIsAppendOnly checks that no statement in the package's
// source changes or removes audit rows, and that housekeeping leaves them.
func TestAuditLogIsAppendOnly(t *testing.T) {
	t.Parallel()
	forbidden := regexp.MustCompile(`(?is)\b(update|delete\s+from|truncate(\s+table)?|alter\s+table|drop\s+table)\s+(\{s\}\.)?"?(audit_events|audit_event_links)\b`)
	var files []string
	for _, pattern := range []string{"*.go", "migrations/*.sql"} {
		m, err := filepath.Glob(pattern)
		require.NoError(t, err)
		files = append(files, m...)
	}
	checked := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		require.NoError(t, err)
		assert.Empty(t, forbidden.FindAllString(string(src), -1), "%s changes audit rows", f)
		checked++
	}
	require.Greater(t, checked, 3)
	assert.True(t, forbidden.MatchString("DELETE FROM {s}.audit_events WHERE"), "the check itself works")
	assert.True(t, forbidden.MatchString("UPDATE audit_event_links SET"), "the check covers the links of events")

	c, _, s := clockedStore(t)
	ctx := context.Background()
	require.NoError(t, s.Record(ctx, sampleEvent(c.Now(), "old")))
	c.Advance(100 * 365 * 24 * time.Hour)
	_, err := s.Sweep(ctx)
	require.NoError(t, err)
	got, err := s.QueryEvents(ctx, store.AuditQuery{})
	require.NoError(t, err)
	assert.Len(t, got, 1, "a sweep never touches the audit log")
}

// TestQueryEventsRefusesACursorOutOfRange: a cursor of the right shape
// whose time no timestamptz can hold is store.ErrInvalidCursor (a host
// answers 400), not a database error.
func TestQueryEventsRefusesACursorOutOfRange(t *testing.T) {
	t.Parallel()
	s := newStore(t, connect(t))
	for _, cursor := range []string{"9223372036854775807.0.1", "-9223372036854775808.0.1", "253402300800.0.1"} {
		_, err := s.QueryEvents(context.Background(), store.AuditQuery{After: cursor, Limit: 10})
		assert.ErrorIs(t, err, store.ErrInvalidCursor, cursor)
	}
	_, err := s.QueryEvents(context.Background(), store.AuditQuery{After: "1767225600.0.1", Limit: 10})
	assert.NoError(t, err, "a cursor in range is fine")
}
