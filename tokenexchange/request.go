package tokenexchange

import (
	"net/url"
	"strings"

	"github.com/actas/actas/claims"
)

// GrantType is the grant_type value of a token exchange request (RFC 8693
// §2.1, https://www.rfc-editor.org/rfc/rfc8693#section-2.1).
const GrantType = "urn:ietf:params:oauth:grant-type:token-exchange"

// Token type identifiers (RFC 8693 §3,
// https://www.rfc-editor.org/rfc/rfc8693#section-3), the values of
// subject_token_type, actor_token_type, requested_token_type and
// issued_token_type.
const (
	// TokenTypeAccessToken is an OAuth 2.0 access token.
	TokenTypeAccessToken = "urn:ietf:params:oauth:token-type:access_token"
	// TokenTypeRefreshToken is an OAuth 2.0 refresh token.
	TokenTypeRefreshToken = "urn:ietf:params:oauth:token-type:refresh_token"
	// TokenTypeIDToken is an OpenID Connect ID token.
	TokenTypeIDToken = "urn:ietf:params:oauth:token-type:id_token"
	// TokenTypeJWT is a JWT (RFC 7519) of no more specific type.
	TokenTypeJWT = "urn:ietf:params:oauth:token-type:jwt"
	// TokenTypeSAML1 is a base64url-encoded SAML 1.1 assertion.
	TokenTypeSAML1 = "urn:ietf:params:oauth:token-type:saml1"
	// TokenTypeSAML2 is a base64url-encoded SAML 2.0 assertion.
	TokenTypeSAML2 = "urn:ietf:params:oauth:token-type:saml2"
)

// Form parameter names of the token request (RFC 8693 §2.1; RFC 6749 §2.3.1
// for client_id and client_secret).
const (
	paramGrantType          = "grant_type"
	paramSubjectToken       = "subject_token"
	paramSubjectTokenType   = "subject_token_type"
	paramActorToken         = "actor_token"
	paramActorTokenType     = "actor_token_type"
	paramResource           = "resource"
	paramAudience           = "audience"
	paramScope              = "scope"
	paramRequestedTokenType = "requested_token_type"
	paramClientID           = "client_id"
	paramClientSecret       = "client_secret"
)

// singleParams returns the token exchange parameters that may appear at
// most once (RFC 6749 §3.2). resource and audience may repeat (RFC 8693
// §2.1). It is a function so that the list cannot be modified.
func singleParams() [7]string {
	return [...]string{
		paramGrantType, paramSubjectToken, paramSubjectTokenType,
		paramActorToken, paramActorTokenType, paramScope, paramRequestedTokenType,
	}
}

// knownParams returns all parameter names the token endpoint understands.
// Only these names are ever echoed in an error description.
func knownParams() [11]string {
	return [...]string{
		paramGrantType, paramSubjectToken, paramSubjectTokenType,
		paramActorToken, paramActorTokenType, paramResource, paramAudience,
		paramScope, paramRequestedTokenType, paramClientID, paramClientSecret,
	}
}

// Request is a token exchange request (RFC 8693 §2.1,
// https://www.rfc-editor.org/rfc/rfc8693#section-2.1). It is plain data;
// [ParseForm] fills it from a form and checks its syntax, [Request.Values]
// encodes it. The zero value of every optional field means the parameter is
// absent.
type Request struct {
	// GrantType is the grant_type. [ParseForm] always sets it to
	// [GrantType]; [Request.Values] sends [GrantType] when it is empty.
	GrantType string
	// SubjectToken is the subject_token, the token that represents the
	// party on whose behalf the new token is requested. Required.
	SubjectToken string
	// SubjectTokenType is the subject_token_type, a token type URI such as
	// [TokenTypeJWT]. Required.
	SubjectTokenType string
	// ActorToken is the actor_token, the token that represents the acting
	// party. Empty means no actor token.
	ActorToken string
	// ActorTokenType is the actor_token_type. It is set if and only if
	// ActorToken is.
	ActorTokenType string
	// Resource holds the resource values, absolute URIs without a fragment
	// of the services where the token will be used. Nil means none.
	Resource []string
	// Audience holds the audience values, logical names of the target
	// services. Nil means none.
	Audience []string
	// Scope is the requested scope (RFC 6749 §3.3). Nil means the client
	// did not ask for a particular scope.
	Scope claims.Scope
	// RequestedTokenType is the requested_token_type, a token type URI.
	// Empty means the server picks.
	RequestedTokenType string
}

// Values returns the application/x-www-form-urlencoded parameters of r for a
// client to send (RFC 8693 §2.1). Empty fields are left out; an empty
// GrantType is sent as [GrantType]. Client credentials are not included.
func (r *Request) Values() url.Values {
	v := url.Values{}
	gt := r.GrantType
	if gt == "" {
		gt = GrantType
	}
	v.Set(paramGrantType, gt)
	set := func(name, value string) {
		if value != "" {
			v.Set(name, value)
		}
	}
	set(paramSubjectToken, r.SubjectToken)
	set(paramSubjectTokenType, r.SubjectTokenType)
	set(paramActorToken, r.ActorToken)
	set(paramActorTokenType, r.ActorTokenType)
	for _, res := range r.Resource {
		if res != "" {
			v.Add(paramResource, res)
		}
	}
	for _, aud := range r.Audience {
		if aud != "" {
			v.Add(paramAudience, aud)
		}
	}
	set(paramScope, r.Scope.String())
	set(paramRequestedTokenType, r.RequestedTokenType)
	return v
}

// ParseForm reads a token exchange request from the parameters of a token
// request body and checks its syntax only: no token is verified and no
// policy applied. Parameters with an empty value count as absent and unknown
// parameters (including client_id and client_secret) are ignored (RFC 6749
// §3.2, https://www.rfc-editor.org/rfc/rfc6749#section-3.2).
//
// The error is an [*Error]:
//   - invalid_request when a parameter other than resource and audience
//     appears more than once, grant_type, subject_token or subject_token_type
//     is missing, actor_token_type is present without actor_token or the
//     other way round (RFC 8693 §2.1), or a token type is not an absolute URI;
//   - unsupported_grant_type when grant_type is not [GrantType];
//   - invalid_target when a resource is not an absolute URI or has a
//     fragment (RFC 8693 §2.1 makes that a MUST; RFC 8707 §2 names the code);
//   - invalid_scope when a scope token holds a character RFC 6749 §3.3 does
//     not allow.
//
// Descriptions name the parameter, never its value.
func ParseForm(form url.Values) (*Request, error) {
	return parseForm(dropEmpty(form))
}

// parseForm is [ParseForm] for a form already passed through dropEmpty.
func parseForm(form url.Values) (*Request, error) {
	single := singleParams()
	if err := checkRepeated(form, single[:]); err != nil {
		return nil, err
	}
	switch gt := form.Get(paramGrantType); {
	case gt == "":
		return nil, ErrInvalidRequest.WithDescription("grant_type is required")
	case gt != GrantType:
		return nil, ErrUnsupportedGrantType.WithDescription("grant_type must be " + GrantType)
	}
	req := &Request{
		GrantType:          GrantType,
		SubjectToken:       form.Get(paramSubjectToken),
		SubjectTokenType:   form.Get(paramSubjectTokenType),
		ActorToken:         form.Get(paramActorToken),
		ActorTokenType:     form.Get(paramActorTokenType),
		Resource:           form[paramResource],
		Audience:           form[paramAudience],
		RequestedTokenType: form.Get(paramRequestedTokenType),
	}
	if req.SubjectToken == "" {
		return nil, ErrInvalidRequest.WithDescription("subject_token is required")
	}
	if req.SubjectTokenType == "" {
		return nil, ErrInvalidRequest.WithDescription("subject_token_type is required")
	}
	if !isTokenTypeURI(req.SubjectTokenType) {
		return nil, ErrInvalidRequest.WithDescription("subject_token_type must be an absolute URI")
	}
	switch {
	case req.ActorToken != "" && req.ActorTokenType == "":
		return nil, ErrInvalidRequest.WithDescription("actor_token_type is required with actor_token")
	case req.ActorToken == "" && req.ActorTokenType != "":
		return nil, ErrInvalidRequest.WithDescription("actor_token_type must not be sent without actor_token")
	case req.ActorTokenType != "" && !isTokenTypeURI(req.ActorTokenType):
		return nil, ErrInvalidRequest.WithDescription("actor_token_type must be an absolute URI")
	}
	if req.RequestedTokenType != "" && !isTokenTypeURI(req.RequestedTokenType) {
		return nil, ErrInvalidRequest.WithDescription("requested_token_type must be an absolute URI")
	}
	for _, res := range req.Resource {
		if !isResourceURI(res) {
			return nil, ErrInvalidTarget.WithDescription("resource must be an absolute URI without a fragment")
		}
	}
	if s := form.Get(paramScope); s != "" {
		if !validScopeString(s) {
			return nil, ErrInvalidScope.WithDescription("scope holds a character that is not allowed")
		}
		req.Scope = claims.ParseScope(s)
		if len(req.Scope) > claims.MaxScopeTokens {
			return nil, ErrInvalidScope.WithDescription("too many scope values")
		}
	}
	return req, nil
}

// dropEmpty returns form without empty values and without names left with
// no value (RFC 6749 §3.2: "Parameters sent without a value MUST be treated
// as if they were omitted from the request"). form is not modified.
func dropEmpty(form url.Values) url.Values {
	out := make(url.Values, len(form))
	for k, vs := range form {
		var kept []string
		for _, v := range vs {
			if v != "" {
				kept = append(kept, v)
			}
		}
		if len(kept) > 0 {
			out[k] = kept
		}
	}
	return out
}

// dropEmptyInPlace is dropEmpty for a form the caller owns: it filters the
// values in place, allocating nothing.
func dropEmptyInPlace(form url.Values) url.Values {
	for k, vs := range form {
		kept := vs[:0]
		for _, v := range vs {
			if v != "" {
				kept = append(kept, v)
			}
		}
		if len(kept) == 0 {
			delete(form, k)
		} else {
			form[k] = kept
		}
	}
	return form
}

// checkRepeated returns invalid_request naming the first of names that form
// holds more than once (RFC 6749 §3.2: "Request and response parameters
// MUST NOT be included more than once").
func checkRepeated(form url.Values, names []string) error {
	for _, n := range names {
		if len(form[n]) > 1 {
			return ErrInvalidRequest.WithDescription("parameter given more than once: " + n)
		}
	}
	return nil
}

// isTokenTypeURI reports whether s parses as an absolute URI, as RFC 8693 §3
// requires of token type identifiers.
func isTokenTypeURI(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.IsAbs()
}

// isResourceURI reports whether s is an absolute URI without a fragment
// component (RFC 8693 §2.1).
func isResourceURI(s string) bool {
	if strings.Contains(s, "#") {
		return false
	}
	u, err := url.Parse(s)
	return err == nil && u.IsAbs()
}

// validScopeString reports whether s holds only the scope-token characters
// of RFC 6749 §3.3 (%x21 / %x23-5B / %x5D-7E) and the space that separates
// them.
func validScopeString(s string) bool {
	for i := 0; i < len(s); i++ {
		if !nqschar(s[i]) {
			return false
		}
	}
	return true
}
