package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/internal/testkit"
	"github.com/actas/actas/store"
)

// TestDiscovery: both metadata documents (OpenID Connect Discovery and
// RFC 8414) name this issuer exactly and carry the members clients need.
func TestDiscovery(t *testing.T) {
	f := newFixture(t)
	b := f.browser(t)
	for _, path := range []string{"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"} {
		t.Run(path, func(t *testing.T) {
			p := b.get(path)
			require.Equal(t, http.StatusOK, p.StatusCode)
			assert.Equal(t, "application/json", p.Header.Get("Content-Type"))
			var md map[string]any
			require.NoError(t, json.Unmarshal([]byte(p.Body), &md))
			assert.Equal(t, f.issuer, md["issuer"], "RFC 8414 §3.3 and OIDC Discovery §4.3: issuer equals the issuer identifier")
			for member, want := range map[string]string{
				"authorization_endpoint": "/oauth2/authorize",
				"token_endpoint":         "/oauth2/token",
				"userinfo_endpoint":      "/oauth2/userinfo",
				"jwks_uri":               "/oauth2/jwks",
				"introspection_endpoint": "/oauth2/introspect",
				"revocation_endpoint":    "/oauth2/revoke",
			} {
				assert.Equal(t, f.issuer+want, md[member], member)
			}
			contains := func(member string, want ...string) {
				list, ok := md[member].([]any)
				require.True(t, ok, "%s is a list", member)
				for _, w := range want {
					assert.Contains(t, list, w, member)
				}
			}
			contains("response_types_supported", "subject_token", "id_token subject_token", "code")
			contains("response_modes_supported", "fragment", "query", "form_post")
			contains("grant_types_supported", "urn:ietf:params:oauth:grant-type:token-exchange", "authorization_code", "refresh_token")
			contains("claims_supported", "act", "isid", "impersonation_reason")
			contains("token_endpoint_auth_methods_supported", "client_secret_basic", "client_secret_post")
			contains("scopes_supported", "openid", "internal_user_impersonate", "orders:read")
			contains("id_token_signing_alg_values_supported", "ES256")
			contains("subject_types_supported", "public")
		})
	}
	// Every endpoint the document names is served.
	p := b.get("/oauth2/jwks")
	require.Equal(t, http.StatusOK, p.StatusCode)
	var jwks struct {
		Keys []map[string]any `json:"keys"`
	}
	require.NoError(t, json.Unmarshal([]byte(p.Body), &jwks))
	require.Len(t, jwks.Keys, 1)
	for _, member := range []string{"kid", "alg", "use"} {
		assert.NotEmpty(t, jwks.Keys[0][member], member)
	}
	assert.NotContains(t, jwks.Keys[0], "d", "only public keys are published")
}

func TestLogin(t *testing.T) {
	f := newFixture(t)

	t.Run("good credentials start a new session and return", func(t *testing.T) {
		b := f.browser(t)
		p := b.get("/login?return_to=" + url.QueryEscape("/console/audit"))
		require.Equal(t, http.StatusOK, p.StatusCode)
		anon := sessionCookie(t, p.Response, "actas_session")
		assert.Contains(t, p.Body, `name="username"`)
		assert.Contains(t, p.Body, `name="password"`)
		p = b.post("/login", url.Values{"username": {"alice"}, "password": {"alice-demo-password"}, "return_to": {"/console/audit"}, csrfField: {csrf(t, p.Body)}})
		assert.Equal(t, "/console/audit", p.location(t))
		signedIn := sessionCookie(t, p.Response, "actas_session")
		assert.NotEqual(t, anon.Value, signedIn.Value, "the session ID changes at sign-in (no fixation)")
		assert.Len(t, signedIn.Value, 43, "256-bit session IDs")
		p = b.get("/console")
		assert.Equal(t, http.StatusOK, p.StatusCode)
		assert.Contains(t, p.Body, "signed in as <strong>alice</strong>")
	})

	t.Run("bad password and unknown user get the same generic error", func(t *testing.T) {
		var bodies []string
		for _, creds := range [][2]string{{"alice", "wrong"}, {"nobody", "wrong"}, {"alice", ""}} {
			b := f.browser(t)
			p := b.get("/login")
			p = b.post("/login", url.Values{"username": {creds[0]}, "password": {creds[1]}, csrfField: {csrf(t, p.Body)}})
			assert.Equal(t, http.StatusUnauthorized, p.StatusCode)
			assert.Contains(t, p.Body, genericLoginError)
			assert.Contains(t, p.Body, `action="/login"`, "the same login page again")
			bodies = append(bodies, strings.ReplaceAll(hiddenRE.ReplaceAllString(p.Body, ""), creds[0], "USER"))
			assert.Empty(t, p.Header.Get("Location"))
			assert.Equal(t, http.StatusSeeOther, b.get("/console").StatusCode, "still signed out")
		}
		assert.Equal(t, bodies[0], bodies[1], "the page does not tell whether the user exists")
	})

	t.Run("missing or wrong CSRF token is refused", func(t *testing.T) {
		for name, token := range map[string]string{"missing": "", "wrong": "not-the-token"} {
			b := f.browser(t)
			b.get("/login")
			form := url.Values{"username": {"alice"}, "password": {"alice-demo-password"}}
			if token != "" {
				form.Set(csrfField, token)
			}
			p := b.post("/login", form)
			assert.Equal(t, http.StatusForbidden, p.StatusCode, name)
			assert.Equal(t, http.StatusSeeOther, b.get("/console").StatusCode, "%s: not signed in", name)
		}
		// No session at all (no cookie): refused too.
		b := f.browser(t)
		p := b.post("/login", url.Values{"username": {"alice"}, "password": {"alice-demo-password"}, csrfField: {"x"}})
		assert.Equal(t, http.StatusForbidden, p.StatusCode)
	})

	t.Run("return targets are local paths only", func(t *testing.T) {
		for _, target := range []string{
			"https://evil.example/", "//evil.example/x", "/\\evil.example", "http:/evil.example", "javascript:alert(1)", "evil", "",
		} {
			b := f.browser(t)
			p := b.get("/login")
			p = b.post("/login", url.Values{"username": {"alice"}, "password": {"alice-demo-password"}, "return_to": {target}, csrfField: {csrf(t, p.Body)}})
			assert.Equal(t, defaultReturn, p.location(t), "return_to %q", target)
		}
	})

	t.Run("logout needs the CSRF token", func(t *testing.T) {
		b := f.browser(t)
		b.login("alice", "alice-demo-password")
		p := b.post("/logout", url.Values{})
		assert.Equal(t, http.StatusForbidden, p.StatusCode)
		p = b.get("/console")
		require.Equal(t, http.StatusOK, p.StatusCode)
		p = b.post("/logout", url.Values{csrfField: {csrf(t, p.Body)}})
		assert.Equal(t, "/login", p.location(t))
		assert.Equal(t, http.StatusSeeOther, b.get("/console").StatusCode)
	})
}

func sessionCookie(t *testing.T, resp *http.Response, name string) *http.Cookie {
	t.Helper()
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	require.Failf(t, "no cookie", "no %s cookie set", name)
	return nil
}

// TestAuthorizeLoginPage: without a session the authorize endpoint shows
// the login form, which comes back to the same authorize request.
func TestAuthorizeLoginPage(t *testing.T) {
	f := newFixture(t)
	b := f.browser(t)
	authz := f.authorizeURL(demoAppClientID, f.issuer+"/app/callback", "bob", "form_post", nil)
	p := b.get(authz)
	require.Equal(t, http.StatusOK, p.StatusCode)
	fields := formFor(t, p.Body, "/login")
	assert.Equal(t, authz, fields.Get("return_to"))
	assert.NotEmpty(t, fields.Get(csrfField))
	assert.Contains(t, p.Body, `name="username"`)
	assert.Contains(t, p.Body, `name="password"`)

	p = b.post("/login", url.Values{"username": {"alice"}, "password": {"alice-demo-password"}, "return_to": {fields.Get("return_to")}, csrfField: {fields.Get(csrfField)}})
	assert.Equal(t, authz, p.location(t))
	p = b.get(p.location(t))
	require.Equal(t, http.StatusOK, p.StatusCode)
	assert.Contains(t, p.Body, "Allow", "on to the consent page")

	// Unknown clients and unregistered redirect URIs are shown, never
	// redirected to.
	p = b.get(f.authorizeURL(demoAppClientID, "https://evil.example/cb", "bob", "", nil))
	assert.Equal(t, http.StatusBadRequest, p.StatusCode)
	assert.Empty(t, p.Header.Get("Location"))
}

// consentPage signs alice in and opens the consent page of a demo-app
// authorize request.
func consentPage(t *testing.T, f *fixture, b *browser, subject, mode string) page {
	t.Helper()
	b.login("alice", "alice-demo-password")
	p := b.get(f.authorizeURL(demoAppClientID, f.issuer+"/app/callback", subject, mode, url.Values{"impersonation_reason": {"ticket 4711"}}))
	require.Equal(t, http.StatusOK, p.StatusCode, p.Body)
	return p
}

func TestConsent(t *testing.T) {
	f := newFixture(t)

	t.Run("the page names the impersonator, the user and the app", func(t *testing.T) {
		p := consentPage(t, f, f.browser(t), "bob", "form_post")
		assert.Contains(t, p.Body, "<strong>alice</strong>, you are about to act as <strong>bob</strong>")
		assert.Contains(t, p.Body, "in the app <strong>demo-app</strong>")
		assert.Contains(t, p.Body, "ticket 4711")
		fields := formFor(t, p.Body, "/oauth2/authorize")
		for _, k := range []string{"client_id", "redirect_uri", "state", "scope", "response_type", "requested_subject", "nonce", "response_mode", "impersonation_reason", csrfField} {
			assert.NotEmpty(t, fields.Get(k), k)
		}
		assert.Contains(t, p.Body, `name="consent" value="allow"`)
		assert.Contains(t, p.Body, `name="consent" value="deny"`)
		assert.Equal(t, "no-store", p.Header.Get("Cache-Control"))
	})

	t.Run("allow issues the tokens (form_post)", func(t *testing.T) {
		b := f.browser(t)
		fields := formFor(t, consentPage(t, f, b, "bob", "form_post").Body, "/oauth2/authorize")
		fields.Set("consent", "allow")
		p := b.post("/oauth2/authorize", fields)
		require.Equal(t, http.StatusOK, p.StatusCode, p.Body)
		resp := formFor(t, p.Body, f.issuer+"/app/callback")
		assert.NotEmpty(t, resp.Get("subject_token"))
		assert.NotEmpty(t, resp.Get("id_token"))
		assert.Equal(t, "state-bob", resp.Get("state"))
		_, st := claimsOf(t, resp.Get("subject_token"))
		assert.Equal(t, "bob", st["sub"])
		assert.Equal(t, map[string]any{"sub": "alice"}, st["may_act"])
		assert.Equal(t, f.issuer, st["iss"])
	})

	t.Run("deny sends access_denied to the client", func(t *testing.T) {
		b := f.browser(t)
		before := len(f.s.dir.db.Events())
		fields := formFor(t, consentPage(t, f, b, "carol", "fragment").Body, "/oauth2/authorize")
		fields.Set("consent", "deny")
		p := b.post("/oauth2/authorize", fields)
		loc, frag := p.fragment(t)
		assert.Equal(t, f.issuer+"/app/callback", strings.Split(loc.String(), "#")[0])
		assert.Equal(t, "access_denied", frag.Get("error"))
		assert.Equal(t, "state-carol", frag.Get("state"))
		assert.Empty(t, frag.Get("subject_token"))
		events := f.s.dir.db.Events()[before:]
		require.Len(t, events, 1)
		assert.Equal(t, "impersonation.denied", string(events[0].Type))
		assert.Equal(t, "consent_denied", events[0].Reason)
		assert.Equal(t, "ticket 4711", events[0].Justification)
	})

	t.Run("missing or wrong CSRF token is refused and nothing is issued", func(t *testing.T) {
		for name, token := range map[string]string{"missing": "", "wrong": "forged"} {
			b := f.browser(t)
			before := len(f.s.dir.db.Events())
			fields := formFor(t, consentPage(t, f, b, "bob", "form_post").Body, "/oauth2/authorize")
			fields.Set("consent", "allow")
			if token == "" {
				fields.Del(csrfField)
			} else {
				fields.Set(csrfField, token)
			}
			p := b.post("/oauth2/authorize", fields)
			assert.Equal(t, http.StatusForbidden, p.StatusCode, name)
			assert.NotContains(t, p.Body, "subject_token", name)
			assert.Len(t, f.s.dir.db.Events(), before, "%s: nothing issued or recorded", name)
		}
	})

	t.Run("a GET carrying consent=allow still shows the page", func(t *testing.T) {
		b := f.browser(t)
		b.login("alice", "alice-demo-password")
		p := b.get(f.authorizeURL(demoAppClientID, f.issuer+"/app/callback", "bob", "fragment", url.Values{"consent": {"allow"}}))
		assert.Equal(t, http.StatusOK, p.StatusCode)
		assert.Contains(t, p.Body, `name="consent" value="allow"`)
	})

	t.Run("a refused impersonation never shows consent", func(t *testing.T) {
		b := f.browser(t)
		b.login("alice", "alice-demo-password")
		p := b.get(f.authorizeURL(demoAppClientID, f.issuer+"/app/callback", "dave", "fragment", nil))
		_, frag := p.fragment(t)
		assert.Equal(t, "access_denied", frag.Get("error"))
	})
}

// TestResponseModes: fragment and query (client cli, skip_consent) and
// form_post (demo-app) each carry the tokens and the state.
func TestResponseModes(t *testing.T) {
	f := newFixture(t)
	b := f.browser(t)
	for _, mode := range []string{"", "fragment", "query"} {
		t.Run("cli "+mode, func(t *testing.T) {
			v := b.cliAuthorize("bob", mode)
			assert.NotEmpty(t, v.Get("subject_token"))
			assert.NotEmpty(t, v.Get("id_token"))
			assert.Equal(t, "state-bob", v.Get("state"))
		})
	}
	t.Run("cli form_post is not registered", func(t *testing.T) {
		p := b.get(f.authorizeURL(cliClientID, cliRedirectURI, "bob", "form_post", nil))
		_, frag := p.fragment(t)
		assert.Equal(t, "invalid_request", frag.Get("error"))
	})
	t.Run("demo-app form_post", func(t *testing.T) {
		b := f.browser(t)
		fields := formFor(t, consentPage(t, f, b, "carol", "form_post").Body, "/oauth2/authorize")
		fields.Set("consent", "allow")
		p := b.post("/oauth2/authorize", fields)
		require.Equal(t, http.StatusOK, p.StatusCode)
		assert.Contains(t, p.Header.Get("Content-Security-Policy"), "script-src 'nonce-")
		assert.Equal(t, "no-store", p.Header.Get("Cache-Control"))
		resp := formFor(t, p.Body, f.issuer+"/app/callback")
		assert.NotEmpty(t, resp.Get("subject_token"))
		assert.NotEmpty(t, resp.Get("id_token"))
		assert.Equal(t, "state-carol", resp.Get("state"))
	})
	t.Run("demo-app query is not registered", func(t *testing.T) {
		b := f.browser(t)
		b.login("alice", "alice-demo-password")
		p := b.get(f.authorizeURL(demoAppClientID, f.issuer+"/app/callback", "bob", "query", nil))
		loc, err := url.Parse(p.location(t))
		require.NoError(t, err)
		assert.Empty(t, loc.RawQuery, "never tokens or errors in the query of a client that did not register it")
	})
}

// TestSeedTokenExchange is the seed's curl command: HTTP Basic client
// authentication, subject token of type jwt, actor token of type
// id_token. The access token has sub = the user, act.sub = the
// impersonator and iss = the issuer, exactly.
func TestSeedTokenExchange(t *testing.T) {
	f := newFixture(t)
	v := f.browser(t).cliAuthorize("bob", "fragment")
	stHeader, st := claimsOf(t, v.Get("subject_token"))
	_, idt := claimsOf(t, v.Get("id_token"))
	assert.Equal(t, "subject+jwt", stHeader["typ"])
	assert.Equal(t, f.issuer, st["iss"], "no <issuer>/oauth2/token style iss")
	assert.Equal(t, f.issuer, idt["iss"])
	assert.Equal(t, "alice", idt["sub"])
	assert.Equal(t, "nonce-bob", idt["nonce"])

	status, resp := f.exchange(t, v.Get("subject_token"), v.Get("id_token"), nil)
	require.Equal(t, http.StatusOK, status, resp)
	assert.Equal(t, "urn:ietf:params:oauth:token-type:access_token", resp["issued_token_type"])
	assert.Equal(t, "Bearer", resp["token_type"])
	assert.EqualValues(t, 3600, resp["expires_in"])
	assert.Equal(t, "openid orders:read", resp["scope"])

	hdr, at := claimsOf(t, resp["access_token"].(string))
	assert.Equal(t, "at+jwt", hdr["typ"])
	assert.NotEmpty(t, hdr["kid"])
	assert.Equal(t, "bob", at["sub"])
	assert.Equal(t, map[string]any{"sub": "alice"}, at["act"])
	assert.Equal(t, f.issuer, at["iss"])
	assert.Equal(t, cliClientID, at["client_id"])
	assert.Equal(t, cliClientID, at["aud"], "the client itself is the default audience")
	assert.Equal(t, "acme-eu", at["org_id"])
	assert.Equal(t, "APPLICATION_USER", at["aut"])

	t.Run("replay is refused", func(t *testing.T) {
		status, resp := f.exchange(t, v.Get("subject_token"), v.Get("id_token"), nil)
		assert.Equal(t, http.StatusBadRequest, status)
		assert.Equal(t, "invalid_request", resp["error"])
	})
	t.Run("wrong client secret", func(t *testing.T) {
		status, resp := f.postClient(t, "/oauth2/token", cliClientID, "wrong", url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"}})
		assert.Equal(t, http.StatusUnauthorized, status)
		assert.Equal(t, "invalid_client", resp["error"])
	})
	t.Run("audience of the API", func(t *testing.T) {
		v := f.browser(t).cliAuthorize("carol", "fragment")
		status, resp := f.exchange(t, v.Get("subject_token"), v.Get("id_token"), url.Values{"audience": {f.issuer + "/api"}})
		require.Equal(t, http.StatusOK, status, resp)
		_, at := claimsOf(t, resp["access_token"].(string))
		assert.Equal(t, f.issuer+"/api", at["aud"])
		assert.Equal(t, "openid orders:read", resp["scope"], "carol's grants narrowed to what was asked")
	})
	t.Run("an audience the client does not list", func(t *testing.T) {
		v := f.browser(t).cliAuthorize("carol", "fragment")
		status, resp := f.exchange(t, v.Get("subject_token"), v.Get("id_token"), url.Values{"audience": {"https://elsewhere.example"}})
		assert.Equal(t, http.StatusBadRequest, status)
		assert.Equal(t, "invalid_target", resp["error"])
	})
}

// impersonatedToken runs authorize and exchange with cli and returns an
// access token for the API.
func impersonatedToken(t *testing.T, f *fixture, subject string) string {
	t.Helper()
	v := f.browser(t).cliAuthorize(subject, "fragment")
	status, resp := f.exchange(t, v.Get("subject_token"), v.Get("id_token"), url.Values{"audience": {f.issuer + "/api"}})
	require.Equal(t, http.StatusOK, status, resp)
	return resp["access_token"].(string)
}

// TestIntrospectionAndRevocation: RFC 7662 before, RFC 7009 then RFC 7662
// after: revoking the impersonated access token ends the impersonation.
func TestIntrospectionAndRevocation(t *testing.T) {
	f := newFixture(t)
	token := impersonatedToken(t, f, "bob")
	introspect := func(clientID, secret, tok string) map[string]any {
		status, in := f.postClient(t, "/oauth2/introspect", clientID, secret, url.Values{"token": {tok}})
		require.Equal(t, http.StatusOK, status, in)
		return in
	}

	in := introspect(cliClientID, cliSecret, token)
	assert.Equal(t, true, in["active"])
	assert.Equal(t, "bob", in["sub"])
	assert.Equal(t, map[string]any{"sub": "alice"}, in["act"])
	assert.Equal(t, "openid orders:read", in["scope"])
	assert.Equal(t, cliClientID, in["client_id"])
	assert.Equal(t, f.issuer+"/api", in["aud"])
	assert.Equal(t, f.issuer, in["iss"])
	assert.Equal(t, "Bearer", in["token_type"])
	assert.Equal(t, "acme-eu", in["org_id"])
	for _, k := range []string{"exp", "iat", "jti"} {
		assert.NotEmpty(t, in[k], k)
	}

	assert.Equal(t, map[string]any{"active": false}, introspect(demoAppClientID, demoAppSecret, token), "a client may only introspect its own tokens")
	assert.Equal(t, map[string]any{"active": false}, introspect(cliClientID, cliSecret, "garbage"))
	status, _ := f.postClient(t, "/oauth2/introspect", cliClientID, "wrong", url.Values{"token": {token}})
	assert.Equal(t, http.StatusUnauthorized, status, "introspection is client-authenticated")

	require.Equal(t, http.StatusOK, f.apiCall(t, http.MethodGet, "/api/me", token).StatusCode)

	status, body := f.postClient(t, "/oauth2/revoke", demoAppClientID, demoAppSecret, url.Values{"token": {token}})
	assert.Equal(t, http.StatusBadRequest, status, "another client may not revoke it")
	assert.Equal(t, "unauthorized_client", body["error"])

	status, _ = f.postClient(t, "/oauth2/revoke", cliClientID, cliSecret, url.Values{"token": {token}, "token_type_hint": {"access_token"}})
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, map[string]any{"active": false}, introspect(cliClientID, cliSecret, token))
	p := f.apiCall(t, http.MethodGet, "/api/me", token)
	assert.Equal(t, http.StatusUnauthorized, p.StatusCode, "the API refuses the revoked token")
	assert.Contains(t, p.Header.Get("WWW-Authenticate"), `error="invalid_token"`)
	var last store.Event
	for _, e := range f.s.dir.db.Events() {
		if e.Type == store.EventImpersonationEnded {
			last = e
		}
	}
	assert.Equal(t, "impersonation.ended", string(last.Type))
	assert.Equal(t, "alice", last.Impersonator)
	assert.Equal(t, "bob", last.Subject)

	status, _ = f.postClient(t, "/oauth2/revoke", cliClientID, cliSecret, url.Values{"token": {"garbage"}})
	assert.Equal(t, http.StatusOK, status, "RFC 7009 §2.2: invalid tokens get 200")
}

// TestAPI: the examples/api handler mounted at /api/.
func TestAPI(t *testing.T) {
	f := newFixture(t)
	token := impersonatedToken(t, f, "bob")

	p := f.apiCall(t, http.MethodGet, "/api/me", token)
	require.Equal(t, http.StatusOK, p.StatusCode, p.Body)
	assert.JSONEq(t, `{"sub":"bob","act":{"sub":"alice"},"scope":"openid orders:read","org_id":"acme-eu","client_id":"cli"}`, p.Body)

	before := len(f.s.dir.db.Events())
	p = f.apiCall(t, http.MethodPost, "/api/password", token)
	assert.Equal(t, http.StatusForbidden, p.StatusCode)
	assert.Equal(t, "application/json", p.Header.Get("Content-Type"))
	assert.Contains(t, p.Body, "not allowed while impersonating")
	events := f.s.dir.db.Events()[before:]
	require.Len(t, events, 2, "the attempt and its refusal")
	for i, outcome := range []string{store.OutcomeAttempted, store.OutcomeDenied} {
		assert.Equal(t, "impersonation.request", string(events[i].Type))
		assert.Equal(t, outcome, events[i].Outcome)
		assert.Equal(t, "/api/password", events[i].Path)
	}

	for name, tok := range map[string]string{"garbage": "garbage", "subject token": f.browser(t).cliAuthorize("carol", "fragment").Get("subject_token")} {
		p = f.apiCall(t, http.MethodGet, "/api/me", tok)
		assert.Equal(t, http.StatusUnauthorized, p.StatusCode, name)
		assert.Contains(t, p.Header.Get("WWW-Authenticate"), `Bearer realm="api", error="invalid_token"`, name)
	}
	p = f.apiCall(t, http.MethodGet, "/api/me", "")
	assert.Equal(t, http.StatusUnauthorized, p.StatusCode)
	assert.Equal(t, `Bearer realm="api"`, p.Header.Get("WWW-Authenticate"))

	// A token for the client's own audience is not for the API.
	v := f.browser(t).cliAuthorize("carol", "fragment")
	status, resp := f.exchange(t, v.Get("subject_token"), v.Get("id_token"), nil)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, http.StatusUnauthorized, f.apiCall(t, http.MethodGet, "/api/me", resp["access_token"].(string)).StatusCode)
}

// TestSecurityHeaders: pages are not framed, sniffed or cached, and the
// session cookie is HttpOnly, SameSite=Lax, Secure with an https issuer.
func TestSecurityHeaders(t *testing.T) {
	f := newFixture(t)
	p := f.browser(t).get("/login")
	assert.Equal(t, "nosniff", p.Header.Get("X-Content-Type-Options"))
	assert.Equal(t, "DENY", p.Header.Get("X-Frame-Options"))
	assert.Contains(t, p.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'")
	assert.Equal(t, "no-store", p.Header.Get("Cache-Control"))
	c := sessionCookie(t, p.Response, "actas_session")
	assert.True(t, c.HttpOnly)
	assert.Equal(t, http.SameSiteLaxMode, c.SameSite)
	assert.False(t, c.Secure, "http issuer")

	_, h, err := newServer(config{Issuer: "https://idp.example", PasswordIterations: testPasswordIterations}, &testkit.SyncBuffer{}, &testkit.SyncBuffer{})
	require.NoError(t, err)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "https://idp.example/login", nil))
	c = sessionCookie(t, &http.Response{Header: w.Header()}, "actas_session")
	assert.True(t, c.Secure, "https issuer")
	assert.True(t, c.HttpOnly)
}
