package impersonation_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/impersonation"
	"github.com/actas/actas/internal/testkit"
	"github.com/actas/actas/store"
	"github.com/actas/actas/tokenexchange"
)

// TestRecordRefusal_EveryTokenEndpointRefusalLeavesOneEvent: at the token
// endpoint of Service.Handlers, refusals the
// endpoint makes on its own are recorded as request.refused, and refusals
// the Service decided are recorded once, by the Service.
func TestRecordRefusal_EveryTokenEndpointRefusalLeavesOneEvent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		request    func(f *fixture) *http.Request
		wantType   store.EventType
		wantClient string
		wantReason string
	}{
		{
			name: "GET on the token endpoint",
			request: func(*fixture) *http.Request {
				return httptest.NewRequest(http.MethodGet, "/token", nil)
			},
			wantType: store.EventRequestRefused, wantReason: "invalid_request: the token endpoint accepts only POST",
		},
		{
			name: "wrong content type",
			request: func(*fixture) *http.Request {
				r := httptest.NewRequest(http.MethodPost, "/token", strings.NewReader(`{}`))
				r.Header.Set("Content-Type", "application/json")
				return r
			},
			wantType: store.EventRequestRefused, wantReason: "invalid_request: Content-Type must be application/x-www-form-urlencoded",
		},
		{
			name: "bad client secret",
			request: func(f *fixture) *http.Request {
				st, id := f.authorize(t, "alice", "bob")
				r := httptest.NewRequest(http.MethodPost, "/token", strings.NewReader(exchangeRequest(st, id).Values().Encode()))
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				r.SetBasicAuth(appID, "wrong")
				return r
			},
			wantType: store.EventRequestRefused, wantClient: appID, wantReason: "invalid_client: client authentication failed",
		},
		{
			name: "replayed subject token (decided by the Service)",
			request: func(f *fixture) *http.Request {
				st, id := f.authorize(t, "alice", "bob")
				form := exchangeRequest(st, id).Values()
				require.Equal(t, http.StatusOK, f.postToken(t, appID, appSecret, form).Code)
				r := httptest.NewRequest(http.MethodPost, "/token", strings.NewReader(form.Encode()))
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				r.SetBasicAuth(appID, appSecret)
				return r
			},
			wantType: store.EventReplayDetected, wantClient: appID, wantReason: "subject token already used",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			endpoints, err := f.svc.Handlers(context.Background(), &ahAuthenticator{})
			require.NoError(t, err)
			h := endpoints.Token
			r := tc.request(f)
			before := len(f.db.Events())
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			require.GreaterOrEqual(t, w.Code, 400)
			e := testkit.RequireOneEvent(t, testkit.EventsSince(f.db.Events(), before), tc.wantType, store.OutcomeDenied, "")
			assert.Equal(t, tc.wantReason, e.Reason)
			assert.Equal(t, tc.wantClient, e.ClientID)
			if tc.wantType == store.EventRequestRefused {
				assert.Equal(t, r.Method, e.Method)
				assert.Equal(t, "/token", e.Path)
			}
			assert.Len(t, testkit.EventsSince(f.db.Events(), before), 1, "recorded once")
		})
	}
}

// failingClients is a client store that is down.
type failingClients struct{}

var errClientsDown = errors.New("clients: ldap timeout after 5s")

func (failingClients) Client(context.Context, string) (*store.Client, error) {
	return nil, errClientsDown
}

// TestRecordRefusal_ServerFailureRecordsTheCause: a refusal for a
// server-side failure (the client store down) answers
// temporarily_unavailable without the cause, and records the cause with
// outcome failed.
func TestRecordRefusal_ServerFailureRecordsTheCause(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	svc, err := impersonation.New(testIssuer, impersonation.Stores{
		Clients: failingClients{}, Users: f.db, Organizations: f.db, Grants: f.db, OneTimeUse: f.db, Keys: f.keys,
	}, impersonation.WithClock(f.clock.Now), impersonation.WithAuditor(f.db))
	require.NoError(t, err)
	endpoints, err := svc.Handlers(context.Background(), &ahAuthenticator{})
	require.NoError(t, err)
	form := url.Values{"grant_type": {tokenexchange.GrantType}, "client_id": {appID}, "client_secret": {appSecret}}
	r := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	endpoints.Token.ServeHTTP(w, r)

	assert.Equal(t, http.StatusServiceUnavailable, w.Code)
	assert.NotContains(t, w.Body.String(), "ldap", "the cause stays out of the response")
	testkit.AssertNoLeak(t, w.Body.String(), appSecret)
	e := testkit.RequireOneEvent(t, f.db.Events(), store.EventRequestRefused, store.OutcomeFailed, "temporarily_unavailable")
	assert.Contains(t, e.Reason, errClientsDown.Error(), "the record says what failed")
	assert.Equal(t, 1, strings.Count(e.Reason, "temporarily_unavailable"), "the code once: %s", e.Reason)
}
