// Package testkit is what the tests of this repository share: one test
// clock and the helpers that build and take apart tokens by hand. It is
// imported by _test files only.
package testkit

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/claims"
	"github.com/actas/actas/store"
)

// Start is the time every Clock starts at. Its zone is not UTC, so that
// code that must report UTC is seen to convert.
var Start = time.Date(2026, 3, 14, 10, 26, 53, 0, time.FixedZone("CET", 3600))

// Clock is a mutable clock that tests advance instead of sleeping. It is
// safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a Clock at Start.
func NewClock() *Clock { return &Clock{now: Start} }

// NewClockAt returns a Clock at t.
func NewClockAt(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the current test time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// B64 is unpadded base64url.
func B64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// Segment base64url-encodes v as JSON, as a JWS segment.
func Segment(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return B64(b)
}

// SignRaw builds a compact JWS with exactly the header and claims given,
// signed by key with the algorithm of the key (not the header's, so that a
// lying header can be built).
func SignRaw(t testing.TB, key store.PrivateKey, header map[string]any, claims any) string {
	t.Helper()
	input := Segment(t, header) + "." + Segment(t, claims)
	return input + "." + Sign(t, key, input)
}

// Sign returns the base64url signature of a JWS signing input by key.
func Sign(t testing.TB, key store.PrivateKey, input string) string {
	t.Helper()
	signer, err := jws.NewSigner(jwa.SignatureAlgorithm(key.Algorithm))
	require.NoError(t, err)
	sig, err := signer.Sign([]byte(input), key.Key)
	require.NoError(t, err)
	return B64(sig)
}

// Header is the JWS header of the issuer's own tokens of type typ, signed
// by key.
func Header(key store.PrivateKey, typ string) map[string]any {
	return map[string]any{"alg": key.Algorithm, "kid": key.ID, "typ": typ}
}

// JWT is a JWT's header and claims, decoded without verification (numbers
// kept as json.Number).
type JWT struct {
	Header map[string]any
	Claims map[string]any
}

// DecodeJWT splits a compact JWS and decodes its header and payload.
func DecodeJWT(t testing.TB, tok string) JWT {
	t.Helper()
	parts := strings.Split(tok, ".")
	require.Len(t, parts, 3, "compact JWS")
	dec := func(seg string) map[string]any {
		raw, err := base64.RawURLEncoding.DecodeString(seg)
		require.NoError(t, err)
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		var m map[string]any
		require.NoError(t, d.Decode(&m))
		return m
	}
	return JWT{Header: dec(parts[0]), Claims: dec(parts[1])}
}

// Num returns the integer claim k.
func (d JWT) Num(t testing.TB, k string) int64 {
	t.Helper()
	n, ok := d.Claims[k].(json.Number)
	require.Truef(t, ok, "claim %s is a number: %#v", k, d.Claims[k])
	i, err := n.Int64()
	require.NoError(t, err)
	return i
}

// Str returns the string claim k.
func (d JWT) Str(t testing.TB, k string) string {
	t.Helper()
	s, ok := d.Claims[k].(string)
	require.Truef(t, ok, "claim %s is a string: %#v", k, d.Claims[k])
	return s
}

// ClaimNames returns the claim names, sorted.
func (d JWT) ClaimNames() []string {
	out := make([]string, 0, len(d.Claims))
	for k := range d.Claims {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// AssertJTI checks that a jti is base64url of at least 128 bits.
func AssertJTI(t testing.TB, jti string) {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(jti)
	require.NoError(t, err, "jti is base64url")
	assert.GreaterOrEqual(t, len(raw), 16, "jti has at least 128 bits")
}

// RandomID is a fresh 128-bit base64url identifier.
func RandomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return B64(b[:])
}

// ActChain is an act chain n actors deep: root-admin-1 acting, for whom
// root-admin-2 acted, and so on.
func ActChain(n int) *claims.Actor {
	var a *claims.Actor
	for i := n; i >= 1; i-- {
		a = &claims.Actor{Subject: fmt.Sprintf("root-admin-%d", i), Act: a}
	}
	return a
}
