package impersonation

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxUntrusted is the most bytes of a client-supplied value an audit event
// keeps.
const maxUntrusted = 256

// untrusted makes a value the client chose (a claimed client_id, a
// requested subject, scope values) safe to record: characters that could
// forge or reorder lines of a text log (controls, format characters such as
// bidi overrides, line and paragraph separators, invalid UTF-8) become
// U+FFFD, and it is cut to maxUntrusted bytes with a trailing "…".
func untrusted(s string) string {
	if len(s) <= maxUntrusted && cleanText(s) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if !cleanRune(r) {
			r = utf8.RuneError
		}
		if b.Len()+utf8.RuneLen(r) > maxUntrusted {
			b.WriteString("…")
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}

// untrustedAll applies untrusted to each value.
func untrustedAll(v []string) []string {
	out := make([]string, len(v))
	for i, s := range v {
		out[i] = untrusted(s)
	}
	return out
}

// cleanText reports whether s is valid UTF-8 without characters that
// could forge or reorder lines of a text log.
func cleanText(s string) bool {
	for _, r := range s {
		if !cleanRune(r) {
			return false
		}
	}
	return true
}

// cleanRune: not invalid UTF-8, a control, a format character (bidi
// overrides), or a line or paragraph separator.
func cleanRune(r rune) bool {
	return r != utf8.RuneError && !unicode.IsControl(r) && !unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp)
}
