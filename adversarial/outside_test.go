package adversarial_test

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/internal/testkit"
)

// The outside run: the reference server (examples/server), built and
// started as a real process, attacked over HTTP the way the outside
// attack run of issue 11 did, with nothing but a cookie jar and the
// server's published pages. It covers the findings that live in what a
// host wires around the library: F1 (a sign-in to another client through
// an impersonation session), F2 (a cross-site GET starting an
// impersonation) and F3 (the audit log across organisations). The suite
// cannot import the server (a main package), so it builds it: that needs
// the repository's Go workspace (go.work), which `go test` uses from the
// repository; with GOWORK=off the family is skipped.

// outsideData is the reference server's data file for the run: the demo
// world, with demo-app skipping consent (a supported setting: the
// attacker's best case), a second root organisation globex with its own
// admin (gina, who may impersonate there only), and an auditor (audrey).
const outsideData = `{
  "organizations": [
    {"id": "acme", "name": "ACME Corporation"},
    {"id": "acme-eu", "name": "ACME Europe", "parent": "acme"},
    {"id": "globex", "name": "Globex"}
  ],
  "users": [
    {"id": "alice", "username": "alice", "password": "alice-outside-pw", "org": "acme", "email": "alice@acme.example"},
    {"id": "bob", "username": "bob", "password": "bob-outside-pw", "org": "acme-eu", "email": "bob@acme.example"},
    {"id": "gina", "username": "gina", "password": "gina-outside-pw", "org": "globex"},
    {"id": "dave", "username": "dave", "password": "dave-outside-pw", "org": "globex"},
    {"id": "audrey", "username": "audrey", "password": "audrey-outside-pw", "org": "acme"}
  ],
  "clients": [
    {"id": "demo-app", "secret": "outside-app-secret", "redirect_uris": ["ISSUER/app/callback"],
     "scopes": ["openid", "internal_user_impersonate", "orders:read"],
     "grant_types": ["urn:ietf:params:oauth:grant-type:token-exchange"], "impersonation": true,
     "skip_consent": true, "response_modes": ["form_post"], "audiences": ["ISSUER/api"]},
    {"id": "demo-app2", "secret": "outside-app2-secret", "redirect_uris": ["ISSUER/app2/callback"],
     "scopes": ["openid", "internal_user_impersonate", "orders:read"],
     "grant_types": ["authorization_code", "refresh_token"], "refresh_tokens": true, "impersonation": true,
     "post_logout_redirect_uris": ["ISSUER/app2/signed-out"], "skip_logout_consent": true},
    {"id": "demo-app3", "secret": "outside-app3-secret", "redirect_uris": ["ISSUER/app3/callback"],
     "scopes": ["openid", "orders:read"], "grant_types": ["authorization_code"],
     "post_logout_redirect_uris": ["ISSUER/app3/signed-out"]}
  ],
  "roles": [
    {"name": "impersonator", "client": "demo-app", "scopes": ["internal_user_impersonate"], "users": ["alice", "gina"]},
    {"name": "customer", "client": "demo-app", "scopes": ["orders:read"], "users": ["bob", "dave"]},
    {"name": "impersonator", "client": "demo-app2", "scopes": ["internal_user_impersonate"], "users": ["alice"]},
    {"name": "customer", "client": "demo-app2", "scopes": ["orders:read"], "users": ["bob", "dave"]},
    {"name": "customer", "client": "demo-app3", "scopes": ["orders:read"], "users": ["bob", "dave"]}
  ],
  "auditors": ["audrey"]
}`

var passwords = map[string]string{
	"alice": "alice-outside-pw", "bob": "bob-outside-pw", "gina": "gina-outside-pw",
	"dave": "dave-outside-pw", "audrey": "audrey-outside-pw",
}

// serverBinary builds the reference server once per test process.
var serverBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "actas-outside-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "server")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/actas/actas/examples/server")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build examples/server: %v\n%s", err, out)
	}
	return bin, nil
})

// outsideServer is one running reference server.
type outsideServer struct {
	issuer string
	output *testkit.SyncBuffer
}

// startOutside builds (once) and starts the reference server on a free
// loopback port with outsideData, and stops it when t ends.
func startOutside(t *testing.T) *outsideServer {
	t.Helper()
	if os.Getenv("GOWORK") == "off" {
		t.Skip("the outside run builds examples/server, which needs the repository's Go workspace")
	}
	bin, err := serverBinary()
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	issuer := "http://" + addr
	data := filepath.Join(t.TempDir(), "data.json")
	require.NoError(t, os.WriteFile(data, []byte(strings.ReplaceAll(outsideData, "ISSUER", issuer)), 0o600))

	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "-addr", addr, "-issuer", issuer, "-data", data)
	out := &testkit.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})
	// Readiness: the discovery document answers. The server is a separate
	// process; there is no clock to inject into its start-up.
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(issuer + "/.well-known/openid-configuration")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		require.Truef(t, time.Now().Before(deadline), "the server did not start:\n%s", out.String())
		time.Sleep(50 * time.Millisecond)
	}
	return &outsideServer{issuer: issuer, output: out}
}

// outsideBrowser is a cookie jar and a client that follows redirects like
// a browser, recording the path of each request.
type outsideBrowser struct {
	t      *testing.T
	srv    *outsideServer
	client *http.Client
	visits []string
}

func (s *outsideServer) browser(t *testing.T) *outsideBrowser {
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	b := &outsideBrowser{t: t, srv: s}
	b.client = &http.Client{Jar: jar, Timeout: 20 * time.Second}
	b.client.CheckRedirect = func(req *http.Request, _ []*http.Request) error {
		b.visits = append(b.visits, req.URL.Path)
		if req.URL.Host != strings.TrimPrefix(s.issuer, "http://") {
			return http.ErrUseLastResponse // never leave the issuer's origin
		}
		return nil
	}
	return b
}

// outsidePage is a response as the browser saw it.
type outsidePage struct {
	status int
	url    *url.URL
	body   string
}

func (b *outsideBrowser) do(req *http.Request) outsidePage {
	b.t.Helper()
	b.visits = append(b.visits, req.URL.Path)
	resp, err := b.client.Do(req)
	require.NoError(b.t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(b.t, err)
	p := outsidePage{status: resp.StatusCode, url: resp.Request.URL, body: string(body)}
	return b.autoSubmit(p)
}

func (b *outsideBrowser) get(path string) outsidePage {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.abs(path), nil)
	require.NoError(b.t, err)
	return b.do(req)
}

func (b *outsideBrowser) post(path string, form url.Values) outsidePage {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.abs(path), strings.NewReader(form.Encode()))
	require.NoError(b.t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

func (b *outsideBrowser) abs(path string) string {
	if strings.HasPrefix(path, "http") {
		return path
	}
	return b.srv.issuer + path
}

var (
	formRE  = regexp.MustCompile(`(?s)<form method="post" action="([^"]*)">(.*?)</form>`)
	inputRE = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)
)

// autoSubmit does what a browser does with the library's form_post page:
// its script submits the form at once.
func (b *outsideBrowser) autoSubmit(p outsidePage) outsidePage {
	if !strings.Contains(p.body, "document.forms[0].submit()") && !strings.Contains(p.body, ".submit()") {
		return p
	}
	m := formRE.FindStringSubmatch(p.body)
	if m == nil {
		return p
	}
	form := url.Values{}
	for _, in := range inputRE.FindAllStringSubmatch(m[2], -1) {
		form.Set(html.UnescapeString(in[1]), html.UnescapeString(in[2]))
	}
	return b.post(html.UnescapeString(m[1]), form)
}

var csrfRE = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// csrfOf returns a page's CSRF token.
func (b *outsideBrowser) csrfOf(body string) string {
	b.t.Helper()
	m := csrfRE.FindStringSubmatch(body)
	require.NotNil(b.t, m, "no CSRF token in %s", body)
	return m[1]
}

// login signs user in at the identity server.
func (b *outsideBrowser) login(user string) {
	b.t.Helper()
	p := b.get("/login")
	require.Equal(b.t, http.StatusOK, p.status)
	p = b.post("/login", url.Values{"username": {user}, "password": {passwords[user]}, "csrf_token": {b.csrfOf(p.body)}})
	require.Equal(b.t, http.StatusOK, p.status, p.body)
	require.NotEqual(b.t, "/login", p.url.Path, "the login failed: %s", p.body)
}

// impersonate runs the console's Impersonate of subject with reason, as a
// signed-in admin clicking the button does, and returns the page it ends on.
func (b *outsideBrowser) impersonate(subject, reason string) outsidePage {
	b.t.Helper()
	p := b.get("/console")
	require.Equal(b.t, http.StatusOK, p.status, p.body)
	return b.post("/console/impersonate", url.Values{"user": {subject}, "reason": {reason}, "csrf_token": {b.csrfOf(p.body)}})
}

// auditEvent is an event of the audit page's JSON.
type auditEvent struct {
	Event         string `json:"event"`
	Impersonator  string `json:"impersonator"`
	User          string `json:"user"`
	Organization  string `json:"organization"`
	App           string `json:"app"`
	Reason        string `json:"reason"`
	Justification string `json:"justification"`
}

// audit returns the audit log as the signed-in user may see it.
func (b *outsideBrowser) audit() []auditEvent {
	b.t.Helper()
	p := b.get("/console/audit?format=json")
	require.Equal(b.t, http.StatusOK, p.status, p.body)
	var events []auditEvent
	require.NoError(b.t, json.Unmarshal([]byte(p.body), &events), p.body)
	return events
}

// signedIn is a fresh browser with user signed in.
func (s *outsideServer) signedIn(t *testing.T, user string) *outsideBrowser {
	t.Helper()
	b := s.browser(t)
	b.login(user)
	return b
}

// impersonated is impersonate of subject, required to succeed: the
// genuine console start lands on the app acting as subject.
func (b *outsideBrowser) impersonated(subject, reason string) outsidePage {
	b.t.Helper()
	p := b.impersonate(subject, reason)
	require.Equal(b.t, "/app", p.url.Path, "the genuine console start works: %s", p.body)
	require.Contains(b.t, p.body, "You are acting as "+subject)
	return p
}

// TestOutsideRun: the findings of the outside attack run against the
// reference server, each named after its finding, each on a server of its
// own with alice signed in.
func TestOutsideRun(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		run  func(t *testing.T, srv *outsideServer, alice *outsideBrowser)
	}{
		{name: "F1 impersonation session signs in to a client without impersonation", run: func(t *testing.T, _ *outsideServer, alice *outsideBrowser) {
			alice.impersonated("bob", "ticket OUT-1")

			// demo-app3: impersonation off, no role for alice.
			p := alice.get("/app3/login")
			assert.Equal(t, "/app3/callback", p.url.Path)
			assert.Contains(t, p.body, "access_denied")
			assert.NotContains(t, alice.get("/app3").body, "Signed in as", "demo app 3 signed someone in")

			// demo-app2 allows it: the session goes on there.
			p = alice.get("/app2/login")
			assert.Equal(t, "/app2", p.url.Path, p.body)
			assert.Contains(t, p.body, "You are acting as bob")

			var denied bool
			for _, e := range alice.audit() {
				assert.False(t, e.Event == "impersonation.session_tokens" && e.App == "demo-app3", "tokens issued to demo-app3: %+v", e)
				if e.Event == "impersonation.denied" && e.App == "demo-app3" && strings.Contains(e.Reason, "client_impersonation_disabled") {
					denied = true
				}
			}
			assert.True(t, denied, "the refused sign-in is in the audit log")
		}},
		{name: "F2 a cross-site GET starts an impersonation", run: func(t *testing.T, _ *outsideServer, alice *outsideBrowser) {
			// A link on another site: a top-level GET, which SameSite=Lax
			// cookies accompany.
			p := alice.get("/app/start?user=bob&reason=forged")
			assert.GreaterOrEqual(t, p.status, 400, "the forged start is refused: %d %s", p.status, p.body)
			assert.NotContains(t, alice.visits, "/oauth2/authorize", "the forged start reached the authorize endpoint")
			assert.NotContains(t, alice.visits, "/app/callback", "the forged start reached the app's callback")
			assert.NotContains(t, p.body, "You are acting as bob")
			assert.NotContains(t, alice.get("/console").body, `id="active-impersonation"`, "alice's login session impersonates")
			for _, e := range alice.audit() {
				assert.NotContains(t, []string{"impersonation.started", "token.exchanged", "impersonation.session_started"}, e.Event,
					"the forged start was granted: %+v", e)
				assert.NotEqual(t, "forged", e.Justification, "the attacker's reason reached the audit log: %+v", e)
			}
		}},
		{name: "F3 the audit log leaks across organisations", run: func(t *testing.T, srv *outsideServer, alice *outsideBrowser) {
			alice.impersonated("bob", "ticket OUT-3")
			refused := alice.impersonate("dave", "across roots") // refused: dave is in globex
			require.NotEqual(t, "/app", refused.url.Path)

			// An admin of globex only.
			for _, e := range srv.signedIn(t, "gina").audit() {
				assert.NotContains(t, []string{"acme", "acme-eu"}, e.Organization, "a globex admin sees an acme event: %+v", e)
				assert.NotContains(t, []string{"alice", "bob"}, e.User, "a globex admin sees an acme user's event: %+v", e)
				assert.NotEqual(t, "alice", e.Impersonator, "a globex admin sees alice's actions: %+v", e)
			}

			// The auditor.
			var sawBob bool
			for _, e := range srv.signedIn(t, "audrey").audit() {
				if e.User == "bob" && e.Event == "token.exchanged" {
					sawBob = true
				}
			}
			assert.True(t, sawBob, "the auditor sees every organisation's events")
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := startOutside(t)
			tc.run(t, srv, srv.signedIn(t, "alice"))
		})
	}
}
