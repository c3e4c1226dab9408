package tokenexchange

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
)

// Error codes of the token endpoint: RFC 6749 §5.2
// (https://www.rfc-editor.org/rfc/rfc6749#section-5.2), RFC 8693 §2.2.2
// (https://www.rfc-editor.org/rfc/rfc8693#section-2.2.2), which adds
// invalid_target from RFC 8707 §2
// (https://www.rfc-editor.org/rfc/rfc8707#section-2), and the two
// server-side codes RFC 6749 §4.1.2.1 defines
// (https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2.1), used here with
// HTTP 500 and 503. The revocation endpoint adds unsupported_token_type
// (RFC 7009 §2.2.1, https://www.rfc-editor.org/rfc/rfc7009#section-2.2.1).
// Each has its template below (ErrInvalidRequest for invalid_request, ...):
// test an error with errors.Is against the template, or read the code as
// ErrInvalidRequest.Code.
const (
	// codeInvalidRequest: a parameter is missing, repeated, malformed or
	// unsupported, or the request uses more than one client authentication
	// method.
	codeInvalidRequest = "invalid_request"
	// codeInvalidClient: client authentication failed (HTTP 401).
	codeInvalidClient = "invalid_client"
	// codeInvalidGrant: the subject or actor token is invalid, expired,
	// revoked or was issued to another client.
	codeInvalidGrant = "invalid_grant"
	// codeUnauthorizedClient: the client may not use this grant type.
	codeUnauthorizedClient = "unauthorized_client"
	// codeUnsupportedGrantType: the grant_type is not token exchange.
	codeUnsupportedGrantType = "unsupported_grant_type"
	// codeInvalidScope: the requested scope is invalid, unknown, malformed
	// or exceeds what may be granted.
	codeInvalidScope = "invalid_scope"
	// codeInvalidTarget: the resource or audience is invalid or unacceptable
	// (RFC 8693 §2.2.2).
	codeInvalidTarget = "invalid_target"
	// codeUnsupportedTokenType: the revocation endpoint does not support
	// revoking the presented type of token (RFC 7009 §2.2.1).
	codeUnsupportedTokenType = "unsupported_token_type"
	// codeServerError: the server failed unexpectedly (HTTP 500).
	codeServerError = "server_error"
	// codeTemporarilyUnavailable: the server cannot handle the request now,
	// for example because a store is down (HTTP 503).
	codeTemporarilyUnavailable = "temporarily_unavailable"
)

// Sentinel errors, one per code. Compare with [errors.Is], which matches on
// the code only, and refine with [Error.WithDescription] and
// [Error.WithCause], which return copies: these values are never modified.
var (
	// ErrInvalidRequest is the invalid_request error.
	ErrInvalidRequest = &Error{Code: codeInvalidRequest}
	// ErrInvalidClient is the invalid_client error.
	ErrInvalidClient = &Error{Code: codeInvalidClient}
	// ErrInvalidGrant is the invalid_grant error.
	ErrInvalidGrant = &Error{Code: codeInvalidGrant}
	// ErrUnauthorizedClient is the unauthorized_client error.
	ErrUnauthorizedClient = &Error{Code: codeUnauthorizedClient}
	// ErrUnsupportedGrantType is the unsupported_grant_type error.
	ErrUnsupportedGrantType = &Error{Code: codeUnsupportedGrantType}
	// ErrInvalidScope is the invalid_scope error.
	ErrInvalidScope = &Error{Code: codeInvalidScope}
	// ErrInvalidTarget is the invalid_target error.
	ErrInvalidTarget = &Error{Code: codeInvalidTarget}
	// ErrUnsupportedTokenType is the unsupported_token_type error of the
	// revocation endpoint.
	ErrUnsupportedTokenType = &Error{Code: codeUnsupportedTokenType}
	// ErrServerError is the server_error error.
	ErrServerError = &Error{Code: codeServerError}
	// ErrTemporarilyUnavailable is the temporarily_unavailable error.
	ErrTemporarilyUnavailable = &Error{Code: codeTemporarilyUnavailable}
)

// internalErrorDescription is the only description a non-[*Error] error gets
// on the wire.
const internalErrorDescription = "internal error"

// Error is an OAuth error response of the token endpoint (RFC 6749 §5.2,
// https://www.rfc-editor.org/rfc/rfc6749#section-5.2; RFC 8693 §2.2.2,
// https://www.rfc-editor.org/rfc/rfc8693#section-2.2.2), also used by the
// introspection and revocation endpoints (RFC 7662 §2.3, RFC 7009 §2.2.1).
//
// Code, Description and URI are sent to the client as error,
// error_description and error_uri; the cause set by [Error.WithCause] never
// is. An empty Description or URI is omitted. Description must not hold
// token contents, secrets or internal error text; characters RFC 6749 §5.2
// does not allow in error_description are dropped when it is written.
//
// Use the package's Err values with [Error.WithDescription] rather than
// building an Error by hand, and do not modify an Error after handing it out.
type Error struct {
	// Code is the error code: that of one of the Err templates, or an
	// extension code.
	Code string
	// Description is human-readable text for the client developer.
	Description string
	// URI identifies a web page about the error.
	URI string

	cause error
}

// Error returns "tokenexchange: <code>[: <description>][: <cause>]", as
// subjecttoken.Error does: the cause is part of the message (for logs and
// audit records), never of the response, which carries only the code,
// description and URI.
func (e *Error) Error() string {
	if e == nil {
		return "tokenexchange: <nil>"
	}
	msg := "tokenexchange: " + e.Code
	if e.Description != "" {
		msg += ": " + e.Description
	}
	if e.cause != nil {
		msg += ": " + e.cause.Error()
	}
	return msg
}

// Is reports whether target is an [*Error] with the same Code, so that
// errors.Is(err, ErrInvalidGrant) holds for any refinement of ErrInvalidGrant.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t != nil && t.Code == e.Code
}

// Unwrap returns the cause set by [Error.WithCause], or nil.
func (e *Error) Unwrap() error { return e.cause }

// WithDescription returns a copy of e with Description set to d. e is not
// modified.
func (e *Error) WithDescription(d string) *Error {
	c := *e
	c.Description = d
	return &c
}

// WithURI returns a copy of e with URI set to uri. e is not modified.
func (e *Error) WithURI(uri string) *Error {
	c := *e
	c.URI = uri
	return &c
}

// WithCause returns a copy of e whose [Error.Unwrap] returns err. The cause
// is for logs and audit; it is never sent to the client. e is not modified.
func (e *Error) WithCause(err error) *Error {
	c := *e
	c.cause = err
	return &c
}

// StatusCode returns the HTTP status the error is sent with: 401 for
// invalid_client (RFC 6749 §5.2), 500 for server_error, 503 for
// temporarily_unavailable and 400 for every other code.
func (e *Error) StatusCode() int {
	switch e.Code {
	case codeInvalidClient:
		return http.StatusUnauthorized
	case codeServerError:
		return http.StatusInternalServerError
	case codeTemporarilyUnavailable:
		return http.StatusServiceUnavailable
	default:
		return http.StatusBadRequest
	}
}

// errorBody is the JSON form of RFC 6749 §5.2.
type errorBody struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description,omitempty"`
	ErrorURI         string `json:"error_uri,omitempty"`
}

// WriteError writes err as an RFC 6749 §5.2
// (https://www.rfc-editor.org/rfc/rfc6749#section-5.2) JSON error response
// with the status of [Error.StatusCode], Content-Type application/json,
// Cache-Control: no-store and Pragma: no-cache (RFC 6749 §5.1).
//
// If err is (by [errors.As]) an [*Error], its Code, Description and URI are
// sent; its cause is not. Any other error, and an [*Error] whose Code is not
// a valid error code, is sent as server_error with the description
// "internal error": the text of err never reaches the client.
//
// WriteError does not set WWW-Authenticate; a caller answering a failed
// HTTP Basic authentication sets it before calling.
func WriteError(w http.ResponseWriter, err error) {
	e := wireError(err)
	writeErrorStatus(w, e, e.StatusCode())
}

// wireError returns the [*Error] that represents err on the wire.
func wireError(err error) *Error {
	var e *Error
	if errors.As(err, &e) && e != nil && validCode(e.Code) {
		return e
	}
	return ErrServerError.WithDescription(internalErrorDescription)
}

// writeErrorStatus writes e with the given status.
func writeErrorStatus(w http.ResponseWriter, e *Error, status int) {
	body, err := json.Marshal(errorBody{
		Error:            e.Code,
		ErrorDescription: sanitizeDescription(e.Description),
		ErrorURI:         sanitizeURI(e.URI),
	})
	if err != nil { // cannot happen: three strings
		body = []byte(`{"error":"server_error"}`)
		status = http.StatusInternalServerError
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	setNoStore(h)
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// setNoStore sets the headers RFC 6749 §5.1 requires on token responses.
func setNoStore(h http.Header) {
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
}

// validCode reports whether c is a non-empty error code made only of the
// characters RFC 6749 §5.2 allows (%x20-21 / %x23-5B / %x5D-7E).
func validCode(c string) bool {
	if c == "" {
		return false
	}
	for i := 0; i < len(c); i++ {
		if !nqschar(c[i]) {
			return false
		}
	}
	return true
}

// nqschar reports whether b is in %x20-21 / %x23-5B / %x5D-7E, the set RFC
// 6749 §5.2 and Appendix A allow in error and error_description.
func nqschar(b byte) bool {
	return b >= 0x20 && b <= 0x7e && b != '"' && b != '\\'
}

// sanitizeDescription drops the characters RFC 6749 §5.2 does not allow in
// error_description.
func sanitizeDescription(d string) string {
	var b strings.Builder
	b.Grow(len(d))
	for i := 0; i < len(d); i++ {
		if nqschar(d[i]) {
			b.WriteByte(d[i])
		}
	}
	return b.String()
}

// sanitizeURI returns uri if it only holds the characters RFC 6749 §5.2
// allows in error_uri (%x21 / %x23-5B / %x5D-7E), and "" otherwise.
func sanitizeURI(uri string) string {
	for i := 0; i < len(uri); i++ {
		if uri[i] == ' ' || !nqschar(uri[i]) {
			return ""
		}
	}
	return uri
}
