package impersonation

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"github.com/actas/actas/internal/wire"
	"github.com/actas/actas/store"
	"github.com/actas/actas/subjecttoken"
	"github.com/actas/actas/tokenexchange"
)

// Metadata is the authorization server metadata (RFC 8414 §2,
// https://www.rfc-editor.org/rfc/rfc8414#section-2) with the OpenID Connect
// Discovery members an OpenID client expects. Empty optional members are
// left out of the JSON.
type Metadata struct {
	Issuer                                    string   `json:"issuer"`
	AuthorizationEndpoint                     string   `json:"authorization_endpoint"`
	TokenEndpoint                             string   `json:"token_endpoint"`
	UserInfoEndpoint                          string   `json:"userinfo_endpoint,omitempty"`
	JWKSURI                                   string   `json:"jwks_uri"`
	IntrospectionEndpoint                     string   `json:"introspection_endpoint,omitempty"`
	RevocationEndpoint                        string   `json:"revocation_endpoint,omitempty"`
	EndSessionEndpoint                        string   `json:"end_session_endpoint,omitempty"`
	ResponseTypesSupported                    []string `json:"response_types_supported"`
	ResponseModesSupported                    []string `json:"response_modes_supported,omitempty"`
	GrantTypesSupported                       []string `json:"grant_types_supported,omitempty"`
	TokenEndpointAuthMethodsSupported         []string `json:"token_endpoint_auth_methods_supported,omitempty"`
	IntrospectionEndpointAuthMethodsSupported []string `json:"introspection_endpoint_auth_methods_supported,omitempty"`
	RevocationEndpointAuthMethodsSupported    []string `json:"revocation_endpoint_auth_methods_supported,omitempty"`
	ScopesSupported                           []string `json:"scopes_supported,omitempty"`
	IDTokenSigningAlgValuesSupported          []string `json:"id_token_signing_alg_values_supported,omitempty"`
	SubjectTypesSupported                     []string `json:"subject_types_supported,omitempty"`
	ClaimsSupported                           []string `json:"claims_supported,omitempty"`
	// CodeChallengeMethodsSupported is RFC 8414's member for PKCE (RFC
	// 7636), for hosts that serve the authorization-code grant.
	CodeChallengeMethodsSupported []string `json:"code_challenge_methods_supported,omitempty"`
}

// DefaultMetadata describes an issuer that mounts the library's handlers
// at the conventional paths under iss (a trailing slash on iss is not
// doubled): /oauth2/authorize, /oauth2/token, /oauth2/userinfo,
// /oauth2/jwks, /oauth2/introspect, /oauth2/revoke and /oauth2/logout
// (the end-session endpoint). alg is the
// signing algorithm of its keys (ES256 when empty). Adjust the result for
// other paths or more scopes.
func DefaultMetadata(iss, alg string) Metadata {
	if alg == "" {
		alg = store.ES256
	}
	base := strings.TrimSuffix(iss, "/")
	auth := []string{tokenexchange.AuthMethodBasic, tokenexchange.AuthMethodPost}
	return Metadata{
		Issuer:                iss,
		AuthorizationEndpoint: base + "/oauth2/authorize",
		TokenEndpoint:         base + "/oauth2/token",
		UserInfoEndpoint:      base + "/oauth2/userinfo",
		JWKSURI:               base + "/oauth2/jwks",
		IntrospectionEndpoint: base + "/oauth2/introspect",
		RevocationEndpoint:    base + "/oauth2/revoke",
		EndSessionEndpoint:    base + "/oauth2/logout",
		ResponseTypesSupported: []string{
			subjecttoken.ResponseTypeSubjectToken,
			subjecttoken.ResponseTypeIDToken + " " + subjecttoken.ResponseTypeSubjectToken,
		},
		ResponseModesSupported:                    []string{store.ResponseModeFragment, store.ResponseModeFormPost, store.ResponseModeQuery},
		GrantTypesSupported:                       []string{tokenexchange.GrantType},
		TokenEndpointAuthMethodsSupported:         auth,
		IntrospectionEndpointAuthMethodsSupported: slices.Clone(auth),
		RevocationEndpointAuthMethodsSupported:    slices.Clone(auth),
		ScopesSupported:                           []string{"openid", subjecttoken.ScopeImpersonate},
		IDTokenSigningAlgValuesSupported:          []string{alg},
		SubjectTypesSupported:                     []string{"public"},
		ClaimsSupported: []string{
			"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "azp", "client_id", "scope",
			"act", "may_act", "aut", "org_id", "org_name", "nonce", "auth_time", "s_hash",
			"name", "preferred_username", "email",
		},
	}
}

// metadataHandler serves m as JSON, for both
// /.well-known/openid-configuration and
// /.well-known/oauth-authorization-server (RFC 8414 §3). It answers GET and
// HEAD, 405 otherwise. The document is encoded once, here.
func metadataHandler(m Metadata) (http.Handler, error) {
	body, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			wire.WriteError(w, http.StatusMethodNotAllowed, "invalid_request", "method not allowed")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		if r.Method == http.MethodHead {
			return
		}
		_, _ = w.Write(body)
	}), nil
}
