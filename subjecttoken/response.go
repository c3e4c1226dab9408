package subjecttoken

import (
	"bytes"
	"crypto/rand"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strings"

	"github.com/actas/actas/store"
)

// AuthorizeResponse is the successful authorization response of the
// impersonation flow: the parameters of RFC 6749 §4.2.2
// (https://www.rfc-editor.org/rfc/rfc6749#section-4.2.2) with the tokens of
// this flow. The state comes from the [AuthorizeRequest].
type AuthorizeResponse struct {
	// SubjectToken is the minted subject token; written when not empty.
	SubjectToken string
	// IDToken is the impersonator's ID token, when the request asked for
	// id_token; written when not empty.
	IDToken string
}

// Response parameter names.
const (
	paramSubjectToken     = "subject_token"
	paramIDToken          = "id_token"
	paramError            = "error"
	paramErrorDescription = "error_description"
)

// WriteAuthorizeResponse sends resp to req's redirect URI in req's response
// mode: subject_token, id_token (when not empty) and state (when not empty).
//
//   - fragment (OAuth 2.0 Multiple Response Type Encoding Practices §2.1,
//     https://openid.net/specs/oauth-v2-multiple-response-types-1_0.html#ResponseModes):
//     302 to the redirect URI with the parameters form-encoded as its
//     fragment, replacing any fragment it had.
//   - query: 302 to the redirect URI with the parameters appended to its
//     query. The registered query is kept byte for byte, as RFC 6749
//     §3.1.2 (https://www.rfc-editor.org/rfc/rfc6749#section-3.1.2)
//     requires, and ours follow it; so register no redirect URI whose
//     query uses a response parameter name (state, error, subject_token…),
//     or a client reading the first value would read the registered one.
//   - form_post (OAuth 2.0 Form Post Response Mode §2,
//     https://openid.net/specs/oauth-v2-form-post-response-mode-1_0.html#FormPostResponseMode):
//     200 with an HTML page that POSTs the parameters to the redirect URI,
//     every value HTML-escaped, submitted by a script allowed through a
//     fresh Content-Security-Policy nonce, with a button for browsers
//     without JavaScript.
//
// Every response carries Cache-Control: no-store and Pragma: no-cache.
// A nil req or resp, or a req without a redirect URI, gives a server_error
// page instead.
func WriteAuthorizeResponse(w http.ResponseWriter, req *AuthorizeRequest, resp *AuthorizeResponse) {
	if req == nil || resp == nil || req.RedirectURI == "" {
		writeErrorPage(w, ErrServerError)
		return
	}
	p := []param{}
	if resp.SubjectToken != "" {
		p = append(p, param{paramSubjectToken, resp.SubjectToken})
	}
	if resp.IDToken != "" {
		p = append(p, param{paramIDToken, resp.IDToken})
	}
	if req.State != "" {
		p = append(p, param{paramState, req.State})
	}
	writeToClient(w, req.RedirectURI, req.ResponseMode, p)
}

// WriteAuthorizeError writes err as an authorization error response
// (RFC 6749 §4.1.2.1, https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2.1,
// and §4.2.2.1).
//
// A redirectable *Error (see [Error.Redirectable]) goes to the client's
// redirect URI, in the request's response mode, as error,
// error_description (when not empty) and state (when the request had one),
// exactly as [WriteAuthorizeResponse] sends tokens.
//
// Any other *Error is shown to the user on a text/plain page naming the
// code and the description, with status 400 (500 for server_error, 503 for
// temporarily_unavailable); it never redirects. An err that is not an
// *Error (nor wraps one) gives a 500 server_error page without its text,
// so internal details never reach the response. The cause of an *Error is
// never written.
func WriteAuthorizeError(w http.ResponseWriter, err error) {
	var e *Error
	if !errors.As(err, &e) || e == nil {
		writeErrorPage(w, ErrServerError)
		return
	}
	if !e.Redirectable() {
		writeErrorPage(w, e)
		return
	}
	p := []param{{paramError, wireCode(e.Code)}}
	if d := wireDescription(e.Description); d != "" {
		p = append(p, param{paramErrorDescription, d})
	}
	if e.state != "" {
		p = append(p, param{paramState, e.state})
	}
	writeToClient(w, e.redirectURI, e.responseMode, p)
}

// param is one response parameter; a slice of them keeps the order.
type param struct {
	Name, Value string
}

// encode form-encodes p in order.
func encode(p []param) string {
	var b strings.Builder
	for i, kv := range p {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(kv.Name))
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(kv.Value))
	}
	return b.String()
}

// writeToClient sends p to redirectURI in mode; an unknown mode is
// treated as fragment, the safest.
func writeToClient(w http.ResponseWriter, redirectURI, mode string, p []param) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("Referrer-Policy", "no-referrer")
	base, _, _ := strings.Cut(redirectURI, "#")
	switch mode {
	case store.ResponseModeFormPost:
		writeFormPost(w, base, p)
		return
	case store.ResponseModeQuery:
		sep := "?"
		if i := strings.IndexByte(base, '?'); i >= 0 {
			sep = "&"
			if i == len(base)-1 || strings.HasSuffix(base, "&") {
				sep = ""
			}
		}
		h.Set("Location", base+sep+encode(p))
	default:
		h.Set("Location", base+"#"+encode(p))
	}
	w.WriteHeader(http.StatusFound)
}

// formPostPage is the page of OAuth 2.0 Form Post Response Mode §5.2
// (https://openid.net/specs/oauth-v2-form-post-response-mode-1_0.html#FormPostResponseExample).
// html/template escapes every value for its context. It is parsed once,
// never modified afterwards, and safe for concurrent use.
var formPostPage = template.Must(template.New("form_post").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="referrer" content="no-referrer">
<title>Submit This Form</title>
</head>
<body>
<form method="post" action="{{.Action}}">
{{- range .Params}}
<input type="hidden" name="{{.Name}}" value="{{.Value}}">
{{- end}}
<noscript>
<p>JavaScript is disabled. Press Continue to go back to the application.</p>
<button type="submit">Continue</button>
</noscript>
</form>
<script nonce="{{.Nonce}}">document.forms[0].submit();</script>
</body>
</html>
`))

// writeFormPost writes the auto-submitting form of the form_post mode.
func writeFormPost(w http.ResponseWriter, action string, p []param) {
	nonce := rand.Text()
	var buf bytes.Buffer
	err := formPostPage.Execute(&buf, struct {
		Action string
		Params []param
		Nonce  string
	}{action, p, nonce})
	if err != nil {
		writeErrorPage(w, ErrServerError)
		return
	}
	csp := "default-src 'none'; script-src 'nonce-" + nonce + "'; base-uri 'none'; frame-ancestors 'none'"
	if o := cspOrigin(action); o != "" {
		csp += "; form-action " + o
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
}

// cspOrigin returns the scheme, host and port of an http(s) URI as a CSP
// source expression, or "" when it cannot be written safely (the
// form-action directive is then left out).
func cspOrigin(uri string) string {
	u, err := url.Parse(uri)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return ""
	}
	for _, c := range u.Host {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '.' || c == '-' || c == ':' || c == '[' || c == ']') {
			return ""
		}
	}
	return u.Scheme + "://" + u.Host
}

// writeErrorPage shows e to the user without redirecting.
func writeErrorPage(w http.ResponseWriter, e *Error) {
	code := wireCode(e.Code)
	status := http.StatusBadRequest
	switch code {
	case codeServerError:
		status = http.StatusInternalServerError
	case codeTemporarilyUnavailable:
		status = http.StatusServiceUnavailable
	}
	h := w.Header()
	h.Del("Location")
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(status)
	body := code
	if e.Description != "" {
		body += ": " + e.Description
	}
	_, _ = w.Write([]byte(body + "\n"))
}

// wireCode returns code, or server_error when code is empty or holds
// characters RFC 6749 §4.1.2.1 does not allow in error.
func wireCode(code string) string {
	if code == "" {
		return codeServerError
	}
	for i := 0; i < len(code); i++ {
		if !allowedErrorChar(code[i]) {
			return codeServerError
		}
	}
	return code
}

// wireDescription replaces the characters RFC 6749 §4.1.2.1 does not allow
// in error_description (outside %x20-21 / %x23-5B / %x5D-7E) with spaces.
func wireDescription(d string) string {
	b := []byte(d)
	for i, c := range b {
		if !allowedErrorChar(c) {
			b[i] = ' '
		}
	}
	return strings.TrimSpace(string(b))
}

func allowedErrorChar(c byte) bool {
	return c >= 0x20 && c <= 0x7e && c != '"' && c != '\\'
}
