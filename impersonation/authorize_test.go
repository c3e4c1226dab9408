package impersonation_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/claims"
	"github.com/actas/actas/impersonation"
	"github.com/actas/actas/internal/authorizetoken"
	"github.com/actas/actas/internal/testkit"
	"github.com/actas/actas/store"
	"github.com/actas/actas/subjecttoken"
)

// delivered is what an authorization response written to a recorder hands
// to the client: the base URI and the parameters.
type delivered struct {
	base   string
	params url.Values
}

var hiddenInput = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)
var formAction = regexp.MustCompile(`<form method="post" action="([^"]*)">`)

// readAuthorizeResponse decodes a response of the given mode.
func readAuthorizeResponse(t testing.TB, w *httptest.ResponseRecorder, mode string) delivered {
	t.Helper()
	assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
	switch mode {
	case store.ResponseModeFormPost:
		require.Equal(t, http.StatusOK, w.Code)
		assert.Empty(t, w.Header().Get("Location"))
		assert.Contains(t, w.Header().Get("Content-Type"), "text/html")
		body := w.Body.String()
		m := formAction.FindStringSubmatch(body)
		require.Len(t, m, 2, "form action in %s", body)
		p := url.Values{}
		for _, in := range hiddenInput.FindAllStringSubmatch(body, -1) {
			p.Add(html.UnescapeString(in[1]), html.UnescapeString(in[2]))
		}
		return delivered{base: html.UnescapeString(m[1]), params: p}
	case store.ResponseModeQuery:
		require.Equal(t, http.StatusFound, w.Code)
		u, err := url.Parse(w.Header().Get("Location"))
		require.NoError(t, err)
		assert.Empty(t, u.Fragment, "query mode puts nothing in a fragment")
		p, err := url.ParseQuery(u.RawQuery)
		require.NoError(t, err)
		u.RawQuery = ""
		return delivered{base: u.String(), params: p}
	default:
		require.Equal(t, http.StatusFound, w.Code)
		loc := w.Header().Get("Location")
		base, frag, ok := strings.Cut(loc, "#")
		require.True(t, ok, "fragment in %s", loc)
		assert.NotContains(t, base, "?", "tokens never in the query string by default")
		p, err := url.ParseQuery(frag)
		require.NoError(t, err)
		return delivered{base: base, params: p}
	}
}

func TestAuthorize_IssuesTokensInEveryResponseTypeAndMode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		responseType string
		responseMode string // as sent; empty means absent
		wantMode     string
		wantIDToken  bool
		allowQuery   bool
	}{
		{name: "subject_token, default fragment", responseType: "subject_token", wantMode: store.ResponseModeFragment},
		{name: "subject_token, fragment", responseType: "subject_token", responseMode: "fragment", wantMode: store.ResponseModeFragment},
		{name: "subject_token, form_post", responseType: "subject_token", responseMode: "form_post", wantMode: store.ResponseModeFormPost},
		{name: "subject_token, query for an opted-in client", responseType: "subject_token", responseMode: "query", wantMode: store.ResponseModeQuery, allowQuery: true},
		{name: "id_token subject_token, default fragment", responseType: "id_token subject_token", wantMode: store.ResponseModeFragment, wantIDToken: true},
		{name: "subject_token id_token (other order), form_post", responseType: "subject_token id_token", responseMode: "form_post", wantMode: store.ResponseModeFormPost, wantIDToken: true},
		{name: "id_token subject_token, query for an opted-in client", responseType: "id_token subject_token", responseMode: "query", wantMode: store.ResponseModeQuery, wantIDToken: true, allowQuery: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			if tc.allowQuery {
				f.updateClient(t, appID, func(c *store.Client) {
					c.ResponseModes = []string{store.ResponseModeFragment, store.ResponseModeFormPost, store.ResponseModeQuery}
				})
			}
			v := authorizeValues(appID, "bob")
			v.Set("response_type", tc.responseType)
			if tc.responseMode != "" {
				v.Set("response_mode", tc.responseMode)
			}
			req := f.parseAuthorize(t, v)
			require.Equal(t, tc.wantMode, req.ResponseMode)

			resp, err := f.svc.Authorize(context.Background(), req, impersonation.Login{UserID: "alice", AuthTime: f.clock.Now()})
			require.NoError(t, err)
			require.NotNil(t, resp)
			assert.NotEmpty(t, resp.SubjectToken)
			if tc.wantIDToken {
				assert.NotEmpty(t, resp.IDToken)
			} else {
				assert.Empty(t, resp.IDToken, "no ID token unless id_token is asked for")
			}

			w := httptest.NewRecorder()
			subjecttoken.WriteAuthorizeResponse(w, req, resp)
			got := readAuthorizeResponse(t, w, tc.wantMode)
			assert.Equal(t, appRedirect, got.base)
			assert.Equal(t, resp.SubjectToken, got.params.Get("subject_token"))
			assert.Equal(t, resp.IDToken, got.params.Get("id_token"))
			assert.Equal(t, testState, got.params.Get("state"))
			assert.Equal(t, []string{string(store.EventImpersonationStarted)},
				eventTypes(f.db.Events()), "one start recorded")
		})
	}
}

func eventTypes(events []store.Event) []string {
	out := make([]string, 0, len(events))
	for _, e := range events {
		out = append(out, string(e.Type))
	}
	return out
}

func TestAuthorize_QueryModeRefusedForClientThatDidNotOptIn(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	v := authorizeValues(appID, "bob")
	v.Set("response_mode", "query")
	_, _, err := subjecttoken.ParseAuthorizeValues(context.Background(), v, f.db)
	var se *subjecttoken.Error
	require.ErrorAs(t, err, &se)
	assert.Equal(t, subjecttoken.ErrInvalidRequest.Code, se.Code)
	assert.True(t, se.Redirectable())
	w := httptest.NewRecorder()
	subjecttoken.WriteAuthorizeError(w, err)
	got := readAuthorizeResponse(t, w, store.ResponseModeFragment)
	assert.Equal(t, subjecttoken.ErrInvalidRequest.Code, got.params.Get("error"))
	assert.Empty(t, f.db.Events(), "the policy never ran")
}

func TestAuthorize_SubjectTokenHasExactlyTheSeedClaims(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	now := f.clock.Now()
	st, _ := f.authorize(t, "alice", "bob")

	tok := testkit.DecodeJWT(t, st)
	assert.Equal(t, map[string]any{"alg": store.ES256, "kid": f.signingKey(t).ID, "typ": authorizetoken.HeaderType},
		tok.Header, "header is alg, kid and typ subject+jwt, nothing else")
	assert.Equal(t, []string{"aud", "azp", "client_id", "exp", "iat", "iss", "jti", "may_act", "nbf", "scope", "sub"},
		tok.ClaimNames())
	assert.Equal(t, testIssuer, tok.Str(t, "iss"))
	assert.Equal(t, "bob", tok.Str(t, "sub"))
	assert.Equal(t, appID, tok.Str(t, "aud"))
	assert.Equal(t, appID, tok.Str(t, "azp"))
	assert.Equal(t, appID, tok.Str(t, "client_id"))
	assert.Equal(t, "openid orders:read", tok.Str(t, "scope"))
	assert.Equal(t, map[string]any{"sub": "alice"}, tok.Claims["may_act"])
	assert.Equal(t, now.Unix(), tok.Num(t, "iat"))
	assert.Equal(t, now.Unix(), tok.Num(t, "nbf"))
	assert.Equal(t, int64(180), tok.Num(t, "exp")-tok.Num(t, "iat"), "default subject token TTL")
	testkit.AssertJTI(t, tok.Str(t, "jti"))

	e := testkit.RequireOneEvent(t, f.db.Events(), store.EventImpersonationStarted, store.OutcomeGranted, "")
	assert.Equal(t, appID, e.ClientID)
	assert.Equal(t, "alice", e.Impersonator)
	assert.Equal(t, "bob", e.Subject)
	assert.Equal(t, "acme-eu", e.Org)
	assert.Equal(t, tok.Str(t, "jti"), e.JTI)
	assert.Equal(t, []string{"openid", scopeOrdersRead}, e.Scopes)
	assert.Equal(t, now.UTC(), e.Time)
	assert.Empty(t, e.Reason)
}

func TestAuthorize_SubjectTokenTTLFromClient(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ttl  time.Duration
		want int64
	}{
		{name: "client default", ttl: 0, want: 180},
		{name: "client sets 60s", ttl: 60 * time.Second, want: 60},
		{name: "client sets 600s", ttl: 10 * time.Minute, want: 600},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			f.updateClient(t, appID, func(c *store.Client) { c.SubjectTokenTTL = tc.ttl })
			st, _ := f.authorize(t, "alice", "bob")
			tok := testkit.DecodeJWT(t, st)
			assert.Equal(t, tc.want, tok.Num(t, "exp")-tok.Num(t, "iat"))
		})
	}
}

func TestAuthorize_GrantedScopeIsRequestedIntersectSubjectGrants(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		subject string
		scope   string
		want    string
	}{
		{name: "impersonate scope dropped, openid kept, impersonator-only scope dropped", subject: "bob", scope: fullScope, want: "openid orders:read"},
		{name: "without openid", subject: "bob", scope: "internal_user_impersonate orders:read", want: "orders:read"},
		{name: "comma separated as in the seed", subject: "bob", scope: "internal_user_impersonate,openid,orders:read", want: "openid orders:read"},
		{name: "only a scope the impersonator holds", subject: "bob", scope: "internal_user_impersonate orders:write", want: ""},
		{name: "only the impersonate scope", subject: "bob", scope: "internal_user_impersonate", want: ""},
		{name: "unknown scope dropped", subject: "bob", scope: "internal_user_impersonate openid admin:everything", want: "openid"},
		{name: "subject with no grants", subject: "eve-eu-admin", scope: fullScope, want: "openid"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, withServiceOptions(impersonation.WithProtected(
				func(context.Context, *store.Client, *store.User) (bool, error) { return false, nil })))
			v := authorizeValues(appID, tc.subject)
			v.Set("scope", tc.scope)
			resp, err := f.svc.Authorize(context.Background(), f.parseAuthorize(t, v), impersonation.Login{UserID: "alice", AuthTime: f.clock.Now()})
			require.NoError(t, err)
			tok := testkit.DecodeJWT(t, resp.SubjectToken)
			assert.Equal(t, tc.want, tok.Str(t, "scope"))
			assert.NotContains(t, tok.Str(t, "scope"), subjecttoken.ScopeImpersonate)
		})
	}
}

func TestAuthorize_CustomScopeRuleReplacesDefault(t *testing.T) {
	t.Parallel()
	var seen impersonation.ScopeInput
	rule := func(_ context.Context, in impersonation.ScopeInput) (claims.Scope, error) {
		seen = in
		return claims.Scope{"support:view"}, nil
	}
	f := newFixture(t, withServiceOptions(impersonation.WithScopeRule(rule)))
	st, _ := f.authorize(t, "alice", "bob")
	assert.Equal(t, "support:view", testkit.DecodeJWT(t, st).Str(t, "scope"))
	assert.Equal(t, "alice", seen.Impersonator.ID)
	assert.Equal(t, "bob", seen.Subject.ID)
	assert.Equal(t, appID, seen.Client.ID)
	assert.Equal(t, []string{scopeOrdersRead}, seen.SubjectGrants)
	assert.Equal(t, claims.ParseScope(fullScope), seen.Requested)
}

// sHash is s_hash computed here, independently of authorizetoken.StateHash:
// the left half of the SHA-256 of the state, base64url without padding.
func sHash(state string) string {
	sum := sha256.Sum256([]byte(state))
	return base64.RawURLEncoding.EncodeToString(sum[:sha256.Size/2])
}

func TestAuthorize_IDTokenForImpersonator(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		state       string
		authTime    time.Duration // before now; negative means zero auth time
		wantSHash   bool
		wantAuthAge bool
	}{
		{name: "with state and auth_time", state: "af0ifjsldkj", authTime: 42 * time.Second, wantSHash: true, wantAuthAge: true},
		{name: "state with non-ASCII and spaces", state: "ünïcode state/+=", authTime: 0, wantSHash: true, wantAuthAge: true},
		{name: "without state no s_hash", state: "", authTime: 5 * time.Second, wantAuthAge: true},
		{name: "zero auth time omits auth_time", state: testState, authTime: -1, wantSHash: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			now := f.clock.Now()
			v := authorizeValues(appID, "bob")
			if tc.state == "" {
				v.Del("state")
			} else {
				v.Set("state", tc.state)
			}
			var authTime time.Time
			if tc.authTime >= 0 {
				authTime = now.Add(-tc.authTime)
			}
			resp, err := f.svc.Authorize(context.Background(), f.parseAuthorize(t, v), impersonation.Login{UserID: "alice", AuthTime: authTime})
			require.NoError(t, err)
			require.NotEmpty(t, resp.IDToken)

			id := testkit.DecodeJWT(t, resp.IDToken)
			assert.Equal(t, authorizetoken.IDTokenHeaderType, id.Header["typ"])
			assert.Equal(t, f.signingKey(t).ID, id.Header["kid"])
			assert.Equal(t, testIssuer, id.Str(t, "iss"))
			assert.Equal(t, "alice", id.Str(t, "sub"), "the ID token is the impersonator's")
			assert.Equal(t, appID, id.Str(t, "aud"))
			assert.Equal(t, appID, id.Str(t, "azp"))
			assert.Equal(t, testNonce, id.Str(t, "nonce"))
			assert.Equal(t, now.Unix(), id.Num(t, "iat"))
			assert.Equal(t, int64(authorizetoken.DefaultIDTokenTTL/time.Second), id.Num(t, "exp")-id.Num(t, "iat"))
			testkit.AssertJTI(t, id.Str(t, "jti"))
			if tc.wantSHash {
				assert.Equal(t, sHash(tc.state), id.Str(t, "s_hash"))
			} else {
				assert.NotContains(t, id.Claims, "s_hash")
			}
			if tc.wantAuthAge {
				assert.Equal(t, authTime.Unix(), id.Num(t, "auth_time"))
			} else {
				assert.NotContains(t, id.Claims, "auth_time")
			}
			assert.NotContains(t, id.Claims, "may_act")
		})
	}
}

func TestAuthorize_SHashKnownVector(t *testing.T) {
	t.Parallel()
	// SHA-256("state-8d2f") computed independently; the left 16 bytes in
	// base64url. Guards sHash itself against a shared mistake.
	sum := sha256.Sum256([]byte(testState))
	assert.Len(t, sHash(testState), 22, "16 bytes base64url unpadded")
	assert.Equal(t, base64.RawURLEncoding.EncodeToString(sum[:16]), sHash(testState))
	f := newFixture(t)
	_, id := f.authorize(t, "alice", "bob")
	assert.Equal(t, sHash(testState), testkit.DecodeJWT(t, id).Str(t, "s_hash"))
}

func TestAuthorize_NotifiesSubjectOncePerStart(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	start := f.clock.Now()
	f.authorize(t, "alice", "bob")
	require.Len(t, f.db.Notices(), 1)
	n := f.db.Notices()[0]
	assert.Equal(t, "bob", n.UserID)
	assert.Equal(t, "Bob Buyer", n.UserName)
	assert.Equal(t, "bob@acme.example", n.Email)
	assert.Equal(t, "alice", n.ImpersonatorID)
	assert.Equal(t, "Alice Admin", n.ImpersonatorName)
	assert.Equal(t, appID, n.ClientID)
	assert.Equal(t, "client "+appID, n.ClientName, "the application, as people know it")
	assert.Equal(t, "acme-eu", n.Org, "the subject's organisation")
	assert.Equal(t, "ACME Europe", n.OrgName)
	assert.Empty(t, n.Reason, "no impersonation_reason asked, none told")
	assert.Equal(t, start.UTC(), n.Time)
	assert.Equal(t, time.UTC, n.Time.Location(), "notice time in UTC")

	f.clock.Advance(time.Minute)
	f.authorize(t, "alice", "bob")
	require.Len(t, f.db.Notices(), 2, "a second start is a second notice")
	assert.Equal(t, start.Add(time.Minute).UTC(), f.db.Notices()[1].Time)

	// A refused start notifies nobody.
	_, err := f.svc.Authorize(context.Background(), f.parseAuthorize(t, authorizeValues(appID, "dave")), impersonation.Login{UserID: "alice", AuthTime: f.clock.Now()})
	require.Error(t, err)
	assert.Len(t, f.db.Notices(), 2)
}

// TestAuthorize_NoticeCarriesTheStatedReason: the user is told why, in the
// impersonator's words, as the audit event records it.
func TestAuthorize_NoticeCarriesTheStatedReason(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	v := authorizeValues(appID, "bob")
	v.Set("impersonation_reason", "TICKET-4711: checkout fails")
	_, err := f.svc.Authorize(context.Background(), f.parseAuthorize(t, v), impersonation.Login{UserID: "alice", AuthTime: f.clock.Now()})
	require.NoError(t, err)
	require.Len(t, f.db.Notices(), 1)
	assert.Equal(t, "TICKET-4711: checkout fails", f.db.Notices()[0].Reason)
	started := testkit.RequireOneEvent(t, f.db.Events(), store.EventImpersonationStarted, store.OutcomeGranted, "")
	assert.Equal(t, started.Justification, f.db.Notices()[0].Reason)
}

func TestAuthorize_FailingNotifierDoesNotBreakFlow(t *testing.T) {
	t.Parallel()
	n := &failingNotifier{}
	f := newFixture(t, withServiceOptions(impersonation.WithNotifier(n)))
	st, id := f.authorize(t, "alice", "bob")
	assert.NotEmpty(t, st)
	assert.NotEmpty(t, id)
	assert.Equal(t, int32(1), n.calls.Load())

	events := f.db.Events()
	require.Len(t, events, 2)
	assert.Equal(t, store.EventImpersonationStarted, events[0].Type)
	failed := testkit.RequireOneEvent(t, events[1:], store.EventNotificationFailed, store.OutcomeFailed, "relay denied")
	assert.Equal(t, "bob", failed.Subject)
	assert.Equal(t, "alice", failed.Impersonator)
	assert.Equal(t, events[0].JTI, failed.JTI)

	// The subject token is still good.
	_, err := f.svc.Exchange(context.Background(), clientApp(), exchangeRequest(st, id))
	require.NoError(t, err)
}

func TestAuthorize_AuditFailureIssuesNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.auditor.Fail.Store(true)
	resp, err := f.svc.Authorize(context.Background(), f.parseAuthorize(t, authorizeValues(appID, "bob")), impersonation.Login{UserID: "alice", AuthTime: f.clock.Now()})
	assert.Nil(t, resp, "nothing is issued that was not recorded")
	var se *subjecttoken.Error
	require.ErrorAs(t, err, &se)
	assert.Equal(t, subjecttoken.ErrTemporarilyUnavailable.Code, se.Code)
	assert.True(t, se.Redirectable())
	assert.Empty(t, f.db.Notices(), "nobody is told of an impersonation that did not happen")

	w := httptest.NewRecorder()
	subjecttoken.WriteAuthorizeError(w, err)
	got := readAuthorizeResponse(t, w, store.ResponseModeFragment)
	assert.Empty(t, got.params.Get("subject_token"))
	testkit.AssertNoLeak(t, w.Header().Get("Location"))
}

func TestAuthorize_ProtectedPredicateFailureIsTemporarilyUnavailable(t *testing.T) {
	t.Parallel()
	boom := errors.New("ldap: connection reset")
	f := newFixture(t, withServiceOptions(impersonation.WithProtected(
		func(context.Context, *store.Client, *store.User) (bool, error) { return false, boom })))
	resp, err := f.svc.Authorize(context.Background(), f.parseAuthorize(t, authorizeValues(appID, "bob")), impersonation.Login{UserID: "alice", AuthTime: f.clock.Now()})
	assert.Nil(t, resp)
	var se *subjecttoken.Error
	require.ErrorAs(t, err, &se)
	assert.Equal(t, subjecttoken.ErrTemporarilyUnavailable.Code, se.Code)
	assert.True(t, se.Redirectable())
	require.ErrorIs(t, err, boom)
	assert.NotErrorIs(t, err, impersonation.ErrNotPermitted)
	testkit.RequireOneEvent(t, f.db.Events(), store.EventImpersonationDenied, store.OutcomeFailed, "ldap")

	w := httptest.NewRecorder()
	subjecttoken.WriteAuthorizeError(w, err)
	assert.NotContains(t, w.Header().Get("Location"), "ldap")
}

// authorizeEndpoint is a host's authorize endpoint as the walkthrough
// wires it: parse, authenticate (the user comes from a header here),
// decide, respond.
func authorizeEndpoint(f *fixture) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, _, err := subjecttoken.ParseAuthorizeRequest(r.Context(), r, f.db)
		if err != nil {
			subjecttoken.WriteAuthorizeError(w, err)
			return
		}
		resp, err := f.svc.Authorize(r.Context(), req, impersonation.Login{UserID: r.Header.Get("X-Test-User"), AuthTime: f.clock.Now()})
		if err != nil {
			subjecttoken.WriteAuthorizeError(w, err)
			return
		}
		subjecttoken.WriteAuthorizeResponse(w, req, resp)
	})
}

func TestAuthorizeEndpoint_MalformedRequestsIssueNothing(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		mutate       func(url.Values)
		wantRedirect bool
		wantCode     string
	}{
		{name: "unknown client is not redirected", mutate: func(v url.Values) { v.Set("client_id", "ghost") }, wantCode: subjecttoken.ErrInvalidRequest.Code},
		{name: "redirect_uri mismatch is not redirected", mutate: func(v url.Values) { v.Set("redirect_uri", "https://evil.example/cb") }, wantCode: subjecttoken.ErrInvalidRequest.Code},
		{name: "redirect_uri prefix is a mismatch", mutate: func(v url.Values) { v.Set("redirect_uri", appRedirect+"/../x") }, wantCode: subjecttoken.ErrInvalidRequest.Code},
		{name: "missing requested_subject", mutate: func(v url.Values) { v.Del("requested_subject") }, wantRedirect: true, wantCode: subjecttoken.ErrInvalidRequest.Code},
		{name: "missing nonce with id_token", mutate: func(v url.Values) { v.Del("nonce") }, wantRedirect: true, wantCode: subjecttoken.ErrInvalidRequest.Code},
		{name: "internal_user_impersonate missing", mutate: func(v url.Values) { v.Set("scope", "openid orders:read") }, wantRedirect: true, wantCode: subjecttoken.ErrInvalidScope.Code},
		{name: "unsupported response_type", mutate: func(v url.Values) { v.Set("response_type", "code") }, wantRedirect: true, wantCode: subjecttoken.ErrUnsupportedResponseType.Code},
		{name: "duplicate requested_subject", mutate: func(v url.Values) { v.Add("requested_subject", "carol") }, wantRedirect: true, wantCode: subjecttoken.ErrInvalidRequest.Code},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			v := authorizeValues(appID, "bob")
			tc.mutate(v)
			r := httptest.NewRequest(http.MethodGet, "/authorize?"+v.Encode(), nil)
			r.Header.Set("X-Test-User", "alice")
			w := httptest.NewRecorder()
			authorizeEndpoint(f).ServeHTTP(w, r)

			if tc.wantRedirect {
				got := readAuthorizeResponse(t, w, store.ResponseModeFragment)
				assert.Equal(t, appRedirect, got.base)
				assert.Equal(t, tc.wantCode, got.params.Get("error"))
				assert.Equal(t, testState, got.params.Get("state"))
				assert.Empty(t, got.params.Get("subject_token"))
			} else {
				assert.Equal(t, http.StatusBadRequest, w.Code)
				assert.Empty(t, w.Header().Get("Location"), "never redirect to an unvalidated URI")
				assert.Contains(t, w.Body.String(), tc.wantCode)
			}
			assert.Empty(t, f.db.Events(), "rejected before the policy: no decision recorded")
			assert.Empty(t, f.db.Notices())
		})
	}
}

// TestAuthorize_GrantedScopeLimitedToClientScopes: a scope the subject
// holds but the client did not register is not granted.
func TestAuthorize_GrantedScopeLimitedToClientScopes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.updateClient(t, appID, func(c *store.Client) {
		c.Scopes = []string{subjecttoken.ScopeImpersonate, scopeOrdersWrite}
	})
	st, _ := f.authorize(t, "alice", "bob")
	assert.Empty(t, testkit.DecodeJWT(t, st).Str(t, "scope"), "bob's orders:read and openid are not registered for the client")
}
