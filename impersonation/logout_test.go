package impersonation_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/impersonation"
	"github.com/actas/actas/internal/authorizetoken"
	"github.com/actas/actas/internal/logoutconfirm"
	"github.com/actas/actas/internal/testkit"
	"github.com/actas/actas/store"
	"github.com/actas/actas/store/memory"
	"github.com/actas/actas/tokenexchange"
)

// OpenID Connect RP-Initiated Logout 1.0 at the end-session endpoint of
// Service.Handlers (WithLogout). app2 is a client that skips logout
// consent, app one that does not; alice is signed in at the host with the
// login session sessLogin.

const (
	app2SignedOut = "https://app2.example/signed-out"
	app2Bye       = "https://app2.example/bye?from=idp"
	appSignedOut  = "https://app.example/signed-out"
	logoutPath    = "/oauth2/logout"
	logoutState   = "st 8/&x=1"
)

// fakeLogins is a hand-written impersonation.Logins: one browser, signed
// in as login or nobody, which Logout signs out.
type fakeLogins struct {
	mu      sync.Mutex
	login   *impersonation.Login
	logouts int
	fail    error
}

var _ impersonation.Logins = (*fakeLogins)(nil)

func (l *fakeLogins) SignedIn(*http.Request) (impersonation.Login, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.login == nil {
		return impersonation.Login{}, false
	}
	return *l.login, true
}

func (l *fakeLogins) Logout(w http.ResponseWriter, _ *http.Request) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fail != nil {
		return l.fail
	}
	l.login = nil
	l.logouts++
	http.SetCookie(w, &http.Cookie{Name: "host_session", MaxAge: -1})
	return nil
}

func (l *fakeLogins) signIn(login impersonation.Login) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.login = &login
}

func (l *fakeLogins) signOut() { l.mu.Lock(); l.login = nil; l.mu.Unlock() }

func (l *fakeLogins) failWith(err error) { l.mu.Lock(); l.fail = err; l.mu.Unlock() }

// reset forgets the logouts counted.
func (l *fakeLogins) reset() { l.mu.Lock(); l.logouts = 0; l.mu.Unlock() }

func (l *fakeLogins) logoutCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.logouts
}

type logoutFixture struct {
	*fixture
	logins *fakeLogins
	authn  *ahAuthenticator
	alice  impersonation.Login
	e      *impersonation.Endpoints
}

// newLogoutFixture is newSessionFixture with post-logout redirect URIs for
// app2 (which skips logout consent) and app (which does not), alice signed
// in with the login session sessLogin, and the end-session endpoint of
// Handlers with WithLogout and opts.
func newLogoutFixture(t testing.TB, opts ...impersonation.HandlerOption) *logoutFixture {
	t.Helper()
	f := newSessionFixture(t)
	f.updateClient(t, app2ID, func(c *store.Client) {
		c.PostLogoutRedirectURIs = []string{app2SignedOut, app2Bye}
		c.SkipLogoutConsent = true
	})
	f.updateClient(t, appID, func(c *store.Client) { c.PostLogoutRedirectURIs = []string{appSignedOut} })
	lf := &logoutFixture{
		fixture: f,
		logins:  &fakeLogins{},
		authn:   &ahAuthenticator{},
		alice:   impersonation.Login{UserID: "alice", AuthTime: f.clock.Now().Add(-time.Minute), Session: sessLogin},
	}
	lf.logins.signIn(lf.alice)
	var err error
	lf.e, err = f.svc.Handlers(context.Background(), lf.authn, append([]impersonation.HandlerOption{impersonation.WithLogout(lf.logins)}, opts...)...)
	require.NoError(t, err)
	require.NotNil(t, lf.e.EndSession)
	return lf
}

// idToken is an ID token of subject for clientID, minted past the policy.
func (f *logoutFixture) idToken(t testing.TB, subject, clientID string) string {
	t.Helper()
	tok, _, err := f.tokens(t).MintIDToken(context.Background(), authorizetoken.IDTokenParams{Subject: subject, ClientID: clientID})
	require.NoError(t, err)
	return tok
}

// get asks the end-session endpoint with GET and v.
func (f *logoutFixture) get(v url.Values) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	f.e.EndSession.ServeHTTP(w, httptest.NewRequest(http.MethodGet, testIssuer+logoutPath+"?"+v.Encode(), nil))
	return w
}

// post posts v as a form to the end-session endpoint.
func (f *logoutFixture) post(v url.Values) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, testIssuer+logoutPath, strings.NewReader(v.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	f.e.EndSession.ServeHTTP(w, r)
	return w
}

var confirmationField = regexp.MustCompile(`name="logout_confirmation" value="([^"]*)"`)

// confirmationOf is the confirmation in a confirmation page.
func confirmationOf(t testing.TB, w *httptest.ResponseRecorder) string {
	t.Helper()
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	m := confirmationField.FindStringSubmatch(w.Body.String())
	require.Len(t, m, 2, "a confirmation form: %s", w.Body.String())
	require.NotEmpty(t, m[1])
	return m[1]
}

// confirm posts the confirmation c.
func (f *logoutFixture) confirm(c string) *httptest.ResponseRecorder {
	return f.post(url.Values{impersonation.LogoutConfirmField: {c}})
}

// requireStillSignedIn requires that nobody was logged out: the host's
// login stays, and so does the impersonation session of sessLogin when
// session is set.
func (f *logoutFixture) requireStillSignedIn(t testing.TB, session bool) {
	t.Helper()
	assert.Zero(t, f.logins.logoutCount(), "nobody logged out")
	_, ok := f.logins.SignedIn(nil)
	assert.True(t, ok, "still signed in")
	if session {
		assert.NotNil(t, f.activeSession(t), "the impersonation session goes on")
	}
}

// requireLoggedOut requires one logout of the host's login and its
// user.logged_out event among events, for clientID.
func (f *logoutFixture) requireLoggedOut(t testing.TB, events []store.Event, clientID string) {
	t.Helper()
	assert.Equal(t, 1, f.logins.logoutCount(), "the host's login ended")
	_, ok := f.logins.SignedIn(nil)
	assert.False(t, ok)
	var out []store.Event
	for _, e := range events {
		if e.Type == store.EventLoggedOut {
			out = append(out, e)
		}
	}
	e := testkit.RequireOneEvent(t, out, store.EventLoggedOut, store.OutcomeGranted, "")
	assert.Equal(t, "alice", e.Subject)
	assert.Equal(t, "acme", e.Org)
	assert.Equal(t, clientID, e.ClientID)
	assert.Empty(t, e.Impersonator)
}

// assertNoRedirect: a refusal is an HTML page, never a redirect.
func assertNoRedirect(t testing.TB, w *httptest.ResponseRecorder) {
	t.Helper()
	assert.Empty(t, w.Header().Get("Location"), "never a redirect")
	assert.Equal(t, "text/html; charset=utf-8", w.Header().Get("Content-Type"))
	assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
}

// TestRPInitiatedLogout_3_RefusalsNeverRedirect (RP-Initiated Logout 1.0 §3: the OP
// MUST NOT redirect to a post_logout_redirect_uri that does not exactly
// match a registered one): every request the endpoint cannot honour is an
// error page with its status, no Location, nobody logged out, no
// impersonation session ended, and one request.refused event naming why,
// without the token.
func TestRPInitiatedLogout_3_RefusalsNeverRedirect(t *testing.T) {
	t.Parallel()
	otherKeys, err := memory.GenerateKeySet(store.ES256)
	require.NoError(t, err)
	hintOf := func(t testing.TB, f *logoutFixture) string { return f.idToken(t, "alice", app2ID) }
	tests := []struct {
		name   string
		method string
		ctype  string
		params func(t testing.TB, f *logoutFixture) url.Values
		// raw, when set, is sent instead of params' encoding.
		raw    string
		status int
		page   string
		reason string
	}{
		{
			name: "malformed query", raw: "client_id=%zz&state=1",
			params: func(testing.TB, *logoutFixture) url.Values { return url.Values{} },
			status: http.StatusBadRequest, page: "malformed parameters", reason: "malformed parameters",
		},
		{
			name: "malformed body", method: http.MethodPost, raw: "post_logout_redirect_uri=%zz",
			params: func(testing.TB, *logoutFixture) url.Values { return url.Values{} },
			status: http.StatusBadRequest, page: "malformed parameters", reason: "malformed parameters",
		},
		{
			name: "body over 64 KiB", method: http.MethodPost,
			params: func(testing.TB, *logoutFixture) url.Values {
				return url.Values{"client_id": {appID}, "x": {strings.Repeat("a", 64<<10)}}
			},
			status: http.StatusBadRequest, page: "request body unreadable or too large", reason: "too large",
		},
		{
			name: "hint signed by another issuer's key",
			params: func(t testing.TB, f *logoutFixture) url.Values {
				other, err := authorizetoken.NewIssuer(testIssuer, otherKeys, authorizetoken.WithClock(f.clock.Now))
				require.NoError(t, err)
				tok, _, err := other.MintIDToken(context.Background(), authorizetoken.IDTokenParams{Subject: "alice", ClientID: app2ID})
				require.NoError(t, err)
				return url.Values{"id_token_hint": {tok}, "post_logout_redirect_uri": {app2SignedOut}}
			},
			status: http.StatusBadRequest, page: "id_token_hint is not a valid ID token of this issuer", reason: "unknown signing key",
		},
		{
			name: "hint of another issuer",
			params: func(t testing.TB, f *logoutFixture) url.Values {
				other, err := authorizetoken.NewIssuer("https://other.example", f.keys, authorizetoken.WithClock(f.clock.Now))
				require.NoError(t, err)
				tok, _, err := other.MintIDToken(context.Background(), authorizetoken.IDTokenParams{Subject: "alice", ClientID: app2ID})
				require.NoError(t, err)
				return url.Values{"id_token_hint": {tok}, "post_logout_redirect_uri": {app2SignedOut}}
			},
			status: http.StatusBadRequest, page: "id_token_hint is not a valid ID token of this issuer", reason: "iss is not the expected issuer",
		},
		{
			name: "a subject token as hint",
			params: func(t testing.TB, f *logoutFixture) url.Values {
				st, _ := f.authorize(t, "alice", "carol")
				return url.Values{"id_token_hint": {st}, "post_logout_redirect_uri": {appSignedOut}}
			},
			status: http.StatusBadRequest, page: "id_token_hint is not a valid ID token", reason: "wrong token type",
		},
		{
			name: "an access token as hint",
			params: func(t testing.TB, f *logoutFixture) url.Values {
				return url.Values{"id_token_hint": {f.accessToken(t)}, "post_logout_redirect_uri": {appSignedOut}}
			},
			status: http.StatusBadRequest, page: "id_token_hint is not a valid ID token", reason: "wrong token type",
		},
		{
			name:   "garbage hint",
			params: func(testing.TB, *logoutFixture) url.Values { return url.Values{"id_token_hint": {"not.a.jwt"}} },
			status: http.StatusBadRequest, page: "id_token_hint is not a valid ID token", reason: "malformed",
		},
		{
			name: "post_logout_redirect_uri not registered",
			params: func(t testing.TB, f *logoutFixture) url.Values {
				return url.Values{"id_token_hint": {hintOf(t, f)}, "post_logout_redirect_uri": {"https://evil.example/"}, "state": {logoutState}}
			},
			status: http.StatusBadRequest, page: "post_logout_redirect_uri is not registered for the client", reason: "not registered",
		},
		{
			name: "post_logout_redirect_uri of another client",
			params: func(t testing.TB, f *logoutFixture) url.Values {
				return url.Values{"id_token_hint": {hintOf(t, f)}, "post_logout_redirect_uri": {appSignedOut}}
			},
			status: http.StatusBadRequest, page: "post_logout_redirect_uri is not registered for the client", reason: "not registered",
		},
		{
			name: "post_logout_redirect_uri with a trailing slash",
			params: func(t testing.TB, f *logoutFixture) url.Values {
				return url.Values{"id_token_hint": {hintOf(t, f)}, "post_logout_redirect_uri": {app2SignedOut + "/"}}
			},
			status: http.StatusBadRequest, page: "not registered", reason: "not registered",
		},
		{
			name: "post_logout_redirect_uri in another case",
			params: func(t testing.TB, f *logoutFixture) url.Values {
				return url.Values{"id_token_hint": {hintOf(t, f)}, "post_logout_redirect_uri": {"https://APP2.example/signed-out"}}
			},
			status: http.StatusBadRequest, page: "not registered", reason: "not registered",
		},
		{
			name: "the client's redirect_uri is no post-logout redirect URI",
			params: func(t testing.TB, f *logoutFixture) url.Values {
				return url.Values{"id_token_hint": {hintOf(t, f)}, "post_logout_redirect_uri": {app2Redirect}}
			},
			status: http.StatusBadRequest, page: "not registered", reason: "not registered",
		},
		{
			name: "post_logout_redirect_uri without a client",
			params: func(testing.TB, *logoutFixture) url.Values {
				return url.Values{"post_logout_redirect_uri": {app2SignedOut}}
			},
			status: http.StatusBadRequest, page: "post_logout_redirect_uri needs client_id or id_token_hint", reason: "needs client_id",
		},
		{
			name: "unknown client_id",
			params: func(testing.TB, *logoutFixture) url.Values {
				return url.Values{"client_id": {"nope"}, "post_logout_redirect_uri": {app2SignedOut}}
			},
			status: http.StatusBadRequest, page: "unknown client", reason: "unknown client",
		},
		{
			name: "unknown client_id without a redirect",
			params: func(testing.TB, *logoutFixture) url.Values {
				return url.Values{"client_id": {"nope"}}
			},
			status: http.StatusBadRequest, page: "unknown client", reason: "unknown client",
		},
		{
			name: "disabled client",
			params: func(testing.TB, *logoutFixture) url.Values {
				return url.Values{"client_id": {disabledID}}
			},
			status: http.StatusBadRequest, page: "the client is disabled", reason: "disabled",
		},
		{
			name: "client_id is not the hint's",
			params: func(t testing.TB, f *logoutFixture) url.Values {
				return url.Values{"id_token_hint": {hintOf(t, f)}, "client_id": {appID}, "post_logout_redirect_uri": {appSignedOut}}
			},
			status: http.StatusBadRequest, page: "client_id does not match the id_token_hint", reason: "does not match",
		},
		{
			name: "state repeated",
			params: func(t testing.TB, f *logoutFixture) url.Values {
				return url.Values{"id_token_hint": {hintOf(t, f)}, "post_logout_redirect_uri": {app2SignedOut}, "state": {"a", "b"}}
			},
			status: http.StatusBadRequest, page: "state is repeated", reason: "state is repeated",
		},
		{
			name: "id_token_hint repeated",
			params: func(t testing.TB, f *logoutFixture) url.Values {
				h := hintOf(t, f)
				return url.Values{"id_token_hint": {h, h}, "post_logout_redirect_uri": {app2SignedOut}}
			},
			status: http.StatusBadRequest, page: "id_token_hint is repeated", reason: "id_token_hint is repeated",
		},
		{
			name: "post_logout_redirect_uri repeated",
			params: func(t testing.TB, f *logoutFixture) url.Values {
				return url.Values{"id_token_hint": {hintOf(t, f)}, "post_logout_redirect_uri": {app2SignedOut, "https://evil.example/"}}
			},
			status: http.StatusBadRequest, page: "post_logout_redirect_uri is repeated", reason: "repeated",
		},
		{
			name: "another parameter repeated",
			params: func(t testing.TB, f *logoutFixture) url.Values {
				return url.Values{"id_token_hint": {hintOf(t, f)}, "post_logout_redirect_uri": {app2SignedOut}, "x<script>": {"1", "2"}}
			},
			status: http.StatusBadRequest, page: "a parameter is repeated", reason: "a parameter is repeated",
		},
		{
			name: "state too long",
			params: func(t testing.TB, f *logoutFixture) url.Values {
				return url.Values{"id_token_hint": {hintOf(t, f)}, "post_logout_redirect_uri": {app2SignedOut}, "state": {strings.Repeat("s", impersonation.MaxLogoutStateBytes+1)}}
			},
			status: http.StatusBadRequest, page: "state is too long", reason: "state is too long",
		},
		{
			name: "POST that is not a form", method: http.MethodPost, ctype: "application/json",
			params: func(t testing.TB, f *logoutFixture) url.Values {
				return url.Values{"id_token_hint": {hintOf(t, f)}, "post_logout_redirect_uri": {app2SignedOut}}
			},
			status: http.StatusBadRequest, page: "must be application/x-www-form-urlencoded", reason: "x-www-form-urlencoded",
		},
		{
			name: "a confirmation with GET",
			params: func(testing.TB, *logoutFixture) url.Values {
				return url.Values{impersonation.LogoutConfirmField: {"anything"}}
			},
			status: http.StatusBadRequest, page: "a sign-out confirmation must be posted", reason: "must be posted",
		},
		{
			name: "PUT", method: http.MethodPut,
			params: func(t testing.TB, f *logoutFixture) url.Values {
				return url.Values{"id_token_hint": {hintOf(t, f)}, "post_logout_redirect_uri": {app2SignedOut}}
			},
			status: http.StatusMethodNotAllowed, page: "takes GET and POST only", reason: "GET and POST only",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newLogoutFixture(t)
			f.startSession(t, sessReason)
			v := tc.params(t, f)
			n := len(f.db.Events())

			method := tc.method
			if method == "" {
				method = http.MethodGet
			}
			raw := v.Encode()
			if tc.raw != "" {
				raw = tc.raw
			}
			var r *http.Request
			if method == http.MethodGet {
				r = httptest.NewRequest(method, testIssuer+logoutPath+"?"+raw, nil)
			} else {
				r = httptest.NewRequest(method, testIssuer+logoutPath, strings.NewReader(raw))
				ctype := tc.ctype
				if ctype == "" {
					ctype = "application/x-www-form-urlencoded"
				}
				r.Header.Set("Content-Type", ctype)
			}
			w := httptest.NewRecorder()
			f.e.EndSession.ServeHTTP(w, r)

			assert.Equal(t, tc.status, w.Code)
			assertNoRedirect(t, w)
			assert.Contains(t, w.Body.String(), tc.page)
			assert.Contains(t, w.Body.String(), "Nobody was signed out")
			if tc.status == http.StatusMethodNotAllowed {
				assert.Equal(t, "GET, POST", w.Header().Get("Allow"))
			}
			f.requireStillSignedIn(t, true)
			e := testkit.RequireOneEvent(t, testkit.EventsSince(f.db.Events(), n), store.EventRequestRefused, store.OutcomeDenied, tc.reason)
			assert.Equal(t, method, e.Method)
			assert.Equal(t, logoutPath, e.Path)
			var secrets []string
			for _, vs := range v {
				for _, s := range vs {
					if len(s) > 40 { // tokens: never on the page, never in the record
						secrets = append(secrets, s)
						assert.NotContains(t, e.Reason, s)
					}
				}
			}
			testkit.AssertNoLeak(t, w.Body.String(), secrets...)
			assert.NotContains(t, w.Body.String(), "evil.example", "the request's values are not echoed")
			assert.NotContains(t, w.Body.String(), "<script>")
			assert.Zero(t, f.authn.calls.Load(), "no login page")
		})
	}
}

// TestEndSessionEndpoint_SkipConsentClientRedirectsWithState: a client with
// SkipLogoutConsent and an ID token of the signed-in user logs them out
// at once and gets the browser back at its registered URI (303), with
// state added to the query it registered.
func TestEndSessionEndpoint_SkipConsentClientRedirectsWithState(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		post     bool
		clientID bool
		uri      string
		state    string
		expire   time.Duration
		want     string
	}{
		{name: "GET", uri: app2SignedOut, state: logoutState, want: app2SignedOut + "?state=st+8%2F%26x%3D1"},
		{name: "POST", post: true, uri: app2SignedOut, state: logoutState, want: app2SignedOut + "?state=st+8%2F%26x%3D1"},
		{name: "with client_id", clientID: true, uri: app2SignedOut, state: "s", want: app2SignedOut + "?state=s"},
		{name: "no state: the URI as registered", uri: app2Bye, want: app2Bye},
		{name: "the registered query is kept", uri: app2Bye, state: "s", want: app2Bye + "&state=s"},
		{name: "an expired hint is accepted", uri: app2SignedOut, state: "s", expire: authorizetoken.DefaultIDTokenTTL + 24*time.Hour, want: app2SignedOut + "?state=s"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newLogoutFixture(t)
			hint := f.idToken(t, "alice", app2ID)
			f.clock.Advance(tc.expire)
			if tc.expire > 0 {
				_, err := f.tokens(t).VerifyIDToken(context.Background(), hint, app2ID)
				require.ErrorIs(t, err, authorizetoken.ErrExpired, "the hint has expired")
			}
			v := url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {tc.uri}, "ui_locales": {"de fr"}}
			if tc.state != "" {
				v.Set("state", tc.state)
			}
			if tc.clientID {
				v.Set("client_id", app2ID)
			}
			n := len(f.db.Events())
			var w *httptest.ResponseRecorder
			if tc.post {
				w = f.post(v)
			} else {
				w = f.get(v)
			}
			require.Equal(t, http.StatusSeeOther, w.Code, w.Body.String())
			assert.Equal(t, tc.want, w.Header().Get("Location"))
			assert.Contains(t, w.Header().Get("Set-Cookie"), "host_session=", "the host's Logout set its cookie")
			assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
			f.requireLoggedOut(t, testkit.EventsSince(f.db.Events(), n), app2ID)
		})
	}
}

// TestRPInitiatedLogout_2_AsksUnlessTheHintIsTheUsers (§2: the OP MUST ask
// the End-User if an id_token_hint was not provided or the ID token is not
// the current user's): the confirmation page comes first, unless a client
// that skips logout consent sends a hint for the signed-in user; nobody
// is logged out before the user confirms, and the confirmation then
// logs out and redirects.
func TestRPInitiatedLogout_2_AsksUnlessTheHintIsTheUsers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		params func(t testing.TB, f *logoutFixture) url.Values
		// client is the client named on the page and in the event.
		client   string
		question string
		other    bool
		// location is where the confirmation goes; empty: the signed-out page.
		location string
	}{
		{
			name: "a client that asks for logout consent",
			params: func(t testing.TB, f *logoutFixture) url.Values {
				return url.Values{"id_token_hint": {f.idToken(t, "alice", appID)}, "post_logout_redirect_uri": {appSignedOut}, "state": {"s1"}}
			},
			client: appID, question: "client app asks to sign you out", location: appSignedOut + "?state=s1",
		},
		{
			name: "a client that skips consent, without a hint",
			params: func(testing.TB, *logoutFixture) url.Values {
				return url.Values{"client_id": {app2ID}, "post_logout_redirect_uri": {app2SignedOut}, "state": {"s2"}}
			},
			client: app2ID, question: "client app2 asks to sign you out", location: app2SignedOut + "?state=s2",
		},
		{
			name: "a client that skips consent, with a hint for another user",
			params: func(t testing.TB, f *logoutFixture) url.Values {
				return url.Values{"id_token_hint": {f.idToken(t, "bob", app2ID)}, "post_logout_redirect_uri": {app2SignedOut}}
			},
			client: app2ID, question: "client app2 asks to sign you out", other: true, location: app2SignedOut,
		},
		{
			name:     "no client at all",
			params:   func(testing.TB, *logoutFixture) url.Values { return url.Values{"state": {"ignored"}} },
			question: "Do you want to sign out?",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newLogoutFixture(t)
			n := len(f.db.Events())
			w := f.get(tc.params(t, f))
			c := confirmationOf(t, w)
			assert.Empty(t, w.Header().Get("Location"))
			body := w.Body.String()
			assert.Contains(t, body, tc.question)
			assert.Contains(t, body, "You are signed in as alice")
			assert.Contains(t, body, `action="`+testIssuer+logoutPath+`"`)
			assert.Equal(t, tc.other, strings.Contains(body, "another account"), body)
			assert.Equal(t, "DENY", w.Header().Get("X-Frame-Options"), "the confirmation cannot be framed")
			assert.Contains(t, w.Header().Get("Content-Security-Policy"), "frame-ancestors 'none'")
			assert.NotContains(t, w.Header().Get("Content-Security-Policy"), "form-action", "it would block the redirect after the confirmation")
			f.requireStillSignedIn(t, false)
			assert.Empty(t, testkit.EventsSince(f.db.Events(), n), "asking records nothing")

			w = f.confirm(c)
			if tc.location != "" {
				require.Equal(t, http.StatusSeeOther, w.Code, w.Body.String())
				assert.Equal(t, tc.location, w.Header().Get("Location"))
			} else {
				require.Equal(t, http.StatusOK, w.Code)
				assertNoRedirect(t, w)
				assert.Contains(t, w.Body.String(), "You are signed out")
			}
			f.requireLoggedOut(t, testkit.EventsSince(f.db.Events(), n), tc.client)
		})
	}
}

// TestEndSessionEndpoint_DuringImpersonationEndsTheSession: alice signed in to
// app2 through her impersonation session of bob (ID token sub bob,
// act.sub alice), and app2 logs her out: the session ends with every token
// issued under it (introspection inactive, a resource server refuses, the
// refresh token is refused), then her login, each recorded.
func TestEndSessionEndpoint_DuringImpersonationEndsTheSession(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		consent bool
	}{
		{name: "a client that skips logout consent"},
		{name: "after the user confirms", consent: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newLogoutFixture(t)
			if tc.consent {
				f.updateClient(t, app2ID, func(c *store.Client) { c.SkipLogoutConsent = false })
			}
			f.enableRefresh(t, app2ID)
			sess, exchanged := f.startSession(t, sessReason)
			tok := f.issueTokens(t, app2ID, sessLogin)
			require.NotEmpty(t, tok.RefreshToken)
			require.NotEmpty(t, tok.IDToken)
			id, err := f.tokens(t).VerifyIDToken(context.Background(), tok.IDToken, app2ID)
			require.NoError(t, err)
			require.Equal(t, "bob", id.Subject)
			require.NotNil(t, id.Act)
			require.Equal(t, "alice", id.Act.Subject)
			require.True(t, f.isActive(t, app2ID, tok.AccessToken))

			n := len(f.db.Events())
			v := url.Values{"id_token_hint": {tok.IDToken}, "post_logout_redirect_uri": {app2SignedOut}, "state": {"s"}}
			w := f.get(v)
			if tc.consent {
				c := confirmationOf(t, w)
				assert.Contains(t, w.Body.String(), "Signing out also ends your impersonation of bob")
				assert.NotContains(t, w.Body.String(), "another account", "the hint names alice as the actor")
				f.requireStillSignedIn(t, true)
				w = f.confirm(c)
			}
			require.Equal(t, http.StatusSeeOther, w.Code, w.Body.String())
			assert.Equal(t, app2SignedOut+"?state=s", w.Header().Get("Location"))

			events := testkit.EventsSince(f.db.Events(), n)
			f.requireLoggedOut(t, events, app2ID)
			var ended []store.Event
			for _, e := range events {
				if e.Type == store.EventImpersonationEnded {
					ended = append(ended, e)
				}
			}
			e := testkit.RequireOneEvent(t, ended, store.EventImpersonationEnded, store.OutcomeGranted, "logout")
			assert.Equal(t, "alice", e.Impersonator)
			assert.Equal(t, "bob", e.Subject)
			assert.Equal(t, sess.ID, e.JTI)

			f.requireSessionGone(t, sessLogin)
			assert.False(t, f.isActive(t, app2ID, tok.AccessToken), "a token issued under the session is revoked")
			_, err = f.verifyAt(t, app2ID, tok.AccessToken)
			require.Error(t, err, "a resource server refuses it")
			assert.False(t, f.isActive(t, appID, exchanged), "so is the exchanged token that started it")
			te := f.refreshErr(t, app2ID, tok.RefreshToken, nil, "the session's refresh token")
			assert.Equal(t, tokenexchange.ErrInvalidGrant.Code, te.Code)
		})
	}
}

// TestEndSessionEndpoint_NobodySignedIn: with nobody signed in there is nobody to
// ask and nobody to log out, and no login page either: a valid request is
// redirected, or told it is signed out; a bad one is still refused.
func TestEndSessionEndpoint_NobodySignedIn(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		params   func(t testing.TB, f *logoutFixture) url.Values
		status   int
		location string
		page     string
	}{
		{
			name: "a registered redirect",
			params: func(t testing.TB, f *logoutFixture) url.Values {
				return url.Values{"id_token_hint": {f.idToken(t, "alice", appID)}, "post_logout_redirect_uri": {appSignedOut}, "state": {"s"}}
			},
			status: http.StatusSeeOther, location: appSignedOut + "?state=s",
		},
		{
			name:   "no redirect",
			params: func(testing.TB, *logoutFixture) url.Values { return url.Values{} },
			status: http.StatusOK, page: "You are signed out",
		},
		{
			name: "an unregistered redirect",
			params: func(t testing.TB, f *logoutFixture) url.Values {
				return url.Values{"id_token_hint": {f.idToken(t, "alice", appID)}, "post_logout_redirect_uri": {"https://evil.example/"}}
			},
			status: http.StatusBadRequest, page: "not registered",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newLogoutFixture(t)
			f.logins.signOut()
			n := len(f.db.Events())
			w := f.get(tc.params(t, f))
			assert.Equal(t, tc.status, w.Code)
			assert.Equal(t, tc.location, w.Header().Get("Location"))
			if tc.page != "" {
				assert.Contains(t, w.Body.String(), tc.page)
			}
			assert.NotContains(t, w.Body.String(), ahLoginPage)
			assert.Zero(t, f.authn.calls.Load(), "no login page")
			assert.Zero(t, f.logins.logoutCount())
			assert.Zero(t, testkit.CountEvents(testkit.EventsSince(f.db.Events(), n), store.EventLoggedOut), "nobody was logged out")
		})
	}
}

// TestEndSessionEndpoint_ConfirmationIsCSRFSafe: the confirmation form logs out
// only with the confirmation made for this login, once, within its
// lifetime; anything else is refused (403) and recorded, logs nobody out
// and ends no session. A POST without a confirmation is a new logout
// request: it asks again.
func TestEndSessionEndpoint_ConfirmationIsCSRFSafe(t *testing.T) {
	t.Parallel()
	otherKeys, err := memory.GenerateKeySet(store.ES256)
	require.NoError(t, err)
	tests := []struct {
		name string
		// attempt changes the world and returns the form to post, given
		// the genuine confirmation c.
		attempt func(t *testing.T, f *logoutFixture, c string) url.Values
		status  int
		page    string
		reason  string
		// genuineStillWorks: afterwards, the genuine confirmation still
		// logs the user out (the attempt did not burn it).
		genuineStillWorks bool
	}{
		{
			name:    "no confirmation: asked again",
			attempt: func(*testing.T, *logoutFixture, string) url.Values { return url.Values{"client_id": {appID}} },
			status:  http.StatusOK, page: "asks to sign you out", genuineStillWorks: true,
		},
		{
			name: "an empty confirmation",
			attempt: func(*testing.T, *logoutFixture, string) url.Values {
				return url.Values{impersonation.LogoutConfirmField: {""}}
			},
			status: http.StatusForbidden, page: "the sign-out confirmation is missing", reason: "missing", genuineStillWorks: true,
		},
		{
			name: "reused",
			attempt: func(t *testing.T, f *logoutFixture, c string) url.Values {
				require.Equal(t, http.StatusSeeOther, f.confirm(c).Code)
				require.Equal(t, 1, f.logins.logoutCount())
				f.logins.reset()
				f.logins.signIn(f.alice) // the same login again: a replayed form
				f.startSession(t, sessReason)
				return url.Values{impersonation.LogoutConfirmField: {c}}
			},
			status: http.StatusForbidden, page: "the sign-out confirmation was used already", reason: "used already",
		},
		{
			name: "another login session of the same user",
			attempt: func(_ *testing.T, f *logoutFixture, c string) url.Values {
				other := f.alice
				other.Session = sessOtherLogin
				f.logins.signIn(other)
				return url.Values{impersonation.LogoutConfirmField: {c}}
			},
			status: http.StatusForbidden, page: "made for another sign-in", reason: "another sign-in", genuineStillWorks: true,
		},
		{
			name: "a new login in the same session",
			attempt: func(_ *testing.T, f *logoutFixture, c string) url.Values {
				again := f.alice
				again.AuthTime = again.AuthTime.Add(time.Hour)
				f.logins.signIn(again)
				return url.Values{impersonation.LogoutConfirmField: {c}}
			},
			status: http.StatusForbidden, page: "made for another sign-in", reason: "another sign-in", genuineStillWorks: true,
		},
		{
			name: "another user",
			attempt: func(_ *testing.T, f *logoutFixture, c string) url.Values {
				f.logins.signIn(impersonation.Login{UserID: "bob", AuthTime: f.alice.AuthTime, Session: sessLogin})
				return url.Values{impersonation.LogoutConfirmField: {c}}
			},
			status: http.StatusForbidden, page: "made for another sign-in", reason: "another sign-in", genuineStillWorks: true,
		},
		{
			name: "expired",
			attempt: func(_ *testing.T, f *logoutFixture, c string) url.Values {
				f.clock.Advance(logoutconfirm.TTL + time.Minute)
				return url.Values{impersonation.LogoutConfirmField: {c}}
			},
			status: http.StatusForbidden, page: "not valid or has expired", reason: "token expired",
		},
		{
			name: "signed with another key",
			attempt: func(t *testing.T, f *logoutFixture, c string) url.Values {
				key, err := otherKeys.SigningKey(context.Background())
				require.NoError(t, err)
				forged := testkit.SignRaw(t, key, testkit.Header(key, logoutconfirm.HeaderType), testkit.DecodeJWT(t, c).Claims)
				return url.Values{impersonation.LogoutConfirmField: {forged}}
			},
			status: http.StatusForbidden, page: "not valid or has expired", reason: "unknown signing key", genuineStillWorks: true,
		},
		{
			name: "with the issuer's key but for another login",
			attempt: func(t *testing.T, f *logoutFixture, c string) url.Values {
				claims := testkit.DecodeJWT(t, c).Claims
				claims["login"] = "another-login-binding"
				key := f.signingKey(t)
				return url.Values{impersonation.LogoutConfirmField: {testkit.SignRaw(t, key, testkit.Header(key, logoutconfirm.HeaderType), claims)}}
			},
			status: http.StatusForbidden, page: "made for another sign-in", reason: "another sign-in", genuineStillWorks: true,
		},
		{
			name: "tampered",
			attempt: func(_ *testing.T, _ *logoutFixture, c string) url.Values {
				i := strings.LastIndexByte(c, '.') + 5
				b := []byte(c)
				b[i] ^= 1
				return url.Values{impersonation.LogoutConfirmField: {string(b)}}
			},
			status: http.StatusForbidden, page: "not valid or has expired", reason: "jose:", genuineStillWorks: true,
		},
		{
			name: "an ID token instead",
			attempt: func(t *testing.T, f *logoutFixture, _ string) url.Values {
				return url.Values{impersonation.LogoutConfirmField: {f.idToken(t, "alice", appID)}}
			},
			status: http.StatusForbidden, page: "not valid or has expired", reason: "wrong token type", genuineStillWorks: true,
		},
		{
			name: "two confirmations",
			attempt: func(_ *testing.T, _ *logoutFixture, c string) url.Values {
				return url.Values{impersonation.LogoutConfirmField: {c, c}}
			},
			status: http.StatusBadRequest, page: "logout_confirmation is repeated", reason: "repeated", genuineStillWorks: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newLogoutFixture(t)
			f.startSession(t, sessReason)
			c := confirmationOf(t, f.get(url.Values{"id_token_hint": {f.idToken(t, "alice", appID)}, "post_logout_redirect_uri": {appSignedOut}}))
			form := tc.attempt(t, f, c)
			n := len(f.db.Events())

			w := f.post(form)
			assert.Equal(t, tc.status, w.Code)
			assert.Empty(t, w.Header().Get("Location"), "never a redirect")
			assert.Contains(t, w.Body.String(), tc.page)
			f.requireStillSignedIn(t, true)
			events := testkit.EventsSince(f.db.Events(), n)
			if tc.reason == "" {
				assert.Empty(t, events)
			} else {
				testkit.RequireOneEvent(t, events, store.EventRequestRefused, store.OutcomeDenied, tc.reason)
				testkit.AssertNoLeak(t, w.Body.String(), c)
				assert.NotContains(t, events[0].Reason, c)
			}

			if tc.genuineStillWorks {
				f.logins.signIn(f.alice)
				w = f.confirm(c)
				require.Equal(t, http.StatusSeeOther, w.Code, w.Body.String())
				assert.Equal(t, appSignedOut, w.Header().Get("Location"))
				assert.Equal(t, 1, f.logins.logoutCount())
				f.requireSessionGone(t, sessLogin)
			}
		})
	}
}

// TestEndSessionEndpoint_ConfirmationAfterSigningOutElsewhere: the user signed out
// in another tab before confirming: nothing to log out, the registered
// redirect still happens.
func TestEndSessionEndpoint_ConfirmationAfterSigningOutElsewhere(t *testing.T) {
	t.Parallel()
	f := newLogoutFixture(t)
	c := confirmationOf(t, f.get(url.Values{"id_token_hint": {f.idToken(t, "alice", appID)}, "post_logout_redirect_uri": {appSignedOut}, "state": {"s"}}))
	f.logins.signOut()
	w := f.confirm(c)
	require.Equal(t, http.StatusSeeOther, w.Code)
	assert.Equal(t, appSignedOut+"?state=s", w.Header().Get("Location"))
	assert.Zero(t, f.logins.logoutCount())
}

// TestEndSessionEndpoint_RedirectURIUnregisteredBeforeTheConfirmation: the URI is
// checked again when the confirmation comes back; the user who confirmed
// is logged out, without the redirect.
func TestEndSessionEndpoint_RedirectURIUnregisteredBeforeTheConfirmation(t *testing.T) {
	t.Parallel()
	f := newLogoutFixture(t)
	c := confirmationOf(t, f.get(url.Values{"id_token_hint": {f.idToken(t, "alice", appID)}, "post_logout_redirect_uri": {appSignedOut}}))
	f.updateClient(t, appID, func(c *store.Client) { c.PostLogoutRedirectURIs = nil })
	n := len(f.db.Events())
	w := f.confirm(c)
	require.Equal(t, http.StatusOK, w.Code)
	assertNoRedirect(t, w)
	assert.Contains(t, w.Body.String(), "You are signed out")
	f.requireLoggedOut(t, testkit.EventsSince(f.db.Events(), n), appID)
}

// TestEndSessionEndpoint_FailuresFailClosed: a store or the host's logout failing
// is a 503 page, never a redirect, and leaves the host's login.
func TestEndSessionEndpoint_FailuresFailClosed(t *testing.T) {
	t.Parallel()
	errDown := errors.New("store: connection refused")
	t.Run("the host's logout fails", func(t *testing.T) {
		t.Parallel()
		f := newLogoutFixture(t)
		f.logins.failWith(errDown)
		n := len(f.db.Events())
		w := f.get(url.Values{"id_token_hint": {f.idToken(t, "alice", app2ID)}, "post_logout_redirect_uri": {app2SignedOut}})
		assert.Equal(t, http.StatusServiceUnavailable, w.Code)
		assertNoRedirect(t, w)
		assert.Contains(t, w.Body.String(), "could not be completed")
		testkit.AssertNoLeak(t, w.Body.String(), "connection refused")
		f.requireStillSignedIn(t, false)
		e := testkit.RequireOneEvent(t, testkit.EventsSince(f.db.Events(), n), store.EventRequestRefused, store.OutcomeFailed, "host logout")
		assert.Equal(t, app2ID, e.ClientID)
	})
	t.Run("one-time use fails at the confirmation", func(t *testing.T) {
		t.Parallel()
		f := newLogoutFixture(t)
		f.startSession(t, sessReason)
		c := confirmationOf(t, f.get(url.Values{"client_id": {appID}}))
		f.oneTime.failWith(errDown)
		n := len(f.db.Events())
		w := f.confirm(c)
		assert.Equal(t, http.StatusServiceUnavailable, w.Code)
		assertNoRedirect(t, w)
		f.requireStillSignedIn(t, true)
		testkit.RequireOneEvent(t, testkit.EventsSince(f.db.Events(), n), store.EventRequestRefused, store.OutcomeFailed, "connection refused")
	})
}

// TestEndSessionEndpoint_HostRendersItsPages: WithLogoutPage gets every page with
// what it needs, and its confirmation form works like the built-in one.
func TestEndSessionEndpoint_HostRendersItsPages(t *testing.T) {
	t.Parallel()
	var (
		mu    sync.Mutex
		pages []impersonation.LogoutPage
	)
	page := func(w http.ResponseWriter, _ *http.Request, p *impersonation.LogoutPage) {
		mu.Lock()
		pages = append(pages, *p)
		mu.Unlock()
		w.WriteHeader(p.Status)
		_, _ = w.Write([]byte("host page"))
	}
	f := newLogoutFixture(t, impersonation.WithLogoutPage(page))
	sess, _ := f.startSession(t, sessReason)

	w := f.get(url.Values{"id_token_hint": {f.idToken(t, "alice", appID)}, "post_logout_redirect_uri": {appSignedOut}})
	require.Equal(t, http.StatusOK, w.Code)
	assert.Equal(t, "host page", w.Body.String())
	assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
	require.Len(t, pages, 1)
	p := pages[0]
	assert.Equal(t, impersonation.LogoutConfirm, p.Kind)
	assert.Equal(t, http.StatusOK, p.Status)
	assert.Equal(t, f.alice, p.Login)
	require.NotNil(t, p.User)
	assert.Equal(t, "alice", p.User.Username)
	require.NotNil(t, p.Client)
	assert.Equal(t, appID, p.Client.ID)
	require.NotNil(t, p.Impersonation)
	assert.Equal(t, sess.ID, p.Impersonation.ID)
	assert.False(t, p.OtherUser)
	assert.Equal(t, testIssuer+logoutPath, p.Action)
	require.NotEmpty(t, p.Confirmation)

	w = f.get(url.Values{"client_id": {"nope"}})
	assert.Equal(t, http.StatusBadRequest, w.Code)
	require.Len(t, pages, 2)
	assert.Equal(t, impersonation.LogoutRefused, pages[1].Kind)
	assert.Equal(t, "unknown client", pages[1].Error)

	w = f.confirm(p.Confirmation)
	require.Equal(t, http.StatusSeeOther, w.Code)
	assert.Equal(t, appSignedOut, w.Header().Get("Location"))
	require.Len(t, pages, 2, "a redirect is no page")
}

// TestEndSessionEndpoint_BuiltInPageEscapes: the built-in pages escape what they
// show.
func TestEndSessionEndpoint_BuiltInPageEscapes(t *testing.T) {
	t.Parallel()
	f := newLogoutFixture(t)
	f.updateClient(t, appID, func(c *store.Client) { c.Name = `<script>alert("x")</script>` })
	w := f.get(url.Values{"client_id": {appID}})
	confirmationOf(t, w)
	assert.NotContains(t, w.Body.String(), "<script>")
	assert.Contains(t, w.Body.String(), "&lt;script&gt;")
}

// TestHandlers_EndSessionConfiguration: the end-session endpoint exists,
// is mounted and is announced only with WithLogout, and what cannot be
// honoured is an error.
func TestHandlers_EndSessionConfiguration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	discovered := func(t *testing.T, mux *http.ServeMux) impersonation.Metadata {
		t.Helper()
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/.well-known/openid-configuration", nil))
		require.Equal(t, http.StatusOK, w.Code)
		var md impersonation.Metadata
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &md))
		return md
	}

	t.Run("without WithLogout", func(t *testing.T) {
		t.Parallel()
		f := newSessionFixture(t)
		e, err := f.svc.Handlers(ctx, &ahAuthenticator{})
		require.NoError(t, err)
		assert.Nil(t, e.EndSession)
		mux := http.NewServeMux()
		require.NoError(t, e.Mount(mux))
		assert.Empty(t, discovered(t, mux).EndSessionEndpoint, "no end_session_endpoint announced")
		_, pattern := mux.Handler(httptest.NewRequest(http.MethodGet, logoutPath, nil))
		assert.Empty(t, pattern, "nothing mounted")
	})
	t.Run("with WithLogout", func(t *testing.T) {
		t.Parallel()
		f := newLogoutFixture(t)
		mux := http.NewServeMux()
		require.NoError(t, f.e.Mount(mux))
		assert.Equal(t, testIssuer+logoutPath, discovered(t, mux).EndSessionEndpoint)
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, logoutPath+"?client_id="+appID, nil))
		confirmationOf(t, w)
	})
	t.Run("refused", func(t *testing.T) {
		t.Parallel()
		f := newSessionFixture(t)
		login := &ahAuthenticator{}
		_, err := f.svc.Handlers(ctx, login, impersonation.WithMetadata(impersonation.DefaultMetadata(testIssuer, "")))
		require.ErrorContains(t, err, "end_session_endpoint", "announced but not served")
		_, err = f.svc.Handlers(ctx, login, impersonation.WithLogoutPage(func(http.ResponseWriter, *http.Request, *impersonation.LogoutPage) {}))
		require.ErrorContains(t, err, "WithLogoutPage needs WithLogout")
		_, err = f.svc.Handlers(ctx, login, impersonation.WithLogout(nil))
		require.Error(t, err, "WithLogout without Logins")

		e, err := f.svc.Handlers(ctx, login, impersonation.WithLogout(&fakeLogins{}))
		require.NoError(t, err)
		e.EndSession = nil
		require.ErrorContains(t, e.Mount(http.NewServeMux()), "no handler", "never a panic in ServeMux.Handle")
	})
}
