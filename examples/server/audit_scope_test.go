package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/store"
)

// scopeData has two tenants: acme (acme and its child acme-eu) and
// globex. alice (acme), eve (acme-eu) and gina (globex) are admins of
// app1; olga (globex) is the auditor; bob, frank and dave are customers.
const scopeData = `{
  "organizations": [
    {"id": "acme", "name": "ACME"},
    {"id": "acme-eu", "name": "ACME Europe", "parent": "acme"},
    {"id": "globex", "name": "Globex"}
  ],
  "users": [
    {"id": "u-alice", "username": "alice", "password": "pw-alice", "org": "acme"},
    {"id": "u-eve", "username": "eve", "password": "pw-eve", "org": "acme-eu"},
    {"id": "u-bob", "username": "bob", "password": "pw-bob", "org": "acme-eu"},
    {"id": "u-frank", "username": "frank", "password": "pw-frank", "org": "acme"},
    {"id": "u-gina", "username": "gina", "password": "pw-gina", "org": "globex"},
    {"id": "u-dave", "username": "dave", "password": "pw-dave", "org": "globex"},
    {"id": "u-olga", "username": "olga", "password": "pw-olga", "org": "globex"}
  ],
  "clients": [
    {"id": "app1", "secret": "secret-app1", "redirect_uris": ["https://app1.example/cb"],
     "scopes": ["openid", "internal_user_impersonate", "orders:read"],
     "grant_types": ["urn:ietf:params:oauth:grant-type:token-exchange"],
     "impersonation": true, "skip_consent": true, "response_modes": ["fragment"]}
  ],
  "roles": [
    {"name": "impersonator", "client": "app1", "scopes": ["internal_user_impersonate"], "users": ["u-alice", "u-eve", "u-gina"]},
    {"name": "customer", "client": "app1", "scopes": ["orders:read"], "users": ["u-bob", "u-frank", "u-dave"]}
  ],
  "auditors": ["u-olga"]
}`

const (
	scopeClient   = "app1"
	scopeSecret   = "secret-app1"
	scopeRedirect = "https://app1.example/cb"
)

// scopeAuthorize runs an authorize request of app1 in b (signed in) for
// subject with reason, and returns the response parameters.
func scopeAuthorize(t *testing.T, b *browser, subject, reason string) url.Values {
	t.Helper()
	p := b.get(b.f.authorizeURL(scopeClient, scopeRedirect, subject, "fragment", url.Values{"impersonation_reason": {reason}}))
	loc, v := p.fragment(t)
	require.Equal(t, "app1.example", loc.Host)
	return v
}

// scopeImpersonate starts an impersonation of subject and, when exchange
// is set, trades its tokens at the token endpoint.
func scopeImpersonate(t *testing.T, b *browser, subject, reason string, exchange bool) {
	t.Helper()
	v := scopeAuthorize(t, b, subject, reason)
	require.NotEmpty(t, v.Get("subject_token"), "impersonation of %s: %v", subject, v)
	if !exchange {
		return
	}
	status, body := b.f.postClient(t, "/oauth2/token", scopeClient, scopeSecret, url.Values{
		"grant_type":         {"urn:ietf:params:oauth:grant-type:token-exchange"},
		"subject_token":      {v.Get("subject_token")},
		"subject_token_type": {"urn:ietf:params:oauth:token-type:jwt"},
		"actor_token":        {v.Get("id_token")},
		"actor_token_type":   {"urn:ietf:params:oauth:token-type:id_token"},
	})
	require.Equal(t, http.StatusOK, status, "%v", body)
}

// scopeRefused asks for an impersonation the policy refuses.
func scopeRefused(t *testing.T, b *browser, subject, reason string) {
	t.Helper()
	v := scopeAuthorize(t, b, subject, reason)
	require.Equal(t, "access_denied", v.Get("error"), "%v", v)
}

// scopeFixture starts the server on scopeData and records the events of
// both tenants through the real flows, each with a justification naming
// it. It returns the server and a browser per user, signed in.
func scopeFixture(t *testing.T) (*fixture, map[string]*browser) {
	t.Helper()
	path := writeData(t, scopeData)
	f := newFixture(t, func(c *config) { c.DataFile = path; c.AppClientID = scopeClient })
	browsers := map[string]*browser{}
	for _, u := range []string{"alice", "eve", "bob", "frank", "gina", "dave", "olga"} {
		b := f.browser(t)
		b.login(u, "pw-"+u)
		browsers[u] = b
	}
	alice, eve, gina := browsers["alice"], browsers["eve"], browsers["gina"]
	scopeImpersonate(t, alice, "u-bob", "acme-ticket-bob", true)      // acme-eu: started, exchanged
	scopeImpersonate(t, alice, "u-frank", "acme-ticket-frank", false) // acme: started
	scopeImpersonate(t, eve, "u-bob", "acme-eu-ticket-bob", false)    // acme-eu: started
	scopeImpersonate(t, gina, "u-dave", "globex-secret-ticket", true) // globex: started, exchanged
	scopeRefused(t, gina, "u-bob", "globex-probe")                    // no org: gina's refusal naming bob
	scopeRefused(t, alice, "u-dave", "acme-probe")                    // no org: alice's refusal naming dave
	scopeRefused(t, eve, "u-frank", "acme-eu-probe")                  // no org: frank is above eve
	// request.refused: no tenant at all.
	status, _ := f.postClient(t, "/oauth2/token", scopeClient, scopeSecret, url.Values{"grant_type": {"password"}})
	require.Equal(t, http.StatusBadRequest, status)
	return f, browsers
}

// scopeRows reads the JSON audit log as b sees it.
func scopeRows(t *testing.T, b *browser) []auditRow {
	t.Helper()
	p := b.get("/console/audit?format=json")
	require.Equal(t, http.StatusOK, p.StatusCode, p.Body)
	var rows []auditRow
	require.NoError(t, json.Unmarshal([]byte(p.Body), &rows))
	return rows
}

// stories returns each row as "event impersonator>subject", sorted.
func stories(rows []auditRow) []string {
	out := make([]string, 0, len(rows))
	for _, r := range rows {
		out = append(out, r.Event+" "+r.Impersonator+">"+r.User)
	}
	slices.Sort(out)
	return out
}

// The events scopeFixture records, as stories.
const (
	aliceBob     = "impersonation.started u-alice>u-bob"
	aliceBobX    = "token.exchanged u-alice>u-bob"
	aliceFrank   = "impersonation.started u-alice>u-frank"
	eveBob       = "impersonation.started u-eve>u-bob"
	ginaDave     = "impersonation.started u-gina>u-dave"
	ginaDaveX    = "token.exchanged u-gina>u-dave"
	ginaProbe    = "impersonation.denied u-gina>u-bob"
	aliceProbe   = "impersonation.denied u-alice>u-dave"
	eveProbe     = "impersonation.denied u-eve>u-frank"
	refusedBlind = "request.refused >"
)

// sorted returns v sorted.
func sorted(v ...string) []string {
	slices.Sort(v)
	return v
}

// TestAuditScopeCrossTenantAdmin is finding F3 of issue 11: an admin who
// may impersonate only in globex reads the audit log, as HTML and as
// JSON, and gets nothing of acme: no event, no user, no organisation, no
// justification, no refusal.
func TestAuditScopeCrossTenantAdmin(t *testing.T) {
	f, bs := scopeFixture(t)
	gina := bs["gina"]

	rows := scopeRows(t, gina)
	require.NotEmpty(t, rows)
	assert.Equal(t, sorted(ginaDave, ginaDaveX, ginaProbe), stories(rows))
	for _, r := range rows {
		assert.True(t, r.Organization == "globex" || r.Impersonator == "u-gina", "an event outside globex: %+v", r)
		assert.NotContains(t, []string{"acme", "acme-eu"}, r.Organization, "%+v", r)
		assert.NotContains(t, []string{"u-alice", "u-eve"}, r.Impersonator, "%+v", r)
		assert.NotEqual(t, string(store.EventRequestRefused), r.Event, "a tenant-less event: %+v", r)
	}
	all := f.s.dir.db.Events()
	assert.Less(t, len(rows), len(all), "the log holds more than gina sees")

	p := gina.get("/console/audit")
	require.Equal(t, http.StatusOK, p.StatusCode)
	assert.Contains(t, p.Body, "globex-secret-ticket", "globex's own events are shown")
	for _, leak := range []string{
		"acme-ticket-bob", "acme-ticket-frank", "acme-eu-ticket-bob", "acme-probe", "acme-eu-probe",
		"<td>alice</td>", "<td>eve</td>", "<td>frank</td>", "<td>acme</td>", "<td>acme-eu</td>",
		`data-event="request.refused"`,
	} {
		assert.NotContains(t, p.Body, leak)
	}
	assert.Equal(t, len(rows), strings.Count(p.Body, `<tr class="event"`), "the HTML shows what the JSON shows")
	assert.Contains(t, p.Body, "The events of Globex and the events about you are shown.")
}

// TestAuditScopeByRole: each viewer sees exactly their share.
func TestAuditScopeByRole(t *testing.T) {
	f, bs := scopeFixture(t)
	require.Len(t, f.s.dir.db.Events(), 10, "the auditor case lists every event")
	tests := []struct {
		name   string
		viewer string
		want   []string // the justifications of the events shown
		orgs   []string // the organisations an event shown may be of, besides the viewer's own
	}{
		{name: "acme admin: acme and acme-eu, and her own refusal in globex", viewer: "alice",
			want: sorted(aliceBob, aliceBobX, aliceFrank, eveBob, aliceProbe), orgs: []string{"acme", "acme-eu"}},
		{name: "acme-eu admin: acme-eu, not its parent acme", viewer: "eve",
			want: sorted(aliceBob, aliceBobX, eveBob, eveProbe), orgs: []string{"acme-eu"}},
		{name: "globex admin: globex only", viewer: "gina",
			want: sorted(ginaDave, ginaDaveX, ginaProbe), orgs: []string{"globex"}},
		{name: "auditor: everything", viewer: "olga",
			want: sorted(aliceBob, aliceBobX, aliceFrank, eveBob, ginaDave, ginaDaveX, ginaProbe, aliceProbe, eveProbe, refusedBlind),
			orgs: []string{"", "acme", "acme-eu", "globex"}},
		{name: "plain user: the events about bob", viewer: "bob",
			want: sorted(aliceBob, aliceBobX, eveBob, ginaProbe)},
		{name: "plain user in globex: the events about dave", viewer: "dave",
			want: sorted(ginaDave, ginaDaveX, aliceProbe)},
		{name: "plain user in acme: the events about frank", viewer: "frank",
			want: sorted(aliceFrank, eveProbe)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rows := scopeRows(t, bs[tc.viewer])
			assert.Equal(t, tc.want, stories(rows))
			id := "u-" + tc.viewer
			for _, r := range rows {
				own := r.User == id || r.Impersonator == id
				assert.True(t, own || slices.Contains(tc.orgs, r.Organization), "%s sees %+v", tc.viewer, r)
			}
			p := bs[tc.viewer].get("/console/audit")
			require.Equal(t, http.StatusOK, p.StatusCode)
			assert.Equal(t, len(rows), strings.Count(p.Body, `<tr class="event"`), "HTML and JSON agree")
		})
	}
	p := bs["olga"].get("/console/audit")
	assert.Contains(t, p.Body, "You are an auditor: every event is shown.")
	p = bs["bob"].get("/console/audit")
	assert.Contains(t, p.Body, "The events about you are shown.")
	p = bs["alice"].get("/console/audit")
	assert.Contains(t, p.Body, "The events of ACME, ACME Europe and the events about you are shown.")
}

// failingUsers is a user store that is down.
type failingUsers struct{}

func (failingUsers) User(context.Context, string) (*store.User, error) {
	return nil, errors.New("users store down")
}

// TestAuditScopeFailsClosed: a disabled auditor or admin, an unknown
// viewer and an admin who lost the role get only the events about
// themselves; a user store that fails is an error, never everything.
func TestAuditScopeFailsClosed(t *testing.T) {
	path := writeData(t, scopeData)
	f := newFixture(t, func(c *config) { c.DataFile = path; c.AppClientID = scopeClient })
	ctx := t.Context()
	own := func(id string) store.AuditScope { return store.AuditScope{User: id} }

	_, all, err := f.s.auditScope(ctx, "u-olga")
	require.NoError(t, err)
	assert.True(t, all, "the auditor sees everything")
	scope, all, err := f.s.auditScope(ctx, "u-gina")
	require.NoError(t, err)
	assert.False(t, all)
	assert.Equal(t, store.AuditScope{Orgs: []string{"globex"}, User: "u-gina"}, scope)
	scope, all, err = f.s.auditScope(ctx, "u-alice")
	require.NoError(t, err)
	assert.False(t, all)
	assert.Equal(t, store.AuditScope{Orgs: []string{"acme", "acme-eu"}, User: "u-alice"}, scope)

	scope, all, err = f.s.auditScope(ctx, "u-nobody")
	require.NoError(t, err)
	assert.False(t, all, "an unknown viewer")
	assert.Equal(t, own("u-nobody"), scope)

	require.NoError(t, f.s.dir.db.Unassign(scopeClient, "impersonator", "u-gina"))
	scope, all, err = f.s.auditScope(ctx, "u-gina")
	require.NoError(t, err)
	assert.False(t, all)
	assert.Equal(t, own("u-gina"), scope, "an admin who lost the role is a plain user")

	for _, id := range []string{"u-olga", "u-alice"} {
		u, err := f.s.dir.db.User(ctx, id)
		require.NoError(t, err)
		u.Disabled = true
		require.NoError(t, f.s.dir.db.PutUser(*u))
		scope, all, err = f.s.auditScope(ctx, id)
		require.NoError(t, err)
		assert.False(t, all, "disabled %s", id)
		assert.Equal(t, own(id), scope, "disabled %s", id)
	}

	f.s.stores.users = failingUsers{}
	_, all, err = f.s.auditScope(ctx, "u-olga")
	require.Error(t, err)
	assert.False(t, all)
}

// TestAuditorsMember: the data file's "auditors" is loaded, and each entry
// must name an existing user, once.
func TestAuditorsMember(t *testing.T) {
	t.Parallel()
	d, err := loadDataFile(writeData(t, scopeData))
	require.NoError(t, err)
	assert.Equal(t, []string{"u-olga"}, d.Auditors)
	dir, err := newDirectory(d, testPasswordIterations, nil)
	require.NoError(t, err)
	assert.Equal(t, map[string]bool{"u-olga": true}, dir.auditors)

	noAuditors := strings.Replace(scopeData, `,
  "auditors": ["u-olga"]`, "", 1)
	require.NotEqual(t, scopeData, noAuditors)
	d, err = loadDataFile(writeData(t, noAuditors))
	require.NoError(t, err, "the member is optional")
	assert.Empty(t, d.Auditors)

	tests := []struct {
		name     string
		auditors string
		want     []string
	}{
		{name: "unknown user", auditors: `["u-olga", "u-zed"]`, want: []string{`auditors[1]: user "u-zed" does not exist`}},
		{name: "a username is not a user id", auditors: `["olga"]`, want: []string{`auditors[0]: user "olga" does not exist`}},
		{name: "empty id", auditors: `[""]`, want: []string{`auditors[0]: empty user id`}},
		{name: "duplicate", auditors: `["u-olga", "u-olga"]`, want: []string{`auditors[1]: duplicate user "u-olga": also auditors[0]`}},
		{name: "not an array", auditors: `"u-olga"`, want: []string{`"auditors": expected an array, got string`}},
		{name: "not strings", auditors: `[{"id": "u-olga"}]`, want: []string{`expected a string, got object`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			raw := strings.Replace(scopeData, `"auditors": ["u-olga"]`, `"auditors": `+tc.auditors, 1)
			path := writeData(t, raw)
			_, err := loadDataFile(path)
			require.Error(t, err)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.Contains(t, err.Error(), path)
		})
	}

	_, err = loadDataFile(writeData(t, strings.Replace(scopeData, `"auditors":`, `"auditor":`, 1)))
	require.Error(t, err)
	assert.Contains(t, err.Error(), `unknown top-level member "auditor" (allowed: organizations, users, clients, roles, auditors)`)
}
