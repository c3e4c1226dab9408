package memory

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/actas/actas/store"
)

// KeySet holds one signing key and the public keys that still verify: the
// current one and those retired by [KeySet.Rotate] until their retirement
// time. It is safe for concurrent use.
type KeySet struct {
	now func() time.Time

	mu      sync.RWMutex
	current store.PrivateKey
	public  map[string]store.PublicKey
	retire  map[string]time.Time
}

var _ store.Keys = (*KeySet)(nil)

// NewKeySet returns a KeySet signing with key.
func NewKeySet(key store.PrivateKey, opts ...Option) (*KeySet, error) {
	if key.Key == nil || key.ID == "" || key.Algorithm == "" {
		return nil, errors.New("memory: key set needs a key with an ID and an algorithm")
	}
	k := &KeySet{
		now:     apply(opts).now,
		current: key,
		public:  map[string]store.PublicKey{key.ID: key.Public()},
		retire:  map[string]time.Time{},
	}
	return k, nil
}

// GenerateKeySet returns a KeySet with a fresh ephemeral key for alg
// (ES256 when empty). Tokens it signs stop verifying when the process ends.
func GenerateKeySet(alg string, opts ...Option) (*KeySet, error) {
	key, err := store.GenerateKey(alg)
	if err != nil {
		return nil, err
	}
	return NewKeySet(key, opts...)
}

// Rotate makes next the signing key. The previous key keeps verifying until
// retireAt, which should be at least the longest token lifetime from now.
// next may have been published with Add beforehand (the safe order:
// publish, wait for verifiers to refresh their JWKS, then rotate).
func (k *KeySet) Rotate(next store.PrivateKey, retireAt time.Time) error {
	if next.Key == nil || next.ID == "" || next.Algorithm == "" {
		return errors.New("memory: rotate needs a key with an ID and an algorithm")
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if next.ID == k.current.ID {
		return fmt.Errorf("memory: key ID %q is already the signing key", next.ID)
	}
	if pub, published := k.public[next.ID]; published {
		eq, ok := pub.Key.(interface{ Equal(crypto.PublicKey) bool })
		if !ok || !eq.Equal(next.Key.Public()) {
			return fmt.Errorf("memory: key ID %q is already in the set for another key", next.ID)
		}
	}
	k.retire[k.current.ID] = retireAt
	delete(k.retire, next.ID) // a published key signs from now on
	k.current = next
	k.public[next.ID] = next.Public()
	return nil
}

// Add publishes a verification-only key: the next key before a rotation
// (so resource servers have fetched it before it signs anything), or a key
// of another instance. It verifies until retireAt; the zero time means
// until removed by a later Rotate's retirement or never.
func (k *KeySet) Add(pub store.PublicKey, retireAt time.Time) error {
	if pub.Key == nil || pub.ID == "" || pub.Algorithm == "" {
		return errors.New("memory: add needs a key with an ID and an algorithm")
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, dup := k.public[pub.ID]; dup {
		return fmt.Errorf("memory: key ID %q already in the set", pub.ID)
	}
	k.public[pub.ID] = pub
	if !retireAt.IsZero() {
		k.retire[pub.ID] = retireAt
	}
	return nil
}

// SigningKey implements store.Signer.
func (k *KeySet) SigningKey(context.Context) (store.PrivateKey, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.current, nil
}

// PublicKey implements store.KeySet.
func (k *KeySet) PublicKey(_ context.Context, kid string) (store.PublicKey, error) {
	k.mu.RLock()
	pk, ok := k.public[kid]
	at, retiring := k.retire[kid]
	k.mu.RUnlock()
	if !ok || (retiring && !k.now().Before(at)) {
		return store.PublicKey{}, fmt.Errorf("memory: key: %w", store.ErrNotFound)
	}
	return pk, nil
}

// PublicKeys implements store.KeySet; the current key comes first.
func (k *KeySet) PublicKeys(context.Context) ([]store.PublicKey, error) {
	now := k.now()
	k.mu.Lock()
	defer k.mu.Unlock()
	out := []store.PublicKey{k.public[k.current.ID]}
	for id, pk := range k.public {
		if id == k.current.ID {
			continue
		}
		if at, ok := k.retire[id]; ok && !now.Before(at) {
			delete(k.public, id)
			delete(k.retire, id)
			continue
		}
		out = append(out, pk)
	}
	return out, nil
}
