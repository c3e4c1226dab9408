package tokenexchange

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/actas/actas/claims"
)

// Values of the token_type response member (RFC 8693 §2.2.1,
// https://www.rfc-editor.org/rfc/rfc8693#section-2.2.1). They are not token
// type identifiers: those are the TokenType URIs of issued_token_type.
const (
	// BearerTokenType is the token_type of a bearer access token (RFC 6750,
	// https://www.rfc-editor.org/rfc/rfc6750).
	BearerTokenType = "Bearer"
	// NotApplicableTokenType is the token_type when the issued token is not
	// an access token, such as an ID token or a SAML assertion.
	NotApplicableTokenType = "N_A"
)

// Response is a successful token exchange response (RFC 8693 §2.2.1,
// https://www.rfc-editor.org/rfc/rfc8693#section-2.2.1), plain data with the
// JSON names of the RFC.
//
// AccessToken, IssuedTokenType and TokenType are required; the token endpoint ([NewHandler])
// answers server_error rather than send a response without them. A zero
// ExpiresIn, a nil Scope and an empty RefreshToken are left out of the JSON.
type Response struct {
	// AccessToken is the issued token, whatever its type (the member is
	// named access_token for compatibility with RFC 6749).
	AccessToken string `json:"access_token"`
	// IssuedTokenType is the token type URI of AccessToken, such as
	// [TokenTypeAccessToken].
	IssuedTokenType string `json:"issued_token_type"`
	// TokenType says how to use AccessToken: [BearerTokenType], or
	// [NotApplicableTokenType] when it is not an access token.
	TokenType string `json:"token_type"`
	// ExpiresIn is the lifetime of AccessToken in seconds. Zero means
	// unspecified.
	ExpiresIn int64 `json:"expires_in,omitempty"`
	// Scope is the scope of AccessToken. RFC 8693 requires it when it
	// differs from the requested scope; it is sent as a space-delimited
	// string.
	Scope claims.Scope `json:"scope,omitempty"`
	// RefreshToken is an optional refresh token.
	RefreshToken string `json:"refresh_token,omitempty"`
	// IDToken is an OpenID Connect ID token beside the issued token: the
	// impersonated user's after a token exchange that granted openid, or
	// that of an authorization-code or refresh grant served through
	// WithGrant. Empty means none.
	IDToken string `json:"id_token,omitempty"`
}

// errIncompleteResponse is the cause recorded when a [Response] lacks a
// required member.
var errIncompleteResponse = errors.New("tokenexchange: response lacks access_token, issued_token_type or token_type")

// check reports whether resp has the members RFC 8693 §2.2.1 requires.
func (resp *Response) check() error {
	if resp == nil || resp.AccessToken == "" || resp.IssuedTokenType == "" || resp.TokenType == "" {
		return errIncompleteResponse
	}
	return nil
}

// WriteResponse writes resp as a 200 JSON token response with
// Content-Type application/json, Cache-Control: no-store and Pragma:
// no-cache (RFC 6749 §5.1, https://www.rfc-editor.org/rfc/rfc6749#section-5.1).
// A nil resp is written as server_error.
func WriteResponse(w http.ResponseWriter, resp *Response) {
	if resp == nil {
		WriteError(w, ErrServerError.WithDescription(internalErrorDescription))
		return
	}
	body, err := json.Marshal(resp)
	if err != nil {
		WriteError(w, ErrServerError.WithDescription(internalErrorDescription).WithCause(err))
		return
	}
	writeJSON(w, body)
}

// writeJSON writes body as a 200 JSON response with Cache-Control: no-store
// and Pragma: no-cache (RFC 6749 §5.1, RFC 7662 §2.2).
func writeJSON(w http.ResponseWriter, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	setNoStore(h)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// checkGrant reports whether a response of a grant served through
// WithGrant has what RFC 6749 §5.1 requires: access_token and token_type.
func (resp *Response) checkGrant() error {
	if resp == nil || resp.AccessToken == "" || resp.TokenType == "" {
		return ErrServerError.WithDescription(internalErrorDescription).WithCause(errIncompleteResponse)
	}
	return nil
}
