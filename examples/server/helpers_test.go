package main

import (
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/actas/actas/internal/testkit"
	"github.com/actas/actas/store"
)

// testPasswordIterations keeps password hashing cheap in tests.
const testPasswordIterations = 1000

// fixture is a running reference server.
type fixture struct {
	srv    *httptest.Server
	s      *server
	issuer string
	stdout *testkit.SyncBuffer
	stderr *testkit.SyncBuffer
}

// newFixture starts the server on httptest with the issuer set to its
// URL; mutate adjusts the config.
func newFixture(t *testing.T, mutate ...func(*config)) *fixture {
	t.Helper()
	f := newInstance(t, "", mutate...)
	require.Equal(t, f.issuer, f.srv.URL)
	return f
}

// browser is an HTTP client with a cookie jar that does not follow
// redirects: tests drive each step by hand.
type browser struct {
	t      *testing.T
	f      *fixture
	client *http.Client
}

func (f *fixture) browser(t *testing.T) *browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &browser{t: t, f: f, client: &http.Client{
		Jar:           jar,
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// page is a response with its body read.
type page struct {
	*http.Response
	Body string
}

func (b *browser) abs(u string) string {
	if strings.HasPrefix(u, "/") {
		return b.f.issuer + u
	}
	return u
}

func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	resp, err := b.client.Do(req)
	require.NoError(b.t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(b.t, err)
	return page{Response: resp, Body: string(body)}
}

func (b *browser) get(u string) page {
	b.t.Helper()
	req, err := http.NewRequestWithContext(b.t.Context(), http.MethodGet, b.abs(u), nil)
	require.NoError(b.t, err)
	return b.do(req)
}

func (b *browser) post(u string, form url.Values) page {
	b.t.Helper()
	req, err := http.NewRequestWithContext(b.t.Context(), http.MethodPost, b.abs(u), strings.NewReader(form.Encode()))
	require.NoError(b.t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// location returns the Location of a redirect.
func (p page) location(t testing.TB) string {
	t.Helper()
	require.Contains(t, []int{http.StatusFound, http.StatusSeeOther}, p.StatusCode, "expected a redirect, got %d: %s", p.StatusCode, p.Body)
	return p.Header.Get("Location")
}

// fragment returns the Location of a redirect and the parameters in its
// fragment.
func (p page) fragment(t testing.TB) (*url.URL, url.Values) {
	t.Helper()
	loc, err := url.Parse(p.location(t))
	require.NoError(t, err)
	v, err := url.ParseQuery(loc.Fragment)
	require.NoError(t, err)
	return loc, v
}

var (
	hiddenRE = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)
	formRE   = regexp.MustCompile(`(?s)<form method="post" action="([^"]*)"[^>]*>(.*?)</form>`)
)

// form is a POST form of an HTML page: its action and hidden fields.
type form struct {
	Action string
	Fields url.Values
}

// forms returns the POST forms of an HTML page, in order.
func forms(body string) []form {
	var out []form
	for _, m := range formRE.FindAllStringSubmatch(body, -1) {
		v := url.Values{}
		for _, h := range hiddenRE.FindAllStringSubmatch(m[2], -1) {
			v.Add(html.UnescapeString(h[1]), html.UnescapeString(h[2]))
		}
		out = append(out, form{Action: html.UnescapeString(m[1]), Fields: v})
	}
	return out
}

// formFor returns the hidden fields of the form posting to action (a
// path or URL); it fails the test if there is none.
func formFor(t *testing.T, body, action string) url.Values {
	t.Helper()
	for _, f := range forms(body) {
		if f.Action == action {
			return f.Fields
		}
	}
	require.Failf(t, "no form", "no form posting to %s in %s", action, body)
	return nil
}

// mainForm returns the fields of the page's last form (the layout's
// sign-out form comes first).
func mainForm(t *testing.T, body string) form {
	t.Helper()
	fs := forms(body)
	require.NotEmpty(t, fs, "no form in %s", body)
	return fs[len(fs)-1]
}

// csrf returns the CSRF token of a page's forms.
func csrf(t *testing.T, body string) string {
	t.Helper()
	tok := mainForm(t, body).Fields.Get(csrfField)
	require.NotEmpty(t, tok, "no CSRF token in %s", body)
	return tok
}

// login signs in through /login and returns nothing; it fails the test
// unless the login succeeds.
func (b *browser) login(username, password string) {
	b.t.Helper()
	p := b.get("/login")
	require.Equal(b.t, http.StatusOK, p.StatusCode)
	p = b.post("/login", url.Values{"username": {username}, "password": {password}, csrfField: {csrf(b.t, p.Body)}})
	require.Equal(b.t, http.StatusSeeOther, p.StatusCode, p.Body)
}

// authorizeURL is an authorize request for the demo data.
func (f *fixture) authorizeURL(client, redirectURI, subject, mode string, extra url.Values) string {
	v := url.Values{
		"client_id":         {client},
		"redirect_uri":      {redirectURI},
		"state":             {"state-" + subject},
		"scope":             {"internal_user_impersonate,openid,orders:read"},
		"response_type":     {"id_token subject_token"},
		"requested_subject": {subject},
		"nonce":             {"nonce-" + subject},
	}
	if mode != "" {
		v.Set("response_mode", mode)
	}
	for k, vs := range extra {
		v[k] = vs
	}
	return "/oauth2/authorize?" + v.Encode()
}

// cliAuthorize signs alice in (if needed) and runs an authorize request
// of client cli (skip_consent) for subject in mode, returning the
// response parameters of the redirect.
func (b *browser) cliAuthorize(subject, mode string) url.Values {
	b.t.Helper()
	p := b.get(b.f.authorizeURL(cliClientID, cliRedirectURI, subject, mode, nil))
	if p.StatusCode == http.StatusOK && strings.Contains(p.Body, `action="/login"`) {
		p = b.post("/login", url.Values{"username": {"alice"}, "password": {"alice-demo-password"}, csrfField: {csrf(b.t, p.Body)}, "return_to": {formFor(b.t, p.Body, "/login").Get("return_to")}})
		p = b.get(p.location(b.t))
	}
	loc, err := url.Parse(p.location(b.t))
	require.NoError(b.t, err)
	require.Equal(b.t, cliRedirectURI, (&url.URL{Scheme: loc.Scheme, Host: loc.Host, Path: loc.Path}).String())
	raw := loc.Fragment
	if mode == "query" {
		raw = loc.RawQuery
	}
	v, err := url.ParseQuery(raw)
	require.NoError(b.t, err)
	return v
}

// claimsOf decodes the header and payload of a JWT without verifying it
// (the server did).
func claimsOf(t *testing.T, jwt string) (header, payload map[string]any) {
	t.Helper()
	parts := strings.Split(jwt, ".")
	require.Len(t, parts, 3)
	for i, dst := range []*map[string]any{&header, &payload} {
		raw, err := base64.RawURLEncoding.DecodeString(parts[i])
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(raw, dst))
	}
	return header, payload
}

// postClient makes a client-authenticated POST (client_secret_basic) to
// an OAuth endpoint and decodes the JSON answer.
func (f *fixture) postClient(t *testing.T, path, clientID, secret string, form url.Values) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, f.issuer+path, strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
	resp, err := f.srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if len(body) > 0 {
		require.NoError(t, json.Unmarshal(body, &out), string(body))
	}
	return resp.StatusCode, out
}

// exchange trades a subject token and an ID token as client cli, asking
// for extra parameters (such as audience).
func (f *fixture) exchange(t *testing.T, subjectToken, idToken string, extra url.Values) (int, map[string]any) {
	t.Helper()
	form := url.Values{
		"subject_token":        {subjectToken},
		"subject_token_type":   {"urn:ietf:params:oauth:token-type:jwt"},
		"requested_token_type": {"urn:ietf:params:oauth:token-type:access_token"},
		"grant_type":           {"urn:ietf:params:oauth:grant-type:token-exchange"},
		"actor_token":          {idToken},
		"actor_token_type":     {"urn:ietf:params:oauth:token-type:id_token"},
	}
	for k, vs := range extra {
		form[k] = vs
	}
	return f.postClient(t, "/oauth2/token", cliClientID, cliSecret, form)
}

// apiCall calls the API with a bearer token.
func (f *fixture) apiCall(t *testing.T, method, path, token string) page {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, f.issuer+path, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := f.srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return page{Response: resp, Body: string(body)}
}

// decisions returns the types of the recorded audit events, oldest first,
// without request.refused (the traces of refused tokens and inactive
// introspections a test provokes on purpose).
func (f *fixture) decisions() []string {
	var out []string
	for _, t := range f.eventTypes() {
		if t != string(store.EventRequestRefused) {
			out = append(out, t)
		}
	}
	return out
}

// eventTypes returns the types of the recorded audit events, oldest first.
func (f *fixture) eventTypes() []string {
	var out []string
	for _, e := range f.s.dir.db.Events() {
		out = append(out, string(e.Type))
	}
	return out
}
