package jose

import (
	"crypto/rand"
	"encoding/base64"
)

// NewID returns a random identifier of 128 bits, base64url-encoded: a jti
// that cannot be guessed (RFC 7519 §4.1.7 asks for negligible collision
// probability).
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b[:])
}
