package claims

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
)

// Scope is a set of OAuth scope tokens (RFC 6749 §3.3,
// https://www.rfc-editor.org/rfc/rfc6749#section-3.3). Its JSON form is the
// space-delimited string. The zero value is the empty scope. Scope values
// are kept without duplicates, in first-seen order, by [ParseScope] and
// [ParseScopeLenient].
type Scope []string

// MaxScopeTokens is the most scope tokens a request may carry; more is
// refused as invalid_scope. No real grant needs more, and every token costs
// work in each scope comparison.
const MaxScopeTokens = 64

// ParseScope splits s at spaces as RFC 6749 §3.3 defines, dropping empty
// tokens and duplicates.
func ParseScope(s string) Scope {
	return parseScope(s, func(r rune) bool { return r == ' ' })
}

// ParseScopeLenient is [ParseScope] that also accepts commas as
// separators. The authorize request takes it because the flow's reference
// document writes its example scope with commas
// ("internal_user_impersonate,openid,..."). A comma is not a valid scope
// character in RFC 6749 §3.3 (it is, but no deployed scope uses it), so
// nothing valid is lost.
func ParseScopeLenient(s string) Scope {
	return parseScope(s, func(r rune) bool { return r == ' ' || r == ',' })
}

func parseScope(s string, sep func(rune) bool) Scope {
	fields := strings.FieldsFunc(s, sep)
	if len(fields) == 0 {
		return nil
	}
	out := make(Scope, 0, len(fields))
	for _, f := range fields {
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

// String returns the space-delimited form.
func (s Scope) String() string { return strings.Join(s, " ") }

// Contains reports whether s holds the scope token v.
func (s Scope) Contains(v string) bool { return slices.Contains(s, v) }

// SubsetOf reports whether every token of s is in other. The empty scope is
// a subset of every scope.
func (s Scope) SubsetOf(other Scope) bool {
	for _, v := range s {
		if !other.Contains(v) {
			return false
		}
	}
	return true
}

// Without returns a copy of s without the token v.
func (s Scope) Without(v string) Scope {
	out := make(Scope, 0, len(s))
	for _, t := range s {
		if t != v {
			out = append(out, t)
		}
	}
	return out
}

// Intersect returns the tokens of s that other also holds, in the order of s.
func (s Scope) Intersect(other []string) Scope {
	out := make(Scope, 0, len(s))
	for _, t := range s {
		if slices.Contains(other, t) {
			out = append(out, t)
		}
	}
	return out
}

// MarshalJSON encodes s as one space-delimited string.
func (s Scope) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// UnmarshalJSON decodes the space-delimited string form. Any other JSON type
// is an error: a token whose scope is an array is not one we issued.
func (s *Scope) UnmarshalJSON(b []byte) error {
	var str string
	if err := json.Unmarshal(b, &str); err != nil {
		return errors.New("claims: scope is not a string")
	}
	*s = ParseScope(str)
	return nil
}
