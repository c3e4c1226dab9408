package jose_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/actas/actas/internal/jose"
	"github.com/actas/actas/store"
	"github.com/actas/actas/store/memory"
)

// hasDuplicateMembers is the reference for DecodeClaims' duplicate check:
// slow, allocating, but built on the standard decoder's tokens. Names are
// duplicates when equal under Unicode case folding, as encoding/json
// matches them to fields.
func hasDuplicateMembers(data []byte) (dup, valid bool) {
	type frame struct {
		object, expectKey bool
		names             []string
	}
	d := json.NewDecoder(bytes.NewReader(data))
	var stack []frame
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return false, true
		}
		if err != nil {
			return false, false
		}
		top := len(stack) - 1
		switch t := tok.(type) {
		case json.Delim:
			if t == '{' || t == '[' {
				stack = append(stack, frame{object: t == '{', expectKey: t == '{'})
				continue
			}
			stack = stack[:top]
			top--
		case string:
			if top >= 0 && stack[top].object && stack[top].expectKey {
				if slices.ContainsFunc(stack[top].names, func(n string) bool { return strings.EqualFold(n, t) }) {
					return true, true
				}
				stack[top].names = append(stack[top].names, t)
				stack[top].expectKey = false
				continue
			}
		}
		if top >= 0 && stack[top].object {
			stack[top].expectKey = true
		}
	}
}

// FuzzDecodeClaims: never panics; accepts exactly the JSON objects the
// standard library accepts that name no member twice (nested up to the
// limit); decoding is idempotent.
func FuzzDecodeClaims(f *testing.F) {
	for _, s := range []string{
		`{"sub":"bob"}`, `{"sub":"bob","sub":"x"}`, `{"s\u0075b":"a","sub":"b"}`,
		`{"act":{"sub":"a","act":{"sub":"b"}}}`, `{"aud":["a","b"],"exp":1.5}`,
		`{"a":{"b":[{"c":1,"c":2}]}}`, `{"sub":"\\"}`, `[]`, `null`, `{"a":"\u0000"}`, `{`, "{\"\xff\":1,\"\\ufffd\":2}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var got map[string]any
		err := jose.DecodeClaims(data, &got)
		dup, valid := hasDuplicateMembers(data)
		var ref map[string]any
		refErr := json.Unmarshal(data, &ref)
		if err == nil && (dup || !valid || refErr != nil) {
			t.Fatalf("accepted %q (dup %v, valid %v, std %v)", data, dup, valid, refErr)
		}
		if err != nil && !dup && valid && refErr == nil && depth(data) <= 32 {
			t.Fatalf("refused %q: %v", data, err)
		}
		if err == nil {
			again, mErr := json.Marshal(got)
			if mErr != nil {
				t.Fatal(mErr)
			}
			var second map[string]any
			if err := jose.DecodeClaims(again, &second); err != nil {
				t.Fatalf("re-decoding %q: %v", again, err)
			}
		}
	})
}

// depth returns the deepest nesting of objects and arrays, ignoring
// brackets inside strings.
func depth(data []byte) int {
	d, deepest, inString, escaped := 0, 0, false, false
	for _, c := range data {
		switch {
		case escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case c == '"':
			inString = !inString
		case inString:
		case c == '{' || c == '[':
			d++
			deepest = max(deepest, d)
		case c == '}' || c == ']':
			d--
		}
	}
	return deepest
}

// dupHeaders are headers naming a member twice (issue 11, F4), with %s
// for the kid: the last alg, typ or kid would have won.
var dupHeaders = []string{
	`{"alg":"none","alg":"ES256","kid":%s,"typ":"at+jwt"}`,
	`{"alg":"ES256","kid":%s,"typ":"at+jwt","alg":"none"}`,
	`{"ALG":"none","alg":"ES256","kid":%s,"typ":"at+jwt"}`,
	`{"alg":"ES256","kid":%s,"typ":"JWT","typ":"at+jwt"}`,
	`{"alg":"ES256","kid":%s,"typ":"JWT","t\u0079p":"at+jwt"}`,
	`{"alg":"ES256","kid":"nope","kid":%s,"typ":"at+jwt"}`,
	`{"alg":"ES256","KID":"nope","kid":%s,"typ":"at+jwt"}`,
	`{"alg":"ES256","kid":%s,"typ":"at+jwt","crit":["exp"],"crit":["exp"]}`,
	`{"alg":"ES256","kid":%s,"typ":"at+jwt","jwk":{"kty":"EC","kty":"oct"}}`,
}

// FuzzVerify: no input makes Verify panic or accept a token that was not
// signed by the configured key, or whose header names a member twice.
func FuzzVerify(f *testing.F) {
	ks, err := newKeySet()
	if err != nil {
		f.Fatal(err)
	}
	k, err := ks.SigningKey(context.Background())
	if err != nil {
		f.Fatal(err)
	}
	good, err := jose.Sign(k, "at+jwt", map[string]string{"sub": "bob"})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add("eyJhbGciOiJub25lIn0.eyJzdWIiOiJib2IifQ.")
	f.Add("a.b.c")
	f.Add("..")
	// Genuinely signed under duplicate header members: the key is made
	// afresh for every run, so these seeds cannot be committed.
	for _, h := range dupHeaders {
		tok, err := signHeader(k, fmt.Sprintf(h, strconv.Quote(k.ID)), `{"sub":"bob"}`)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(tok)
	}
	f.Fuzz(func(t *testing.T, token string) {
		_, payload, err := jose.Verify(context.Background(), token, ks, jose.DefaultAlgorithms, "")
		if err != nil {
			return
		}
		if token != good {
			// A different string can only verify if it is the same JWS
			// with, e.g., an equivalent base64 encoding of the signature;
			// it must then carry the same payload.
			if string(payload) != `{"sub":"bob"}` {
				t.Fatalf("accepted a forged token %q", token)
			}
		}
		hdr, dErr := base64.RawURLEncoding.DecodeString(token[:strings.IndexByte(token, '.')])
		if dErr != nil {
			t.Fatalf("accepted %q with a header that is not base64url", token)
		}
		if dup, valid := hasDuplicateMembers(hdr); dup || !valid {
			t.Fatalf("accepted %q with header %q (duplicate %v, valid %v)", token, hdr, dup, valid)
		}
	})
}

// fuzzKID is the kid of FuzzVerifyHeader's key, so that committed seeds
// can name it.
const fuzzKID = "k1"

// FuzzVerifyHeader signs whatever header it is given with a real ES256
// key whose kid is fuzzKID and checks Verify against a reference built on
// encoding/json and hasDuplicateMembers: the token is accepted exactly
// when the header is one JSON object, nested at most 32 deep, naming no
// member twice (case folded), with alg ES256, kid fuzzKID and no crit.
func FuzzVerifyHeader(f *testing.F) {
	k, err := store.GenerateKey(store.ES256)
	if err != nil {
		f.Fatal(err)
	}
	k.ID = fuzzKID
	ks, err := memory.NewKeySet(k)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(`{"alg":"ES256","kid":"k1","typ":"at+jwt"}`)
	f.Add(`{"alg":"ES256","kid":"k1","jwk":{"kty":"EC","crv":"P-256"}}`)
	for _, h := range dupHeaders {
		f.Add(fmt.Sprintf(h, strconv.Quote(fuzzKID)))
	}
	const payload = `{"sub":"bob"}`
	f.Fuzz(func(t *testing.T, header string) {
		tok, err := signHeader(k, header, payload)
		if err != nil {
			t.Fatal(err)
		}
		h, got, err := jose.Verify(context.Background(), tok, ks, jose.DefaultAlgorithms, "")

		dup, valid := hasDuplicateMembers([]byte(header))
		var ref jose.Header
		refErr := json.Unmarshal([]byte(header), &ref)
		want := valid && !dup && refErr == nil && depth([]byte(header)) <= 32 &&
			ref.Algorithm == store.ES256 && ref.KeyID == fuzzKID && len(ref.Critical) == 0 &&
			len(tok) <= jose.MaxTokenBytes
		switch {
		case err == nil && !want:
			t.Fatalf("accepted header %q (duplicate %v, valid %v, std %v, %+v)", header, dup, valid, refErr, ref)
		case err != nil && want:
			t.Fatalf("refused header %q: %v", header, err)
		case err == nil && (string(got) != payload || h.Algorithm != ref.Algorithm || h.KeyID != ref.KeyID || h.Type != ref.Type):
			t.Fatalf("header %q: Verify read %+v and %q, encoding/json %+v", header, h, got, ref)
		case dup && refErr == nil && depth([]byte(header)) <= 32 && len(tok) <= jose.MaxTokenBytes && !errors.Is(err, jose.ErrDuplicateMember):
			t.Fatalf("header %q names a member twice but was refused with %v", header, err)
		}
	})
}

// signHeader signs exactly header and payload with key.
func signHeader(key store.PrivateKey, header, payload string) (string, error) {
	s, err := jws.NewSigner(jwa.SignatureAlgorithm(key.Algorithm))
	if err != nil {
		return "", err
	}
	input := base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + base64.RawURLEncoding.EncodeToString([]byte(payload))
	sig, err := s.Sign([]byte(input), key.Key)
	if err != nil {
		return "", err
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}
