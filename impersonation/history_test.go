package impersonation_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/impersonation"
	"github.com/actas/actas/internal/testkit"
	"github.com/actas/actas/store"
	"github.com/actas/actas/store/memory"
	"github.com/actas/actas/tokenexchange"
)

// The impersonated user's side (issue 14, part 2): bob reads the
// impersonations of him back from the audit log (History.List, the pure
// Impersonations) and ends one that runs (History.End); he never sees or
// ends anyone else's.

// newHistory is the History of f's service over f's memory audit log.
func newHistory(t testing.TB, f *fixture) *impersonation.History {
	t.Helper()
	h, err := impersonation.NewHistory(f.svc, f.db)
	require.NoError(t, err)
	return h
}

// lastStart is the ID of the newest impersonation started in f: the jti
// of the last impersonation.started event.
func lastStart(t testing.TB, f *fixture) string {
	t.Helper()
	starts := sessionEventsOf(f.db, store.EventImpersonationStarted)
	require.NotEmpty(t, starts)
	return starts[len(starts)-1].JTI
}

// historyOf is the first page of subject's impersonations.
func historyOf(t testing.TB, h *impersonation.History, subject string) []impersonation.Impersonation {
	t.Helper()
	page, err := h.List(context.Background(), impersonation.HistoryQuery{Subject: subject})
	require.NoError(t, err)
	return page.Impersonations
}

// idsOf are the IDs of imps, in order.
func idsOf(imps []impersonation.Impersonation) []string {
	var out []string
	for _, i := range imps {
		out = append(out, i.ID)
	}
	return out
}

func TestImpersonations_FromEvents(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2030, 1, 1, 10, 0, 0, 0, time.UTC)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	start := func(jti string, m int) store.Event {
		return store.Event{
			Type: store.EventImpersonationStarted, Time: at(m), ClientID: "app", Impersonator: "alice", Subject: "bob",
			Org: "acme-eu", JTI: jti, Scopes: []string{"openid", "orders:read"}, Outcome: store.OutcomeGranted,
			Justification: "ticket " + jti, Expires: at(m + 3),
		}
	}
	exchanged := func(jti, parent string, m, life int) store.Event {
		return store.Event{
			Type: store.EventTokenExchanged, Time: at(m), ClientID: "app", Impersonator: "alice", Subject: "bob",
			JTI: jti, Parent: parent, Scopes: []string{"openid"}, Outcome: store.OutcomeGranted, Expires: at(m + life),
		}
	}
	session := func(jti string, m, life int) store.Event {
		return store.Event{Type: store.EventSessionStarted, Time: at(m), Subject: "bob", JTI: jti, Outcome: store.OutcomeGranted, Expires: at(m + life)}
	}
	ended := func(jti, parent string, m int, reason string) store.Event {
		return store.Event{Type: store.EventImpersonationEnded, Time: at(m), Subject: "bob", JTI: jti, Parent: parent, Outcome: store.OutcomeGranted, Reason: reason}
	}
	tests := []struct {
		name   string
		events []store.Event
		want   []impersonation.Impersonation
	}{
		{name: "no events", events: nil, want: []impersonation.Impersonation{}},
		{
			name:   "a subject token not exchanged",
			events: []store.Event{start("st1", 0)},
			want: []impersonation.Impersonation{{
				ID: "st1", Impersonator: "alice", Subject: "bob", ClientID: "app", Org: "acme-eu", Reason: "ticket st1",
				Scopes: []string{"openid", "orders:read"}, Started: at(0), Expires: at(3),
			}},
		},
		{
			name:   "exchanged: the exchange's token, scope and expiry",
			events: []store.Event{start("st1", 0), exchanged("at1", "st1", 1, 60)},
			want: []impersonation.Impersonation{{
				ID: "st1", Impersonator: "alice", Subject: "bob", ClientID: "app", Org: "acme-eu", Reason: "ticket st1",
				Scopes: []string{"openid"}, Started: at(0), Exchanged: at(1), Token: "at1", Expires: at(61),
			}},
		},
		{
			name:   "a session that outlives the exchanged token",
			events: []store.Event{start("st1", 0), exchanged("at1", "st1", 1, 60), session("at1", 1, 120)},
			want: []impersonation.Impersonation{{
				ID: "st1", Impersonator: "alice", Subject: "bob", ClientID: "app", Org: "acme-eu", Reason: "ticket st1",
				Scopes: []string{"openid"}, Started: at(0), Exchanged: at(1), Token: "at1", Session: true, Expires: at(121),
			}},
		},
		{
			name:   "a session shorter than the exchanged token",
			events: []store.Event{start("st1", 0), exchanged("at1", "st1", 1, 60), session("at1", 1, 30)},
			want: []impersonation.Impersonation{{
				ID: "st1", Impersonator: "alice", Subject: "bob", ClientID: "app", Org: "acme-eu", Reason: "ticket st1",
				Scopes: []string{"openid"}, Started: at(0), Exchanged: at(1), Token: "at1", Session: true, Expires: at(61),
			}},
		},
		{
			name:   "ended: the session's end",
			events: []store.Event{start("st1", 0), exchanged("at1", "st1", 1, 60), session("at1", 1, 60), ended("at1", "", 5, "logout")},
			want: []impersonation.Impersonation{{
				ID: "st1", Impersonator: "alice", Subject: "bob", ClientID: "app", Org: "acme-eu", Reason: "ticket st1",
				Scopes: []string{"openid"}, Started: at(0), Exchanged: at(1), Token: "at1", Session: true, Expires: at(61),
				Ended: at(5), EndReason: "logout",
			}},
		},
		{
			name:   "ended by revoking a token issued under the session",
			events: []store.Event{start("st1", 0), exchanged("at1", "st1", 1, 60), ended("at9", "at1", 7, "")},
			want: []impersonation.Impersonation{{
				ID: "st1", Impersonator: "alice", Subject: "bob", ClientID: "app", Org: "acme-eu", Reason: "ticket st1",
				Scopes: []string{"openid"}, Started: at(0), Exchanged: at(1), Token: "at1", Expires: at(61), Ended: at(7),
			}},
		},
		{
			name: "the subject token revoked before its exchange",
			events: []store.Event{start("st1", 0),
				{Type: store.EventTokenRevoked, Time: at(1), Subject: "bob", JTI: "st1", Outcome: store.OutcomeGranted}},
			want: []impersonation.Impersonation{{
				ID: "st1", Impersonator: "alice", Subject: "bob", ClientID: "app", Org: "acme-eu", Reason: "ticket st1",
				Scopes: []string{"openid", "orders:read"}, Started: at(0), Expires: at(3), Ended: at(1),
			}},
		},
		{
			name:   "the earliest end is the end, whatever the order",
			events: []store.Event{start("st1", 0), exchanged("at1", "st1", 1, 60), ended("at1", "", 9, "later"), ended("at1", "", 4, "first")},
			want: []impersonation.Impersonation{{
				ID: "st1", Impersonator: "alice", Subject: "bob", ClientID: "app", Org: "acme-eu", Reason: "ticket st1",
				Scopes: []string{"openid"}, Started: at(0), Exchanged: at(1), Token: "at1", Expires: at(61), Ended: at(4), EndReason: "first",
			}},
		},
		{
			name: "events of another subject, refusals and failures are not the impersonation's",
			events: []store.Event{
				start("st1", 0),
				{Type: store.EventTokenExchangeDenied, Time: at(1), Subject: "bob", JTI: "st1", Outcome: store.OutcomeDenied},
				{Type: store.EventTokenExchanged, Time: at(1), Subject: "carol", JTI: "atX", Parent: "st1", Outcome: store.OutcomeGranted, Expires: at(60)},
				{Type: store.EventImpersonationEnded, Time: at(2), Subject: "carol", JTI: "st1", Outcome: store.OutcomeGranted},
				{Type: store.EventImpersonationEnded, Time: at(2), Subject: "bob", JTI: "st1", Outcome: store.OutcomeFailed},
				{Type: store.EventImpersonationDenied, Time: at(2), Subject: "bob", JTI: "st1", Outcome: store.OutcomeDenied},
			},
			want: []impersonation.Impersonation{{
				ID: "st1", Impersonator: "alice", Subject: "bob", ClientID: "app", Org: "acme-eu", Reason: "ticket st1",
				Scopes: []string{"openid", "orders:read"}, Started: at(0), Expires: at(3),
			}},
		},
		{
			name:   "an exchange whose start is not among the events is not listed",
			events: []store.Event{exchanged("at1", "st0", 1, 60), session("at1", 1, 60)},
			want:   []impersonation.Impersonation{},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, impersonation.Impersonations(tc.events))
		})
	}
}

// TestImpersonations_NewestFirst: by start time, and of two started at
// the same time the later recorded first, whatever order the other
// events come in.
func TestImpersonations_NewestFirst(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2030, 1, 1, 10, 0, 0, 0, time.UTC)
	var events []store.Event
	for i, m := range []int{5, 1, 5, 3} {
		events = append(events, store.Event{
			Type: store.EventImpersonationStarted, Time: t0.Add(time.Duration(m) * time.Minute),
			Subject: "bob", JTI: []string{"a", "b", "c", "d"}[i], Outcome: store.OutcomeGranted,
		})
	}
	assert.Equal(t, []string{"c", "a", "d", "b"}, idsOf(impersonation.Impersonations(events)))
}

func TestImpersonation_Running(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2030, 1, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		imp  impersonation.Impersonation
		now  time.Time
		want bool
	}{
		{name: "before its expiry", imp: impersonation.Impersonation{Expires: t0.Add(time.Hour)}, now: t0, want: true},
		{name: "at its expiry", imp: impersonation.Impersonation{Expires: t0}, now: t0, want: false},
		{name: "ended", imp: impersonation.Impersonation{Expires: t0.Add(time.Hour), Ended: t0}, now: t0, want: false},
		{name: "no expiry known", imp: impersonation.Impersonation{}, now: t0, want: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, tc.imp.Running(tc.now))
		})
	}
}

func TestNewHistory_Refusals(t *testing.T) {
	t.Parallel()
	f := newFixture(t) // no revocation store
	_, err := impersonation.NewHistory(f.svc, f.db)
	assert.ErrorContains(t, err, "revocation store")
	_, err = impersonation.NewHistory(nil, f.db)
	assert.Error(t, err)
	s := newSessionFixture(t)
	_, err = impersonation.NewHistory(s.svc, nil)
	assert.Error(t, err)
}

// TestHistory_EventsLinkAnImpersonation: the events the flows record name
// their impersonation: the exchange the subject token as Parent, the
// session the exchanged token's jti, tokens under a session the session,
// with the expiry of what each issued.
func TestHistory_EventsLinkAnImpersonation(t *testing.T) {
	t.Parallel()
	f := newSessionFixture(t)
	f.enableRefresh(t, app2ID)
	sess, exchangedToken := f.startSession(t, sessReason)
	tok := f.issueTokens(t, app2ID, sessLogin)

	start := testkit.RequireOneEvent(t, sessionEventsOf(f.db, store.EventImpersonationStarted), store.EventImpersonationStarted, store.OutcomeGranted, "")
	assert.Equal(t, f.clock.Now().Add(180*time.Second).UTC(), start.Expires, "the subject token's expiry")
	ex := testkit.RequireOneEvent(t, sessionEventsOf(f.db, store.EventTokenExchanged), store.EventTokenExchanged, store.OutcomeGranted, "")
	assert.Equal(t, start.JTI, ex.Parent, "the exchange names the subject token it consumed")
	assert.Equal(t, testkit.DecodeJWT(t, exchangedToken).Str(t, "jti"), ex.JTI)
	assert.Equal(t, f.clock.Now().Add(impersonation.DefaultAccessTokenTTL).UTC(), ex.Expires)
	started := testkit.RequireOneEvent(t, sessionEventsOf(f.db, store.EventSessionStarted), store.EventSessionStarted, store.OutcomeGranted, "")
	assert.Equal(t, ex.JTI, started.JTI)
	assert.Equal(t, sess.Expires, started.Expires)
	issued := testkit.RequireOneEvent(t, sessionEventsOf(f.db, store.EventSessionTokens), store.EventSessionTokens, store.OutcomeGranted, "")
	assert.Equal(t, sess.ID, issued.Parent)

	require.NoError(t, f.svc.Revoke(context.Background(), sessClient(app2ID), tok.AccessToken, ""))
	revoked := testkit.RequireOneEvent(t, sessionEventsOf(f.db, store.EventImpersonationEnded), store.EventImpersonationEnded, store.OutcomeGranted, "")
	assert.Equal(t, testkit.DecodeJWT(t, tok.AccessToken).Str(t, "jti"), revoked.JTI)
	assert.Equal(t, sess.ID, revoked.Parent, "revoking a token of the session ended the session")
}

// TestHistory_RefreshExchangeIsOneImpersonation: the session a refresh
// token exchange starts has the refresh token's jti as its ID, so its
// exchange and its session are one impersonation.
func TestHistory_RefreshExchangeIsOneImpersonation(t *testing.T) {
	t.Parallel()
	f := newSessionFixture(t)
	f.enableRefresh(t, appID)
	resp := f.exchangeRefresh(t, appID)
	jti := testkit.DecodeJWT(t, resp.AccessToken).Str(t, "jti")
	ex := testkit.RequireOneEvent(t, sessionEventsOf(f.db, store.EventTokenExchanged), store.EventTokenExchanged, store.OutcomeGranted, "")
	started := testkit.RequireOneEvent(t, sessionEventsOf(f.db, store.EventSessionStarted), store.EventSessionStarted, store.OutcomeGranted, "")
	assert.Equal(t, jti, ex.JTI)
	assert.Equal(t, jti, started.JTI, "the session is named after the refresh token that started it")
	assert.Equal(t, jti, testkit.DecodeJWT(t, resp.AccessToken).Str(t, "isid"))

	imps := historyOf(t, newHistory(t, f), "bob")
	require.Len(t, imps, 1)
	assert.True(t, imps[0].Session)
	assert.Equal(t, jti, imps[0].Token)
	assert.Equal(t, f.clock.Now().Add(impersonation.DefaultSessionMaxDuration).UTC(), imps[0].Expires.UTC())
}

// TestHistory_ListsTheSubjectsOwn: bob sees every impersonation of him,
// of each kind, newest first, with who, when, the application, the reason
// and whether it runs; never one of carol's; dave, never impersonated,
// sees none.
func TestHistory_ListsTheSubjectsOwn(t *testing.T) {
	t.Parallel()
	f := newSessionFixture(t)
	f.enableRefresh(t, appID)
	h := newHistory(t, f)

	f.startSession(t, sessReason) // a session through app
	session := lastStart(t, f)
	f.clock.Advance(time.Minute)
	plain := f.accessToken(t) // an exchanged access token, no session
	plainID := lastStart(t, f)
	f.clock.Advance(time.Minute)
	f.exchangeRefresh(t, appID) // a session of its own
	refresh := lastStart(t, f)
	f.clock.Advance(time.Minute)
	f.authorize(t, "alice", "bob") // not exchanged
	unused := lastStart(t, f)
	f.clock.Advance(time.Minute)
	f.authorize(t, "alice", "carol") // someone else's
	carols := lastStart(t, f)

	imps := historyOf(t, h, "bob")
	assert.Equal(t, []string{unused, refresh, plainID, session}, idsOf(imps), "bob's, newest first")
	for _, imp := range imps {
		assert.Equal(t, "alice", imp.Impersonator)
		assert.Equal(t, "bob", imp.Subject)
		assert.Equal(t, appID, imp.ClientID)
		assert.Equal(t, "acme-eu", imp.Org)
		assert.True(t, imp.Running(f.clock.Now()), "%s runs", imp.ID)
		assert.True(t, imp.Ended.IsZero())
	}
	assert.Empty(t, imps[0].Token, "not exchanged")
	assert.True(t, imps[0].Exchanged.IsZero())
	assert.True(t, imps[1].Session, "the refresh token's session")
	assert.False(t, imps[2].Session, "a plain exchange")
	assert.Equal(t, testkit.DecodeJWT(t, plain).Str(t, "jti"), imps[2].Token)
	assert.True(t, imps[3].Session, "the login session's")
	assert.Equal(t, sessReason, imps[3].Reason)
	assert.Equal(t, testkit.Start.UTC(), imps[3].Started.UTC())

	assert.Equal(t, []string{carols}, idsOf(historyOf(t, h, "carol")))
	assert.Empty(t, historyOf(t, h, "dave"))
	_, err := h.List(context.Background(), impersonation.HistoryQuery{})
	assert.Error(t, err, "no user, no history")
}

// TestHistory_RunningEndsWithExpiry: an impersonation stops running when
// what it issued expires: the subject token unexchanged, the access token
// without a session, the session (not the access token) when it lasts
// longer.
func TestHistory_RunningEndsWithExpiry(t *testing.T) {
	t.Parallel()
	f := newSessionFixture(t, sessMax(2*time.Hour))
	h := newHistory(t, f)
	f.authorize(t, "alice", "bob")
	f.accessToken(t)
	f.startSession(t, sessReason)
	imps := historyOf(t, h, "bob")
	require.Len(t, imps, 3)
	now := f.clock.Now()
	session, plain, unused := imps[0], imps[1], imps[2]
	assert.Equal(t, now.Add(180*time.Second).UTC(), unused.Expires.UTC())
	assert.Equal(t, now.Add(time.Hour).UTC(), plain.Expires.UTC())
	assert.Equal(t, now.Add(2*time.Hour).UTC(), session.Expires.UTC(), "the session outlives its access token")

	f.clock.Advance(180 * time.Second)
	running := func() []bool {
		var out []bool
		for _, i := range historyOf(t, h, "bob") {
			out = append(out, i.Running(f.clock.Now()))
		}
		return out
	}
	assert.Equal(t, []bool{true, true, false}, running())
	f.clock.Advance(time.Hour)
	assert.Equal(t, []bool{true, false, false}, running())
	f.clock.Advance(time.Hour)
	assert.Equal(t, []bool{false, false, false}, running())
}

// TestHistory_Pages: a page at a time, newest first, every impersonation
// once, ties in time included; a cursor the log cannot read is
// store.ErrInvalidCursor; limits are clamped.
func TestHistory_Pages(t *testing.T) {
	t.Parallel()
	f := newSessionFixture(t, sessWith(impersonation.WithStartLimit(nil, 0, 0)))
	h := newHistory(t, f)
	var want []string
	for i := range 7 {
		if i%3 == 0 {
			f.clock.Advance(time.Second) // the others share a time
		}
		f.authorize(t, "alice", "bob")
		want = append([]string{lastStart(t, f)}, want...)
		f.authorize(t, "alice", "carol") // between bob's, not his
	}
	var got []string
	q := impersonation.HistoryQuery{Subject: "bob", Limit: 3}
	var sizes []int
	for range 5 {
		page, err := h.List(context.Background(), q)
		require.NoError(t, err)
		sizes = append(sizes, len(page.Impersonations))
		got = append(got, idsOf(page.Impersonations)...)
		if page.Next == "" {
			break
		}
		q.After = page.Next
	}
	assert.Equal(t, []int{3, 3, 1}, sizes)
	assert.Equal(t, want, got)

	_, err := h.List(context.Background(), impersonation.HistoryQuery{Subject: "bob", After: "not-a-cursor"})
	assert.ErrorIs(t, err, store.ErrInvalidCursor)

	page, err := h.List(context.Background(), impersonation.HistoryQuery{Subject: "bob", Limit: -1})
	require.NoError(t, err)
	assert.Len(t, page.Impersonations, 7, "the default page holds them all")
	assert.Empty(t, page.Next)
}

// TestHistory_PageLimitIsCapped: a Limit above MaxHistoryLimit reads
// MaxHistoryLimit.
func TestHistory_PageLimitIsCapped(t *testing.T) {
	t.Parallel()
	f := newSessionFixture(t, sessWith(impersonation.WithStartLimit(nil, 0, 0)))
	h := newHistory(t, f)
	for range impersonation.MaxHistoryLimit + 1 {
		f.authorize(t, "alice", "bob")
	}
	page, err := h.List(context.Background(), impersonation.HistoryQuery{Subject: "bob", Limit: 10 * impersonation.MaxHistoryLimit})
	require.NoError(t, err)
	assert.Len(t, page.Impersonations, impersonation.MaxHistoryLimit)
	assert.NotEmpty(t, page.Next)
}

// historyLogDown is an audit log that cannot be read.
type historyLogDown struct{}

func (historyLogDown) QueryEvents(context.Context, store.AuditQuery) ([]store.Event, error) {
	return nil, errors.New("audit log unreachable")
}

func TestHistory_AuditLogDown(t *testing.T) {
	t.Parallel()
	f := newSessionFixture(t)
	h, err := impersonation.NewHistory(f.svc, historyLogDown{})
	require.NoError(t, err)
	_, err = h.List(context.Background(), impersonation.HistoryQuery{Subject: "bob"})
	assert.ErrorContains(t, err, "unreachable")
	_, err = h.End(context.Background(), "bob", "anything")
	assert.ErrorContains(t, err, "unreachable")
	assert.NotErrorIs(t, err, impersonation.ErrNoImpersonation, "a failure is not a refusal")
}

// endCase is one kind of impersonation bob ends: start runs it (alice
// impersonating bob) and returns the checks that it is over.
type endCase struct {
	name  string
	start func(t *testing.T, f *fixture) (ended func(t *testing.T))
	// token says whether it was exchanged.
	token bool
}

var endCases = []endCase{
	{
		name:  "an impersonation session and the tokens issued under it",
		token: true,
		start: func(t *testing.T, f *fixture) func(t *testing.T) {
			f.enableRefresh(t, app2ID)
			_, exchangedToken := f.startSession(t, sessReason)
			tok := f.issueTokens(t, app2ID, sessLogin)
			return func(t *testing.T) {
				_, err := f.verifyAt(t, appID, exchangedToken)
				assert.Error(t, err, "the exchanged token is revoked")
				_, err = f.verifyAt(t, app2ID, tok.AccessToken)
				assert.Error(t, err, "a token issued under the session is revoked")
				assert.False(t, f.isActive(t, app2ID, tok.AccessToken))
				assert.Equal(t, tokenexchange.ErrInvalidGrant.Code, f.refreshErr(t, app2ID, tok.RefreshToken, nil, "the session ended").Code)
				n := len(f.db.Events())
				assert.Nil(t, f.activeSession(t), "alice's login session drops it")
				f.requireOwnTokens(t, f.issueTokens(t, app2ID, sessLogin), app2ID)
				drop := testkit.RequireOneEvent(t, eventsOfType(testkit.EventsSince(f.db.Events(), n), store.EventImpersonationEnded), store.EventImpersonationEnded, store.OutcomeGranted, "revoked")
				assert.Equal(t, "alice", drop.Impersonator)
			}
		},
	},
	{
		name:  "an exchanged access token without a session",
		token: true,
		start: func(t *testing.T, f *fixture) func(t *testing.T) {
			tok := f.accessToken(t)
			return func(t *testing.T) {
				_, err := f.verifyAt(t, appID, tok)
				assert.Error(t, err, "the access token is revoked")
				assert.False(t, f.isActive(t, appID, tok))
			}
		},
	},
	{
		name:  "the session of a refresh token from the exchange",
		token: true,
		start: func(t *testing.T, f *fixture) func(t *testing.T) {
			f.enableRefresh(t, appID)
			rt := f.exchangeRefresh(t, appID).AccessToken
			tok := f.refreshOK(t, appID, rt, nil)
			return func(t *testing.T) {
				assert.Equal(t, tokenexchange.ErrInvalidGrant.Code, f.refreshErr(t, appID, tok.RefreshToken, nil, "the session ended").Code)
				_, err := f.verifyAt(t, appID, tok.AccessToken)
				assert.Error(t, err, "a token refreshed under the session is revoked")
			}
		},
	},
	{
		name: "a subject token not yet exchanged",
		start: func(t *testing.T, f *fixture) func(t *testing.T) {
			st, id := f.authorize(t, "alice", "bob")
			return func(t *testing.T) {
				out := f.exchangeVia(t, viaDirect, appID, exchangeRequest(st, id))
				assert.Equal(t, tokenexchange.ErrInvalidRequest.Code, out.code, "the subject token can no longer be exchanged")
				assert.Nil(t, out.resp)
			}
		},
	},
}

// TestHistory_EndBySubject: bob ends a running impersonation of him, of
// each kind: everything it issued stops working, the end is recorded as
// ended by him, the history shows it ended, and ending it again is
// ErrImpersonationOver.
func TestHistory_EndBySubject(t *testing.T) {
	t.Parallel()
	for _, tc := range endCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newSessionFixture(t)
			h := newHistory(t, f)
			ended := tc.start(t, f)
			id := lastStart(t, f)
			f.clock.Advance(time.Minute)
			n := len(f.db.Events())

			imp, err := h.End(context.Background(), "bob", id)
			require.NoError(t, err)
			assert.Equal(t, id, imp.ID)
			assert.Equal(t, f.clock.Now().UTC(), imp.Ended)
			assert.Equal(t, impersonation.EndedBySubject, imp.EndReason)
			assert.False(t, imp.Running(f.clock.Now()))

			ev := testkit.RequireOneEvent(t, testkit.EventsSince(f.db.Events(), n), store.EventImpersonationEnded, store.OutcomeGranted, impersonation.EndedBySubject)
			assert.Equal(t, "bob", ev.Subject)
			assert.Equal(t, "alice", ev.Impersonator)
			assert.Equal(t, appID, ev.ClientID)
			assert.Equal(t, "acme-eu", ev.Org)
			if tc.token {
				assert.Equal(t, imp.Token, ev.JTI, "the end names what was exchanged")
			} else {
				assert.Equal(t, id, ev.JTI, "the end names the subject token")
			}

			ended(t)

			imps := historyOf(t, h, "bob")
			require.Len(t, imps, 1)
			assert.False(t, imps[0].Running(f.clock.Now()))
			assert.Equal(t, f.clock.Now().UTC(), imps[0].Ended.UTC())
			assert.Equal(t, impersonation.EndedBySubject, imps[0].EndReason)

			n = len(f.db.Events())
			_, err = h.End(context.Background(), "bob", id)
			assert.ErrorIs(t, err, impersonation.ErrImpersonationOver)
			assert.Empty(t, testkit.EventsSince(f.db.Events(), n), "nothing recorded")
		})
	}
}

// TestHistory_EndRefusals: bob ends only a running impersonation of him.
// Another user's, an unknown or malformed ID, what was exchanged instead
// of the impersonation's ID: ErrNoImpersonation, alike; one that ended or
// expired: ErrImpersonationOver. A refusal revokes and records nothing.
func TestHistory_EndRefusals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// setup runs alice's impersonation of carol, which must survive,
		// and returns the subject and ID to end.
		setup func(t *testing.T, f *fixture, carols string) (subject, id string)
		want  error
	}{
		{name: "carol's impersonation, asked by bob", want: impersonation.ErrNoImpersonation,
			setup: func(t *testing.T, f *fixture, carols string) (string, string) { return "bob", carols }},
		{name: "an unknown ID", want: impersonation.ErrNoImpersonation,
			setup: func(t *testing.T, f *fixture, _ string) (string, string) { return "bob", "no-such-impersonation" }},
		{name: "an empty ID", want: impersonation.ErrNoImpersonation,
			setup: func(t *testing.T, f *fixture, _ string) (string, string) { return "bob", "" }},
		{name: "an ID far too long", want: impersonation.ErrNoImpersonation,
			setup: func(t *testing.T, f *fixture, _ string) (string, string) { return "bob", strings.Repeat("x", 10000) }},
		{name: "no subject", want: impersonation.ErrNoImpersonation,
			setup: func(t *testing.T, f *fixture, carols string) (string, string) { return "", carols }},
		{name: "carol's ID with a look-alike subject", want: impersonation.ErrNoImpersonation,
			setup: func(t *testing.T, f *fixture, carols string) (string, string) { return "Carol", carols }},
		{name: "the exchanged token's jti instead of the impersonation's ID", want: impersonation.ErrNoImpersonation,
			setup: func(t *testing.T, f *fixture, _ string) (string, string) {
				return "bob", testkit.DecodeJWT(t, f.accessToken(t)).Str(t, "jti")
			}},
		{name: "ended by the impersonator already", want: impersonation.ErrImpersonationOver,
			setup: func(t *testing.T, f *fixture, _ string) (string, string) {
				f.startSession(t, sessReason)
				require.NoError(t, f.svc.Sessions().End(context.Background(), sessLogin, "ended in the console"))
				return "bob", lastStart(t, f)
			}},
		{name: "revoked by the client", want: impersonation.ErrImpersonationOver,
			setup: func(t *testing.T, f *fixture, _ string) (string, string) {
				tok := f.accessToken(t)
				require.NoError(t, f.svc.Revoke(context.Background(), clientApp(), tok, ""))
				return "bob", lastStart(t, f)
			}},
		{name: "a subject token that expired unexchanged", want: impersonation.ErrImpersonationOver,
			setup: func(t *testing.T, f *fixture, _ string) (string, string) {
				f.authorize(t, "alice", "bob")
				id := lastStart(t, f)
				f.clock.Advance(180*time.Second + time.Minute) // past expiry and skew
				return "bob", id
			}},
		{name: "an exchanged token that expired", want: impersonation.ErrImpersonationOver,
			setup: func(t *testing.T, f *fixture, _ string) (string, string) {
				f.accessToken(t)
				id := lastStart(t, f)
				f.clock.Advance(time.Hour + time.Minute)
				return "bob", id
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newSessionFixture(t)
			h := newHistory(t, f)
			st, idTok := f.authorize(t, "alice", "carol")
			carols := lastStart(t, f)
			subject, id := tc.setup(t, f, carols)
			n := len(f.db.Events())

			imp, err := h.End(context.Background(), subject, id)
			require.ErrorIs(t, err, tc.want)
			assert.Nil(t, imp)
			assert.Empty(t, testkit.EventsSince(f.db.Events(), n), "a refusal records nothing")
			if f.clock.Now().Before(testkit.Start.Add(time.Minute)) {
				out := f.exchangeVia(t, viaDirect, appID, exchangeRequest(st, idTok))
				assert.Equal(t, 200, out.status, "carol's impersonation was not touched: %s", out.body)
			}
		})
	}
}

// TestHistory_EndAuditFailure: when the end cannot be recorded, End says
// so; the impersonation is revoked all the same (revoking first fails
// safe).
func TestHistory_EndAuditFailure(t *testing.T) {
	t.Parallel()
	f := newSessionFixture(t)
	h := newHistory(t, f)
	tok := f.accessToken(t)
	id := lastStart(t, f)
	f.auditor.Fail.Store(true)
	_, err := h.End(context.Background(), "bob", id)
	require.ErrorIs(t, err, testkit.ErrAuditDown)
	_, err = f.verifyAt(t, appID, tok)
	assert.Error(t, err, "revoked before the record was tried")
}

// TestHistory_EndRacingTheExchange: bob ends a subject token while its
// exchange happens: the exchange wins and bob ends what it issued, or bob
// wins and the exchange is refused; never an exchange bob's end missed.
func TestHistory_EndRacingTheExchange(t *testing.T) {
	t.Parallel()
	f := newSessionFixture(t)
	h := newHistory(t, f)
	st, idTok := f.authorize(t, "alice", "bob")
	id := lastStart(t, f)
	// The exchange goes first (the race's other order is the "subject
	// token not yet exchanged" end case).
	out := f.exchangeVia(t, viaDirect, appID, exchangeRequest(st, idTok))
	require.Equal(t, 200, out.status)
	imp, err := h.End(context.Background(), "bob", id)
	require.NoError(t, err)
	assert.NotEmpty(t, imp.Token, "it ended what the exchange issued")
	_, err = f.verifyAt(t, appID, out.resp.AccessToken)
	assert.Error(t, err)
}

// TestHistory_OnlyTheSubjectsEventsAreRead: a History over a log with
// other users' events linked to bob's by a forged Parent does not let
// them change bob's history.
func TestHistory_OnlyTheSubjectsEventsAreRead(t *testing.T) {
	t.Parallel()
	f := newSessionFixture(t)
	h := newHistory(t, f)
	f.accessToken(t)
	id := lastStart(t, f)
	ctx := context.Background()
	require.NoError(t, f.db.Record(ctx, store.Event{
		Type: store.EventImpersonationEnded, Time: f.clock.Now(), Subject: "carol", JTI: id, Outcome: store.OutcomeGranted, Reason: "forged",
	}))
	imps := historyOf(t, h, "bob")
	require.Len(t, imps, 1)
	assert.True(t, imps[0].Running(f.clock.Now()), "carol's event does not end bob's impersonation")
}

var _ store.AuditLog = (*memory.Store)(nil)
