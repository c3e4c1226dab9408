package store

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
)

// Signing algorithms supported. ES256 is the default.
const (
	ES256 = "ES256"
	RS256 = "RS256"
	EdDSA = "EdDSA"
)

// minRSABits is the smallest RSA modulus accepted (RFC 7518 §3.3 requires
// 2048).
const minRSABits = 2048

// PrivateKey is a signing key with its key ID (kid) and JWS algorithm.
type PrivateKey struct {
	ID        string
	Algorithm string
	Key       crypto.Signer
}

// PublicKey is a verification key with its key ID and the one algorithm it
// may verify.
type PublicKey struct {
	ID        string
	Algorithm string
	Key       crypto.PublicKey
}

// Public returns the public half of k.
func (k PrivateKey) Public() PublicKey {
	return PublicKey{ID: k.ID, Algorithm: k.Algorithm, Key: k.Key.Public()}
}

// Signer gives the key that signs new tokens.
type Signer interface {
	// SigningKey returns the current signing key.
	SigningKey(ctx context.Context) (PrivateKey, error)
}

// KeySet gives the public keys that verify tokens. After a rotation it
// keeps answering for retired keys until the tokens they signed expire.
type KeySet interface {
	// PublicKey returns the key with this kid, or an error wrapping
	// ErrNotFound.
	PublicKey(ctx context.Context, kid string) (PublicKey, error)
	// PublicKeys returns every key still valid for verification, for
	// publishing as a JWKS.
	PublicKeys(ctx context.Context) ([]PublicKey, error)
}

// Keys is what an issuer needs: a signing key and the keys that verify.
type Keys interface {
	Signer
	KeySet
}

// GenerateKey makes a new key for alg (ES256, RS256 or EdDSA); an empty alg
// means ES256. The kid is the key's RFC 7638 thumbprint.
func GenerateKey(alg string) (PrivateKey, error) {
	var (
		key crypto.Signer
		err error
	)
	switch alg {
	case "", ES256:
		alg = ES256
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case RS256:
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	case EdDSA:
		_, key, err = ed25519.GenerateKey(rand.Reader)
	default:
		return PrivateKey{}, fmt.Errorf("store: unsupported algorithm %q", alg)
	}
	if err != nil {
		return PrivateKey{}, fmt.Errorf("store: generate key: %w", err)
	}
	return NewPrivateKey(key, alg)
}

// NewPrivateKey wraps key for alg, checking that they fit together, and sets
// the kid to the RFC 7638 thumbprint of the public key. An empty alg is
// taken from the key type (ES256 for P-256, RS256 for RSA, EdDSA for
// Ed25519).
func NewPrivateKey(key crypto.Signer, alg string) (PrivateKey, error) {
	pub, err := NewPublicKey(key.Public(), alg)
	if err != nil {
		return PrivateKey{}, err
	}
	return PrivateKey{ID: pub.ID, Algorithm: pub.Algorithm, Key: key}, nil
}

// WithID returns k under the key ID kid instead of its thumbprint: for a
// host whose JWKS already publishes the key under its own kid, so that
// tokens actas signs name the kid relying parties know. kid must be 1 to
// 256 printable ASCII characters.
func (k PrivateKey) WithID(kid string) (PrivateKey, error) {
	if !validKid(kid) {
		return PrivateKey{}, errors.New("store: a kid is 1 to 256 printable ASCII characters")
	}
	k.ID = kid
	return k, nil
}

func validKid(kid string) bool {
	if kid == "" || len(kid) > 256 {
		return false
	}
	for i := 0; i < len(kid); i++ {
		if kid[i] < 0x21 || kid[i] > 0x7e {
			return false
		}
	}
	return true
}

// KeysFuncs adapts a host's own key handling to [Keys]: Signing returns
// the key that signs now, Public every key that still verifies (the
// signing key included). Each call asks them afresh, so a host's rotation
// takes effect at once; both must be safe for concurrent use.
type KeysFuncs struct {
	Signing func(ctx context.Context) (PrivateKey, error)
	Public  func(ctx context.Context) ([]PublicKey, error)
}

var _ Keys = KeysFuncs{}

// SigningKey implements [Signer] with Signing.
func (k KeysFuncs) SigningKey(ctx context.Context) (PrivateKey, error) {
	if k.Signing == nil {
		return PrivateKey{}, errors.New("store: KeysFuncs has no Signing")
	}
	return k.Signing(ctx)
}

// PublicKeys implements [KeySet] with Public.
func (k KeysFuncs) PublicKeys(ctx context.Context) ([]PublicKey, error) {
	if k.Public == nil {
		return nil, errors.New("store: KeysFuncs has no Public")
	}
	return k.Public(ctx)
}

// PublicKey implements [KeySet]: the key of Public with kid, or an error
// wrapping ErrNotFound.
func (k KeysFuncs) PublicKey(ctx context.Context, kid string) (PublicKey, error) {
	keys, err := k.PublicKeys(ctx)
	if err != nil {
		return PublicKey{}, err
	}
	for _, pk := range keys {
		if pk.ID == kid {
			return pk, nil
		}
	}
	return PublicKey{}, fmt.Errorf("store: key %q: %w", kid, ErrNotFound)
}

// NewPublicKey wraps a public key for alg, checking that they fit together
// (P-256 for ES256, RSA of 2048 bits or more for RS256, Ed25519 for EdDSA),
// with the RFC 7638 thumbprint as kid. An empty alg is taken from the key
// type.
func NewPublicKey(pub crypto.PublicKey, alg string) (PublicKey, error) {
	want := ""
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return PublicKey{}, errors.New("store: only P-256 ECDSA keys are supported (ES256)")
		}
		want = ES256
	case *rsa.PublicKey:
		if k.N.BitLen() < minRSABits {
			return PublicKey{}, fmt.Errorf("store: RSA key of %d bits, need at least %d", k.N.BitLen(), minRSABits)
		}
		want = RS256
	case ed25519.PublicKey:
		want = EdDSA
	default:
		return PublicKey{}, fmt.Errorf("store: unsupported key type %T", pub)
	}
	if alg == "" {
		alg = want
	}
	if alg != want {
		return PublicKey{}, fmt.Errorf("store: key type is for %s, not %s", want, alg)
	}
	kid, err := Thumbprint(pub)
	if err != nil {
		return PublicKey{}, err
	}
	return PublicKey{ID: kid, Algorithm: alg, Key: pub}, nil
}

// Thumbprint returns the RFC 7638 SHA-256 thumbprint of a public key,
// base64url without padding: the default kid.
func Thumbprint(pub crypto.PublicKey) (string, error) {
	k, err := jwk.FromRaw(pub)
	if err != nil {
		return "", fmt.Errorf("store: thumbprint: %w", err)
	}
	tp, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("store: thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(tp), nil
}

// ParsePrivateKey reads one private key from PEM (PKCS #8, SEC 1 "EC
// PRIVATE KEY" or PKCS #1 "RSA PRIVATE KEY") or from a JWK in JSON. A kid
// and alg in the JWK are kept; otherwise alg comes from the key type and the
// kid is the thumbprint. alg, when not empty, must agree.
func ParsePrivateKey(data []byte, alg string) (PrivateKey, error) {
	trimmed := strings.TrimSpace(string(data))
	if strings.HasPrefix(trimmed, "{") {
		return parseJWK([]byte(trimmed), alg)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return PrivateKey{}, errors.New("store: key is neither PEM nor a JWK")
	}
	var (
		raw any
		err error
	)
	switch block.Type {
	case "PRIVATE KEY":
		raw, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		raw, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		raw, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return PrivateKey{}, fmt.Errorf("store: PEM block %q is not a private key", block.Type)
	}
	if err != nil {
		return PrivateKey{}, fmt.Errorf("store: parse PEM key: %w", err)
	}
	signer, ok := raw.(crypto.Signer)
	if !ok {
		return PrivateKey{}, fmt.Errorf("store: unsupported key type %T", raw)
	}
	return NewPrivateKey(signer, alg)
}

func parseJWK(data []byte, alg string) (PrivateKey, error) {
	k, err := jwk.ParseKey(data)
	if err != nil {
		return PrivateKey{}, fmt.Errorf("store: parse JWK: %w", err)
	}
	var raw any
	if err := k.Raw(&raw); err != nil {
		return PrivateKey{}, fmt.Errorf("store: parse JWK: %w", err)
	}
	signer, ok := raw.(crypto.Signer)
	if !ok {
		return PrivateKey{}, errors.New("store: JWK is not a private key")
	}
	if alg == "" {
		if a, ok := k.Get(jwk.AlgorithmKey); ok {
			alg = fmt.Sprint(a)
		}
	}
	pk, err := NewPrivateKey(signer, alg)
	if err != nil {
		return PrivateKey{}, err
	}
	if kid := k.KeyID(); kid != "" {
		pk.ID = kid
	}
	return pk, nil
}

// LoadPrivateKeyFile reads a key file with [ParsePrivateKey].
func LoadPrivateKeyFile(path, alg string) (PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return PrivateKey{}, fmt.Errorf("store: %w", err)
	}
	k, err := ParsePrivateKey(data, alg)
	if err != nil {
		return PrivateKey{}, fmt.Errorf("%w (in %s)", err, path)
	}
	return k, nil
}

// MarshalJWKS encodes keys as a JWK Set (RFC 7517 §5) with kid, alg and
// use "sig" on every key: what a jwks_uri serves.
func MarshalJWKS(keys []PublicKey) ([]byte, error) {
	set := jwk.NewSet()
	for _, pk := range keys {
		k, err := jwk.FromRaw(pk.Key)
		if err != nil {
			return nil, fmt.Errorf("store: jwks: %w", err)
		}
		for name, v := range map[string]any{
			jwk.KeyIDKey:     pk.ID,
			jwk.AlgorithmKey: jwa.SignatureAlgorithm(pk.Algorithm),
			jwk.KeyUsageKey:  jwk.ForSignature,
		} {
			if err := k.Set(name, v); err != nil {
				return nil, fmt.Errorf("store: jwks: %w", err)
			}
		}
		if err := set.AddKey(k); err != nil {
			return nil, fmt.Errorf("store: jwks: %w", err)
		}
	}
	return json.Marshal(set)
}
