package store

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Iteration counts for [HashSecret].
//
// ClientSecretIterations suits machine-generated client secrets of 128 bits
// or more: guessing such a secret is infeasible whatever the hash costs, so
// the count only has to make a leaked hash table useless against a
// dictionary, and it is paid on every token request. PasswordIterations is
// the OWASP 2023 figure for PBKDF2-HMAC-SHA256, for human passwords.
const (
	ClientSecretIterations = 1000
	PasswordIterations     = 600_000
)

const secretPrefix = "pbkdf2-sha256-k"

// HashSecret hashes secret with PBKDF2-HMAC-SHA256, a random 16-byte salt
// and the given iteration count, in the form
// "pbkdf2-sha256-k$<iterations>$<salt>$<hash>" (base64url, no padding),
// which [VerifySecret] reads.
//
// The PBKDF2 password is the SHA-256 of the secret, not the secret itself:
// HMAC zero-pads keys shorter than its block and hashes longer ones, so
// with the raw secret "S" and "S\x00" would be the same password, and a
// secret over 64 bytes would also be accepted as its own SHA-256. A fixed
// 32-byte key has neither property.
func HashSecret(secret string, iterations int) (string, error) {
	if iterations < 1 {
		return "", errors.New("store: iterations must be positive")
	}
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("store: salt: %w", err)
	}
	sum, err := pbkdf2.Key(sha256.New, prehash(secret), salt, iterations, sha256.Size)
	if err != nil {
		return "", fmt.Errorf("store: hash: %w", err)
	}
	enc := base64.RawURLEncoding
	return secretPrefix + "$" + strconv.Itoa(iterations) + "$" + enc.EncodeToString(salt) + "$" + enc.EncodeToString(sum), nil
}

// VerifySecret reports whether secret matches hash, comparing in constant
// time. A malformed hash never matches.
func VerifySecret(hash, secret string) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 4 || parts[0] != secretPrefix {
		return false
	}
	iter, err := strconv.Atoi(parts[1])
	if err != nil || iter < 1 || iter > 10_000_000 {
		return false
	}
	enc := base64.RawURLEncoding
	salt, err1 := enc.DecodeString(parts[2])
	want, err2 := enc.DecodeString(parts[3])
	if err1 != nil || err2 != nil || len(want) != sha256.Size {
		return false
	}
	got, err := pbkdf2.Key(sha256.New, prehash(secret), salt, iter, sha256.Size)
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare(got, want) == 1
}

// prehash turns a secret of any length into a fixed 32-byte PBKDF2
// password (see HashSecret).
func prehash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return string(sum[:])
}
