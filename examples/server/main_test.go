package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/actas/actas/impersonation"
	"github.com/actas/actas/internal/testkit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// lineWriter hands each complete line written to it to a channel.
type lineWriter struct {
	pw *io.PipeWriter
}

func newLineWriter(t *testing.T) (*lineWriter, <-chan string) {
	pr, pw := io.Pipe()
	lines := make(chan string, 256)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	t.Cleanup(func() { _ = pw.Close() })
	return &lineWriter{pw: pw}, lines
}

func (w *lineWriter) Write(p []byte) (int, error) { return w.pw.Write(p) }

// TestRunServesAndShutsDown starts the server as main does, on a free
// port with the issuer derived from it, fetches the discovery document,
// then cancels the context (what SIGINT and SIGTERM do) and expects a
// clean shutdown.
func TestRunServesAndShutsDown(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stdout, lines := newLineWriter(t)
	stderr := &testkit.SyncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, config{Addr: "127.0.0.1:0", PasswordIterations: testPasswordIterations}, stdout, stderr)
	}()

	var addr string
	for line := range lines {
		if rest, ok := strings.CutPrefix(line, "listening on "); ok {
			addr, _, _ = strings.Cut(rest, " ")
			break
		}
	}
	require.NotEmpty(t, addr, "the server says where it listens")
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + addr + "/.well-known/openid-configuration")
	require.NoError(t, err)
	var md map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&md))
	resp.Body.Close()
	assert.Equal(t, "http://"+addr, md["issuer"], "without -issuer the issuer is http://<addr>")

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		require.Fail(t, "run did not return after cancel")
	}
	assert.Contains(t, stderr.String(), `"msg":"shutting down"`)
	assert.Contains(t, stderr.String(), `"msg":"stopped"`)
}

func TestRunFailsOnBadData(t *testing.T) {
	err := run(t.Context(), config{Addr: "127.0.0.1:0", DataFile: writeData(t, "{")}, io.Discard, io.Discard)
	require.ErrorContains(t, err, "malformed JSON")
}

func TestParseFlags(t *testing.T) {
	cfg, err := parseFlags([]string{"-addr", "127.0.0.1:9999", "-issuer", "https://idp.example", "-data", "d.json", "-keys", "k"}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, config{Addr: "127.0.0.1:9999", Issuer: "https://idp.example", DataFile: "d.json", KeysDir: "k", MaxSubjectTokenTTL: impersonation.DefaultMaxSubjectTokenTTL}, cfg)

	cfg, err = parseFlags([]string{"-max-subject-token-ttl", "5h"}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, 5*time.Hour, cfg.MaxSubjectTokenTTL)
	for _, bad := range []string{"0s", "-1m", "25h", "5"} {
		_, err = parseFlags([]string{"-max-subject-token-ttl", bad}, io.Discard)
		assert.Error(t, err, bad)
	}

	cfg, err = parseFlags(nil, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:8080", cfg.Addr)
	assert.Empty(t, cfg.Issuer)

	_, err = parseFlags([]string{"-nope"}, io.Discard)
	require.Error(t, err)
	_, err = parseFlags([]string{"extra"}, io.Discard)
	require.Error(t, err)
}

func TestCheckIssuer(t *testing.T) {
	t.Parallel()
	for _, good := range []string{"http://127.0.0.1:8080", "https://idp.example", "https://idp.example:8443"} {
		assert.NoError(t, checkIssuer(good), good)
	}
	for bad, want := range map[string]string{
		"":                         "not a URL",
		"idp.example":              "http or https",
		"ftp://idp.example":        "http or https",
		"https://idp.example/":     "must not end with a slash",
		"https://idp.example/auth": "scheme://host[:port] only",
		"https://idp.example?x=1":  "scheme://host[:port] only",
		"https://u@idp.example":    "must name a host",
		"https://":                 "must name a host",
	} {
		err := checkIssuer(bad)
		if assert.Error(t, err, bad) {
			assert.Contains(t, err.Error(), want, bad)
		}
	}
}

// TestDemoBanner: the built-in data prints the demo credentials and says
// the key is ephemeral.
func TestDemoBanner(t *testing.T) {
	f := newFixture(t)
	out := f.stdout.String()
	for _, want := range []string{
		"issuer: " + f.issuer,
		"no -keys given: using an ephemeral ES256 key",
		"built-in demo data",
		"alice  alice-demo-password",
		"bob    bob-demo-password",
		"client_id demo-app  client_secret " + demoAppSecret,
		"redirect_uri " + f.issuer + "/app/callback",
		"client_id cli  client_secret " + cliSecret,
		"redirect_uri " + cliRedirectURI,
		"client_id demo-app2  client_secret " + demoApp2Secret,
		"redirect_uri " + f.issuer + "/app2/callback  grant_types authorization_code,refresh_token  refresh_tokens true",
		"demo app 2: " + f.issuer + "/app2",
	} {
		assert.Contains(t, out, want)
	}
	assert.NotContains(t, out, "demo app: disabled")
	assert.NotContains(t, out, "demo app 2: disabled")
	assert.NotContains(t, f.stderr.String(), "alice-demo-password", "credentials go to stdout once, never to the log")
}

// TestRequestLog: one JSON line per request with method, path, status
// and duration; never a query string, a form body, a token, a password or
// a secret, whatever the request carried.
func TestRequestLog(t *testing.T) {
	f := newFixture(t)
	b := f.browser(t)
	// A full run: login, authorize (query string with reason), consent,
	// app callback (form body with tokens), exchange, API, revocation.
	b.login("alice", "alice-demo-password")
	consent := consentForm(t, b, "bob", "reason-in-the-query")
	consent.Set("consent", "allow")
	p := b.post("/oauth2/authorize", consent)
	callback := formFor(t, p.Body, f.issuer+"/app/callback")
	p = b.post("/app/callback", callback)
	require.Equal(t, "/app", p.location(t))
	p = b.get("/app")
	appToken := findAppSession(t, f).AccessToken
	b.post("/app/end", formFor(t, p.Body, "/app/end"))
	v := b.cliAuthorize("carol", "query")
	status, resp := f.exchange(t, v.Get("subject_token"), v.Get("id_token"), url.Values{"audience": {f.issuer + "/api"}})
	require.Equal(t, http.StatusOK, status)
	f.apiCall(t, http.MethodGet, "/api/me?access_token=leak", resp["access_token"].(string))
	f.postClient(t, "/oauth2/introspect", cliClientID, "wrong-secret-value", url.Values{"token": {resp["access_token"].(string)}})

	logs := f.stderr.String()
	secrets := []string{
		"alice-demo-password", demoAppSecret, cliSecret, "wrong-secret-value",
		callback.Get("subject_token"), callback.Get("id_token"), callback.Get("state"),
		appToken, v.Get("subject_token"), v.Get("id_token"), resp["access_token"].(string),
		consent.Get(csrfField), "nonce-carol", "access_token=leak",
	}
	for _, s := range secrets {
		require.NotEmpty(t, s)
		assert.NotContains(t, logs, s)
	}
	requests := 0
	for line := range strings.Lines(logs) {
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &rec), "every log line is JSON: %s", line)
		if rec["msg"] != "request" {
			continue
		}
		requests++
		for _, k := range []string{"method", "path", "status", "duration_ms"} {
			assert.Contains(t, rec, k)
		}
		path, _ := rec["path"].(string)
		assert.NotContains(t, path, "?", "no query strings")
		assert.Len(t, rec, 7, "time, level, msg, method, path, status and duration only: %s", line)
	}
	assert.GreaterOrEqual(t, requests, 15)
	assert.Contains(t, logs, `"msg":"audit"`)
	assert.Contains(t, logs, `impersonation.ended`)
}
