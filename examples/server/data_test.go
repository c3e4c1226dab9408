package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/actas/actas/internal/testkit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// validData is a small data file every bad case below breaks in one way.
const validData = `{
  "organizations": [
    {"id": "acme", "name": "ACME", "parent": ""},
    {"id": "acme-eu", "name": "ACME Europe", "parent": "acme"}
  ],
  "users": [
    {"id": "u-alice", "username": "alice", "password": "pw-alice-file", "org": "acme", "email": "alice@acme.example", "disabled": false},
    {"id": "u-bob", "username": "bob", "password": "pw-bob-file", "org": "acme-eu", "email": "bob@acme.example"},
    {"id": "u-eve", "username": "eve", "password": "pw-eve-file", "org": "acme-eu", "disabled": true}
  ],
  "clients": [
    {"id": "app1", "secret": "secret-app1-file", "redirect_uris": ["https://app1.example/cb"],
     "scopes": ["openid", "internal_user_impersonate", "orders:read"],
     "grant_types": ["urn:ietf:params:oauth:grant-type:token-exchange"],
     "impersonation": true, "skip_consent": true, "response_modes": ["fragment", "query"],
     "audiences": ["https://api.example"], "subject_token_ttl": 120, "access_token_ttl": 600, "refresh_tokens": false, "post_logout_redirect_uris": ["https://app1.example/signed-out?from=idp"], "skip_logout_consent": true}
  ],
  "roles": [
    {"name": "impersonator", "client": "app1", "scopes": ["internal_user_impersonate"], "users": ["u-alice"]},
    {"name": "customer", "client": "app1", "scopes": ["orders:read"], "users": ["u-bob"]}
  ]
}`

func writeData(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "data.json")
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

// TestDataFileLoads: a valid file is loaded, counted in the banner
// without any password or secret, and its users can sign in (not the
// disabled one).
func TestDataFileLoads(t *testing.T) {
	path := writeData(t, validData)
	f := newFixture(t, func(c *config) { c.DataFile = path; c.AppClientID = "app1" })
	out := f.stdout.String()
	assert.Contains(t, out, "data: loaded 2 organisations, 3 users, 1 clients and 2 roles from "+path)
	for _, secret := range []string{"pw-alice-file", "pw-bob-file", "secret-app1-file"} {
		assert.NotContains(t, out, secret)
		assert.NotContains(t, f.stderr.String(), secret)
	}
	assert.Contains(t, out, "demo app: disabled: client \"app1\" does not register the redirect URI "+f.issuer+"/app/callback")
	assert.Contains(t, out, "demo app 2: disabled: the data has no client \"demo-app2\"")

	b := f.browser(t)
	b.login("alice", "pw-alice-file")
	p := b.get("/console")
	assert.Contains(t, p.Body, `data-user="u-bob"`)
	assert.NotContains(t, p.Body, `data-user="u-eve"`, "disabled users cannot be impersonated")

	eve := f.browser(t)
	p = eve.get("/login")
	p = eve.post("/login", map[string][]string{"username": {"eve"}, "password": {"pw-eve-file"}, csrfField: {csrf(t, p.Body)}})
	assert.Equal(t, http.StatusUnauthorized, p.StatusCode, "disabled users cannot sign in")
	assert.Contains(t, p.Body, genericLoginError)

	c, ok := f.s.dir.client("app1")
	require.True(t, ok)
	assert.Equal(t, "2m0s", c.SubjectTokenTTL.String())
	assert.Equal(t, "10m0s", c.AccessTokenTTL.String())
	assert.False(t, c.RefreshTokens)
	assert.Equal(t, []string{"https://app1.example/signed-out?from=idp"}, c.PostLogoutRedirectURIs)
	assert.True(t, c.SkipLogoutConsent)
	assert.True(t, strings.HasPrefix(c.SecretHash, "pbkdf2-sha256-k$1000$"), "secrets are hashed")
	assert.True(t, strings.HasPrefix(f.s.dir.accounts["bob"].hash, "pbkdf2-sha256-k$1000$"), "passwords are hashed with the configured count")
}

// TestBadDataFiles: each rule of the data file stops the server with a
// message naming the file, the entry and the problem.
func TestBadDataFiles(t *testing.T) {
	t.Parallel()
	bob := `{"id": "u-bob", "username": "bob", "password": "pw-bob-file", "org": "acme-eu", "email": "bob@acme.example"}`
	tests := []struct {
		name string
		// raw is the whole file; when empty, validData with edits
		// (old, new pairs) applied.
		raw   string
		edits []string
		want  []string
	}{
		{name: "empty file", raw: " ", want: []string{"empty file"}},
		{name: "malformed JSON", edits: []string{`"name": "ACME Europe",`, `"name": "ACME Europe",,`}, want: []string{"line 4, column 46: malformed JSON: invalid character ','"}},
		{name: "truncated JSON", raw: validData[:100], want: []string{"malformed JSON: unexpected end of file"}},
		{name: "not an object", raw: `[1, 2]`, want: []string{"line 1, column 2: expected a JSON object, got array"}},
		{name: "trailing data", raw: validData + ` {}`, want: []string{"line 22, column 3: unexpected data after the top-level object"}},
		{name: "unknown top-level member", edits: []string{`"roles":`, `"rolez":`}, want: []string{`unknown top-level member "rolez"`}},
		{name: "unknown member", edits: []string{`"password": "pw-bob-file"`, `"pasword": "pw-bob-file"`}, want: []string{`users[1] (id "u-bob"): unknown member "pasword"`}},
		{name: "wrong type", edits: []string{`"disabled": false`, `"disabled": "no"`}, want: []string{`users[0] (id "u-alice"): "disabled": expected true or false, got string`}},
		{name: "wrong type of a list", raw: "{\n  \"organizations\": [],\n  \"users\": {}\n}", want: []string{`line 3, column 13: "users": expected an array, got object`}},
		{name: "missing organisation id", edits: []string{`"id": "acme", "name": "ACME"`, `"name": "ACME"`}, want: []string{`organizations[0]: missing "id"`}},
		{name: "missing user id", edits: []string{`"id": "u-bob", `, ``}, want: []string{`users[1]: missing "id"`}},
		{name: "missing client id", edits: []string{`"id": "app1", "secret"`, `"secret"`}, want: []string{`clients[0]: missing "id"`}},
		{name: "missing username", edits: []string{`"username": "bob", `, ``}, want: []string{`users[1] (id "u-bob"): missing "username"`}},
		{name: "missing user org", edits: []string{`"org": "acme-eu", "email": "bob`, `"email": "bob`}, want: []string{`users[1] (id "u-bob"): missing "org"`}},
		{name: "duplicate organisation id", edits: []string{`{"id": "acme-eu", "name": "ACME Europe", "parent": "acme"}`, `{"id": "acme", "name": "ACME Europe"}`}, want: []string{`organizations[1] (id "acme"): duplicate id: also organizations[0]`}},
		{name: "duplicate user id", edits: []string{`"id": "u-eve"`, `"id": "u-bob"`}, want: []string{`users[2] (id "u-bob"): duplicate id: also users[1]`}},
		{name: "duplicate username", edits: []string{`"username": "eve"`, `"username": "bob"`}, want: []string{`users[2] (id "u-eve"): duplicate username "bob": also users[1]`}},
		{name: "duplicate client id", edits: []string{`"clients": [`, `"clients": [{"id": "app1", "redirect_uris": ["https://x.example/cb"]},`}, want: []string{`clients[1] (id "app1"): duplicate id: also clients[0]`}},
		{name: "duplicate role", edits: []string{`{"name": "customer"`, `{"name": "impersonator"`}, want: []string{`roles[1] (name "impersonator"): duplicate role "impersonator" for client "app1": also roles[0]`}},
		{name: "unknown organisation of a user", edits: []string{`"org": "acme-eu", "disabled"`, `"org": "acme-xx", "disabled"`}, want: []string{`users[2] (id "u-eve"): org "acme-xx" does not exist`}},
		{name: "unknown parent", edits: []string{`"parent": "acme"`, `"parent": "acme-us"`}, want: []string{`organizations[1] (id "acme-eu"): parent "acme-us" does not exist`}},
		{name: "organisation cycle", edits: []string{`"parent": ""`, `"parent": "acme-eu"`}, want: []string{`organizations[0] (id "acme"): organisation cycle: acme -> acme-eu -> acme`}},
		{name: "organisation is its own parent", edits: []string{`"parent": ""`, `"parent": "acme"`}, want: []string{`organizations[0] (id "acme"): organisation cycle: acme -> acme`}},
		{name: "role of an unknown client", edits: []string{`"client": "app1", "scopes": ["orders:read"]`, `"client": "app2", "scopes": ["orders:read"]`}, want: []string{`roles[1] (name "customer"): client "app2" does not exist`}},
		{name: "role of an unknown user", edits: []string{`"users": ["u-bob"]`, `"users": ["u-bob", "u-zed"]`}, want: []string{`roles[1] (name "customer"): users[1]: user "u-zed" does not exist`}},
		{name: "role without client", edits: []string{`"client": "app1", "scopes": ["orders:read"]`, `"scopes": ["orders:read"]`}, want: []string{`roles[1] (name "customer"): missing "client"`}},
		{name: "negative subject token TTL", edits: []string{`"subject_token_ttl": 120`, `"subject_token_ttl": -1`}, want: []string{`clients[0] (id "app1"): "subject_token_ttl" is negative (-1)`}},
		{name: "negative access token TTL", edits: []string{`"access_token_ttl": 600`, `"access_token_ttl": -600`}, want: []string{`clients[0] (id "app1"): "access_token_ttl" is negative (-600)`}},
		{name: "fractional TTL", edits: []string{`"access_token_ttl": 600`, `"access_token_ttl": 1.5`}, want: []string{`clients[0] (id "app1"): "access_token_ttl": expected an integer, got number`}},
		{name: "unknown response mode", edits: []string{`"response_modes": ["fragment", "query"]`, `"response_modes": ["fragment", "web_message"]`}, want: []string{`clients[0] (id "app1"): response_modes[1] "web_message": not one of fragment, form_post, query`}},
		{name: "relative redirect URI", edits: []string{`"https://app1.example/cb"`, `"/cb"`}, want: []string{`clients[0] (id "app1"): redirect_uris[0] "/cb": not an absolute URI`}},
		{name: "redirect URI with a fragment", edits: []string{`"https://app1.example/cb"`, `"https://app1.example/cb#x"`}, want: []string{`clients[0] (id "app1"): redirect_uris[0] "https://app1.example/cb#x": has a fragment`}},
		{name: "relative post-logout redirect URI", edits: []string{`"https://app1.example/signed-out?from=idp"`, `"/signed-out"`}, want: []string{`clients[0] (id "app1"): post_logout_redirect_uris[0] "/signed-out": not an absolute URI`}},
		{name: "post-logout redirect URI with a fragment", edits: []string{`"https://app1.example/signed-out?from=idp"`, `"https://app1.example/signed-out#x"`}, want: []string{`clients[0] (id "app1"): post_logout_redirect_uris[0] "https://app1.example/signed-out#x": has a fragment`}},
		{name: "post-logout redirect URI not a URI", edits: []string{`"https://app1.example/signed-out?from=idp"`, `"https://app1.example/signed-out?from=idp", "%zz"`}, want: []string{`clients[0] (id "app1"): post_logout_redirect_uris[1] "%zz": not a URI`}},
		{name: "skip_logout_consent not a boolean", edits: []string{`"skip_logout_consent": true`, `"skip_logout_consent": "yes"`}, want: []string{`clients[0] (id "app1"): "skip_logout_consent": expected true or false, got string`}},
		{name: "no redirect URI", edits: []string{`"redirect_uris": ["https://app1.example/cb"]`, `"redirect_uris": []`}, want: []string{`clients[0] (id "app1"): "redirect_uris" is empty`}},
		{name: "bad scope", edits: []string{`"orders:read"]`, `"orders read"]`}, want: []string{`clients[0] (id "app1"): scopes[2] "orders read": not a scope token`}},
		{name: "several problems at once", edits: []string{bob, `{"id": "u-bob", "username": "bob", "org": "nowhere"}`, `"users": ["u-alice"]`, `"users": ["nobody"]`}, want: []string{`users[1] (id "u-bob"): org "nowhere" does not exist`, `roles[0] (name "impersonator"): users[0]: user "nobody" does not exist`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			content := tc.raw
			if content == "" {
				content = validData
				for i := 0; i < len(tc.edits); i += 2 {
					require.Contains(t, content, tc.edits[i])
					content = strings.Replace(content, tc.edits[i], tc.edits[i+1], 1)
				}
			}
			path := writeData(t, content)
			_, _, err := newServer(config{Issuer: "http://127.0.0.1:1", DataFile: path, PasswordIterations: testPasswordIterations}, &testkit.SyncBuffer{}, &testkit.SyncBuffer{})
			require.Error(t, err)
			msg := err.Error()
			assert.True(t, strings.HasPrefix(msg, path+": "), "the message names the file: %s", msg)
			for _, w := range tc.want {
				assert.Contains(t, msg, path+": "+w)
			}
			for _, secret := range []string{"pw-alice-file", "pw-bob-file", "secret-app1-file"} {
				assert.NotContains(t, msg, secret, "messages never show passwords or secrets")
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		t.Parallel()
		_, _, err := newServer(config{Issuer: "http://127.0.0.1:1", DataFile: filepath.Join(t.TempDir(), "nope.json")}, &testkit.SyncBuffer{}, &testkit.SyncBuffer{})
		require.ErrorContains(t, err, "nope.json")
	})
}
