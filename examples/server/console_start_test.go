package main

import (
	"encoding/json"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/internal/testkit"
	"github.com/actas/actas/store"
)

// Issue 11, finding F2: no GET starts an impersonation. The console's
// CSRF-checked POST hands the start to the demo app under a single-use
// handle bound to the admin's login session; /app/start refuses anything
// else. The fixtures here make the demo app's client skip consent, so a
// start that got through would run to the end with no click.

// skipConsentFixture is a server with the built-in demo data, except that
// demo-app skips consent (a -data file), on clock.
func skipConsentFixture(t *testing.T, clock *testkit.Clock) *fixture {
	t.Helper()
	return newFixture(t, func(c *config) {
		d := demoData(c.Issuer)
		for i := range d.Clients {
			if d.Clients[i].ID == demoAppClientID {
				d.Clients[i].SkipConsent = true
			}
		}
		raw, err := json.Marshal(map[string]any{
			"organizations": d.Organizations, "users": d.Users, "clients": d.Clients, "roles": d.Roles, "auditors": d.Auditors,
		})
		require.NoError(t, err)
		c.DataFile = writeData(t, string(raw))
		c.Now = clock.Now
	})
}

// skipConsentAlice returns a skipConsentFixture on clock and a browser
// signed in there as alice.
func skipConsentAlice(t *testing.T, clock *testkit.Clock) (*fixture, *browser) {
	t.Helper()
	f := skipConsentFixture(t, clock)
	b := f.browser(t)
	b.login("alice", "alice-demo-password")
	return f, b
}

// follow does what a browser does with p: it follows redirects and
// submits the form_post page to the demo app (the page's script would),
// and returns the page it ends on.
func (b *browser) follow(p page) page {
	b.t.Helper()
	for range 10 {
		switch {
		case p.StatusCode == http.StatusFound || p.StatusCode == http.StatusSeeOther:
			p = b.get(p.Header.Get("Location"))
		case p.StatusCode == http.StatusOK && strings.Contains(p.Body, `action="`+b.f.issuer+`/app/callback"`):
			p = b.post(b.f.issuer+"/app/callback", formFor(b.t, p.Body, b.f.issuer+"/app/callback"))
		default:
			return p
		}
	}
	require.Fail(b.t, "too many steps")
	return p
}

// startedEvents are the audit events of an impersonation that starts.
var startedEvents = []store.EventType{store.EventImpersonationStarted, store.EventTokenExchanged, store.EventSessionStarted}

// requireNothingStarted checks that nothing of an impersonation happened
// since the audit log had mark events: no start, exchange or session
// start in the audit log, no notice to anyone, and b's login session (b
// signed in) is not impersonating.
func requireNothingStarted(t *testing.T, f *fixture, b *browser, mark int) {
	t.Helper()
	events := f.s.dir.db.Events()
	require.GreaterOrEqual(t, len(events), mark)
	for _, e := range events[mark:] {
		assert.NotContains(t, startedEvents, e.Type, "%+v", e)
	}
	assert.Empty(t, f.s.dir.db.Notices(), "nobody is told of an impersonation")
	sess, ok := f.s.signedIn(requestWithCookies(t, b, "/"))
	require.True(t, ok, "the admin is still signed in")
	active, err := f.s.svc.Sessions().Active(t.Context(), loginSessionID(sess), "")
	require.NoError(t, err)
	assert.Nil(t, active, "the admin's login session is not an impersonation session")
	assert.Empty(t, findAppSessions(f), "the demo app holds no token")
}

// findAppSessions returns the demo app's sessions holding a token.
func findAppSessions(f *fixture) []session {
	st := f.s.app.sessions
	st.mu.Lock()
	defer st.mu.Unlock()
	var out []session
	for _, s := range st.m {
		if s.AccessToken != "" {
			out = append(out, *s)
		}
	}
	return out
}

// requireStartRefused checks that p, the answer to a GET /app/start, is
// the refusal page: 400 or 403, no redirect (to the authorize endpoint or
// anywhere), and a clear text.
func requireStartRefused(t *testing.T, p page) {
	t.Helper()
	assert.Contains(t, []int{http.StatusBadRequest, http.StatusForbidden}, p.StatusCode, p.Body)
	assert.Empty(t, p.Header.Get("Location"), "no redirect")
	assert.NotContains(t, p.Body, "/oauth2/authorize")
	assert.Contains(t, p.Body, "Impersonation not started")
	assert.Contains(t, p.Body, "Start it from the console")
}

// TestAppStartCrossSiteGETStartsNothing is F2's attack: a signed-in
// admin follows a link from another site to /app/start with a user and a
// reason of the attacker's choosing, and the demo app's client skips
// consent. Nothing starts, whatever the browser then does.
func TestAppStartCrossSiteGETStartsNothing(t *testing.T) {
	t.Parallel()
	for _, query := range []url.Values{
		{"user": {"bob"}, "reason": {"forged"}},
		{"user": {"bob"}, "reason": {"forged"}, "then": {"app2"}},
		{"user": {"bob"}},
		{"user": {"bob"}, "reason": {"forged"}, "handle": {""}},
	} {
		t.Run(query.Encode(), func(t *testing.T) {
			t.Parallel()
			f, b := skipConsentAlice(t, newTestClock())
			mark := len(f.s.dir.db.Events())

			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, f.issuer+"/app/start?"+query.Encode(), nil)
			require.NoError(t, err)
			req.Header.Set("Referer", "https://attacker.example/")
			req.Header.Set("Sec-Fetch-Site", "cross-site")
			p := b.do(req)
			requireStartRefused(t, p)
			b.follow(p)
			requireNothingStarted(t, f, b, mark)
		})
	}
}

// consoleStart posts the console's Impersonate form of subject with
// reason (and extra fields) in b, alice signed in, and returns where the
// console sends the browser: /app/start with a handle.
func (b *browser) consoleStart(subject, reason string, extra url.Values) string {
	b.t.Helper()
	p := b.get("/console")
	form := url.Values{"user": {subject}, "reason": {reason}, csrfField: {csrf(b.t, p.Body)}}
	for k, vs := range extra {
		form[k] = vs
	}
	p = b.post("/console/impersonate", form)
	loc := p.location(b.t)
	require.True(b.t, strings.HasPrefix(loc, "/app/start?handle="), loc)
	return loc
}

// appStart has the demo app start an impersonation of subject in b
// (signed in) as the console does once its checks pass: a handle for b's
// login session, then GET /app/start with it. It returns the answer.
// Tests of what the console itself refuses (no reason, another subject
// inside an impersonation session) start through it.
func (b *browser) appStart(subject, reason, then string) page {
	b.t.Helper()
	sess, ok := b.f.s.signedIn(requestWithCookies(b.t, b, "/"))
	require.True(b.t, ok, "signed in at the identity server")
	h := b.f.s.app.offerStart(sess, subject, reason, then)
	require.NotEmpty(b.t, h)
	return b.get("/app/start?" + url.Values{"handle": {h}}.Encode())
}

// TestAppStartRefusesBadHandles: a handle that is forged, unknown,
// replaced, used, expired, another login session's, from before a new
// sign-in, or presented by a browser not signed in is refused like no
// handle at all, and nothing starts (the client skips consent).
func TestAppStartRefusesBadHandles(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// setup returns who presents which /app/start URL; b is alice,
		// signed in.
		setup func(t *testing.T, f *fixture, clock *testkit.Clock, b *browser) (*browser, string)
	}{
		{"unknown handle", func(t *testing.T, f *fixture, _ *testkit.Clock, b *browser) (*browser, string) {
			return b, "/app/start?handle=" + randomToken()
		}},
		{"forged handle with user and reason", func(t *testing.T, f *fixture, _ *testkit.Clock, b *browser) (*browser, string) {
			b.consoleStart("carol", "genuine", nil) // a pending start of b's, with another handle
			return b, "/app/start?" + url.Values{"handle": {"forged"}, "user": {"bob"}, "reason": {"forged"}}.Encode()
		}},
		{"reused handle", func(t *testing.T, f *fixture, _ *testkit.Clock, b *browser) (*browser, string) {
			start := b.consoleStart("bob", "ticket 1", nil)
			p := b.get(start)
			require.True(t, strings.HasPrefix(p.location(t), f.issuer+"/oauth2/authorize?"), "the first use starts the flow")
			return b, start
		}},
		{"handle replaced by a newer start", func(t *testing.T, f *fixture, _ *testkit.Clock, b *browser) (*browser, string) {
			first := b.consoleStart("bob", "ticket 1", nil)
			b.consoleStart("carol", "ticket 2", nil)
			return b, first
		}},
		{"expired handle", func(t *testing.T, f *fixture, clock *testkit.Clock, b *browser) (*browser, string) {
			start := b.consoleStart("bob", "ticket 1", nil)
			clock.Advance(startTTL)
			return b, start
		}},
		{"handle of another login session of the same user", func(t *testing.T, f *fixture, _ *testkit.Clock, b *browser) (*browser, string) {
			other := f.browser(t)
			other.login("alice", "alice-demo-password")
			return b, other.consoleStart("bob", "ticket 1", nil)
		}},
		{"handle from before signing out and in again", func(t *testing.T, f *fixture, _ *testkit.Clock, b *browser) (*browser, string) {
			start := b.consoleStart("bob", "ticket 1", nil)
			p := b.post("/logout", formFor(t, b.get("/console").Body, "/logout"))
			require.Equal(t, http.StatusSeeOther, p.StatusCode, p.Body)
			b.login("alice", "alice-demo-password")
			return b, start
		}},
		{"handle presented by a browser not signed in", func(t *testing.T, f *fixture, _ *testkit.Clock, b *browser) (*browser, string) {
			return f.browser(t), b.consoleStart("bob", "ticket 1", nil)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clock := newTestClock()
			f, b := skipConsentAlice(t, clock)
			mark := len(f.s.dir.db.Events())
			presenter, start := tc.setup(t, f, clock, b)

			p := presenter.get(start)
			requireStartRefused(t, p)
			assert.Equal(t, http.StatusForbidden, p.StatusCode)
			presenter.follow(p)
			requireNothingStarted(t, f, b, mark)
		})
	}
}

// TestConsoleStartsThroughHandle: the console's POST is the one way in.
// Its redirect carries only a handle; the handle, not the query, says
// whom to impersonate and why; used within its lifetime it runs the whole
// flow (no consent: the client skips it), to /app or to demo app 2.
func TestConsoleStartsThroughHandle(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		extra url.Values
		// path and banner are where the flow ends and what it shows.
		path, banner string
	}{
		{"demo app", nil, "/app", "You are acting as bob — signed in as alice"},
		{"demo app 2", url.Values{"open": {"app2"}}, "/app2", "You are acting as bob — signed in as alice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clock := newTestClock()
			f, b := skipConsentAlice(t, clock)

			start := b.consoleStart("bob", "ticket 4711", tc.extra)
			u, err := url.Parse(start)
			require.NoError(t, err)
			assert.Equal(t, []string{"handle"}, keys(u.Query()), "the redirect names neither the user nor the reason")
			assert.Len(t, u.Query().Get("handle"), 43)

			clock.Advance(startTTL - time.Second) // still valid
			p := b.get(start + "&" + url.Values{"user": {"carol"}, "reason": {"forged"}}.Encode())
			authz, err := url.Parse(p.location(t))
			require.NoError(t, err)
			assert.Equal(t, f.issuer+"/oauth2/authorize", authz.Scheme+"://"+authz.Host+authz.Path)
			assert.Equal(t, "bob", authz.Query().Get("requested_subject"), "the handle's subject, not the query's")
			assert.Equal(t, "ticket 4711", authz.Query().Get("impersonation_reason"), "the handle's reason, not the query's")

			p = b.follow(p)
			require.Equal(t, http.StatusOK, p.StatusCode, p.Body)
			assert.Equal(t, tc.path, p.Request.URL.Path)
			assert.Equal(t, tc.banner, bannerText(p.Body))

			var types []store.EventType
			for _, e := range f.s.dir.db.Events() {
				if slices.Contains(startedEvents, e.Type) {
					types = append(types, e.Type)
					if e.Type != store.EventTokenExchanged {
						assert.Equal(t, "ticket 4711", e.Justification, "%s", e.Type)
					}
				}
			}
			assert.Equal(t, startedEvents, types)
			require.Len(t, f.s.dir.db.Notices(), 1)
			assert.Equal(t, "bob", f.s.dir.db.Notices()[0].UserID)
			sess, ok := f.s.signedIn(requestWithCookies(t, b, "/"))
			require.True(t, ok)
			active, err := f.s.svc.Sessions().Active(t.Context(), loginSessionID(sess), "")
			require.NoError(t, err)
			require.NotNil(t, active)
			assert.Equal(t, "bob", active.Subject)
			assert.Equal(t, "ticket 4711", active.Reason)

			requireStartRefused(t, b.get(start))
		})
	}
}

// keys returns the sorted keys of v.
func keys(v url.Values) []string {
	return slices.Sorted(maps.Keys(v))
}

// TestAppStartHandleDoesNotBypassThePolicy: a handle only carries the
// start to the authorize endpoint, which still decides: a start of dave
// (another organisation) is refused there and audited, and nothing
// starts.
func TestAppStartHandleDoesNotBypassThePolicy(t *testing.T) {
	t.Parallel()
	f, b := skipConsentAlice(t, newTestClock())
	p := b.follow(b.appStart("dave", "ticket 1", ""))
	assert.Contains(t, p.Body, "Impersonation not started")
	require.Len(t, f.eventsOf(store.EventImpersonationDenied), 1)
	assert.Equal(t, "dave", f.eventsOf(store.EventImpersonationDenied)[0].Subject)
	requireNothingStarted(t, f, b, 0)
}
