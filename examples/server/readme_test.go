package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/actas/actas/internal/testkit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The curl session of docs/reference-server.md (the flow's two steps, moved
// there from the README), between these markers, is a bash block that must
// work as written against a fresh server.
const (
	// curlSessionDoc is the page that holds the curl session, from the
	// repository's root.
	curlSessionDoc   = "docs/reference-server.md"
	curlSessionStart = "<!-- curl-session:start -->"
	curlSessionEnd   = "<!-- curl-session:end -->"
	// curlSessionIssuer is the block's first line: the default issuer, which
	// the test overrides through the environment.
	curlSessionIssuer = "ISSUER=${ISSUER:-http://127.0.0.1:8080}"
)

// curlSessionBlock returns the bash block of docs/reference-server.md
// between the curl-session markers.
func curlSessionBlock(t *testing.T) string {
	t.Helper()
	return docBashBlock(t, curlSessionDoc, curlSessionStart, curlSessionEnd)
}

// docBashBlock returns the bash block between the start and end markers of
// doc, a Markdown page named by its slash-separated path from the
// repository's root (such as docs/reference-server.md).
func docBashBlock(t *testing.T, doc, start, end string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", filepath.FromSlash(doc)))
	require.NoError(t, err, "reading %s, the page that holds the block between %s and %s", doc, start, end)
	_, rest, ok := strings.Cut(string(raw), start)
	require.True(t, ok, "%s has no %s marker", doc, start)
	section, _, ok := strings.Cut(rest, end)
	require.True(t, ok, "%s has no %s marker after %s", doc, end, start)
	section = strings.TrimSpace(section)
	body, ok := strings.CutPrefix(section, "```bash\n")
	require.True(t, ok, "%s: the block is not a ```bash block right after %s", doc, start)
	body, ok = strings.CutSuffix(body, "\n```")
	require.True(t, ok, "%s: the bash block does not end right before %s", doc, end)
	return body + "\n"
}

// TestReadmeCurlSession runs the curl session of docs/reference-server.md
// (once the README's) with bash against a fresh server (the demo data, as
// `go run ./examples/server` serves it) on a free port, and checks what it
// prints: the login, the token exchange's access token response, the API's
// answer, the UserInfo answer, the introspection of the active token, its
// revocation and the API's 401 afterwards.
func TestReadmeCurlSession(t *testing.T) {
	bash := requireBashAndCurl(t)
	script := curlSessionBlock(t)
	require.True(t, strings.HasPrefix(script, curlSessionIssuer+"\n"),
		"the curl session must start with %s so that it runs as written and under this test", curlSessionIssuer)
	require.Equal(t, 1, strings.Count(script, "127.0.0.1:8080"),
		"the curl session must use $ISSUER, not the address, after its first line")

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	// The server as main runs it, on a free port; the issuer is derived
	// from the address it listens on.
	issuer, _, stderr, stopServer := runServer(ctx, t, config{Addr: "127.0.0.1:0", PasswordIterations: testPasswordIterations})

	output, err := runBash(ctx, bash, script, "ISSUER="+issuer)
	require.NoError(t, err, "the curl session of %s failed:\n%s\nserver log:\n%s", curlSessionDoc, output, stderr.String())
	t.Logf("the curl session of %s printed:\n%s", curlSessionDoc, output)

	lines := strings.Split(strings.TrimRight(output, "\n"), "\n")
	for k, l := range lines {
		lines[k] = strings.TrimSuffix(l, "\r") // the header lines curl -D prints end in CRLF
	}
	// next returns the index of the first line at or after from that
	// satisfies ok, failing the test when there is none.
	next := func(from int, what string, ok func(string) bool) int {
		t.Helper()
		for i := from; i < len(lines); i++ {
			if ok(lines[i]) {
				return i
			}
		}
		require.Failf(t, "missing output", "no %s in the curl session's output after line %d:\n%s", what, from+1, output)
		return -1
	}

	i := next(0, "successful login", func(l string) bool { return l == "POST /login: 303" })

	i = next(i+1, "token exchange response", func(l string) bool { return strings.HasPrefix(l, `{"access_token":"`) })
	var tokenResp struct {
		AccessToken     string `json:"access_token"`
		IssuedTokenType string `json:"issued_token_type"`
		TokenType       string `json:"token_type"`
		ExpiresIn       int    `json:"expires_in"`
		Scope           string `json:"scope"`
		IDToken         string `json:"id_token"`
	}
	require.NoError(t, json.Unmarshal([]byte(lines[i]), &tokenResp), lines[i])
	require.NotEmpty(t, tokenResp.IDToken, "openid granted: the user's ID token comes with the access token")
	idHeader, idClaims := claimsOf(t, tokenResp.IDToken)
	assert.Equal(t, "JWT", idHeader["typ"])
	assert.Equal(t, "bob", idClaims["sub"])
	assert.Equal(t, map[string]any{"sub": "alice"}, idClaims["act"])
	assert.Equal(t, "cli", idClaims["aud"])
	assert.Equal(t, "urn:ietf:params:oauth:token-type:access_token", tokenResp.IssuedTokenType)
	assert.Equal(t, "Bearer", tokenResp.TokenType)
	assert.Equal(t, 3600, tokenResp.ExpiresIn)
	assert.Equal(t, "openid", tokenResp.Scope)
	header, claims := claimsOf(t, tokenResp.AccessToken)
	assert.Equal(t, "at+jwt", header["typ"])
	assert.Equal(t, issuer, claims["iss"])
	assert.Equal(t, "bob", claims["sub"])
	assert.Equal(t, map[string]any{"sub": "alice"}, claims["act"])
	assert.Equal(t, issuer+"/api", claims["aud"])

	i = next(i+1, "/api/me answer", func(l string) bool { return strings.HasPrefix(l, `{"sub":`) })
	var me map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[i]), &me), lines[i])
	assert.Equal(t, "bob", me["sub"])
	assert.Equal(t, map[string]any{"sub": "alice"}, me["act"])

	i = next(i+1, "UserInfo answer", func(l string) bool { return strings.HasPrefix(l, `{"sub":`) })
	var info map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[i]), &info), lines[i])
	assert.Equal(t, map[string]any{"sub": "bob", "act": map[string]any{"sub": "alice"}, "org_id": "acme-eu", "org_name": "ACME Europe"}, info)

	i = next(i+1, `introspection answer "active":true`, func(l string) bool { return strings.HasPrefix(l, `{"active":true`) })
	var intro map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[i]), &intro), lines[i])
	assert.Equal(t, "bob", intro["sub"])
	assert.Equal(t, "cli", intro["client_id"])

	i = next(i+1, "successful revocation", func(l string) bool { return l == "POST /oauth2/revoke: 200" })
	i = next(i+1, "401 from the API after revocation", func(l string) bool {
		return strings.HasPrefix(l, "HTTP/") && strings.HasSuffix(l, " 401 Unauthorized")
	})
	next(i+1, "WWW-Authenticate invalid_token after revocation", func(l string) bool {
		return strings.HasPrefix(strings.ToLower(l), "www-authenticate: bearer") && strings.Contains(l, `error="invalid_token"`)
	})

	// The revocation ended the impersonation, and the audit log says so.
	logged := stderr.String()
	for _, event := range []string{"impersonation.started", "token.exchanged", "impersonation.request", "impersonation.ended"} {
		assert.Contains(t, logged, `"event":"`+event+`"`, "audit event %s", event)
	}

	stopServer()
}

// requireBashAndCurl returns the path of bash, or skips the test when
// bash or curl is not installed.
func requireBashAndCurl(t testing.TB) string {
	t.Helper()
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("bash is not installed")
	}
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed")
	}
	return bash
}

// runBash runs script with bash (-euo pipefail) with env added to the
// environment, and returns what it printed.
func runBash(ctx context.Context, bash, script string, env ...string) (string, error) {
	cmd := exec.CommandContext(ctx, bash, "-euo", "pipefail", "-c", script)
	cmd.Env = append(os.Environ(), env...)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// runServer runs the server with cfg as main does, until ctx is done or
// stop is called, and returns its issuer (once it answers there), its
// stdout and stderr, and stop, which stops it and expects a clean stop.
func runServer(ctx context.Context, t *testing.T, cfg config) (issuer string, stdout, stderr *testkit.SyncBuffer, stop func()) {
	t.Helper()
	serverCtx, cancel := context.WithCancel(ctx)
	stdout, stderr = &testkit.SyncBuffer{}, &testkit.SyncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(serverCtx, cfg, stdout, stderr) }()
	issuer = waitListening(ctx, t, stdout, stderr, done)
	return issuer, stdout, stderr, func() {
		t.Helper()
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err, "the server did not stop cleanly")
		case <-ctx.Done():
			require.Fail(t, "the server did not stop")
		}
	}
}

// waitListening waits, until ctx's deadline, for the server to print the
// address it listens on and to answer its discovery document there, and
// returns its issuer.
func waitListening(ctx context.Context, t *testing.T, stdout, stderr *testkit.SyncBuffer, done <-chan error) string {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	var last error = errors.New("the server has not printed its address yet")
	for {
		if _, rest, ok := strings.Cut(stdout.String(), "listening on "); ok {
			addr, _, _ := strings.Cut(rest, " ")
			issuer := "http://" + addr
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, issuer+"/.well-known/openid-configuration", nil)
			require.NoError(t, err)
			resp, err := client.Do(req)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return issuer
				}
				err = errors.New(resp.Status)
			}
			last = err
		}
		select {
		case err := <-done:
			require.Failf(t, "server stopped", "the server stopped before it was ready: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
		case <-ctx.Done():
			require.Failf(t, "server not ready", "the server was not ready in time (last: %v)\nstdout:\n%s\nstderr:\n%s", last, stdout.String(), stderr.String())
		case <-tick.C:
		}
	}
}
