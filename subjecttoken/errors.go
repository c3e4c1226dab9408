package subjecttoken

import (
	"errors"
	"strings"
)

// Error codes of an authorization error response, RFC 6749 §4.1.2.1
// (https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2.1) and §4.2.2.1
// (https://www.rfc-editor.org/rfc/rfc6749#section-4.2.2.1). Each has its
// template below (ErrInvalidRequest for invalid_request, ...): test an
// error with errors.Is against the template, or read the code as
// ErrInvalidRequest.Code.
const (
	// codeInvalidRequest: a required parameter is missing, a parameter is
	// repeated or malformed, or the value is not supported.
	codeInvalidRequest = "invalid_request"
	// codeUnauthorizedClient: the client may not use this response type.
	codeUnauthorizedClient = "unauthorized_client"
	// codeAccessDenied: the resource owner or the server refused the
	// request, for instance because the impersonator may not impersonate
	// the requested subject.
	codeAccessDenied = "access_denied"
	// codeUnsupportedResponseType: the response_type is neither
	// "subject_token" nor "id_token subject_token".
	codeUnsupportedResponseType = "unsupported_response_type"
	// codeInvalidScope: the scope is invalid, unknown or lacks
	// [ScopeImpersonate].
	codeInvalidScope = "invalid_scope"
	// codeServerError: an unexpected condition, such as a failing store.
	codeServerError = "server_error"
	// codeTemporarilyUnavailable: the server is overloaded or under
	// maintenance.
	codeTemporarilyUnavailable = "temporarily_unavailable"
)

// Package-level authorization errors, one per code of RFC 6749 §4.1.2.1
// (https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2.1). They are
// templates: compare with errors.Is, and refine with [Error.WithDescription]
// and [Error.WithCause], which return copies and leave these values alone.
// They are not bound to a redirect URI; bind one with
// [AuthorizeRequest.Redirect].
var (
	ErrInvalidRequest          = &Error{Code: codeInvalidRequest}
	ErrUnauthorizedClient      = &Error{Code: codeUnauthorizedClient}
	ErrAccessDenied            = &Error{Code: codeAccessDenied}
	ErrUnsupportedResponseType = &Error{Code: codeUnsupportedResponseType}
	ErrInvalidScope            = &Error{Code: codeInvalidScope}
	ErrServerError             = &Error{Code: codeServerError}
	ErrTemporarilyUnavailable  = &Error{Code: codeTemporarilyUnavailable}
)

// Causes of the authorization errors that must not be redirected
// (RFC 6749 §4.1.2.1, https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2.1:
// "the authorization server SHOULD inform the resource owner of the error
// and MUST NOT automatically redirect the user-agent to the invalid
// redirection URI"). The *Error returned by [ParseAuthorizeValues] wraps
// them, so hosts can tell them apart with errors.Is.
var (
	// ErrUnknownClient: the client_id names no registered client.
	ErrUnknownClient = errors.New("subjecttoken: unknown client")
	// ErrRedirectURIMismatch: the redirect_uri is not, byte for byte, one
	// of the client's registered redirect URIs.
	ErrRedirectURIMismatch = errors.New("subjecttoken: redirect_uri not registered for the client")
)

// Error is an authorization error response of RFC 6749 §4.1.2.1
// (https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2.1) and §4.2.2.1
// (https://www.rfc-editor.org/rfc/rfc6749#section-4.2.2.1).
//
// Besides the wire fields it may carry a cause (returned by [Error.Unwrap],
// never written to the HTTP response) and, when it is bound to a validated
// request, the redirect URI, state and response mode that
// [WriteAuthorizeError] uses to send it back to the client. Only
// [ParseAuthorizeValues] and [AuthorizeRequest.Redirect] bind an Error;
// an Error built by hand is never redirected.
//
// Methods never modify the receiver, so an *Error may be shared between
// goroutines.
type Error struct {
	// Code is the error parameter: that of one of the Err templates.
	Code string
	// Description is the optional error_description: human-readable
	// ASCII text for the client developer. It must not contain tokens,
	// secrets or internal details. Characters that RFC 6749 does not allow
	// in error_description are replaced by spaces when it is written.
	Description string

	cause        error
	redirectURI  string
	state        string
	responseMode string
	redirect     bool
}

// Error returns the code, the description and the cause, for logs. It is
// never written to the HTTP response.
func (e *Error) Error() string {
	if e == nil {
		return "subjecttoken: <nil>"
	}
	var b strings.Builder
	b.WriteString("subjecttoken: ")
	b.WriteString(e.Code)
	if e.Description != "" {
		b.WriteString(": ")
		b.WriteString(e.Description)
	}
	if e.cause != nil {
		b.WriteString(": ")
		b.WriteString(e.cause.Error())
	}
	return b.String()
}

// Is reports whether target is an *Error with the same Code, so that
// errors.Is(err, ErrInvalidRequest) matches every invalid_request error
// whatever its description, cause or binding.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok || e == nil || t == nil {
		return false
	}
	return e.Code == t.Code
}

// Unwrap returns the cause, or nil.
func (e *Error) Unwrap() error {
	if e == nil {
		return nil
	}
	return e.cause
}

// WithDescription returns a copy of e with Description set to d. e itself,
// typically a package-level value, is not modified.
func (e *Error) WithDescription(d string) *Error {
	c := e.clone()
	c.Description = d
	return c
}

// WithCause returns a copy of e whose cause is err. The cause is for
// errors.Is, errors.As and logs; it never reaches the HTTP response.
func (e *Error) WithCause(err error) *Error {
	c := e.clone()
	c.cause = err
	return c
}

// Redirectable reports whether [WriteAuthorizeError] sends e to the
// client's redirect URI. It is false for errors found before the
// redirect_uri was validated (unknown client, unregistered redirect_uri,
// malformed request) and for errors that were never bound to a request
// with [AuthorizeRequest.Redirect]: RFC 6749 §4.1.2.1
// (https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2.1) forbids
// redirecting to a redirection URI that was not validated.
func (e *Error) Redirectable() bool {
	return e != nil && e.redirect && e.redirectURI != ""
}

// clone returns a copy of e; a nil e gives a fresh server_error.
func (e *Error) clone() *Error {
	if e == nil {
		return &Error{Code: codeServerError}
	}
	c := *e
	return &c
}

// unbound returns a copy of e that is not redirectable, with the given
// description and cause. It is used for errors found before the
// redirect_uri was validated.
func unbound(e *Error, desc string, cause error) *Error {
	c := e.clone()
	c.Description = desc
	c.cause = cause
	c.redirect = false
	c.redirectURI, c.state, c.responseMode = "", "", ""
	return c
}

// bound returns a copy of e, with the given description, that is sent to
// redirectURI in mode with state.
func bound(e *Error, desc, redirectURI, state, mode string) *Error {
	c := e.clone()
	c.Description = desc
	c.redirectURI = redirectURI
	c.state = state
	c.responseMode = mode
	c.redirect = true
	return c
}
