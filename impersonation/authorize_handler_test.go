package impersonation_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/impersonation"
	"github.com/actas/actas/internal/testkit"
	"github.com/actas/actas/store"
	"github.com/actas/actas/subjecttoken"
)

// ahLoginPage is what ahAuthenticator shows when nobody is signed in.
const ahLoginPage = "login page: please sign in\n"

// ahConsentPage is what ahConsent shows when it leaves the answer pending.
const ahConsentPage = "consent page: act as this user?\n"

// ahReason is the impersonation_reason of the handler tests' requests.
const ahReason = "SUP-4711: customer cannot see order history"

// ahAuthenticator is a hand-written Authenticator: it signs in user at
// authTime or, when user is empty, writes a 401 login page and returns ok
// false. It counts its calls.
type ahAuthenticator struct {
	user     string
	authTime time.Time
	session  string
	calls    atomic.Int32
}

var _ impersonation.Authenticator = (*ahAuthenticator)(nil)

func (a *ahAuthenticator) Authenticate(w http.ResponseWriter, _ *http.Request) (impersonation.Login, bool) {
	a.calls.Add(1)
	if a.user == "" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, ahLoginPage)
		return impersonation.Login{}, false
	}
	return impersonation.Login{UserID: a.user, AuthTime: a.authTime, Session: a.session}, true
}

// ahConsent is a hand-written ConsentFunc answering outcome; for
// ConsentPending it writes its consent page. It keeps what it was shown.
type ahConsent struct {
	outcome impersonation.Consent

	mu    sync.Mutex
	calls int
	req   *subjecttoken.AuthorizeRequest
	d     *impersonation.Decision
}

func (c *ahConsent) ask(w http.ResponseWriter, _ *http.Request, req *subjecttoken.AuthorizeRequest, d *impersonation.Decision) impersonation.Consent {
	c.mu.Lock()
	c.calls++
	c.req, c.d = req, d
	c.mu.Unlock()
	if c.outcome == impersonation.ConsentPending {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, ahConsentPage)
	}
	return c.outcome
}

func (c *ahConsent) seen() (int, *subjecttoken.AuthorizeRequest, *impersonation.Decision) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls, c.req, c.d
}

// ahPostedConsent is a ConsentFunc for a consent page that posts back to
// the authorize endpoint with its own consent field: allow or deny; without
// it the page is shown.
func ahPostedConsent(w http.ResponseWriter, r *http.Request, _ *subjecttoken.AuthorizeRequest, _ *impersonation.Decision) impersonation.Consent {
	switch r.PostForm.Get("consent") {
	case "allow":
		return impersonation.ConsentGranted
	case "deny":
		return impersonation.ConsentDenied
	}
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, ahConsentPage)
	return impersonation.ConsentPending
}

// ahValues is a valid authorize request of app for subject, with
// ahReason as impersonation_reason.
func ahValues(subject string) url.Values {
	v := authorizeValues(appID, subject)
	v.Set("impersonation_reason", ahReason)
	return v
}

// ahServe sends v to h as a GET query or a POSTed form.
func ahServe(h http.Handler, method string, v url.Values) *httptest.ResponseRecorder {
	var r *http.Request
	if method == http.MethodPost {
		r = httptest.NewRequest(http.MethodPost, "/oauth2/authorize", strings.NewReader(v.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		r = httptest.NewRequest(method, "/oauth2/authorize?"+v.Encode(), nil)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// ahAssertIssued checks a granted response: a 302 to app's redirect URI
// with a subject token of impersonator as subject and the impersonator's
// ID token in the fragment, and the one impersonation.started event. It
// returns the two tokens.
func ahAssertIssued(t testing.TB, f *fixture, w *httptest.ResponseRecorder, impersonator, subject string, authTime time.Time, events []store.Event) (string, string) {
	t.Helper()
	got := readAuthorizeResponse(t, w, store.ResponseModeFragment)
	assert.Equal(t, appRedirect, got.base)
	assert.Equal(t, testState, got.params.Get("state"))
	assert.Empty(t, got.params.Get("error"))
	st, id := got.params.Get("subject_token"), got.params.Get("id_token")
	require.NotEmpty(t, st, "subject_token in the fragment")
	require.NotEmpty(t, id, "id_token in the fragment")

	sc, err := f.tokens(t).Verify(context.Background(), st, appID)
	require.NoError(t, err)
	assert.Equal(t, subject, sc.Subject)
	require.NotNil(t, sc.MayAct)
	assert.Equal(t, impersonator, sc.MayAct.Subject)
	ic, err := f.tokens(t).VerifyIDToken(context.Background(), id, appID)
	require.NoError(t, err)
	assert.Equal(t, impersonator, ic.Subject)
	assert.Equal(t, testNonce, ic.Nonce)
	assert.Equal(t, authTime.Unix(), ic.AuthTime.Time().Unix(), "auth_time is the authenticator's")

	e := testkit.RequireOneEvent(t, events, store.EventImpersonationStarted, store.OutcomeGranted, "")
	assert.Equal(t, appID, e.ClientID)
	assert.Equal(t, impersonator, e.Impersonator)
	assert.Equal(t, subject, e.Subject)
	assert.Equal(t, sc.ID, e.JTI)
	return st, id
}

func TestAuthorizeHandler(t *testing.T) {
	t.Parallel()
	type ahCase struct {
		name        string
		user        string // who the authenticator signs in; empty: nobody
		withConsent bool
		consent     impersonation.Consent
		subject     string
		mutate      func(url.Values)

		wantAuthn   int32
		wantConsent int
		// A page shown to the user, never redirected.
		wantStatus int
		wantBody   string
		// An error redirected to the client, and its audit reason.
		wantError  string
		wantDesc   string
		wantReason string
		wantEvent  store.EventType
		wantTokens bool
	}
	// policyRefused is c refused by the policy for reason: access_denied
	// redirected after the login, whatever the consent would have been.
	policyRefused := func(c ahCase, reason impersonation.Reason) ahCase {
		c.wantAuthn = 1
		c.wantError, c.wantDesc = subjecttoken.ErrAccessDenied.Code, "the impersonation is not permitted"
		c.wantEvent, c.wantReason = store.EventImpersonationDenied, string(reason)
		return c
	}
	tests := []ahCase{
		{name: "no session: the login page, nothing issued",
			subject: "bob", wantAuthn: 1, wantStatus: http.StatusUnauthorized, wantBody: ahLoginPage},
		{name: "no session with consent configured: consent never asked",
			withConsent: true, consent: impersonation.ConsentGranted, subject: "bob",
			wantAuthn: 1, wantStatus: http.StatusUnauthorized, wantBody: ahLoginPage},
		{name: "unknown client: shown, not redirected, nobody authenticated",
			user: "alice", subject: "bob", mutate: func(v url.Values) { v.Set("client_id", "nobody") },
			wantStatus: http.StatusBadRequest, wantBody: "invalid_request: unknown client_id\n",
			wantEvent: store.EventRequestRefused, wantReason: "invalid_request: unknown client_id"},
		{name: "unregistered redirect_uri: shown, not redirected",
			user: "alice", withConsent: true, consent: impersonation.ConsentGranted, subject: "bob",
			mutate:     func(v url.Values) { v.Set("redirect_uri", "https://evil.example/cb") },
			wantStatus: http.StatusBadRequest, wantBody: "invalid_request: redirect_uri is not registered for the client\n",
			wantEvent: store.EventRequestRefused, wantReason: "invalid_request: redirect_uri is not registered for the client"},
		{name: "malformed request: redirected before login",
			user: "alice", subject: "bob", mutate: func(v url.Values) { v.Del("requested_subject") },
			wantError: subjecttoken.ErrInvalidRequest.Code, wantDesc: "requested_subject is missing",
			wantEvent: store.EventRequestRefused, wantReason: "invalid_request: requested_subject is missing"},
		{name: "granted without consent",
			user: "alice", subject: "bob", wantAuthn: 1,
			wantEvent: store.EventImpersonationStarted, wantTokens: true},
		{name: "consent pending: the consent page, nothing issued",
			user: "alice", withConsent: true, consent: impersonation.ConsentPending, subject: "bob",
			wantAuthn: 1, wantConsent: 1, wantStatus: http.StatusOK, wantBody: ahConsentPage},
		{name: "consent denied",
			user: "alice", withConsent: true, consent: impersonation.ConsentDenied, subject: "bob",
			wantAuthn: 1, wantConsent: 1,
			wantError: subjecttoken.ErrAccessDenied.Code, wantDesc: "the impersonator declined",
			wantEvent: store.EventImpersonationDenied, wantReason: string(impersonation.ReasonConsentDenied)},
		{name: "consent granted",
			user: "alice", withConsent: true, consent: impersonation.ConsentGranted, subject: "bob",
			wantAuthn: 1, wantConsent: 1, wantEvent: store.EventImpersonationStarted, wantTokens: true},
		policyRefused(ahCase{name: "policy refusal skips consent: subject outside organisation",
			user: "alice", withConsent: true, consent: impersonation.ConsentGranted, subject: "mallory"}, impersonation.ReasonOutsideOrganization),
		policyRefused(ahCase{name: "policy refusal skips consent: impersonator lacks the role",
			user: "frank", withConsent: true, consent: impersonation.ConsentGranted, subject: "bob"}, impersonation.ReasonNoRole),
		policyRefused(ahCase{name: "policy refusal skips a pending consent: protected subject",
			user: "alice", withConsent: true, consent: impersonation.ConsentPending, subject: "dave"}, impersonation.ReasonProtected),
		policyRefused(ahCase{name: "policy refusal skips consent: self-impersonation",
			user: "alice", withConsent: true, consent: impersonation.ConsentDenied, subject: "alice"}, impersonation.ReasonSelf),
		policyRefused(ahCase{name: "policy refusal without consent: unknown subject",
			user: "alice", subject: "nobody-such"}, impersonation.ReasonUnknownSubject),
	}
	for _, tc := range tests {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			t.Run(tc.name+"/"+method, func(t *testing.T) {
				t.Parallel()
				f := newFixture(t)
				authTime := f.clock.Now().Add(-5 * time.Minute)
				authn := &ahAuthenticator{user: tc.user, authTime: authTime}
				consent := &ahConsent{outcome: tc.consent}
				var opts []impersonation.HandlerOption
				if tc.withConsent {
					opts = append(opts, impersonation.WithConsent(consent.ask))
				}
				v := ahValues(tc.subject)
				if tc.mutate != nil {
					tc.mutate(v)
				}

				w := ahServe(authorizeHandlerOf(t, f.svc, authn, opts...), method, v)

				assert.Equal(t, tc.wantAuthn, authn.calls.Load(), "authenticator calls")
				calls, _, _ := consent.seen()
				assert.Equal(t, tc.wantConsent, calls, "consent calls")
				events := f.db.Events()
				loc := w.Header().Get("Location")
				if tc.wantEvent != store.EventRequestRefused {
					// A policy reason is for the audit log only; a parse
					// refusal's reason is its public description.
					testkit.AssertNoLeak(t, loc+w.Body.String(), tc.wantReason)
				}

				switch {
				case tc.wantTokens:
					ahAssertIssued(t, f, w, tc.user, tc.subject, authTime, events)
					assert.Len(t, f.db.Notices(), 1, "the subject is told")
					return
				case tc.wantError != "":
					got := readAuthorizeResponse(t, w, store.ResponseModeFragment)
					assert.Equal(t, appRedirect, got.base)
					assert.Equal(t, tc.wantError, got.params.Get("error"))
					assert.Equal(t, tc.wantDesc, got.params.Get("error_description"))
					assert.Equal(t, testState, got.params.Get("state"))
					assert.NotContains(t, got.params, "subject_token")
					assert.NotContains(t, got.params, "id_token")
				default:
					assert.Equal(t, tc.wantStatus, w.Code)
					assert.Equal(t, tc.wantBody, w.Body.String())
					assert.Empty(t, loc, "never redirected")
				}
				assert.NotContains(t, loc+w.Body.String(), "subject_token=", "nothing issued")
				assert.Empty(t, f.db.Notices(), "nobody told")
				if tc.wantEvent == "" {
					assert.Empty(t, events, "no audit event")
					return
				}
				if tc.wantEvent == store.EventRequestRefused {
					// Refused while parsing: recorded, before anyone logged in.
					e := testkit.RequireOneEvent(t, events, tc.wantEvent, store.OutcomeDenied, "")
					assert.Equal(t, tc.wantReason, e.Reason)
					assert.Empty(t, e.Impersonator)
					assert.Equal(t, "/oauth2/authorize", e.Path)
					return
				}
				e := testkit.RequireOneEvent(t, events, tc.wantEvent, store.OutcomeDenied, "")
				assert.Equal(t, tc.wantReason, e.Reason)
				assert.Equal(t, appID, e.ClientID)
				assert.Equal(t, tc.user, e.Impersonator)
				assert.Equal(t, tc.subject, e.Subject)
				assert.Equal(t, ahReason, e.Justification)
				assert.Empty(t, e.JTI, "no token")
			})
		}
	}
}

// ahAskConsent serves GET authorize for bob with alice signed in (auth
// time now) and a consent hook answering outcome, and returns the hook
// and the response.
func ahAskConsent(t testing.TB, f *fixture, outcome impersonation.Consent) (*ahConsent, *httptest.ResponseRecorder) {
	t.Helper()
	consent := &ahConsent{outcome: outcome}
	h := authorizeHandlerOf(t, f.svc, &ahAuthenticator{user: "alice", authTime: f.clock.Now()}, impersonation.WithConsent(consent.ask))
	return consent, ahServe(h, http.MethodGet, ahValues("bob"))
}

func TestAuthorizeHandler_ConsentDeniedEvent(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	_, w := ahAskConsent(t, f, impersonation.ConsentDenied)

	got := readAuthorizeResponse(t, w, store.ResponseModeFragment)
	assert.Equal(t, url.Values{
		"error":             {subjecttoken.ErrAccessDenied.Code},
		"error_description": {"the impersonator declined"},
		"state":             {testState},
	}, got.params)
	e := testkit.RequireOneEvent(t, f.db.Events(), store.EventImpersonationDenied, store.OutcomeDenied, "")
	want := f.aliceAsBobEvent(store.EventImpersonationDenied, store.OutcomeDenied, subjecttoken.ScopeImpersonate, "openid", scopeOrdersRead, scopeOrdersWrite)
	want.Org, want.Reason, want.Justification = "acme-eu", "consent_denied", ahReason
	assert.Equal(t, want, e)
}

func TestAuthorizeHandler_ConsentSeesRequestAndDecision(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	consent, w := ahAskConsent(t, f, impersonation.ConsentPending)
	require.Equal(t, http.StatusOK, w.Code)
	assert.Equal(t, ahConsentPage, w.Body.String())

	calls, req, d := consent.seen()
	require.Equal(t, 1, calls)
	require.NotNil(t, req)
	assert.Equal(t, appID, req.ClientID)
	assert.Equal(t, appRedirect, req.RedirectURI)
	assert.Equal(t, "bob", req.RequestedSubject)
	assert.Equal(t, testState, req.State)
	assert.Equal(t, ahReason, req.Reason)
	assert.True(t, req.IDToken)
	require.NotNil(t, d)
	assert.Equal(t, appID, d.Client.ID)
	assert.Equal(t, "alice", d.Impersonator.ID)
	assert.Equal(t, "Bob Buyer", d.Subject.Name)
	assert.Equal(t, "acme-eu", d.Org.ID)
	assert.Empty(t, f.db.Events(), "a pending consent is not audited")
}

// TestAuthorizeHandler_PostedConsent: a consent page posts the request's
// parameters back with its own field, which the ConsentFunc reads from
// r.PostForm.
func TestAuthorizeHandler_PostedConsent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		method     string
		field      string // the consent field in the body (or query for GET)
		inQuery    bool   // put consent=allow in the URL query of a POST
		wantTokens bool
		wantError  string
	}{
		{name: "allow", method: http.MethodPost, field: "allow", wantTokens: true},
		{name: "deny", method: http.MethodPost, field: "deny", wantError: subjecttoken.ErrAccessDenied.Code},
		{name: "no answer yet", method: http.MethodPost},
		{name: "unknown answer", method: http.MethodPost, field: "maybe"},
		{name: "allow in the URL query of a POST is not posted", method: http.MethodPost, inQuery: true},
		{name: "allow in a GET query is not posted", method: http.MethodGet, field: "allow"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			authTime := f.clock.Now()
			h := authorizeHandlerOf(t, f.svc, &ahAuthenticator{user: "alice", authTime: authTime}, impersonation.WithConsent(ahPostedConsent))
			v := ahValues("bob")
			if tc.field != "" {
				v.Set("consent", tc.field)
			}
			var w *httptest.ResponseRecorder
			if tc.inQuery {
				r := httptest.NewRequest(http.MethodPost, "/oauth2/authorize?consent=allow", strings.NewReader(v.Encode()))
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				w = httptest.NewRecorder()
				h.ServeHTTP(w, r)
			} else {
				w = ahServe(h, tc.method, v)
			}

			switch {
			case tc.wantTokens:
				ahAssertIssued(t, f, w, "alice", "bob", authTime, f.db.Events())
			case tc.wantError != "":
				got := readAuthorizeResponse(t, w, store.ResponseModeFragment)
				assert.Equal(t, tc.wantError, got.params.Get("error"))
				assert.Equal(t, testState, got.params.Get("state"))
				e := testkit.RequireOneEvent(t, f.db.Events(), store.EventImpersonationDenied, store.OutcomeDenied, "")
				assert.Equal(t, "consent_denied", e.Reason)
				assert.Equal(t, ahReason, e.Justification)
			default:
				assert.Equal(t, http.StatusOK, w.Code)
				assert.Equal(t, ahConsentPage, w.Body.String())
				assert.Empty(t, w.Header().Get("Location"))
				assert.Empty(t, f.db.Events())
			}
		})
	}
}

func TestAuthorizeHandler_IssuedTokensExchange(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	authTime := f.clock.Now()
	_, w := ahAskConsent(t, f, impersonation.ConsentGranted)
	st, id := ahAssertIssued(t, f, w, "alice", "bob", authTime, f.db.Events())

	resp, err := f.svc.Exchange(context.Background(), clientApp(), exchangeRequest(st, id))
	require.NoError(t, err)
	p, err := f.verifier(t, appID).Verify(context.Background(), resp.AccessToken)
	require.NoError(t, err)
	assert.Equal(t, "bob", p.Subject)
	require.NotNil(t, p.Actor)
	assert.Equal(t, "alice", p.Actor.Subject)
}

func TestAuthorizeHandler_MalformedHTTPRequests(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		request  func() *http.Request
		wantBody string
	}{
		{name: "PUT", request: func() *http.Request {
			return httptest.NewRequest(http.MethodPut, "/oauth2/authorize?"+ahValues("bob").Encode(), nil)
		}, wantBody: "invalid_request: the authorization request must use GET or POST\n"},
		{name: "POST as JSON", request: func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, "/oauth2/authorize", strings.NewReader(`{"client_id":"app"}`))
			r.Header.Set("Content-Type", "application/json")
			return r
		}, wantBody: "invalid_request: the request body must be application/x-www-form-urlencoded\n"},
		{name: "POST over 64 KiB", request: func() *http.Request {
			v := ahValues("bob")
			v.Set("padding", strings.Repeat("x", 64<<10))
			r := httptest.NewRequest(http.MethodPost, "/oauth2/authorize", strings.NewReader(v.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return r
		}, wantBody: "invalid_request: request body too large\n"},
		{name: "malformed query", request: func() *http.Request {
			return httptest.NewRequest(http.MethodGet, "/oauth2/authorize?client_id=%zz", nil)
		}, wantBody: "invalid_request: malformed query string\n"},
		{name: "parameters of a POST in the query only", request: func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, "/oauth2/authorize?"+ahValues("bob").Encode(), nil)
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return r
		}, wantBody: "invalid_request: client_id is missing\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			authn := &ahAuthenticator{user: "alice", authTime: f.clock.Now()}
			consent := &ahConsent{outcome: impersonation.ConsentGranted}
			w := httptest.NewRecorder()
			authorizeHandlerOf(t, f.svc, authn, impersonation.WithConsent(consent.ask)).ServeHTTP(w, tc.request())

			assert.Equal(t, http.StatusBadRequest, w.Code)
			assert.Equal(t, tc.wantBody, w.Body.String())
			assert.Empty(t, w.Header().Get("Location"))
			assert.Zero(t, authn.calls.Load(), "nobody authenticated")
			calls, _, _ := consent.seen()
			assert.Zero(t, calls)
			e := testkit.RequireOneEvent(t, f.db.Events(), store.EventRequestRefused, store.OutcomeDenied, "invalid_request")
			assert.Equal(t, strings.TrimSuffix(tc.wantBody, "\n"), e.Reason, "the refusal is recorded with its fixed description")
		})
	}
}

// TestAuthorizeHandler_Justification: impersonation_reason is recorded as
// the Justification of impersonation.started; an unacceptable one is
// redirected as invalid_request before anyone logs in.
func TestAuthorizeHandler_Justification(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		reason    string
		wantError bool
	}{
		{name: "ticket ID", reason: "SUP-4711"},
		{name: "free text", reason: "customer reports that the order history is empty"},
		{name: "non-ASCII text", reason: "Kundin sieht keine Bestellungen – Ticket №12"},
		{name: "exactly 512 bytes", reason: strings.Repeat("r", subjecttoken.MaxReasonBytes)},
		{name: "absent"},
		{name: "513 bytes", reason: strings.Repeat("r", subjecttoken.MaxReasonBytes+1), wantError: true},
		{name: "line feed", reason: "SUP-4711\nimpersonation.started alice as root", wantError: true},
		{name: "carriage return", reason: "SUP-4711\r", wantError: true},
		{name: "NUL", reason: "SUP\x004711", wantError: true},
		{name: "invalid UTF-8", reason: "SUP-\xff4711", wantError: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			authTime := f.clock.Now()
			authn := &ahAuthenticator{user: "alice", authTime: authTime}
			v := authorizeValues(appID, "bob")
			if tc.reason != "" {
				v.Set("impersonation_reason", tc.reason)
			}
			w := ahServe(authorizeHandlerOf(t, f.svc, authn), http.MethodGet, v)

			if tc.wantError {
				got := readAuthorizeResponse(t, w, store.ResponseModeFragment)
				assert.Equal(t, subjecttoken.ErrInvalidRequest.Code, got.params.Get("error"))
				assert.Equal(t, "impersonation_reason must be at most 512 bytes of printable text", got.params.Get("error_description"))
				assert.Equal(t, testState, got.params.Get("state"))
				assert.Zero(t, authn.calls.Load())
				e := testkit.RequireOneEvent(t, f.db.Events(), store.EventRequestRefused, store.OutcomeDenied, "")
				assert.Equal(t, "invalid_request: impersonation_reason must be at most 512 bytes of printable text", e.Reason)
				return
			}
			ahAssertIssued(t, f, w, "alice", "bob", authTime, f.db.Events())
			e := f.db.Events()[0]
			assert.Equal(t, tc.reason, e.Justification)
			assert.Empty(t, e.Reason, "the justification is not a denial reason")
		})
	}
}

// TestAuthorizeHandler_UnknownConsentFailsClosed: a ConsentFunc returning a
// value that is none of the three outcomes must not issue.
func TestAuthorizeHandler_UnknownConsentFailsClosed(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	bogus := func(http.ResponseWriter, *http.Request, *subjecttoken.AuthorizeRequest, *impersonation.Decision) impersonation.Consent {
		return impersonation.Consent(42)
	}
	w := ahServe(authorizeHandlerOf(t, f.svc, &ahAuthenticator{user: "alice", authTime: f.clock.Now()}, impersonation.WithConsent(bogus)),
		http.MethodGet, ahValues("bob"))
	assert.NotContains(t, w.Header().Get("Location"), "subject_token=")
	assert.Zero(t, testkit.CountEvents(f.db.Events(), store.EventImpersonationStarted), "nothing issued")
}

// errAHUsersDown is what ahFailingUsers says; it must not reach a client.
var errAHUsersDown = errors.New("users store: connection refused")

// ahFailingUsers fails every user look-up: the store is down.
type ahFailingUsers struct{}

var _ store.Users = ahFailingUsers{}

func (ahFailingUsers) User(context.Context, string) (*store.User, error) {
	return nil, errAHUsersDown
}

func TestAuthorizeHandler_StoreFailureWithConsent(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	svc, err := impersonation.New(testIssuer, impersonation.Stores{
		Clients: f.db, Users: ahFailingUsers{}, Organizations: f.db, Grants: f.db, OneTimeUse: f.db, Keys: f.keys,
	}, impersonation.WithClock(f.clock.Now), impersonation.WithAuditor(f.db))
	require.NoError(t, err)
	consent := &ahConsent{outcome: impersonation.ConsentGranted}
	w := ahServe(authorizeHandlerOf(t, svc, &ahAuthenticator{user: "alice", authTime: f.clock.Now()}, impersonation.WithConsent(consent.ask)),
		http.MethodGet, ahValues("bob"))

	calls, _, _ := consent.seen()
	assert.Zero(t, calls, "no decision, no consent")
	got := readAuthorizeResponse(t, w, store.ResponseModeFragment)
	assert.Equal(t, subjecttoken.ErrTemporarilyUnavailable.Code, got.params.Get("error"))
	assert.Equal(t, testState, got.params.Get("state"))
	testkit.AssertNoLeak(t, w.Header().Get("Location"), "connection refused")
	e := testkit.RequireOneEvent(t, f.db.Events(), store.EventImpersonationDenied, store.OutcomeFailed, errAHUsersDown.Error())
	assert.Equal(t, ahReason, e.Justification)
}
