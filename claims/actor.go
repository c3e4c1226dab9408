package claims

import "errors"

// DefaultMaxActDepth is the deepest act chain accepted by default: the
// current actor plus four prior ones. RFC 8693 §4.1 sets no limit; an
// unbounded chain is a way to make every verifier do unbounded work.
const DefaultMaxActDepth = 5

// ErrActTooDeep is returned when an act chain is deeper than allowed.
var ErrActTooDeep = errors.New("claims: act chain too deep")

// Actor is the act claim of RFC 8693 §4.1
// (https://www.rfc-editor.org/rfc/rfc8693#section-4.1): who is acting on
// behalf of the token's subject. Act, when not nil, is the actor before this
// one; the outermost Actor is the current one. Only Subject and Issuer are
// carried: RFC 8693 says other claims in act are not meaningful for access
// control.
type Actor struct {
	Subject string `json:"sub"`
	Issuer  string `json:"iss,omitempty"`
	Act     *Actor `json:"act,omitempty"`
}

// Depth returns the number of actors in the chain starting at a; a nil
// Actor has depth 0.
func (a *Actor) Depth() int {
	n := 0
	for ; a != nil; a = a.Act {
		n++
	}
	return n
}

// Chain returns the subjects of the chain, the current actor first.
func (a *Actor) Chain() []string {
	var out []string
	for ; a != nil; a = a.Act {
		out = append(out, a.Subject)
	}
	return out
}

// Validate checks that every actor in the chain names a subject and that
// the chain is at most maxDepth deep.
func (a *Actor) Validate(maxDepth int) error {
	if a.Depth() > maxDepth {
		return ErrActTooDeep
	}
	for ; a != nil; a = a.Act {
		if a.Subject == "" {
			return errors.New("claims: act without sub")
		}
	}
	return nil
}

// MayAct is the may_act claim of RFC 8693 §4.4
// (https://www.rfc-editor.org/rfc/rfc8693#section-4.4): the party allowed to
// act for the subject. In a subject token it names the impersonator.
type MayAct struct {
	Subject string `json:"sub"`
	Issuer  string `json:"iss,omitempty"`
}
