package impersonation_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/claims"
	"github.com/actas/actas/impersonation"
	"github.com/actas/actas/internal/testkit"
	"github.com/actas/actas/store"
	"github.com/actas/actas/store/memory"
	"github.com/actas/actas/subjecttoken"
)

func TestAuthorize_PolicyAllows(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		impersonator string
		subject      string
		wantOrg      string
	}{
		{name: "subject in a child organisation", impersonator: "alice", subject: "bob", wantOrg: "acme-eu"},
		{name: "subject in the other child organisation", impersonator: "alice", subject: "carol", wantOrg: "acme-us"},
		{name: "subject in the same organisation", impersonator: "eve-eu-admin", subject: "bob", wantOrg: "acme-eu"},
		{name: "plain user in the same root organisation", impersonator: "alice", subject: "frank", wantOrg: "acme"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			st, _ := f.authorize(t, tc.impersonator, tc.subject)
			tok := testkit.DecodeJWT(t, st)
			assert.Equal(t, tc.subject, tok.Str(t, "sub"))
			assert.Equal(t, map[string]any{"sub": tc.impersonator}, tok.Claims["may_act"])
			e := testkit.RequireOneEvent(t, f.db.Events(), store.EventImpersonationStarted, store.OutcomeGranted, "")
			assert.Equal(t, tc.wantOrg, e.Org)

			d, err := f.svc.Decide(context.Background(), appID, tc.impersonator, tc.subject)
			require.NoError(t, err)
			assert.Equal(t, tc.wantOrg, d.Org.ID)
			assert.Equal(t, tc.subject, d.Subject.ID)
			assert.Equal(t, tc.impersonator, d.Impersonator.ID)
		})
	}
}

func TestAuthorize_PolicyDenies(t *testing.T) {
	t.Parallel()
	neverBob := impersonation.WithProtected(func(_ context.Context, _ *store.Client, u *store.User) (bool, error) {
		return u.ID == "bob", nil
	})
	tests := []struct {
		name         string
		clientID     string
		impersonator string
		subject      string
		opts         []fixtureOption
		setup        func(t testing.TB, f *fixture)
		wantReason   impersonation.Reason
	}{
		{name: "impersonator without the role", impersonator: "bob", subject: "carol", wantReason: impersonation.ReasonNoRole},
		{
			name: "role granted for another client only", impersonator: "alice", subject: "bob",
			setup: func(t testing.TB, f *fixture) {
				require.NoError(t, f.db.Unassign(appID, roleImpersonator, "alice"))
				require.NoError(t, f.db.Assign(app2ID, roleImpersonator, "alice"))
			},
			wantReason: impersonation.ReasonNoRole,
		},
		{name: "subject in the parent organisation", impersonator: "eve-eu-admin", subject: "alice", wantReason: impersonation.ReasonOutsideOrganization},
		{name: "plain subject in the parent organisation", impersonator: "eve-eu-admin", subject: "frank", wantReason: impersonation.ReasonOutsideOrganization},
		{name: "subject in a sibling organisation", impersonator: "eve-eu-admin", subject: "carol", wantReason: impersonation.ReasonOutsideOrganization},
		{name: "subject in another root organisation", impersonator: "alice", subject: "mallory", wantReason: impersonation.ReasonOutsideOrganization},
		{name: "self impersonation", impersonator: "alice", subject: "alice", wantReason: impersonation.ReasonSelf},
		{name: "protected subject by default rule (holds the impersonation role)", impersonator: "alice", subject: "dave", wantReason: impersonation.ReasonProtected},
		{name: "protected subject by custom predicate", impersonator: "alice", subject: "bob", opts: []fixtureOption{withServiceOptions(neverBob)}, wantReason: impersonation.ReasonProtected},
		{name: "disabled subject", impersonator: "alice", subject: "erin", wantReason: impersonation.ReasonSubjectDisabled},
		{name: "unknown subject", impersonator: "alice", subject: "nobody", wantReason: impersonation.ReasonUnknownSubject},
		{name: "unknown impersonator", impersonator: "ghost", subject: "bob", wantReason: impersonation.ReasonUnknownImpersonator},
		{
			name: "disabled impersonator", impersonator: "alice", subject: "bob",
			setup: func(t testing.TB, f *fixture) {
				u, err := f.db.User(context.Background(), "alice")
				require.NoError(t, err)
				u.Disabled = true
				require.NoError(t, f.db.PutUser(*u))
			},
			wantReason: impersonation.ReasonImpersonatorDisabled,
		},
		{name: "disabled client", clientID: disabledID, impersonator: "alice", subject: "bob", wantReason: impersonation.ReasonClientDisabled},
		{name: "client with impersonation off", clientID: noImpID, impersonator: "alice", subject: "bob", wantReason: impersonation.ReasonImpersonationDisabled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, tc.opts...)
			if tc.setup != nil {
				tc.setup(t, f)
			}
			clientID := tc.clientID
			if clientID == "" {
				clientID = appID
			}
			req := f.parseAuthorize(t, authorizeValues(clientID, tc.subject))

			resp, err := f.svc.Authorize(context.Background(), req, impersonation.Login{UserID: tc.impersonator, AuthTime: f.clock.Now()})
			assert.Nil(t, resp, "nothing issued")
			var se *subjecttoken.Error
			require.ErrorAs(t, err, &se)
			assert.Equal(t, subjecttoken.ErrAccessDenied.Code, se.Code)
			assert.True(t, se.Redirectable(), "access_denied goes back to the client")
			require.ErrorIs(t, err, impersonation.ErrNotPermitted)
			var denied *impersonation.DeniedError
			require.ErrorAs(t, err, &denied)
			assert.Equal(t, tc.wantReason, denied.Reason)

			e := testkit.RequireOneEvent(t, f.db.Events(), store.EventImpersonationDenied, store.OutcomeDenied, "")
			assert.Equal(t, string(tc.wantReason), e.Reason)
			assert.Equal(t, clientID, e.ClientID)
			assert.Equal(t, tc.impersonator, e.Impersonator)
			assert.Equal(t, tc.subject, e.Subject)
			assert.Empty(t, e.JTI, "no token was minted")
			assert.Empty(t, f.db.Notices(), "nobody notified of a refused impersonation")

			w := httptest.NewRecorder()
			subjecttoken.WriteAuthorizeError(w, err)
			got := readAuthorizeResponse(t, w, store.ResponseModeFragment)
			assert.Equal(t, redirects[clientID], got.base)
			assert.Equal(t, subjecttoken.ErrAccessDenied.Code, got.params.Get("error"))
			assert.Equal(t, testState, got.params.Get("state"))
			assert.Empty(t, got.params.Get("subject_token"))
			assert.Empty(t, got.params.Get("id_token"))
			assert.NotContains(t, w.Header().Get("Location"), string(tc.wantReason), "the rule stays in the audit log")

			_, err = f.svc.Decide(context.Background(), clientID, tc.impersonator, tc.subject)
			require.ErrorIs(t, err, impersonation.ErrNotPermitted)
		})
	}
}

// TestAuthorize_ClientNotAuthorizedForTheAPI: the flow's step 1.1. A
// client with impersonation on whose scopes lack internal_user_impersonate
// is refused with unauthorized_client, before anyone is looked at, and
// nothing is issued.
func TestAuthorize_ClientNotAuthorizedForTheAPI(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	req := f.parseAuthorize(t, authorizeValues(noAPIID, "bob"))

	resp, err := f.svc.Authorize(context.Background(), req, impersonation.Login{UserID: "alice", AuthTime: f.clock.Now()})
	assert.Nil(t, resp, "nothing issued")
	var se *subjecttoken.Error
	require.ErrorAs(t, err, &se)
	assert.Equal(t, subjecttoken.ErrUnauthorizedClient.Code, se.Code)
	assert.True(t, se.Redirectable(), "the client is known and its redirect URI registered")
	var denied *impersonation.DeniedError
	require.ErrorAs(t, err, &denied)
	assert.Equal(t, impersonation.ReasonClientNotAuthorized, denied.Reason)

	e := testkit.RequireOneEvent(t, f.db.Events(), store.EventImpersonationDenied, store.OutcomeDenied, string(impersonation.ReasonClientNotAuthorized))
	assert.Equal(t, noAPIID, e.ClientID)
	assert.Equal(t, "alice", e.Impersonator)
	assert.Empty(t, e.JTI, "no token was minted")
	assert.Empty(t, f.db.Notices())

	w := httptest.NewRecorder()
	subjecttoken.WriteAuthorizeError(w, err)
	got := readAuthorizeResponse(t, w, store.ResponseModeFragment)
	assert.Equal(t, subjecttoken.ErrUnauthorizedClient.Code, got.params.Get("error"))
	assert.Equal(t, testState, got.params.Get("state"))
	assert.Empty(t, got.params.Get("subject_token"))
	assert.Empty(t, got.params.Get("id_token"))

	// Authorized for the API, the same client may impersonate.
	f.updateClient(t, noAPIID, func(c *store.Client) { c.Scopes = append(c.Scopes, subjecttoken.ScopeImpersonate) })
	resp, err = f.svc.Authorize(context.Background(), req, impersonation.Login{UserID: "alice", AuthTime: f.clock.Now()})
	require.NoError(t, err)
	assert.NotEmpty(t, resp.SubjectToken)
}

func TestDecide_UnknownClientIsDenied(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	_, err := f.svc.Decide(context.Background(), "ghost", "alice", "bob")
	var denied *impersonation.DeniedError
	require.ErrorAs(t, err, &denied)
	assert.Equal(t, impersonation.ReasonUnknownClient, denied.Reason)
	require.ErrorIs(t, err, impersonation.ErrNotPermitted)
}

func TestNew_RejectsBadConfiguration(t *testing.T) {
	t.Parallel()
	db := memory.New()
	keys, err := memory.GenerateKeySet(store.ES256)
	require.NoError(t, err)
	full := impersonation.Stores{Clients: db, Users: db, Organizations: db, Grants: db, OneTimeUse: db, Keys: keys}
	tests := []struct {
		name   string
		iss    string
		stores func() impersonation.Stores
		opts   []impersonation.Option
	}{
		{name: "missing store", iss: testIssuer, stores: func() impersonation.Stores { s := full; s.OneTimeUse = nil; return s }},
		{name: "missing keys", iss: testIssuer, stores: func() impersonation.Stores { s := full; s.Keys = nil; return s }},
		{name: "empty issuer", iss: "", stores: func() impersonation.Stores { return full }},
		{name: "nil scope rule", iss: testIssuer, stores: func() impersonation.Stores { return full }, opts: []impersonation.Option{impersonation.WithScopeRule(nil)}},
		{name: "negative access TTL", iss: testIssuer, stores: func() impersonation.Stores { return full }, opts: []impersonation.Option{impersonation.WithAccessTokenTTL(-time.Second)}},
		{name: "skew beyond the maximum", iss: testIssuer, stores: func() impersonation.Stores { return full }, opts: []impersonation.Option{impersonation.WithSkew(claims.MaxSkew + time.Second)}},
		{name: "alg none", iss: testIssuer, stores: func() impersonation.Stores { return full }, opts: []impersonation.Option{impersonation.WithAlgorithms("none")}},
		{name: "HS256", iss: testIssuer, stores: func() impersonation.Stores { return full }, opts: []impersonation.Option{impersonation.WithAlgorithms("HS256")}},
		{name: "nil clock", iss: testIssuer, stores: func() impersonation.Stores { return full }, opts: []impersonation.Option{impersonation.WithClock(nil)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			svc, err := impersonation.New(tc.iss, tc.stores(), tc.opts...)
			require.Error(t, err)
			assert.Nil(t, svc)
		})
	}
}
