package tokenexchange

import (
	"net/url"
	"reflect"
	"testing"
)

// FuzzParseForm: any request body parses without panicking; an accepted
// request encodes (Request.Values) to a form that parses to the same
// request.
func FuzzParseForm(f *testing.F) {
	for _, s := range []string{
		"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&subject_token=a.b.c&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Ajwt",
		"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&subject_token=a&subject_token_type=urn%3Ax&actor_token=b&actor_token_type=urn%3Ay&resource=https%3A%2F%2Fapi&audience=x&audience=y&scope=a+b",
		"grant_type=password", "subject_token=a&subject_token=b", "actor_token=x", "resource=%2Frelative", "scope=a%09b", "%zz",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		form, err := url.ParseQuery(body)
		if err != nil {
			return
		}
		req, err := ParseForm(form)
		if err != nil {
			return
		}
		again, err := ParseForm(req.Values())
		if err != nil {
			t.Fatalf("re-parsing %q: %v", req.Values().Encode(), err)
		}
		if !reflect.DeepEqual(req, again) {
			t.Fatalf("not idempotent:\n%#v\n%#v", req, again)
		}
	})
}
