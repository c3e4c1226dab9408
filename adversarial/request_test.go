package adversarial_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/store"
	"github.com/actas/actas/tokenexchange"
)

// tokenRequest builds a raw request to the token endpoint from the form
// of a genuine exchange.
type tokenRequest func(t *testing.T, e *env, form url.Values) *http.Request

// postRaw is a POST to the token endpoint with body, content type and
// client authentication as given.
func postRaw(t testing.TB, e *env, body, contentType string, auth func(*http.Request)) *http.Request {
	t.Helper()
	req := e.newRequest(t, http.MethodPost, "/oauth2/token", strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if auth != nil {
		auth(req)
	}
	return req
}

const formType = "application/x-www-form-urlencoded"

// body is a token request whose form-encoded body is f(form), with Basic
// authentication for app.
func body(f func(form url.Values) string) tokenRequest {
	return func(t *testing.T, e *env, form url.Values) *http.Request {
		return postRaw(t, e, f(form), formType, basic(appID))
	}
}

// authorization is a token request with the genuine form and the
// Authorization header value given.
func authorization(value string) tokenRequest {
	return func(t *testing.T, e *env, form url.Values) *http.Request {
		return postRaw(t, e, form.Encode(), formType, func(r *http.Request) { r.Header.Set("Authorization", value) })
	}
}

// basicRaw is Basic credentials from the raw (already form-encoded, or
// deliberately not) user-id:password text.
func basicRaw(text string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(text))
}

// postAuth is client_secret_post with the given raw id and secret values
// appended to the genuine form body (raw: not encoded again).
func postAuth(rawPairs string) tokenRequest {
	return func(t *testing.T, e *env, form url.Values) *http.Request {
		return postRaw(t, e, form.Encode()+"&"+rawPairs, formType, nil)
	}
}

// refusedThenUsable sends a genuine pair in a request shaped by build,
// checks the refusal, then shows that the subject token was not burned.
func refusedThenUsable(build tokenRequest, want refusal) func(*testing.T, *env) {
	return refusedThenUsableWith(basic(appID), build, want)
}

// refusedThenUsableWith is refusedThenUsable whose follow-up exchange
// authenticates with auth.
func refusedThenUsableWith(auth func(*http.Request), build tokenRequest, want refusal) func(*testing.T, *env) {
	return func(t *testing.T, e *env) {
		st, idt := e.genuine(t, appID, "alice", "bob")
		r := e.do(t, build(t, e, exchangeForm(st, idt))).presenting(st, idt).hiding("bob", "alice")
		assertRefused(t, e, r, want)
		if want.status == http.StatusUnauthorized && strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Basic") {
			assert.Equal(t, `Basic realm="token"`, r.header.Get("WWW-Authenticate"))
		}
		ok := e.postForm(t, "/oauth2/token", exchangeForm(st, idt).Encode(), auth)
		assert.Equal(t, http.StatusOK, ok.status, "the refused request burned the subject token: %s", ok.body)
	}
}

// repeated is a genuine body with one more name=value pair appended.
func repeated(name string, value func(form url.Values) string) tokenRequest {
	return body(func(form url.Values) string {
		return form.Encode() + "&" + url.QueryEscape(name) + "=" + url.QueryEscape(value(form))
	})
}

// method sends the genuine form with another method: in the URL query
// for GET (tokens in a URL, the real-world mistake), in the body otherwise.
func method(m string) tokenRequest {
	return func(t *testing.T, e *env, form url.Values) *http.Request {
		if m == http.MethodGet {
			req := e.newRequest(t, m, "/oauth2/token?"+form.Encode(), nil)
			basic(appID)(req)
			return req
		}
		req := e.newRequest(t, m, "/oauth2/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", formType)
		basic(appID)(req)
		return req
	}
}

// inQuery moves nothing: it adds name=value to the URL query of a genuine
// token request.
func inQuery(name, value string) tokenRequest {
	return func(t *testing.T, e *env, form url.Values) *http.Request {
		req := postRaw(t, e, form.Encode(), formType, basic(appID))
		req.URL.RawQuery = url.Values{name: {value}}.Encode()
		return req
	}
}

// tokenByGET sends a genuine access token to the introspection or
// revocation endpoint at path with GET, in the URL query, as app.
func tokenByGET(path string) func(*testing.T, *env) response {
	return withAccessToken(func(t *testing.T, e *env, at string) response {
		req := e.newRequest(t, http.MethodGet, path+"?"+url.Values{"token": {at}}.Encode(), nil)
		basic(appID)(req)
		return e.do(t, req)
	})
}

// redirectTo is an authorize request of app as alice for bob with the
// redirect_uri parameter set to uri (or removed when uri is empty).
func redirectTo(uri string) func(*testing.T, *env) response {
	return func(t *testing.T, e *env) response {
		v := authorizeValues(appID, "bob")
		if uri == "" {
			v.Del("redirect_uri")
		} else {
			v.Set("redirect_uri", uri)
		}
		r := e.authorize(t, "alice", v.Encode())
		return r.hiding("evil.example", "bob")
	}
}

// authorizeRaw is an authorize request as alice with a raw query.
func authorizeRaw(query func(v url.Values) string) func(*testing.T, *env) response {
	return func(t *testing.T, e *env) response {
		return e.authorize(t, "alice", query(authorizeValues(appID, "bob"))).hiding("evil.example", "bob")
	}
}

// notRegistered is an authorize request refused because its redirect_uri
// is not the registered one: shown, never redirected.
var notRegistered = requestRefused(400, "invalid_request", "redirect_uri is not registered for the client")

// authorizeValuesMod is an authorize request as user with the parameters
// of clientID for subject changed by mod.
func authorizeValuesMod(user, clientID, subject string, mod func(v url.Values)) func(*testing.T, *env) response {
	return func(t *testing.T, e *env) response {
		v := authorizeValues(clientID, subject)
		mod(v)
		return e.authorize(t, user, v.Encode()).hiding(subject)
	}
}

// params sets each name to the value that follows it.
func params(nameValues ...string) func(url.Values) {
	return func(v url.Values) {
		for i := 0; i+1 < len(nameValues); i += 2 {
			v.Set(nameValues[i], nameValues[i+1])
		}
	}
}

var scriptOpen = regexp.MustCompile(`(?i)<script`)

// formPostSafe checks a form_post page: payload never appears raw, the
// only script is the one the CSP nonce allows, and the page is not cached
// nor sent as a referrer.
func formPostSafe(t testing.TB, r response, payloads ...string) {
	t.Helper()
	require.True(t, strings.HasPrefix(r.header.Get("Content-Type"), "text/html"), "a form_post page: %s", r.header.Get("Content-Type"))
	for _, p := range payloads {
		assert.NotContains(t, r.body, p, "the payload is reflected unescaped")
	}
	assert.Len(t, scriptOpen.FindAllString(r.body, -1), 1, "only the page's own script")
	m := regexp.MustCompile(`<script nonce="([^"]+)">`).FindStringSubmatch(r.body)
	require.NotNil(t, m, "the script carries a nonce")
	csp := r.header.Get("Content-Security-Policy")
	assert.Contains(t, csp, "script-src 'nonce-"+m[1]+"'", "the CSP allows exactly that script")
	assert.Contains(t, csp, "default-src 'none'")
	assert.Contains(t, csp, "form-action https://app.example")
	assert.Equal(t, "no-store", r.header.Get("Cache-Control"))
	assert.Equal(t, "no-referrer", r.header.Get("Referrer-Policy"))
	assert.Equal(t, "nosniff", r.header.Get("X-Content-Type-Options"))
}

// formPostInjection is a refused authorize request (eve for carol:
// sideways, access_denied) in form_post mode whose state carries payload.
func formPostInjection(payload string) func(*testing.T, *env) {
	return func(t *testing.T, e *env) {
		r := authorizeValuesMod("eve", appID, "carol", params("response_mode", "form_post", "state", payload))(t, e)
		assertRefused(t, e, r, refusal{status: 200, code: "access_denied", event: store.EventImpersonationDenied, reason: "subject_outside_organization"})
		formPostSafe(t, r, payload)
		assert.Contains(t, r.body, `name="state" value="`, "state is echoed, escaped")
	}
}

// auditPrintable is the property an audit event must have so that no
// client can forge or disguise lines of the audit log: every text field is
// printable (no control, format or separator characters) and of bounded
// length.
func auditPrintable(t testing.TB, events []store.Event) {
	t.Helper()
	require.NotEmpty(t, events)
	for _, ev := range events {
		fields := map[string]string{"ClientID": ev.ClientID, "Impersonator": ev.Impersonator,
			"Subject": ev.Subject, "Org": ev.Org, "JTI": ev.JTI, "Reason": ev.Reason,
			"Method": ev.Method, "Path": ev.Path, "Justification": ev.Justification,
			"Scopes": strings.Join(ev.Scopes, " ")}
		for name, v := range fields {
			assert.LessOrEqualf(t, len(v), 1024, "%s of %s is %d bytes of client input", name, ev.Type, len(v))
			ok := utf8.ValidString(v)
			for _, c := range v {
				if unicode.IsControl(c) || unicode.In(c, unicode.Cf, unicode.Zl, unicode.Zp) {
					ok = false
				}
			}
			assert.Truef(t, ok, "%s of %s holds control or format characters: %q", name, ev.Type, trim(v))
		}
	}
}

func trim(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// forgedLine is text that, written raw into a line-oriented log, starts a
// new, forged audit record.
const forgedLine = "x\nlevel=INFO msg=audit event=token.exchanged outcome=granted impersonator=alice subject=carol\u202e"

func TestRequest(t *testing.T) {
	t.Parallel()
	oversized := body(func(form url.Values) string {
		b := form.Encode() + "&padding="
		return b + strings.Repeat("a", tokenexchange.DefaultMaxBodyBytes-len(b)+1)
	})

	cases := []attack{
		// Repeated parameters (RFC 6749 §3.2).
		{name: "grant_type_twice", check: refusedThenUsable(repeated("grant_type", func(url.Values) string { return tokenexchange.GrantType }), requestRefused(400, "invalid_request", "parameter given more than once: grant_type"))},
		{name: "grant_type_twice_second_different", check: refusedThenUsable(repeated("grant_type", func(url.Values) string { return "client_credentials" }), requestRefused(400, "invalid_request", "parameter given more than once: grant_type"))},
		{name: "subject_token_twice_same_value", check: refusedThenUsable(repeated("subject_token", func(f url.Values) string { return f.Get("subject_token") }), requestRefused(400, "invalid_request", "parameter given more than once: subject_token"))},
		{name: "subject_token_twice_different_values", check: refusedThenUsable(func(t *testing.T, e *env, form url.Values) *http.Request {
			other, _ := e.genuine(t, appID, "alice", "carol")
			return postRaw(t, e, form.Encode()+"&subject_token="+other, formType, basic(appID))
		}, requestRefused(400, "invalid_request", "parameter given more than once: subject_token"))},
		{name: "actor_token_twice", check: refusedThenUsable(repeated("actor_token", func(f url.Values) string { return f.Get("actor_token") }), requestRefused(400, "invalid_request", "parameter given more than once: actor_token"))},
		{name: "subject_token_type_twice", check: refusedThenUsable(repeated("subject_token_type", func(url.Values) string { return tokenexchange.TokenTypeAccessToken }), requestRefused(400, "invalid_request", "parameter given more than once: subject_token_type"))},
		{name: "scope_twice", check: refusedThenUsable(body(func(f url.Values) string { return f.Encode() + "&scope=openid&scope=" + scopeWrite }), requestRefused(400, "invalid_request", "parameter given more than once: scope"))},
		{name: "requested_token_type_twice", check: refusedThenUsable(body(func(f url.Values) string {
			return f.Encode() + "&requested_token_type=" + url.QueryEscape(tokenexchange.TokenTypeAccessToken) + "&requested_token_type=" + url.QueryEscape(tokenexchange.TokenTypeRefreshToken)
		}), requestRefused(400, "invalid_request", "parameter given more than once: requested_token_type"))},
		{name: "client_id_twice_in_body", check: refusedThenUsable(postAuth("client_id=app&client_id=app&client_secret="+secrets[appID]), requestRefused(400, "invalid_request", "parameter given more than once: client_id"))},
		{name: "client_secret_twice_in_body", check: refusedThenUsable(postAuth("client_id=app&client_secret=wrong&client_secret="+secrets[appID]), requestRefused(400, "invalid_request", "parameter given more than once: client_secret"))},

		// Content types.
		{name: "content_type_JSON", check: refusedThenUsable(func(t *testing.T, e *env, form url.Values) *http.Request {
			m := map[string]string{}
			for k := range form {
				m[k] = form.Get(k)
			}
			return postRaw(t, e, string(mustJSON(t, m)), "application/json", basic(appID))
		}, requestRefused(400, "invalid_request", "Content-Type must be application/x-www-form-urlencoded"))},
		{name: "content_type_JSON_with_form_body", check: refusedThenUsable(func(t *testing.T, e *env, form url.Values) *http.Request {
			return postRaw(t, e, form.Encode(), "application/json", basic(appID))
		}, requestRefused(400, "invalid_request", "Content-Type must be"))},
		{name: "content_type_multipart", check: refusedThenUsable(func(t *testing.T, e *env, form url.Values) *http.Request {
			var buf bytes.Buffer
			w := multipart.NewWriter(&buf)
			for k := range form {
				require.NoError(t, w.WriteField(k, form.Get(k)))
			}
			require.NoError(t, w.Close())
			return postRaw(t, e, buf.String(), w.FormDataContentType(), basic(appID))
		}, requestRefused(400, "invalid_request", "Content-Type must be"))},
		{name: "content_type_missing", check: refusedThenUsable(func(t *testing.T, e *env, form url.Values) *http.Request {
			return postRaw(t, e, form.Encode(), "", basic(appID))
		}, requestRefused(400, "invalid_request", "Content-Type must be"))},
		{name: "content_type_text_plain", check: refusedThenUsable(func(t *testing.T, e *env, form url.Values) *http.Request {
			return postRaw(t, e, form.Encode(), "text/plain", basic(appID))
		}, requestRefused(400, "invalid_request", "Content-Type must be"))},
		{name: "content_type_malformed", check: refusedThenUsable(func(t *testing.T, e *env, form url.Values) *http.Request {
			return postRaw(t, e, form.Encode(), formType+"; charset", basic(appID))
		}, requestRefused(400, "invalid_request", "Content-Type must be"))},

		// Size: tokenexchange.DefaultMaxBodyBytes is 64 KiB (65536 bytes);
		// one byte more is refused (TestRequest_BodyAtTheLimitIsAccepted
		// shows the limit itself passes).
		{name: "body_one_byte_over_DefaultMaxBodyBytes", check: refusedThenUsable(oversized, requestRefused(400, "invalid_request", "request body too large"))},

		// Methods.
		{name: "GET_on_the_token_endpoint", check: refusedThenUsable(method(http.MethodGet), requestRefused(405, "invalid_request", "the token endpoint accepts only POST"))},
		{name: "PUT_on_the_token_endpoint", check: refusedThenUsable(method(http.MethodPut), requestRefused(405, "invalid_request", "the token endpoint accepts only POST"))},
		{name: "DELETE_on_the_token_endpoint", check: refusedThenUsable(method(http.MethodDelete), requestRefused(405, "invalid_request", "the token endpoint accepts only POST"))},
		{name: "PATCH_on_the_token_endpoint", check: refusedThenUsable(method(http.MethodPatch), requestRefused(405, "invalid_request", "the token endpoint accepts only POST"))},

		// Client authentication.
		{name: "both_Basic_and_post_client_auth", check: refusedThenUsable(func(t *testing.T, e *env, form url.Values) *http.Request {
			return postRaw(t, e, form.Encode()+"&client_id=app&client_secret="+secrets[appID], formType, basic(appID))
		}, requestRefused(400, "invalid_request", "more than one client authentication method"))},
		{name: "Basic_for_app_with_body_client_id_app2", check: refusedThenUsable(func(t *testing.T, e *env, form url.Values) *http.Request {
			return postRaw(t, e, form.Encode()+"&client_id=app2", formType, basic(appID))
		}, requestRefused(400, "invalid_request", "client_id does not match the Authorization header"))},
		{name: "two_Authorization_headers", check: refusedThenUsable(func(t *testing.T, e *env, form url.Values) *http.Request {
			req := postRaw(t, e, form.Encode(), formType, nil)
			req.Header.Add("Authorization", basicRaw("app:"+secrets[appID]))
			req.Header.Add("Authorization", basicRaw("app2:"+secrets[app2ID]))
			return req
		}, requestRefused(400, "invalid_request", "more than one Authorization header"))},
		{name: "Basic_without_colon", check: refusedThenUsable(authorization(basicRaw("app"+secrets[appID])), requestRefused(401, "invalid_client", "malformed Basic credentials"))},
		{name: "Basic_bad_base64", check: refusedThenUsable(authorization("Basic !!not-base64!!"), requestRefused(401, "invalid_client", "malformed Basic credentials"))},
		{name: "Basic_base64url_alphabet", check: refusedThenUsable(authorization("Basic "+base64.URLEncoding.EncodeToString([]byte("app:"+secrets[appID]+"??>>"))), requestRefused(401, "invalid_client", "malformed Basic credentials"))},
		{name: "Basic_bad_percent_encoding", check: refusedThenUsable(authorization(basicRaw("app%zz:"+secrets[appID])), requestRefused(401, "invalid_client", "malformed Basic credentials"))},
		{name: "Basic_empty_secret", check: refusedThenUsable(authorization(basicRaw("app:")), requestRefused(401, "invalid_client", "malformed Basic credentials"))},
		{name: "Basic_empty_client_id", check: refusedThenUsable(authorization(basicRaw(":"+secrets[appID])), requestRefused(401, "invalid_client", "malformed Basic credentials"))},
		{name: "Basic_credentials_under_Bearer_scheme", check: refusedThenUsable(authorization("Bearer "+base64.StdEncoding.EncodeToString([]byte("app:"+secrets[appID]))), requestRefused(401, "invalid_client", "malformed Basic credentials"))},
		{name: "Basic_client_id_with_encoded_NUL", check: refusedThenUsable(authorization(basicRaw("app%00:"+secrets[appID])), requestRefused(401, "invalid_client", "client authentication failed"))},
		{name: "Basic_client_id_double_encoded", check: refusedThenUsable(authorization(basicRaw("%2561pp:"+secrets[appID])), requestRefused(401, "invalid_client", "client authentication failed"))},
		{name: "Basic_client_id_with_plus_as_space", check: refusedThenUsable(authorization(basicRaw("app+:"+secrets[appID])), requestRefused(401, "invalid_client", "client authentication failed"))},
		{
			name: "Basic_secret_with_encoded_trailing_NUL", check: refusedThenUsable(authorization(basicRaw("app:"+secrets[appID]+"%00")), requestRefused(401, "invalid_client", "client authentication failed")),
		},
		{
			name: "Basic_SHA256_digest_of_a_long_secret", check: func(t *testing.T, e *env) {
				long := strings.Repeat("L0ng-s3cret-", 6) // 72 bytes: longer than the SHA-256 block
				hash, err := store.HashSecret(long, store.ClientSecretIterations)
				require.NoError(t, err)
				e.updateClient(t, appID, func(c *store.Client) { c.SecretHash = hash })
				digest := sha256.Sum256([]byte(long))
				refusedThenUsableWith(basicWith(appID, long), authorization(basicRaw("app:"+url.QueryEscape(string(digest[:])))),
					requestRefused(401, "invalid_client", "client authentication failed"))(t, e)
			},
		},
		{name: "post_client_id_double_encoded", check: refusedThenUsable(postAuth("client_id=%2561pp&client_secret="+secrets[appID]), requestRefused(401, "invalid_client", "client authentication failed"))},
		{name: "post_client_id_with_encoded_NUL", check: refusedThenUsable(postAuth("client_id=app%00&client_secret="+secrets[appID]), requestRefused(401, "invalid_client", "client authentication failed"))},
		{name: "post_secret_without_client_id", check: refusedThenUsable(postAuth("client_secret="+secrets[appID]), requestRefused(401, "invalid_client", "client_id is required with client_secret"))},
		{name: "wrong_secret", check: refusedThenUsable(authorization(basicRaw("app:not-the-secret")), requestRefused(401, "invalid_client", "client authentication failed"))},
		{name: "another_clients_secret", check: refusedThenUsable(authorization(basicRaw("app:"+secrets[app2ID])), requestRefused(401, "invalid_client", "client authentication failed"))},
		{name: "unknown_client", check: refusedThenUsable(authorization(basicRaw("ghost:"+secrets[appID])), requestRefused(401, "invalid_client", "client authentication failed"))},
		{name: "disabled_client_with_its_own_secret", check: refusedThenUsable(authorization(basicRaw(disabledID+":"+secrets[disabledID])), requestRefused(401, "invalid_client", "client authentication failed"))},
		{name: "no_client_authentication", check: refusedThenUsable(func(t *testing.T, e *env, form url.Values) *http.Request {
			return postRaw(t, e, form.Encode(), formType, nil)
		}, requestRefused(401, "invalid_client", "client authentication required"))},
		{name: "client_id_alone_public_client_style", check: refusedThenUsable(postAuth("client_id=app"), requestRefused(401, "invalid_client", "client authentication required"))},

		// Credentials and tokens in the URL.
		{name: "client_secret_in_URL_query", check: refusedThenUsable(inQuery("client_secret", secrets[appID]), requestRefused(400, "invalid_request", "parameter not allowed in the URL query: client_secret"))},
		{name: "client_id_in_URL_query", check: refusedThenUsable(inQuery("client_id", appID), requestRefused(400, "invalid_request", "parameter not allowed in the URL query: client_id"))},
		{name: "subject_token_in_URL_query", check: refusedThenUsable(func(t *testing.T, e *env, form url.Values) *http.Request {
			return inQuery("subject_token", form.Get("subject_token"))(t, e, form)
		}, requestRefused(400, "invalid_request", "parameter not allowed in the URL query: subject_token"))},

		// Grant type and encoding.
		{name: "grant_type_unsupported", check: refusedThenUsable(body(func(f url.Values) string { return with(f, "grant_type", "authorization_code").Encode() }), requestRefused(400, "unsupported_grant_type", "grant_type must be"))},
		{name: "grant_type_case_changed", check: refusedThenUsable(body(func(f url.Values) string {
			return with(f, "grant_type", strings.ToUpper(tokenexchange.GrantType)).Encode()
		}), requestRefused(400, "unsupported_grant_type", "grant_type must be"))},
		{name: "grant_type_missing", check: refusedThenUsable(body(func(f url.Values) string { return with(f, "grant_type").Encode() }), requestRefused(400, "invalid_request", "grant_type is required"))},
		{name: "malformed_percent_encoding_in_body", check: refusedThenUsable(body(func(f url.Values) string { return f.Encode() + "&x=%zz" }), requestRefused(400, "invalid_request", "malformed request body"))},
		{name: "semicolon_separated_body", check: refusedThenUsable(body(func(f url.Values) string { return strings.ReplaceAll(f.Encode(), "&", ";") }), requestRefused(400, "invalid_request", "malformed request body"))},
		{name: "resource_with_fragment", check: refusedThenUsable(body(func(f url.Values) string { return with(f, "resource", apiAudience+"#frag").Encode() }), requestRefused(400, "invalid_target", "resource must be an absolute URI"))},
		{name: "resource_relative", check: refusedThenUsable(body(func(f url.Values) string { return with(f, "resource", "/api").Encode() }), requestRefused(400, "invalid_target", "resource must be an absolute URI"))},
		{name: "scope_with_forbidden_character", check: refusedThenUsable(body(func(f url.Values) string { return with(f, "scope", `openid "orders:read"`).Encode() }), requestRefused(400, "invalid_scope", "scope holds a character"))},
		{name: "scope_with_more_than_64_values", check: refusedThenUsable(body(func(f url.Values) string {
			var s []string
			for i := range 65 {
				s = append(s, "s"+strings.Repeat("x", i))
			}
			return with(f, "scope", strings.Join(s, " ")).Encode()
		}), requestRefused(400, "invalid_scope", "too many scope values"))},

		// Open redirect through redirect_uri: shown to the user (400),
		// never redirected.
		{name: "redirect_uri_trailing_slash", run: redirectTo(appRedirect + "/"), want: notRegistered},
		{name: "redirect_uri_upper_case_host", run: redirectTo("https://APP.EXAMPLE/cb"), want: notRegistered},
		{name: "redirect_uri_upper_case_scheme", run: redirectTo("HTTPS://app.example/cb"), want: notRegistered},
		{name: "redirect_uri_upper_case_path", run: redirectTo("https://app.example/CB"), want: notRegistered},
		{name: "redirect_uri_extra_query", run: redirectTo(appRedirect + "?next=https://evil.example/"), want: notRegistered},
		{name: "redirect_uri_empty_query", run: redirectTo(appRedirect + "?"), want: notRegistered},
		{name: "redirect_uri_added_fragment", run: redirectTo(appRedirect + "#https://evil.example/"), want: notRegistered},
		{name: "redirect_uri_userinfo_to_attacker_host", run: redirectTo("https://app.example@evil.example/cb"), want: notRegistered},
		{name: "redirect_uri_attacker_userinfo", run: redirectTo("https://evil.example@app.example/cb"), want: notRegistered},
		{name: "redirect_uri_backslash_userinfo", run: redirectTo(`https://app.example\@evil.example/cb`), want: notRegistered},
		{name: "redirect_uri_scheme_changed_to_http", run: redirectTo("http://app.example/cb"), want: notRegistered},
		{name: "redirect_uri_path_traversal", run: redirectTo(appRedirect + "/../evil"), want: notRegistered},
		{name: "redirect_uri_encoded_path_traversal", run: redirectTo(appRedirect + "/%2e%2e/evil"), want: notRegistered},
		{name: "redirect_uri_encoded_slashes", run: redirectTo(appRedirect + "%2F..%2F..%2Fevil.example"), want: notRegistered},
		{name: "redirect_uri_double_encoded", run: redirectTo(url.QueryEscape(appRedirect)), want: notRegistered},
		{name: "redirect_uri_percent_encoded_host", run: redirectTo("https://app%2Eexample/cb"), want: notRegistered},
		{name: "redirect_uri_explicit_default_port", run: redirectTo("https://app.example:443/cb"), want: notRegistered},
		{name: "redirect_uri_other_port", run: redirectTo("https://app.example:8443/cb"), want: notRegistered},
		{name: "redirect_uri_path_extended", run: redirectTo(appRedirect + "/evil"), want: notRegistered},
		{name: "redirect_uri_path_suffixed", run: redirectTo(appRedirect + "evil"), want: notRegistered},
		{name: "redirect_uri_attacker_subdomain", run: redirectTo("https://app.example.evil.example/cb"), want: notRegistered},
		{name: "redirect_uri_trailing_dot_host", run: redirectTo("https://app.example./cb"), want: notRegistered},
		{name: "redirect_uri_homograph_host", run: redirectTo("https://\u0430pp.example/cb"), want: notRegistered},
		{name: "redirect_uri_scheme_relative", run: redirectTo("//evil.example/cb"), want: notRegistered},
		{name: "redirect_uri_javascript_scheme", run: redirectTo("javascript:alert(document.domain)//" + appRedirect), want: notRegistered},
		{name: "redirect_uri_data_scheme", run: redirectTo("data:text/html,<script>alert(1)</script>"), want: notRegistered},
		{name: "redirect_uri_leading_space", run: redirectTo(" " + appRedirect), want: notRegistered},
		{name: "redirect_uri_trailing_space", run: redirectTo(appRedirect + " "), want: notRegistered},
		{name: "redirect_uri_CRLF_header_injection", run: redirectTo(appRedirect + "\r\nLocation: https://evil.example/"), want: notRegistered},
		{name: "redirect_uri_embedded_tab", run: redirectTo("https://app.example/\tcb"), want: notRegistered},
		{name: "redirect_uri_embedded_NUL", run: redirectTo(appRedirect + "\x00.evil.example"), want: notRegistered},
		{name: "redirect_uri_of_another_client", run: redirectTo(app2Redirect), want: notRegistered},
		{name: "redirect_uri_twice_registered_then_attacker", run: authorizeRaw(func(v url.Values) string {
			return v.Encode() + "&redirect_uri=" + url.QueryEscape("https://evil.example/cb")
		}), want: requestRefused(400, "invalid_request", "redirect_uri is repeated")},
		{name: "redirect_uri_missing", run: redirectTo(""), want: requestRefused(400, "invalid_request", "redirect_uri is missing")},
		{name: "unknown_client_with_attacker_redirect_uri", run: authorizeRaw(func(v url.Values) string {
			v.Set("client_id", "evil-client")
			v.Set("redirect_uri", "https://evil.example/cb")
			return v.Encode()
		}), want: requestRefused(400, "invalid_request", "unknown client_id")},
		{name: "client_id_twice", run: authorizeRaw(func(v url.Values) string { return v.Encode() + "&client_id=app2" }), want: requestRefused(400, "invalid_request", "client_id is repeated")},
		{name: "authorize_with_PUT", run: func(t *testing.T, e *env) response {
			req := e.newRequest(t, http.MethodPut, "/oauth2/authorize?"+authorizeValues(appID, "bob").Encode(), nil)
			req.Header.Set(userHeader, "alice")
			return e.do(t, req).hiding("bob")
		}, want: requestRefused(400, "invalid_request", "the authorization request must use GET or POST")},
		{name: "authorize_POST_with_JSON_body", run: func(t *testing.T, e *env) response {
			req := e.newRequest(t, http.MethodPost, "/oauth2/authorize", strings.NewReader(`{"client_id":"app"}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set(userHeader, "alice")
			return e.do(t, req)
		}, want: requestRefused(400, "invalid_request", "must be application/x-www-form-urlencoded")},

		{name: "authorize_POST_takes_no_parameters_from_the_URL_query", run: func(t *testing.T, e *env) response {
			v := authorizeValues(appID, "bob")
			v.Del("redirect_uri")
			req := e.newRequest(t, http.MethodPost, "/oauth2/authorize?redirect_uri="+url.QueryEscape("https://evil.example/cb"), strings.NewReader(v.Encode()))
			req.Header.Set("Content-Type", formType)
			req.Header.Set(userHeader, "alice")
			return e.do(t, req).hiding("evil.example", "bob")
		}, want: requestRefused(400, "invalid_request", "redirect_uri is missing")},

		// The introspection and revocation endpoints share the pipeline.
		{name: "introspection_without_client_authentication", run: withAccessToken(func(t *testing.T, e *env, at string) response {
			return e.postToken(t, "/oauth2/introspect", at, nil)
		}), want: requestRefused(401, "invalid_client", "client authentication required")},
		{name: "introspection_with_wrong_secret", run: withAccessToken(func(t *testing.T, e *env, at string) response {
			return e.postToken(t, "/oauth2/introspect", at, basicWith(appID, "guess"))
		}), want: requestRefused(401, "invalid_client", "client authentication failed")},
		{name: "introspection_token_in_URL_query", run: withAccessToken(func(t *testing.T, e *env, at string) response {
			req := e.newRequest(t, http.MethodPost, "/oauth2/introspect?token="+at, strings.NewReader(""))
			req.Header.Set("Content-Type", formType)
			basic(appID)(req)
			return e.do(t, req)
		}), want: requestRefused(400, "invalid_request", "parameter not allowed in the URL query: token")},
		{name: "introspection_token_twice", run: withAccessToken(func(t *testing.T, e *env, at string) response {
			other := e.accessToken(t)
			return e.postForm(t, "/oauth2/introspect", "token="+at+"&token="+other, basic(appID)).presenting(other)
		}), want: requestRefused(400, "invalid_request", "parameter given more than once: token")},
		{name: "introspection_with_GET", run: tokenByGET("/oauth2/introspect"), want: requestRefused(405, "invalid_request", "the introspection endpoint accepts only POST")},
		{name: "revocation_with_GET", run: tokenByGET("/oauth2/revoke"), want: requestRefused(405, "invalid_request", "the revocation endpoint accepts only POST")},
		{name: "revocation_without_client_authentication", check: func(t *testing.T, e *env) {
			at := e.accessToken(t)
			r := e.postToken(t, "/oauth2/revoke", at, nil).presenting(at).hiding("bob", "alice")
			assertRefused(t, e, r, requestRefused(401, "invalid_client", "client authentication required"))
			still := e.api(t, http.MethodGet, "/api/me", at)
			assert.Equal(t, http.StatusOK, still.status, "an unauthenticated request revoked the token")
		}},
		{name: "revocation_without_token", run: func(t *testing.T, e *env) response {
			return e.postForm(t, "/oauth2/revoke", "token_type_hint=access_token", basic(appID))
		}, want: requestRefused(400, "invalid_request", "token is required")},

		// Bearer tokens where RFC 6750 and RFC 9700 say they must not be.
		{name: "access_token_in_URL_query_at_API", run: withAccessToken(func(t *testing.T, e *env, at string) response {
			return e.do(t, e.newRequest(t, http.MethodGet, "/api/me?access_token="+at, nil))
		}), want: refusal{status: 401, noAudit: gapAPIAudit}},
		{name: "access_token_in_form_body_at_API", run: withAccessToken(func(t *testing.T, e *env, at string) response {
			req := e.newRequest(t, http.MethodPost, "/api/orders", strings.NewReader("access_token="+at))
			req.Header.Set("Content-Type", formType)
			return e.do(t, req)
		}), want: refusal{status: 401, noAudit: gapAPIAudit}},
		{name: "two_bearer_tokens_at_API", run: withAccessToken(func(t *testing.T, e *env, at string) response {
			req := e.newRequest(t, http.MethodPost, "/api/orders", nil)
			req.Header.Add("Authorization", "Bearer "+at)
			req.Header.Add("Authorization", "Bearer "+at)
			return e.do(t, req)
		}), want: refusal{status: 401, noAudit: gapAPIAudit}},
		{name: "client_credentials_as_Basic_at_API", run: func(t *testing.T, e *env) response {
			req := e.newRequest(t, http.MethodGet, "/api/me", nil)
			basic(appID)(req)
			return e.do(t, req)
		}, want: refusal{status: 401, noAudit: gapAPIAudit}},

		// Reflected state and error_description in form_post HTML.
		{name: "form_post_state_script_injection", check: formPostInjection(`"><script>alert(1)</script>`)},
		{name: "form_post_state_attribute_breakout", check: formPostInjection(`x" autofocus onfocus="alert(1)`)},
		{name: "form_post_state_closing_the_page_script", check: formPostInjection(`</script><script>alert(1)</script>`)},
		{name: "form_post_state_single_quote_breakout", check: formPostInjection(`x' onmouseover='alert(1)`)},
		{name: "form_post_error_description_via_repeated_parameter_name", check: func(t *testing.T, e *env) {
			v := authorizeValues(appID, "bob")
			v.Set("response_mode", "form_post")
			name := `<script>alert(1)</script>`
			r := e.authorize(t, "alice", v.Encode()+"&"+url.QueryEscape(name)+"=1&"+url.QueryEscape(name)+"=2").hiding("bob")
			assertRefused(t, e, r, requestRefused(200, "invalid_request", "a parameter is repeated"))
			formPostSafe(t, r, name, "&lt;script")
		}},
		{name: "form_post_error_description_via_requested_subject", check: func(t *testing.T, e *env) {
			r := authorizeValuesMod("alice", appID, `<img src=x onerror=alert(1)>`, params("response_mode", "form_post"))(t, e)
			assertRefused(t, e, r, refusal{status: 200, code: "access_denied", event: store.EventImpersonationDenied, reason: "subject_unknown"})
			formPostSafe(t, r, "<img", "&lt;img", "onerror")
		}},
		{name: "fragment_state_parameter_smuggling", check: func(t *testing.T, e *env) {
			r := authorizeValuesMod("eve", appID, "carol", params("state", "s&error=none&subject_token=forged#x"))(t, e)
			assertRefused(t, e, r, deniedAt("subject_outside_organization"))
			f := redirectParams(t, r.header.Get("Location"))[1]
			assert.Equal(t, []string{"access_denied"}, f["error"], "state cannot add parameters")
			assert.Equal(t, []string{"s&error=none&subject_token=forged#x"}, f["state"])
		}},

		// Response modes and the other authorize parameters.
		{name: "response_mode_query_for_client_that_did_not_opt_in", check: func(t *testing.T, e *env) {
			r := authorizeValuesMod("alice", appID, "bob", params("response_mode", "query"))(t, e)
			assertRefused(t, e, r, requestRefused(http.StatusFound, "invalid_request", "response_mode query is not allowed for the client"))
			u, err := url.Parse(r.header.Get("Location"))
			require.NoError(t, err)
			assert.Empty(t, u.RawQuery, "nothing in the query of a client that did not opt in")
			assert.Equal(t, appRedirect, u.Scheme+"://"+u.Host+u.Path)
		}},
		{name: "response_mode_unknown", run: authorizeValuesMod("alice", appID, "bob", params("response_mode", "web_message")),
			want: requestRefused(http.StatusFound, "invalid_request", "unsupported response_mode")},
		{name: "response_mode_case_changed", run: authorizeValuesMod("alice", appID, "bob", params("response_mode", "FORM_POST")),
			want: requestRefused(http.StatusFound, "invalid_request", "unsupported response_mode")},
		{name: "denied_request_of_query_client_answers_in_query", check: func(t *testing.T, e *env) {
			r := authorizeValuesMod("eve", queryAppID, "carol", params("response_mode", "query"))(t, e)
			assertRefused(t, e, r, deniedAt("impersonator_lacks_role"))
			q := redirectParams(t, r.header.Get("Location"))[0]
			assert.Equal(t, "access_denied", q.Get("error"))
		}},
		{name: "response_type_token", run: authorizeValuesMod("alice", appID, "bob", params("response_type", "token")),
			want: requestRefused(http.StatusFound, "unsupported_response_type", "response_type must be")},
		{name: "response_type_code", run: authorizeValuesMod("alice", appID, "bob", params("response_type", "code")),
			want: requestRefused(http.StatusFound, "unsupported_response_type", "response_type must be")},
		{name: "response_type_subject_token_twice", run: authorizeValuesMod("alice", appID, "bob", params("response_type", "subject_token subject_token")),
			want: requestRefused(http.StatusFound, "unsupported_response_type", "response_type must be")},
		{name: "scope_without_internal_user_impersonate", run: authorizeValuesMod("alice", appID, "bob", params("scope", "openid "+scopeRead)),
			want: requestRefused(http.StatusFound, "invalid_scope", "scope must include internal_user_impersonate")},
		{name: "scope_with_more_than_64_values_at_authorize", run: authorizeValuesMod("alice", appID, "bob", func(v url.Values) {
			s := []string{scopeImpersonate}
			for i := range 64 {
				s = append(s, "s"+strings.Repeat("y", i))
			}
			v.Set("scope", strings.Join(s, " "))
		}), want: requestRefused(http.StatusFound, "invalid_scope", "too many scope values")},
		{name: "nonce_missing_with_id_token", run: authorizeValuesMod("alice", appID, "bob", func(v url.Values) { v.Del("nonce") }),
			want: requestRefused(http.StatusFound, "invalid_request", "nonce is required")},
		{name: "requested_subject_twice", run: authorizeRaw(func(v url.Values) string { return v.Encode() + "&requested_subject=carol" }),
			want: requestRefused(http.StatusFound, "invalid_request", "requested_subject is repeated")},
		{name: "requested_subject_missing", run: authorizeValuesMod("alice", appID, "bob", func(v url.Values) { v.Del("requested_subject") }),
			want: requestRefused(http.StatusFound, "invalid_request", "requested_subject is missing")},
		{name: "impersonation_reason_forging_audit_lines", run: authorizeValuesMod("alice", appID, "bob", params("impersonation_reason", forgedLine)),
			want: requestRefused(http.StatusFound, "invalid_request", "impersonation_reason must be")},

		// Audit-log injection through other client input.
		{
			name: "audit_log_injection_via_claimed_client_id",
			check: func(t *testing.T, e *env) {
				st, idt := e.genuine(t, appID, "alice", "bob")
				r := e.do(t, postRaw(t, e, exchangeForm(st, idt).Encode(), formType, basicWith(forgedLine, "guess")))
				assertRefused(t, e, r.presenting(st, idt), requestRefused(401, "invalid_client", "client authentication failed"))
				auditPrintable(t, e.since(r.mark))
				big := e.do(t, postRaw(t, e, "client_id="+strings.Repeat("A", 60<<10)+"&client_secret=x&"+exchangeForm(st, idt).Encode(), formType, nil))
				require.Equal(t, http.StatusUnauthorized, big.status)
				auditPrintable(t, e.since(big.mark))
			},
		},
		{
			name: "audit_log_injection_via_requested_subject_and_scope",
			check: func(t *testing.T, e *env) {
				r := authorizeValuesMod("bob", appID, forgedLine, params("scope", scopeImpersonate+" "+forgedLine+strings.Repeat("z", 4096)))(t, e)
				assertRefused(t, e, r, deniedAt("impersonator_lacks_role"))
				auditPrintable(t, e.since(r.mark))
			},
		},
	}
	runFamily(t, cases)
}

// TestRequest_BodyAtTheLimitIsAccepted pins the documented limit: a body
// of exactly tokenexchange.DefaultMaxBodyBytes (64 KiB) is read; one byte
// more is TestRequest/body_one_byte_over_DefaultMaxBodyBytes.
func TestRequest_BodyAtTheLimitIsAccepted(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	st, idt := e.genuine(t, appID, "alice", "bob")
	b := exchangeForm(st, idt).Encode() + "&padding="
	b += strings.Repeat("a", tokenexchange.DefaultMaxBodyBytes-len(b))
	require.Len(t, b, 64<<10)
	r := e.do(t, postRaw(t, e, b, formType, basic(appID)))
	assert.Equal(t, http.StatusOK, r.status, r.body)
}

// TestRequest_CredentialsAreFormDecoded pins the documented decoding of
// client credentials: RFC 6749 §2.3.1 form-encodes client_id and
// client_secret inside HTTP Basic, so "%61pp" is app (decoded exactly
// once); client_secret_post values are decoded once by the form parser.
func TestRequest_CredentialsAreFormDecoded(t *testing.T) {
	t.Parallel()
	encodeAll := func(s string) string {
		var b strings.Builder
		for i := 0; i < len(s); i++ {
			b.WriteString("%" + strings.ToUpper(hexByte(s[i])))
		}
		return b.String()
	}
	tests := []struct {
		name string
		auth func(*http.Request)
		body string
	}{
		{name: "Basic_percent_encoded_client_id", auth: func(r *http.Request) {
			r.Header.Set("Authorization", basicRaw("%61pp:"+secrets[appID]))
		}},
		{name: "Basic_fully_percent_encoded_secret", auth: func(r *http.Request) {
			r.Header.Set("Authorization", basicRaw("app:"+encodeAll(secrets[appID])))
		}},
		{name: "post_percent_encoded_client_id", body: "&client_id=%61pp&client_secret=" + secrets[appID]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			st, idt := e.genuine(t, appID, "alice", "bob")
			r := e.do(t, postRaw(t, e, exchangeForm(st, idt).Encode()+tc.body, formType, tc.auth))
			require.Equal(t, http.StatusOK, r.status, r.body)
			var ev store.Event
			for _, x := range e.since(r.mark) {
				if x.Type == store.EventTokenExchanged {
					ev = x
				}
			}
			assert.Equal(t, appID, ev.ClientID, "the decoded client is app")
		})
	}
}

func hexByte(c byte) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[c>>4], digits[c&15]})
}

// TestRequest_FormPostSuccessPageEscapesState shows the escaping and the
// CSP on a granted form_post response too: the tokens are issued (alice may
// act as bob) and the injected state comes back inert.
func TestRequest_FormPostSuccessPageEscapesState(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	payload := `"><script>alert(1)</script>`
	r := authorizeValuesMod("alice", appID, "bob", params("response_mode", "form_post", "state", payload))(t, e)
	require.Equal(t, http.StatusOK, r.status, r.body)
	formPostSafe(t, r, payload)
	assert.Contains(t, r.body, `name="subject_token"`)
	assert.Contains(t, r.body, `&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;`, "state escaped for the attribute")
	var js map[string]any
	assert.Error(t, json.Unmarshal([]byte(r.body), &js), "an HTML page, not JSON")
}
