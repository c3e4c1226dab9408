package claims

import (
	"encoding/json"
	"errors"
	"slices"
)

// Audience is the aud claim (RFC 7519 §4.1.3,
// https://www.rfc-editor.org/rfc/rfc7519#section-4.1.3): a single string or
// an array of strings on the wire. It marshals a single audience as a
// string, as the flow's reference document shows, and several as an array.
type Audience []string

// Contains reports whether v is one of the audiences.
func (a Audience) Contains(v string) bool { return slices.Contains(a, v) }

// MarshalJSON encodes one audience as a string and several as an array.
func (a Audience) MarshalJSON() ([]byte, error) {
	if len(a) == 1 {
		return json.Marshal(a[0])
	}
	return json.Marshal([]string(a))
}

// UnmarshalJSON accepts a string or an array of strings.
func (a *Audience) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = Audience{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("claims: aud is neither a string nor an array of strings")
	}
	*a = many
	return nil
}
