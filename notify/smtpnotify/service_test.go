package smtpnotify_test

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/impersonation"
	"github.com/actas/actas/notify/smtpnotify"
	"github.com/actas/actas/notify/smtpnotify/smtptest"
	"github.com/actas/actas/store"
	"github.com/actas/actas/store/memory"
	"github.com/actas/actas/subjecttoken"
	"github.com/actas/actas/tokenexchange"
)

const (
	e2eIssuer   = "https://id.acme.example"
	e2eClient   = "demo-app"
	e2eRedirect = "https://app.acme.example/callback"
)

// e2eService is an impersonation.Service on the memory store (alice may
// impersonate bob through demo-app) that notifies through n.
func e2eService(t *testing.T, n store.Notifier) (*impersonation.Service, *memory.Store) {
	t.Helper()
	db := memory.New()
	hash, err := store.HashSecret("secret", store.ClientSecretIterations)
	require.NoError(t, err)
	require.NoError(t, db.PutOrganization(store.Organization{ID: "acme", Name: "ACME"}))
	require.NoError(t, db.PutOrganization(store.Organization{ID: "acme-eu", Name: "ACME Europe", Parent: "acme"}))
	require.NoError(t, db.PutUser(store.User{ID: "alice", Username: "alice", Name: "Alice Admin", Email: "alice@acme.example", Org: "acme"}))
	require.NoError(t, db.PutUser(store.User{ID: "bob", Username: "bob", Name: "Bob Buyer", Email: "bob@acme.example", Org: "acme-eu"}))
	require.NoError(t, db.PutUser(store.User{ID: "carol", Username: "carol", Name: "Carol NoMail", Org: "acme-eu"}))
	require.NoError(t, db.PutClient(store.Client{
		ID: e2eClient, Name: "Demo Shop", SecretHash: hash,
		RedirectURIs:  []string{e2eRedirect},
		Scopes:        []string{"openid", subjecttoken.ScopeImpersonate, "orders:read"},
		GrantTypes:    []string{tokenexchange.GrantType},
		Impersonation: true,
	}))
	require.NoError(t, db.PutRole(memory.Role{Name: "impersonator", ClientID: e2eClient, Scopes: []string{subjecttoken.ScopeImpersonate}, Users: []string{"alice"}}))
	require.NoError(t, db.PutRole(memory.Role{Name: "customer", ClientID: e2eClient, Scopes: []string{"orders:read"}, Users: []string{"bob", "carol"}}))
	keys, err := memory.GenerateKeySet(store.ES256)
	require.NoError(t, err)
	svc, err := impersonation.New(e2eIssuer, impersonation.Stores{
		Clients: db, Users: db, Organizations: db, Grants: db, OneTimeUse: db, Keys: keys,
	}, impersonation.WithAuditor(db), impersonation.WithNotifier(n))
	require.NoError(t, err)
	return svc, db
}

// authorizeAs runs alice's authorize request for subject with reason.
func authorizeAs(t *testing.T, svc *impersonation.Service, db *memory.Store, subject, reason string) (*subjecttoken.AuthorizeResponse, error) {
	t.Helper()
	v := url.Values{
		"client_id":            {e2eClient},
		"redirect_uri":         {e2eRedirect},
		"state":                {"state-1"},
		"nonce":                {"nonce-1"},
		"scope":                {"openid " + subjecttoken.ScopeImpersonate + " orders:read"},
		"response_type":        {"id_token subject_token"},
		"requested_subject":    {subject},
		"impersonation_reason": {reason},
	}
	req, _, err := subjecttoken.ParseAuthorizeValues(context.Background(), v, db)
	require.NoError(t, err)
	return svc.Authorize(context.Background(), req, impersonation.Login{UserID: "alice", AuthTime: time.Now()})
}

// TestService_OneMailPerStart: an authorize request that starts an
// impersonation sends the user one mail, through a real SMTP server, that
// names the impersonator, the application and the reason.
func TestService_OneMailPerStart(t *testing.T) {
	t.Parallel()
	srv := smtptest.NewServer(t, smtptest.Config{})
	n, err := smtpnotify.New(srv.URL(), testFrom, smtpnotify.WithAccountURL(testAccountURL))
	require.NoError(t, err)
	svc, db := e2eService(t, n)

	resp, err := authorizeAs(t, svc, db, "bob", "TICKET-4711")
	require.NoError(t, err)
	assert.NotEmpty(t, resp.SubjectToken)
	msgs := srv.Messages()
	require.Len(t, msgs, 1, "one start, one mail")
	assert.Equal(t, []string{"bob@acme.example"}, msgs[0].To)
	m := parseMail(t, msgs[0].Data)
	assert.Equal(t, "Alice Admin acted as you in Demo Shop", m.decodedSubject(t))
	for _, want := range []string{"Alice Admin (alice)", "Demo Shop", "ACME Europe", `"TICKET-4711"`, testAccountURL} {
		assert.Contains(t, m.text, want)
	}
	assert.Empty(t, eventsOf(db, store.EventNotificationFailed), "nothing failed")

	_, err = authorizeAs(t, svc, db, "bob", "TICKET-4712")
	require.NoError(t, err)
	assert.Len(t, srv.Messages(), 2, "a second start is a second mail")
}

// TestService_FailingMailServerIsAuditedAndTheFlowGoesOn: a server that
// refuses, one that hangs, and a user without an address each leave one
// notification_failed event, and the authorize request still succeeds.
func TestService_FailingMailServerIsAuditedAndTheFlowGoesOn(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name            string
		server          func(t *testing.T) string
		opts            []smtpnotify.Option
		subject, reason string
	}{
		{
			name:    "the server refuses the recipient",
			server:  func(t *testing.T) string { return smtptest.NewServer(t, smtptest.Config{RejectRecipients: true}).URL() },
			subject: "bob", reason: "550",
		},
		{
			name:    "the server hangs",
			server:  func(t *testing.T) string { return "smtp://" + smtptest.NewHangingServer(t) + "?starttls=none" },
			opts:    []smtpnotify.Option{smtpnotify.WithTimeout(300 * time.Millisecond)},
			subject: "bob", reason: smtpnotify.ErrTimeout.Error(),
		},
		{
			name:    "the user has no address",
			server:  func(t *testing.T) string { return smtptest.NewServer(t, smtptest.Config{}).URL() },
			subject: "carol", reason: smtpnotify.ErrNoAddress.Error(),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			u := tc.server(t)
			n, err := smtpnotify.New(u, testFrom, tc.opts...)
			require.NoError(t, err)
			svc, db := e2eService(t, n)

			resp, err := authorizeAs(t, svc, db, tc.subject, "TICKET-1")
			require.NoError(t, err, "a failing notice never fails the impersonation")
			assert.NotEmpty(t, resp.SubjectToken)
			assert.NotEmpty(t, resp.IDToken)

			failed := eventsOf(db, store.EventNotificationFailed)
			require.Len(t, failed, 1)
			started := eventsOf(db, store.EventImpersonationStarted)
			require.Len(t, started, 1)
			assert.Equal(t, store.OutcomeFailed, failed[0].Outcome)
			assert.Contains(t, failed[0].Reason, tc.reason)
			assert.Equal(t, tc.subject, failed[0].Subject)
			assert.Equal(t, "alice", failed[0].Impersonator)
			assert.Equal(t, started[0].JTI, failed[0].JTI, "the failure names the start it is about")
		})
	}
}

// eventsOf is db's events of type typ.
func eventsOf(db *memory.Store, typ store.EventType) []store.Event {
	var out []store.Event
	for _, e := range db.Events() {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}
