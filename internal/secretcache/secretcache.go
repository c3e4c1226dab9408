// Package secretcache remembers client secrets that matched their stored
// PBKDF2 hash, so that a client's later requests skip the PBKDF2 work.
package secretcache

import (
	"crypto/sha256"
	"crypto/subtle"
	"sync"

	"github.com/actas/actas/store"
)

// maxEntries bounds the cache; when full it is emptied, which costs each
// client one PBKDF2 verification again.
const maxEntries = 4096

// Cache remembers, for a stored secret hash, the SHA-256 of the secret
// that last matched it. The stored hash keeps its PBKDF2 strength at rest;
// in memory the process holds what every request carries in clear anyway.
// A changed secret has a new hash and misses the cache. The zero value is
// ready; it is safe for concurrent use.
type Cache struct {
	mu sync.RWMutex
	m  map[string][sha256.Size]byte
}

// Verify reports whether secret matches hash (store.VerifySecret),
// answering from the cache when this secret matched this hash before.
func (c *Cache) Verify(hash, secret string) bool {
	sum := sha256.Sum256([]byte(secret))
	c.mu.RLock()
	want, ok := c.m[hash]
	c.mu.RUnlock()
	if ok && subtle.ConstantTimeCompare(sum[:], want[:]) == 1 {
		return true
	}
	if !store.VerifySecret(hash, secret) {
		return false
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxEntries {
		c.m = make(map[string][sha256.Size]byte)
	}
	c.m[hash] = sum
	c.mu.Unlock()
	return true
}
