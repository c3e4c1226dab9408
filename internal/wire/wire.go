// Package wire holds the small HTTP helpers that the issuer's handlers and
// the resource-server kit share.
package wire

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// FormError is why [ReadForm] could not read a form: a description fit
// for the client, and the cause.
type FormError struct {
	Description string
	Cause       error
	// Malformed: the body was read but is not a form (rather than too
	// large or unreadable).
	Malformed bool
}

func (e *FormError) Error() string { return e.Description }
func (e *FormError) Unwrap() error { return e.Cause }

// ReadForm reads at most max bytes of r's body (http.MaxBytesReader, so
// that the server closes the connection of a larger one) and parses it as
// an application/x-www-form-urlencoded form; the URL query is never merged
// in. No body is an empty form. The content type is the caller's to check.
func ReadForm(w http.ResponseWriter, r *http.Request, max int64) (url.Values, *FormError) {
	if r.Body == nil {
		return url.Values{}, nil
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, &FormError{Description: "request body too large", Cause: err}
		}
		return nil, &FormError{Description: "could not read request body", Cause: err}
	}
	form, err := url.ParseQuery(string(b))
	if err != nil {
		return nil, &FormError{Description: "malformed request body", Cause: err, Malformed: true}
	}
	return form, nil
}

// WriteError writes an OAuth-style JSON error body (RFC 6749 §5.2 shape)
// with status, never cached.
func WriteError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

// BearerToken returns the access token of the request's Authorization
// header, Bearer scheme (RFC 6750 §2.1, the scheme compared
// case-insensitively), and whether there is one. No Authorization header,
// more than one, another scheme or an empty token is no token.
func BearerToken(r *http.Request) (string, bool) {
	vals := r.Header.Values("Authorization")
	if len(vals) != 1 {
		return "", false
	}
	scheme, token, ok := strings.Cut(vals[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// WriteBearerError writes an RFC 6750 §3 error response with status: a
// WWW-Authenticate Bearer challenge for realm carrying code as its error
// attribute, desc as error_description and, when not empty, scope (the
// scope an insufficient_scope request lacks), and the same error as a JSON
// body (see WriteError). With an empty code the request carried no
// credentials: the bare challenge goes out, with no error attribute and no
// body (RFC 6750 §3.1).
func WriteBearerError(w http.ResponseWriter, status int, realm, code, desc, scope string) {
	c := `Bearer realm=` + strconv.Quote(realm)
	if code == "" {
		w.Header().Set("WWW-Authenticate", c)
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		return
	}
	c += `, error="` + code + `", error_description=` + strconv.Quote(desc)
	if scope != "" {
		c += `, scope=` + strconv.Quote(scope)
	}
	w.Header().Set("WWW-Authenticate", c)
	WriteError(w, status, code, desc)
}
