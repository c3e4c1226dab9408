package jose_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/actas/actas/internal/jose"
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

// FuzzVerify: no input makes Verify panic or accept a token that was not
// signed by the configured key.
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
	f.Fuzz(func(t *testing.T, token string) {
		_, payload, err := jose.Verify(context.Background(), token, ks, jose.DefaultAlgorithms, "")
		if err == nil && token != good {
			// A different string can only verify if it is the same JWS
			// with, e.g., an equivalent base64 encoding of the signature;
			// it must then carry the same payload.
			if string(payload) != `{"sub":"bob"}` {
				t.Fatalf("accepted a forged token %q", token)
			}
		}
	})
}
