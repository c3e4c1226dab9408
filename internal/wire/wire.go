// Package wire holds the small HTTP helpers that the issuer's handlers and
// the resource-server kit share.
package wire

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

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
