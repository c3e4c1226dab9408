// Package jose signs and verifies the compact JWS tokens of this library.
// It parses the header itself so that only what is explicitly allowed is
// ever looked at: the algorithm must be on an allowlist and equal to the
// algorithm of the key that the kid names; the key comes from the issuer's
// own key set, never from the token (jku, x5u, jwk and x5c headers are
// ignored, crit is refused); the header, like the claims, may name no
// member twice; only the compact serialization with exactly one signature
// is accepted. Signature arithmetic is delegated to jwx.
package jose

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/actas/actas/store"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// Errors of [Verify]. They never include token content.
var (
	ErrMalformed  = errors.New("jose: malformed token")
	ErrAlgorithm  = errors.New("jose: algorithm not allowed")
	ErrUnknownKey = errors.New("jose: unknown signing key")
	ErrSignature  = errors.New("jose: invalid signature")
	ErrTokenType  = errors.New("jose: wrong token type (typ)")
	ErrCritical   = errors.New("jose: critical header not understood")
	// ErrDuplicateMember: the header or the claims name a member twice
	// (names compared as encoding/json matches them: escapes resolved,
	// case folded). It always comes wrapped in ErrMalformed.
	ErrDuplicateMember = errors.New("duplicate member name")
)

// MaxTokenBytes is the largest token Verify reads.
const MaxTokenBytes = 16 << 10

// DefaultAlgorithms is the allowlist used when none is configured.
var DefaultAlgorithms = []string{store.ES256, store.RS256, store.EdDSA}

// Header is the part of the JOSE header the library reads.
type Header struct {
	Algorithm string `json:"alg"`
	KeyID     string `json:"kid"`
	Type      string `json:"typ,omitempty"`
	// Critical is decoded only to refuse it (RFC 7515 §4.1.11).
	Critical json.RawMessage `json:"crit,omitempty"`
}

var enc = base64.RawURLEncoding

// Sign serialises claims as JSON and signs them with key, putting alg, kid
// and typ in the protected header.
func Sign(key store.PrivateKey, typ string, claims any) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("jose: encode claims: %w", err)
	}
	hdr, err := json.Marshal(Header{Algorithm: key.Algorithm, KeyID: key.ID, Type: typ})
	if err != nil {
		return "", fmt.Errorf("jose: encode header: %w", err)
	}
	signer, err := jws.NewSigner(jwa.SignatureAlgorithm(key.Algorithm))
	if err != nil {
		return "", fmt.Errorf("jose: %w", err)
	}
	buf := make([]byte, 0, enc.EncodedLen(len(hdr))+enc.EncodedLen(len(payload))+200)
	buf = enc.AppendEncode(buf, hdr)
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, payload)
	sig, err := signer.Sign(buf, key.Key)
	if err != nil {
		return "", fmt.Errorf("jose: sign: %w", err)
	}
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, sig)
	return string(buf), nil
}

// Verify checks token's signature against keys and returns its header and
// payload. The header must be one JSON object that names no member twice,
// at any depth, names compared as for claims (see [DecodeClaims]): RFC 7515
// §4 says header names MUST be unique and lets a parser either refuse
// duplicates or keep the last one; keeping the last, as encoding/json
// does, lets a token carry two alg, typ or kid values of which another
// parser would read the other. typ, when not empty, must equal the
// header's typ (compared case-insensitively, as RFC 7515 §4.1.9 recommends
// for media types). Claims are not checked here.
func Verify(ctx context.Context, token string, keys store.KeySet, algs []string, typ string) (Header, []byte, error) {
	var h Header
	if len(token) > MaxTokenBytes {
		return h, nil, fmt.Errorf("%w: too large", ErrMalformed)
	}
	first := strings.IndexByte(token, '.')
	last := strings.LastIndexByte(token, '.')
	if first <= 0 || last == first || last == len(token)-1 || strings.Count(token, ".") != 2 {
		return h, nil, fmt.Errorf("%w: not a compact JWS", ErrMalformed)
	}
	rawHdr, err := enc.DecodeString(token[:first])
	if err != nil {
		return h, nil, fmt.Errorf("%w: header encoding", ErrMalformed)
	}
	if err := checkDuplicateMembers(rawHdr); err != nil {
		return h, nil, fmt.Errorf("%w: header: %w", ErrMalformed, err)
	}
	if err := decodeStrict(rawHdr, &h); err != nil {
		return h, nil, fmt.Errorf("%w: header", ErrMalformed)
	}
	if len(h.Critical) > 0 {
		return h, nil, ErrCritical
	}
	if h.Algorithm == "" || !slices.Contains(algs, h.Algorithm) {
		return h, nil, ErrAlgorithm
	}
	if typ != "" && !strings.EqualFold(mediaType(h.Type), mediaType(typ)) {
		return h, nil, ErrTokenType
	}
	if h.KeyID == "" {
		return h, nil, fmt.Errorf("%w: no kid", ErrUnknownKey)
	}
	key, err := keys.PublicKey(ctx, h.KeyID)
	if errors.Is(err, store.ErrNotFound) {
		return h, nil, ErrUnknownKey
	}
	if err != nil {
		return h, nil, fmt.Errorf("jose: key lookup: %w", err)
	}
	if key.Algorithm != h.Algorithm {
		return h, nil, ErrAlgorithm
	}
	sig, err := enc.DecodeString(token[last+1:])
	if err != nil {
		return h, nil, fmt.Errorf("%w: signature encoding", ErrMalformed)
	}
	verifier, err := jws.NewVerifier(jwa.SignatureAlgorithm(h.Algorithm))
	if err != nil {
		return h, nil, ErrAlgorithm
	}
	if err := verifier.Verify([]byte(token[:last]), sig, key.Key); err != nil {
		return h, nil, ErrSignature
	}
	payload, err := enc.DecodeString(token[first+1 : last])
	if err != nil {
		return h, nil, fmt.Errorf("%w: payload encoding", ErrMalformed)
	}
	return h, payload, nil
}

// mediaType drops the "application/" prefix that RFC 7515 §4.1.9 says a
// typ value may carry.
func mediaType(t string) string {
	if len(t) > len("application/") && strings.EqualFold(t[:len("application/")], "application/") {
		return t[len("application/"):]
	}
	return t
}

// DecodeClaims decodes a verified payload into v, refusing trailing data
// and objects that name a member twice (RFC 7519 §4 lets a parser reject
// them; accepting them invites parser differentials: another verifier
// could read the other "sub").
func DecodeClaims(payload []byte, v any) error {
	if err := checkDuplicateMembers(payload); err != nil {
		return fmt.Errorf("%w: claims: %w", ErrMalformed, err)
	}
	if err := decodeStrict(payload, v); err != nil {
		return fmt.Errorf("%w: claims", ErrMalformed)
	}
	return nil
}

// errTooDeep: objects and arrays nested deeper than maxNesting.
var errTooDeep = errors.New("JSON nested too deep")

// maxNesting bounds the nesting of a token payload; the act chain limit is
// far below it.
const maxNesting = 32

// checkDuplicateMembers fails on an object, at any depth, that names a
// member twice. Names are compared after unescaping ("s\u0075b" is "sub")
// and case folding ("SUB" and "ſub" are "sub" to encoding/json).
// It only looks at structure; encoding/json validates the rest afterwards.
// Names without escapes are compared in place, so valid payloads cost no
// allocation.
func checkDuplicateMembers(data []byte) error {
	var backing [32][]byte
	sc := dupScanner{data: data, names: backing[:0]}
	sc.ws()
	if err := sc.value(0); err != nil {
		return err
	}
	return nil
}

type dupScanner struct {
	data  []byte
	i     int
	names [][]byte // member names of the objects being scanned, innermost last
}

var errSyntax = errors.New("invalid JSON")

func (s *dupScanner) ws() {
	for s.i < len(s.data) {
		switch s.data[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *dupScanner) value(depth int) error {
	if s.i >= len(s.data) {
		return errSyntax
	}
	switch s.data[s.i] {
	case '{':
		return s.object(depth + 1)
	case '[':
		return s.array(depth + 1)
	case '"':
		_, _, err := s.str()
		return err
	}
	for s.i < len(s.data) {
		switch s.data[s.i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return nil
		}
		s.i++
	}
	return nil
}

func (s *dupScanner) object(depth int) error {
	if depth > maxNesting {
		return errTooDeep
	}
	s.i++ // {
	first := len(s.names)
	defer func() { s.names = s.names[:first] }()
	s.ws()
	if s.i < len(s.data) && s.data[s.i] == '}' {
		s.i++
		return nil
	}
	for {
		s.ws()
		raw, escaped, err := s.str()
		if err != nil {
			return err
		}
		name := raw
		if escaped || !utf8.Valid(raw) {
			// Compare what a decoder sees: escapes resolved, invalid
			// UTF-8 replaced by U+FFFD.
			var u string
			if json.Unmarshal(s.data[s.i-len(raw)-2:s.i], &u) != nil {
				return errSyntax
			}
			name = []byte(u)
		}
		for _, n := range s.names[first:] {
			// encoding/json matches member names to fields case-
			// insensitively (with Unicode folding: "ſub" is "sub"), so
			// names equal under folding are duplicates too.
			if bytes.EqualFold(n, name) {
				return ErrDuplicateMember
			}
		}
		s.names = append(s.names, name)
		s.ws()
		if s.i >= len(s.data) || s.data[s.i] != ':' {
			return errSyntax
		}
		s.i++
		s.ws()
		if err := s.value(depth); err != nil {
			return err
		}
		if done, err := s.separator('}'); done || err != nil {
			return err
		}
	}
}

func (s *dupScanner) array(depth int) error {
	if depth > maxNesting {
		return errTooDeep
	}
	s.i++ // [
	s.ws()
	if s.i < len(s.data) && s.data[s.i] == ']' {
		s.i++
		return nil
	}
	for {
		s.ws()
		if err := s.value(depth); err != nil {
			return err
		}
		if done, err := s.separator(']'); done || err != nil {
			return err
		}
	}
}

// separator consumes what follows a member or an element: a comma, or
// closing, which ends the object or array (done).
func (s *dupScanner) separator(closing byte) (done bool, err error) {
	s.ws()
	if s.i >= len(s.data) {
		return false, errSyntax
	}
	switch s.data[s.i] {
	case ',':
		s.i++
		return false, nil
	case closing:
		s.i++
		return true, nil
	}
	return false, errSyntax
}

// str scans a JSON string starting at its opening quote and returns its
// raw content (between the quotes) and whether it has escapes.
func (s *dupScanner) str() (raw []byte, escaped bool, err error) {
	if s.i >= len(s.data) || s.data[s.i] != '"' {
		return nil, false, errSyntax
	}
	start := s.i + 1
	for j := start; j < len(s.data); j++ {
		switch s.data[j] {
		case '\\':
			escaped = true
			j++ // skip the escaped character; \uXXXX's hex digits need no care
		case '"':
			s.i = j + 1
			return s.data[start:j], escaped, nil
		}
	}
	return nil, false, errSyntax
}

// decodeStrict decodes one JSON value into v. json.Unmarshal already
// refuses anything after the value but white space.
func decodeStrict(data []byte, v any) error {
	return json.Unmarshal(data, v)
}

// IsRefusal tells a token that [Verify] refuses (malformed, algorithm,
// key, signature, typ, crit) from a failure of the key store, after which
// the token may still be fine.
func IsRefusal(err error) bool {
	for _, e := range []error{ErrMalformed, ErrAlgorithm, ErrUnknownKey, ErrSignature, ErrTokenType, ErrCritical} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
