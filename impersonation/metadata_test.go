package impersonation_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/impersonation"
	"github.com/actas/actas/store"
	"github.com/actas/actas/subjecttoken"
	"github.com/actas/actas/tokenexchange"
)

func TestDefaultMetadata(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		iss     string
		alg     string
		wantAlg string
	}{
		{name: "host issuer, default algorithm", iss: testIssuer, wantAlg: store.ES256},
		{name: "issuer with a path", iss: "https://id.example/tenants/acme", wantAlg: store.ES256},
		{name: "RS256 keys", iss: testIssuer, alg: store.RS256, wantAlg: store.RS256},
		{name: "EdDSA keys", iss: testIssuer, alg: store.EdDSA, wantAlg: store.EdDSA},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := impersonation.DefaultMetadata(tc.iss, tc.alg)

			assert.Equal(t, tc.iss, m.Issuer, "issuer is the issuer identifier exactly")
			assert.Equal(t, tc.iss+"/oauth2/authorize", m.AuthorizationEndpoint)
			assert.Equal(t, tc.iss+"/oauth2/token", m.TokenEndpoint)
			assert.Equal(t, tc.iss+"/oauth2/userinfo", m.UserInfoEndpoint)
			assert.Equal(t, tc.iss+"/oauth2/jwks", m.JWKSURI)
			assert.Equal(t, tc.iss+"/oauth2/introspect", m.IntrospectionEndpoint)
			assert.Equal(t, tc.iss+"/oauth2/revoke", m.RevocationEndpoint)

			assert.ElementsMatch(t, []string{"subject_token", "id_token subject_token"}, m.ResponseTypesSupported)
			assert.Contains(t, m.ResponseTypesSupported, subjecttoken.ResponseTypeSubjectToken)
			assert.ElementsMatch(t, []string{"fragment", "form_post", "query"}, m.ResponseModesSupported)
			assert.Equal(t, []string{"urn:ietf:params:oauth:grant-type:token-exchange"}, m.GrantTypesSupported)
			assert.Equal(t, tokenexchange.GrantType, m.GrantTypesSupported[0])
			assert.Contains(t, m.ScopesSupported, "internal_user_impersonate")
			assert.Contains(t, m.ScopesSupported, "openid")
			assert.Equal(t, []string{tc.wantAlg}, m.IDTokenSigningAlgValuesSupported)
			assert.Equal(t, []string{"public"}, m.SubjectTypesSupported)
			for _, methods := range [][]string{
				m.TokenEndpointAuthMethodsSupported,
				m.IntrospectionEndpointAuthMethodsSupported,
				m.RevocationEndpointAuthMethodsSupported,
			} {
				assert.ElementsMatch(t, []string{"client_secret_basic", "client_secret_post"}, methods)
			}
			for _, c := range []string{"iss", "sub", "aud", "exp", "iat", "jti", "act", "may_act", "org_id", "name", "preferred_username", "email"} {
				assert.Contains(t, m.ClaimsSupported, c)
			}
		})
	}
}

func TestDefaultMetadata_AuthMethodListsAreIndependent(t *testing.T) {
	t.Parallel()
	m := impersonation.DefaultMetadata(testIssuer, "")
	m.TokenEndpointAuthMethodsSupported[0] = "private_key_jwt"
	assert.Equal(t, tokenexchange.AuthMethodBasic, m.IntrospectionEndpointAuthMethodsSupported[0],
		"adjusting one list leaves the others alone")
	assert.Equal(t, tokenexchange.AuthMethodBasic, m.RevocationEndpointAuthMethodsSupported[0])
	assert.Equal(t, tokenexchange.AuthMethodBasic, impersonation.DefaultMetadata(testIssuer, "").TokenEndpointAuthMethodsSupported[0],
		"every call returns fresh lists")
}

func TestDefaultMetadata_IssuerWithTrailingSlash(t *testing.T) {
	t.Parallel()
	m := impersonation.DefaultMetadata("https://id.example/", "")
	assert.Equal(t, "https://id.example/", m.Issuer)
	for _, u := range []string{m.AuthorizationEndpoint, m.TokenEndpoint, m.UserInfoEndpoint, m.JWKSURI, m.IntrospectionEndpoint, m.RevocationEndpoint} {
		assert.NotContains(t, strings.TrimPrefix(u, "https://"), "//", u)
	}
	assert.Equal(t, "https://id.example/oauth2/token", m.TokenEndpoint)
}

// metadataHandler returns the handler for DefaultMetadata(testIssuer, "").
func metadataHandler(t testing.TB) (http.Handler, impersonation.Metadata) {
	t.Helper()
	m := impersonation.DefaultMetadata(testIssuer, "")
	h, err := impersonation.MetadataHandler(m)
	require.NoError(t, err)
	return h, m
}

// TestRFC8414_3_2_MetadataResponse: "A successful response MUST use the 200
// OK HTTP status code and return a JSON object using the application/json
// content type", and §3.3: the issuer MUST be identical to the issuer
// identifier.
func TestRFC8414_3_2_MetadataResponse(t *testing.T) {
	t.Parallel()
	h, want := metadataHandler(t)
	for _, path := range []string{"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"} {
		t.Run(path, func(t *testing.T) {
			t.Parallel()
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))

			require.Equal(t, http.StatusOK, w.Code)
			assert.Equal(t, "application/json", w.Header().Get("Content-Type"))
			assert.Equal(t, "public, max-age=300", w.Header().Get("Cache-Control"))

			var got impersonation.Metadata
			d := json.NewDecoder(w.Body)
			d.DisallowUnknownFields()
			require.NoError(t, d.Decode(&got))
			assert.Equal(t, want, got)
			assert.Equal(t, testIssuer, got.Issuer, "RFC 8414 §3.3: issuer identical")
		})
	}
}

func TestMetadataHandler_WireNames(t *testing.T) {
	t.Parallel()
	h, _ := metadataHandler(t)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/.well-known/openid-configuration", nil))
	require.Equal(t, http.StatusOK, w.Code)

	var raw map[string]any
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &raw))
	tests := []struct {
		name string
		key  string
		want any
	}{
		{name: "issuer", key: "issuer", want: testIssuer},
		{name: "authorization endpoint", key: "authorization_endpoint", want: testIssuer + "/oauth2/authorize"},
		{name: "token endpoint", key: "token_endpoint", want: testIssuer + "/oauth2/token"},
		{name: "userinfo endpoint", key: "userinfo_endpoint", want: testIssuer + "/oauth2/userinfo"},
		{name: "jwks", key: "jwks_uri", want: testIssuer + "/oauth2/jwks"},
		{name: "introspection endpoint", key: "introspection_endpoint", want: testIssuer + "/oauth2/introspect"},
		{name: "revocation endpoint", key: "revocation_endpoint", want: testIssuer + "/oauth2/revoke"},
		{name: "response types", key: "response_types_supported", want: []any{"subject_token", "id_token subject_token"}},
		{name: "grant types", key: "grant_types_supported", want: []any{tokenexchange.GrantType}},
		{name: "ID token algorithms", key: "id_token_signing_alg_values_supported", want: []any{"ES256"}},
		{name: "subject types", key: "subject_types_supported", want: []any{"public"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, raw[tc.key])
		})
	}
}

func TestMetadataHandler_EmptyOptionalMembersOmitted(t *testing.T) {
	t.Parallel()
	h, err := impersonation.MetadataHandler(impersonation.Metadata{
		Issuer:                 testIssuer,
		AuthorizationEndpoint:  testIssuer + "/a",
		TokenEndpoint:          testIssuer + "/t",
		JWKSURI:                testIssuer + "/k",
		ResponseTypesSupported: []string{"subject_token"},
	})
	require.NoError(t, err)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/.well-known/oauth-authorization-server", nil))
	require.Equal(t, http.StatusOK, w.Code)
	assert.JSONEq(t, `{"issuer":"https://id.example","authorization_endpoint":"https://id.example/a",
		"token_endpoint":"https://id.example/t","jwks_uri":"https://id.example/k",
		"response_types_supported":["subject_token"]}`, w.Body.String())
}

func TestMetadataHandler_Methods(t *testing.T) {
	t.Parallel()
	h, _ := metadataHandler(t)
	tests := []methodCase{
		{name: "GET", method: http.MethodGet, wantStatus: http.StatusOK, wantBody: true},
		{name: "HEAD", method: http.MethodHead, wantStatus: http.StatusOK},
		{name: "POST", method: http.MethodPost, wantStatus: http.StatusMethodNotAllowed},
		{name: "PUT", method: http.MethodPut, wantStatus: http.StatusMethodNotAllowed},
		{name: "DELETE", method: http.MethodDelete, wantStatus: http.StatusMethodNotAllowed},
		{name: "PATCH", method: http.MethodPatch, wantStatus: http.StatusMethodNotAllowed},
		{name: "OPTIONS", method: http.MethodOptions, wantStatus: http.StatusMethodNotAllowed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(tc.method, "/.well-known/openid-configuration", strings.NewReader("issuer=https://evil.example")))
			require.Equal(t, tc.wantStatus, w.Code)
			assert.Equal(t, "application/json", w.Header().Get("Content-Type"))
			switch {
			case tc.wantStatus == http.StatusMethodNotAllowed:
				assert.Equal(t, "GET, HEAD", w.Header().Get("Allow"))
				var e struct {
					Error string `json:"error"`
				}
				require.NoError(t, json.Unmarshal(w.Body.Bytes(), &e))
				assert.Equal(t, "invalid_request", e.Error)
				assert.NotContains(t, w.Body.String(), "oauth2/token", "no metadata on a refused method")
			case tc.wantBody:
				assert.Empty(t, w.Header().Get("Allow"))
				assert.Contains(t, w.Body.String(), `"issuer":"https://id.example"`)
			default:
				assert.Empty(t, w.Header().Get("Allow"))
				assert.Empty(t, w.Body.String(), "HEAD has no body")
			}
		})
	}
}

func TestMetadataHandler_EncodedOnce(t *testing.T) {
	t.Parallel()
	m := impersonation.DefaultMetadata(testIssuer, "")
	h, err := impersonation.MetadataHandler(m)
	require.NoError(t, err)
	m.Issuer = "https://changed.example"
	m.ScopesSupported[0] = "changed"

	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/.well-known/openid-configuration", nil))
	require.Equal(t, http.StatusOK, w.Code)
	var got impersonation.Metadata
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &got))
	assert.Equal(t, testIssuer, got.Issuer, "changes after MetadataHandler do not show")
	assert.Equal(t, impersonation.DefaultMetadata(testIssuer, ""), got)
}
