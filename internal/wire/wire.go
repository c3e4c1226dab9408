// Package wire holds the small HTTP helpers that the issuer's handlers and
// the resource-server kit share.
package wire

import (
	"encoding/json"
	"net/http"
)

// WriteError writes an OAuth-style JSON error body (RFC 6749 §5.2 shape)
// with status, never cached.
func WriteError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}
