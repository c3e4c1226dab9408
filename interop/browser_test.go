package interop_test

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The authorize step as a browser does it: the server's own HTML login
// form with its session cookie and CSRF token, then the authorize
// endpoint, whose redirect to the client carries the tokens in its
// fragment. Redirects are never followed, so the fragment is read from the
// Location header.

// csrfField is the login form's hidden CSRF token.
var csrfField = regexp.MustCompile(`name="csrf_token" value="([^"]*)"`)

// fragmentTokens are the tokens of the authorize redirect's fragment.
type fragmentTokens struct {
	SubjectToken string
	IDToken      string
	Nonce        string
}

// newBrowser returns an HTTP client with a cookie jar that does not
// follow redirects.
func newBrowser(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &http.Client{
		Jar:     jar,
		Timeout: httpTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// signIn logs alice in through the login form and returns her browser.
func signIn(t *testing.T, issuer string) *http.Client {
	t.Helper()
	browser := newBrowser(t)
	resp, err := browser.Get(issuer + "/login")
	require.NoError(t, err)
	page := readAll(t, resp)
	require.Equal(t, http.StatusOK, resp.StatusCode, "GET /login: %s", page)
	m := csrfField.FindStringSubmatch(page)
	require.NotNil(t, m, "the login form has no csrf_token field")
	resp, err = browser.PostForm(issuer+"/login", url.Values{
		"username": {adminUser}, "password": {adminPass}, "csrf_token": {m[1]},
	})
	require.NoError(t, err)
	body := readAll(t, resp)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, "POST /login: %s", body)
	return browser
}

// authorize asks the authorize endpoint, in alice's browser, for a
// subject token for bob and alice's ID token.
func authorize(t *testing.T, browser *http.Client, issuer string) fragmentTokens {
	t.Helper()
	nonce, state := randomString(t), randomString(t)
	q := url.Values{
		"client_id":         {clientID},
		"redirect_uri":      {redirectURI},
		"response_type":     {"id_token subject_token"},
		"scope":             {authorizeScope},
		"requested_subject": {"bob"},
		"nonce":             {nonce},
		"state":             {state},
	}
	resp, err := browser.Get(issuer + "/oauth2/authorize?" + q.Encode())
	require.NoError(t, err)
	body := readAll(t, resp)
	require.Equal(t, http.StatusFound, resp.StatusCode, "GET /oauth2/authorize: %s", body)
	loc, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(t, err)
	require.Equal(t, redirectURI, loc.Scheme+"://"+loc.Host+loc.Path, "redirect target")
	frag, err := url.ParseQuery(loc.Fragment)
	require.NoError(t, err)
	require.Empty(t, frag.Get("error"), "authorize error: %s", frag.Get("error_description"))
	require.Equal(t, state, frag.Get("state"))
	tokens := fragmentTokens{SubjectToken: frag.Get("subject_token"), IDToken: frag.Get("id_token"), Nonce: nonce}
	require.NotEmpty(t, tokens.SubjectToken, "no subject_token in the fragment")
	require.NotEmpty(t, tokens.IDToken, "no id_token in the fragment")
	return tokens
}

// tokenResponse is RFC 8693 §2.2.1's successful response.
type tokenResponse struct {
	AccessToken     string `json:"access_token"`
	IssuedTokenType string `json:"issued_token_type"`
	TokenType       string `json:"token_type"`
	ExpiresIn       int    `json:"expires_in"`
	Scope           string `json:"scope"`
}

// exchangeForm performs the token exchange with a plain form post
// (client_secret_basic), for the tests whose client under test only
// verifies.
func exchangeForm(t *testing.T, issuer string, tokens fragmentTokens) tokenResponse {
	t.Helper()
	form := url.Values{
		"grant_type":           {grantTokenExchange},
		"subject_token":        {tokens.SubjectToken},
		"subject_token_type":   {tokenTypeJWT},
		"actor_token":          {tokens.IDToken},
		"actor_token_type":     {tokenTypeIDToken},
		"requested_token_type": {tokenTypeAccessToken},
		"audience":             {issuer + "/api"},
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, issuer+"/oauth2/token", strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(clientSecret))
	resp, err := (&http.Client{Timeout: httpTimeout}).Do(req)
	require.NoError(t, err)
	body := readAll(t, resp)
	require.Equal(t, http.StatusOK, resp.StatusCode, "POST /oauth2/token: %s", body)
	var tr tokenResponse
	require.NoError(t, json.Unmarshal([]byte(body), &tr), body)
	require.NotEmpty(t, tr.AccessToken)
	return tr
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	require.NoError(t, err)
	return string(b)
}

func randomString(t *testing.T) string {
	t.Helper()
	b := make([]byte, 16)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return base64.RawURLEncoding.EncodeToString(b)
}
