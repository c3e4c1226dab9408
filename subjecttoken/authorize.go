package subjecttoken

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/actas/actas/claims"
	"github.com/actas/actas/store"
)

// ScopeImpersonate is the scope an impersonation authorization request must
// ask for, alongside any others (RFC 6749 §3.3,
// https://www.rfc-editor.org/rfc/rfc6749#section-3.3). The name is the one
// of the flow's reference document.
const ScopeImpersonate = "internal_user_impersonate"

// Response types of the impersonation flow (RFC 6749 §3.1.1,
// https://www.rfc-editor.org/rfc/rfc6749#section-3.1.1, extended as OAuth
// 2.0 Multiple Response Type Encoding Practices §3,
// https://openid.net/specs/oauth-v2-multiple-response-types-1_0.html#Combinations,
// allows). The request's response_type is either "subject_token" or
// "id_token subject_token", in any order.
const (
	// ResponseTypeSubjectToken asks for a subject token naming the
	// requested subject.
	ResponseTypeSubjectToken = "subject_token"
	// ResponseTypeIDToken, beside subject_token, also asks for an ID token
	// of the impersonator (OpenID Connect Core §3.2.2.1,
	// https://openid.net/specs/openid-connect-core-1_0.html#ImplicitAuthRequest).
	ResponseTypeIDToken = "id_token"
)

// maxFormBytes caps a POSTed authorization request body.
const maxFormBytes = 64 << 10

// Request parameter names.
const (
	paramClientID         = "client_id"
	paramRedirectURI      = "redirect_uri"
	paramState            = "state"
	paramScope            = "scope"
	paramResponseType     = "response_type"
	paramResponseMode     = "response_mode"
	paramRequestedSubject = "requested_subject"
	paramNonce            = "nonce"
	paramReason           = "impersonation_reason"
)

// MaxReasonBytes is the longest impersonation_reason accepted.
const MaxReasonBytes = 512

// knownParam reports whether an error description may name the parameter
// k: only fixed names are echoed, never arbitrary input.
func knownParam(k string) bool {
	switch k {
	case paramClientID, paramRedirectURI, paramState, paramScope, paramResponseType,
		paramResponseMode, paramRequestedSubject, paramNonce, paramReason,
		"prompt", "login_hint", "max_age", "ui_locales", "id_token_hint", "acr_values",
		"display", "claims", "request", "request_uri", "code_challenge", "code_challenge_method":
		return true
	}
	return false
}

// AuthorizeRequest is a validated impersonation authorization request
// (RFC 6749 §4.2.1, https://www.rfc-editor.org/rfc/rfc6749#section-4.2.1,
// with the response types of this flow). Get one from
// [ParseAuthorizeRequest] or [ParseAuthorizeValues]; a hand-built value
// carries a RedirectURI nobody checked and must not be passed to
// [WriteAuthorizeResponse] or [AuthorizeRequest.Redirect].
//
// It says nothing about who may impersonate whom: that is the policy
// layer's decision, taken after the impersonator has logged in.
type AuthorizeRequest struct {
	// ClientID is the client_id (RFC 6749 §2.2) of a registered client.
	ClientID string
	// RedirectURI is exactly, byte for byte, one of the client's registered
	// redirect URIs (RFC 6749 §3.1.2.3).
	RedirectURI string
	// State is the opaque state value to echo back (RFC 6749 §4.2.1);
	// empty when absent.
	State string
	// Scope is the requested scope, parsed with [claims.ParseScopeLenient]
	// (spaces or commas) so the reference document's comma-separated form
	// is accepted. It contains [ScopeImpersonate].
	Scope claims.Scope
	// IDToken is true when response_type also includes id_token.
	IDToken bool
	// ResponseMode is how the response goes back: [store.ResponseModeFragment]
	// (the default when response_mode is absent), [store.ResponseModeQuery]
	// or [store.ResponseModeFormPost].
	ResponseMode string
	// RequestedSubject is the requested_subject: the ID of the user to
	// impersonate. It is not checked to exist.
	RequestedSubject string
	// Nonce is the nonce to put in the ID token (OpenID Connect Core
	// §3.1.2.1); required when IDToken is true, optional otherwise.
	Nonce string
	// Reason is the optional impersonation_reason parameter: why the
	// impersonator asks (free text or a ticket ID), for the audit log. At
	// most MaxReasonBytes of printable UTF-8.
	Reason string
}

// ParseAuthorizeRequest reads the authorization request from r and
// validates it with [ParseAuthorizeValues]. As OpenID Connect Core
// §3.1.2.1 (https://openid.net/specs/openid-connect-core-1_0.html#AuthRequest)
// allows, a GET request carries the parameters in the URL query and a POST
// request in an application/x-www-form-urlencoded body, capped at 64 KiB;
// the URL query of a POST request is ignored, and after a POST r.PostForm
// holds the parsed body, since the body itself has been read. Any other
// method, another content type, an oversized body or a malformed encoding
// gives a non-redirectable invalid_request.
//
// The error, when not nil, is an *Error to pass to [WriteAuthorizeError].
func ParseAuthorizeRequest(ctx context.Context, r *http.Request, clients store.Clients) (*AuthorizeRequest, *store.Client, error) {
	var (
		v   url.Values
		err error
	)
	if r == nil {
		return nil, nil, unbound(ErrInvalidRequest, "no request", errors.New("subjecttoken: nil *http.Request"))
	}
	switch r.Method {
	case http.MethodGet:
		v, err = url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			return nil, nil, unbound(ErrInvalidRequest, "malformed query string",
				fmt.Errorf("subjecttoken: parse query: %w", err))
		}
	case http.MethodPost:
		v, err = readForm(r)
		if err != nil {
			return nil, nil, err
		}
		// The body is consumed; later handlers (a consent page posting
		// back) read their own fields from PostForm.
		r.PostForm = v
	default:
		return nil, nil, unbound(ErrInvalidRequest, "the authorization request must use GET or POST",
			fmt.Errorf("subjecttoken: method %q not allowed", r.Method))
	}
	return ParseAuthorizeValues(ctx, v, clients)
}

// readForm reads a POSTed form body, capped at maxFormBytes.
func readForm(r *http.Request) (url.Values, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, unbound(ErrInvalidRequest, "the request body must be application/x-www-form-urlencoded",
			errors.New("subjecttoken: unsupported content type"))
	}
	if r.Body == nil {
		return url.Values{}, nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxFormBytes+1))
	if err != nil {
		return nil, unbound(ErrInvalidRequest, "unreadable request body",
			fmt.Errorf("subjecttoken: read body: %w", err))
	}
	if len(body) > maxFormBytes {
		return nil, unbound(ErrInvalidRequest, "request body too large",
			errors.New("subjecttoken: request body over 64 KiB"))
	}
	v, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, unbound(ErrInvalidRequest, "malformed request body",
			fmt.Errorf("subjecttoken: parse body: %w", err))
	}
	return v, nil
}

// ParseAuthorizeValues validates the parameters of an impersonation
// authorization request and returns it with the client it names. The error,
// when not nil, is an *Error to pass to [WriteAuthorizeError]. The checks
// run in this order:
//
//  1. client_id and redirect_uri must each be present once; the client must
//     exist (a store failure other than [store.ErrNotFound] gives a
//     server_error), and redirect_uri must be exactly, byte for byte, one of
//     its registered URIs (RFC 6749 §3.1.2.3,
//     https://www.rfc-editor.org/rfc/rfc6749#section-3.1.2.3). These errors
//     are not redirectable (RFC 6749 §4.1.2.1): an unknown client wraps
//     [ErrUnknownClient], a mismatch wraps [ErrRedirectURIMismatch].
//  2. From here on errors are redirectable to the validated redirect_uri.
//     response_mode (OAuth 2.0 Multiple Response Type Encoding Practices
//     §2.1, https://openid.net/specs/oauth-v2-multiple-response-types-1_0.html#ResponseModes)
//     defaults to fragment, the default for response types that return
//     tokens. fragment, form_post (OAuth 2.0 Form Post Response Mode,
//     https://openid.net/specs/oauth-v2-form-post-response-mode-1_0.html)
//     and query are accepted when the client allows them: a client with no
//     ResponseModes allows fragment and form_post only, because tokens in a
//     query string end up in server and proxy logs. form_post also needs an
//     http or https redirect URI. A bad response_mode is reported in
//     fragment mode.
//  3. state may not be repeated; after this check it is echoed in every
//     error (RFC 6749 §4.2.2.1). A bad response_mode already echoes a
//     single state.
//  4. No parameter, known or not, may be repeated (RFC 6749 §3.1,
//     https://www.rfc-editor.org/rfc/rfc6749#section-3.1).
//  5. response_type is required; split at spaces it must be exactly
//     {subject_token} or {id_token, subject_token}, in any order, or the
//     error is unsupported_response_type.
//  6. scope, split at spaces or commas, must contain [ScopeImpersonate]
//     (invalid_scope).
//  7. requested_subject is required, and nonce when id_token is requested
//     (OpenID Connect Core §3.2.2.1).
//
// As RFC 6749 §3.1 requires, a parameter sent with an empty value is
// treated as absent (but still counts as a repetition). Unknown parameters
// are otherwise ignored. Whether the client is enabled, whether it may
// impersonate and whether the subject exists are left to the policy layer.
func ParseAuthorizeValues(ctx context.Context, v url.Values, clients store.Clients) (*AuthorizeRequest, *store.Client, error) {
	// 1. Client and redirect URI: nothing is redirected before both check out.
	clientID, ok := single(v, paramClientID)
	if !ok {
		return nil, nil, unbound(ErrInvalidRequest, "client_id is repeated",
			errors.New("subjecttoken: client_id repeated"))
	}
	if clientID == "" {
		return nil, nil, unbound(ErrInvalidRequest, "client_id is missing",
			errors.New("subjecttoken: client_id missing"))
	}
	redirectURI, ok := single(v, paramRedirectURI)
	if !ok {
		return nil, nil, unbound(ErrInvalidRequest, "redirect_uri is repeated",
			errors.New("subjecttoken: redirect_uri repeated"))
	}
	if redirectURI == "" {
		return nil, nil, unbound(ErrInvalidRequest, "redirect_uri is missing",
			errors.New("subjecttoken: redirect_uri missing"))
	}
	if clients == nil {
		return nil, nil, unbound(ErrServerError, "", errors.New("subjecttoken: no client store"))
	}
	client, err := clients.Client(ctx, clientID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, nil, unbound(ErrInvalidRequest, "unknown client_id",
			fmt.Errorf("%w: %w", ErrUnknownClient, err))
	case err != nil:
		return nil, nil, unbound(ErrServerError, "",
			fmt.Errorf("subjecttoken: look up client: %w", err))
	case client == nil:
		return nil, nil, unbound(ErrInvalidRequest, "unknown client_id", ErrUnknownClient)
	}
	if !slices.Contains(client.RedirectURIs, redirectURI) {
		return nil, nil, unbound(ErrInvalidRequest, "redirect_uri is not registered for the client",
			ErrRedirectURIMismatch)
	}

	// 2. Response mode; errors from here on go back to redirectURI.
	state, stateOK := single(v, paramState)
	if !stateOK {
		state = ""
	}
	mode, desc := resolveResponseMode(v, client, redirectURI)
	if desc != "" {
		return nil, nil, bound(ErrInvalidRequest, desc, redirectURI, state, store.ResponseModeFragment)
	}
	fail := func(e *Error, desc string) (*AuthorizeRequest, *store.Client, error) {
		return nil, nil, bound(e, desc, redirectURI, state, mode)
	}

	// 3. State.
	if !stateOK {
		return fail(ErrInvalidRequest, "state is repeated")
	}

	// 4. Any repeated parameter.
	for _, k := range slices.Sorted(maps.Keys(v)) {
		if len(v[k]) > 1 {
			if knownParam(k) {
				return fail(ErrInvalidRequest, k+" is repeated")
			}
			return fail(ErrInvalidRequest, "a parameter is repeated")
		}
	}

	// 5. Response type.
	rt := v.Get(paramResponseType)
	if rt == "" {
		return fail(ErrInvalidRequest, "response_type is missing")
	}
	idToken, ok := parseResponseType(rt)
	if !ok {
		return fail(ErrUnsupportedResponseType,
			"response_type must be 'subject_token' or 'id_token subject_token'")
	}

	// 6. Scope.
	scope := claims.ParseScopeLenient(v.Get(paramScope))
	if len(scope) > claims.MaxScopeTokens {
		return fail(ErrInvalidScope, "too many scope values")
	}
	if !scope.Contains(ScopeImpersonate) {
		return fail(ErrInvalidScope, "scope must include "+ScopeImpersonate)
	}

	// 7. Requested subject and nonce.
	subject := v.Get(paramRequestedSubject)
	if subject == "" {
		return fail(ErrInvalidRequest, "requested_subject is missing")
	}
	nonce := v.Get(paramNonce)
	if idToken && nonce == "" {
		return fail(ErrInvalidRequest, "nonce is required when response_type includes id_token")
	}

	reason := v.Get(paramReason)
	if len(reason) > MaxReasonBytes || !printable(reason) {
		return fail(ErrInvalidRequest, "impersonation_reason must be at most 512 bytes of printable text")
	}

	return &AuthorizeRequest{
		Reason:           reason,
		ClientID:         clientID,
		RedirectURI:      redirectURI,
		State:            state,
		Scope:            scope,
		IDToken:          idToken,
		ResponseMode:     mode,
		RequestedSubject: subject,
		Nonce:            nonce,
	}, client, nil
}

// Redirect returns a copy of e bound to r's redirect URI, state and
// response mode, so that [WriteAuthorizeError] sends it to the client
// (RFC 6749 §4.2.2.1, https://www.rfc-editor.org/rfc/rfc6749#section-4.2.2.1).
// The policy layer uses it for errors found after parsing, such as
// access_denied. A nil e gives a server_error. r must come from
// [ParseAuthorizeValues] or [ParseAuthorizeRequest]; e is not modified.
func (r *AuthorizeRequest) Redirect(e *Error) *Error {
	c := e.clone()
	if r == nil {
		c.redirect = false
		c.redirectURI, c.state, c.responseMode = "", "", ""
		return c
	}
	c.redirectURI = r.RedirectURI
	c.state = r.State
	c.responseMode = r.ResponseMode
	c.redirect = true
	return c
}

// printable reports whether s is valid UTF-8 without control characters,
// format characters (bidirectional overrides and isolates that reorder
// what a reader sees) or line and paragraph separators: text that cannot
// forge or disguise lines of an audit log.
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) || unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp) {
			return false
		}
	}
	return true
}

// single returns the value of the parameter k and false when k is given
// more than once. An absent parameter and an empty one both give "".
func single(v url.Values, k string) (string, bool) {
	switch vs := v[k]; len(vs) {
	case 0:
		return "", true
	case 1:
		return vs[0], true
	default:
		return "", false
	}
}

// resolveResponseMode returns the response mode to use, or a description
// of why the requested one is refused.
func resolveResponseMode(v url.Values, client *store.Client, redirectURI string) (mode, desc string) {
	mode, ok := single(v, paramResponseMode)
	switch {
	case !ok:
		return "", "response_mode is repeated"
	case mode == "":
		return store.ResponseModeFragment, ""
	case mode != store.ResponseModeFragment && mode != store.ResponseModeQuery && mode != store.ResponseModeFormPost:
		return "", "unsupported response_mode"
	}
	allowed := client.ResponseModes
	if len(allowed) == 0 {
		allowed = []string{store.ResponseModeFragment, store.ResponseModeFormPost}
	}
	if !slices.Contains(allowed, mode) {
		return "", "response_mode " + mode + " is not allowed for the client"
	}
	if mode == store.ResponseModeFormPost {
		u, err := url.Parse(redirectURI)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return "", "response_mode form_post needs an http or https redirect_uri"
		}
	}
	return mode, ""
}

// parseResponseType reports whether rt, split at spaces, is exactly
// {subject_token} or {id_token, subject_token}, and whether it includes
// id_token. Empty words from repeated spaces are ignored.
func parseResponseType(rt string) (idToken, ok bool) {
	var subject bool
	for w := range strings.SplitSeq(rt, " ") {
		switch w {
		case "":
		case ResponseTypeSubjectToken:
			if subject {
				return false, false
			}
			subject = true
		case ResponseTypeIDToken:
			if idToken {
				return false, false
			}
			idToken = true
		default:
			return false, false
		}
	}
	return idToken, subject
}
