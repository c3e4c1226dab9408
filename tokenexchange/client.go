package tokenexchange

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// maxResponseBytes caps how much of a response [Exchange], [Introspect] and
// [Revoke] read.
const maxResponseBytes = 1 << 20

// errResponseTooLarge is the cause of a 2xx response over maxResponseBytes.
var errResponseTooLarge = fmt.Errorf("response larger than %d bytes", maxResponseBytes)

// maxRetrieveErrorBody caps [RetrieveError.Body].
const maxRetrieveErrorBody = 64 << 10

// RetrieveError is the error [Exchange], [Introspect] and [Revoke] return
// when the endpoint refuses the request: a non-2xx status, or a 2xx response
// with an error member ([Revoke] ignores the body of a 2xx response, as RFC
// 7009 §2.2 says). ErrorCode, ErrorDescription and ErrorURI are the error,
// error_description and error_uri members of the RFC 6749 §5.2
// (https://www.rfc-editor.org/rfc/rfc6749#section-5.2) body when it had them.
type RetrieveError struct {
	// StatusCode is the HTTP status of the response.
	StatusCode int
	// ErrorCode is the error member, such as [codeInvalidGrant]; empty if
	// the body was not an OAuth error.
	ErrorCode string
	// ErrorDescription is the error_description member.
	ErrorDescription string
	// ErrorURI is the error_uri member.
	ErrorURI string
	// Body is the response body, at most its first 64 KiB.
	Body []byte

	// endpoint names the endpoint that answered: "introspection" or
	// "revocation"; empty means the token endpoint.
	endpoint string
}

// Error describes the endpoint, the status and the OAuth error, quoted. It
// does not include Body.
func (e *RetrieveError) Error() string {
	name := e.endpoint
	if name == "" {
		name = "token"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "tokenexchange: %s endpoint returned status %d", name, e.StatusCode)
	if e.ErrorCode != "" {
		fmt.Fprintf(&b, ": error %q", e.ErrorCode)
	}
	if e.ErrorDescription != "" {
		fmt.Fprintf(&b, ", description %q", e.ErrorDescription)
	}
	if e.ErrorURI != "" {
		fmt.Fprintf(&b, ", uri %q", e.ErrorURI)
	}
	return b.String()
}

// Is reports whether target is an [*Error] whose Code is e's ErrorCode, so
// that a client can test errors.Is(err, ErrInvalidGrant).
func (e *RetrieveError) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t != nil && e.ErrorCode != "" && t.Code == e.ErrorCode
}

// Exchange sends req to the token endpoint at tokenURL (RFC 8693 §2.1,
// https://www.rfc-editor.org/rfc/rfc8693#section-2.1) with hc and returns
// the token response.
//
// The client authenticates with client_secret_basic: clientID and
// clientSecret are each encoded with the application/x-www-form-urlencoded
// algorithm before HTTP Basic encoding, as RFC 6749 §2.3.1
// (https://www.rfc-editor.org/rfc/rfc6749#section-2.3.1) requires. The
// body is req.Values() (see [Request.Values]); req is not validated here.
//
// At most 1 MiB of the response is read. A non-2xx status, or a body with an
// error member, is returned as a [*RetrieveError]. A 2xx response that is
// not JSON, exceeds 1 MiB or lacks access_token, issued_token_type or
// token_type (RFC 8693 §2.2.1) is an error too.
//
// hc is required: Exchange never falls back to [http.DefaultClient], which
// has no timeout. Give hc a timeout or ctx a deadline.
func Exchange(ctx context.Context, hc *http.Client, tokenURL, clientID, clientSecret string, req *Request) (*Response, error) {
	switch {
	case hc == nil:
		return nil, errors.New("tokenexchange: Exchange: nil *http.Client")
	case req == nil:
		return nil, errors.New("tokenexchange: Exchange: nil *Request")
	case tokenURL == "":
		return nil, errors.New("tokenexchange: Exchange: empty token URL")
	case clientID == "":
		return nil, errors.New("tokenexchange: Exchange: empty client ID")
	}
	c := call{op: "Exchange"}
	status, body, err := c.post(ctx, hc, tokenURL, clientID, clientSecret, req.Values())
	if err != nil {
		return nil, err
	}
	var tr struct {
		Response
		errorBody
	}
	if err := json.Unmarshal(body, &tr); err != nil {
		return nil, fmt.Errorf("tokenexchange: Exchange: decode response: %w", err)
	}
	if tr.Error != "" {
		return nil, c.retrieveError(status, body, tr.errorBody)
	}
	resp := tr.Response
	if err := resp.check(); err != nil {
		return nil, err
	}
	return &resp, nil
}

// Introspect asks the introspection endpoint at the URL endpoint (RFC 7662
// §2.1, https://www.rfc-editor.org/rfc/rfc7662#section-2.1) about token with
// hc. hint, if not empty, is sent as token_type_hint, such as
// [TokenTypeHintAccessToken]. The client authenticates with
// client_secret_basic, form-encoding clientID and clientSecret as [Exchange]
// does.
//
// At most 1 MiB of the response is read. A non-2xx status, or a body with an
// error member, is returned as a [*RetrieveError]. A 2xx response that is
// not JSON, exceeds 1 MiB or lacks active (RFC 7662 §2.2: REQUIRED) is an
// error too. An inactive token comes back as an [Introspection] with Active
// false and every other field zero, whatever else the server sent.
//
// hc is required: Introspect never falls back to [http.DefaultClient]. Give
// hc a timeout or ctx a deadline.
func Introspect(ctx context.Context, hc *http.Client, endpoint, clientID, clientSecret, token, hint string) (*Introspection, error) {
	c := call{op: "Introspect", endpoint: "introspection"}
	if err := c.checkArgs(hc, endpoint, clientID, token); err != nil {
		return nil, err
	}
	status, body, err := c.post(ctx, hc, endpoint, clientID, clientSecret, tokenForm(token, hint))
	if err != nil {
		return nil, err
	}
	var ir struct {
		Introspection
		errorBody
		// Active shadows Introspection.Active, being less deeply nested,
		// so that a missing member can be told from false.
		Active *bool `json:"active"`
	}
	if err := json.Unmarshal(body, &ir); err != nil {
		return nil, fmt.Errorf("tokenexchange: Introspect: decode response: %w", err)
	}
	if ir.Error != "" {
		return nil, c.retrieveError(status, body, ir.errorBody)
	}
	if ir.Active == nil {
		return nil, errNoActive
	}
	if !*ir.Active {
		return &Introspection{}, nil
	}
	in := ir.Introspection
	in.Active = true
	return &in, nil
}

// errNoActive is returned for an introspection response without active.
var errNoActive = errors.New("tokenexchange: Introspect: response lacks active")

// Revoke asks the revocation endpoint at the URL endpoint (RFC 7009 §2.1,
// https://www.rfc-editor.org/rfc/rfc7009#section-2.1) to revoke token with
// hc. hint, if not empty, is sent as token_type_hint:
// [TokenTypeHintAccessToken], [TokenTypeHintRefreshToken] or another value
// the server knows. The client authenticates with client_secret_basic,
// form-encoding clientID and clientSecret as [Exchange] does.
//
// Any 2xx status is success and its body is ignored (RFC 7009 §2.2); the
// server answers 200 for an invalid or unknown token too. A non-2xx status
// is returned as a [*RetrieveError] carrying the error members of the body
// (of which at most 1 MiB is read), such as unsupported_token_type: test it
// with errors.Is(err, [ErrUnsupportedTokenType]).
//
// hc is required: Revoke never falls back to [http.DefaultClient]. Give hc a
// timeout or ctx a deadline.
func Revoke(ctx context.Context, hc *http.Client, endpoint, clientID, clientSecret, token, hint string) error {
	c := call{op: "Revoke", endpoint: "revocation"}
	if err := c.checkArgs(hc, endpoint, clientID, token); err != nil {
		return err
	}
	_, _, err := c.post(ctx, hc, endpoint, clientID, clientSecret, tokenForm(token, hint))
	if errors.Is(err, errResponseTooLarge) {
		return nil // the body of a 2xx response does not matter
	}
	return err
}

// tokenForm returns the body of an introspection or revocation request.
func tokenForm(token, hint string) url.Values {
	v := url.Values{paramToken: {token}}
	if hint != "" {
		v.Set(paramTokenTypeHint, hint)
	}
	return v
}

// call is one client request: the steps [Exchange], [Introspect] and
// [Revoke] share.
type call struct {
	// op is the exported function, named in error messages.
	op string
	// endpoint names the endpoint in a [RetrieveError]: "introspection"
	// or "revocation"; empty means the token endpoint.
	endpoint string
}

// checkArgs checks the arguments of [Introspect] and [Revoke].
func (c call) checkArgs(hc *http.Client, endpointURL, clientID, token string) error {
	switch {
	case hc == nil:
		return errors.New("tokenexchange: " + c.op + ": nil *http.Client")
	case endpointURL == "":
		return errors.New("tokenexchange: " + c.op + ": empty endpoint URL")
	case clientID == "":
		return errors.New("tokenexchange: " + c.op + ": empty client ID")
	case token == "":
		return errors.New("tokenexchange: " + c.op + ": empty token")
	}
	return nil
}

// post sends form to endpointURL with POST and client_secret_basic (RFC
// 6749 §2.3.1) and reads at most maxResponseBytes of the response. A
// non-2xx status is returned as a [*RetrieveError] with the members of an
// RFC 6749 §5.2 body, when it was one. A 2xx status is returned with its
// body, or with an error wrapping errResponseTooLarge when the body is over
// the cap.
func (c call) post(ctx context.Context, hc *http.Client, endpointURL, clientID, clientSecret string, form url.Values) (status int, body []byte, err error) {
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, endpointURL, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, nil, fmt.Errorf("tokenexchange: %s: %w", c.op, err)
	}
	hreq.Header.Set("Content-Type", formContentType)
	hreq.Header.Set("Accept", "application/json")
	hreq.Header.Set("Authorization", basicAuthorization(clientID, clientSecret))

	hresp, err := hc.Do(hreq)
	if err != nil {
		return 0, nil, fmt.Errorf("tokenexchange: %s: %w", c.op, err)
	}
	defer hresp.Body.Close()
	body, err = io.ReadAll(io.LimitReader(hresp.Body, maxResponseBytes+1))
	if err != nil {
		return 0, nil, fmt.Errorf("tokenexchange: %s: read response: %w", c.op, err)
	}
	tooLarge := len(body) > maxResponseBytes

	if hresp.StatusCode < 200 || hresp.StatusCode > 299 {
		var eb errorBody
		if tooLarge || json.Unmarshal(body, &eb) != nil {
			eb = errorBody{} // not an OAuth error body: no members
		}
		return 0, nil, c.retrieveError(hresp.StatusCode, body, eb)
	}
	if tooLarge {
		return 0, nil, fmt.Errorf("tokenexchange: %s: %w", c.op, errResponseTooLarge)
	}
	return hresp.StatusCode, body, nil
}

// retrieveError returns the [*RetrieveError] for a response with status,
// body and, if it was an OAuth error, its members eb.
func (c call) retrieveError(status int, body []byte, eb errorBody) *RetrieveError {
	return &RetrieveError{
		StatusCode:       status,
		ErrorCode:        eb.Error,
		ErrorDescription: eb.ErrorDescription,
		ErrorURI:         eb.ErrorURI,
		Body:             capBody(body),
		endpoint:         c.endpoint,
	}
}

// basicAuthorization returns the Authorization header value for
// client_secret_basic (RFC 6749 §2.3.1): id and secret form-encoded, joined
// by a colon, then base64 (RFC 7617).
func basicAuthorization(id, secret string) string {
	creds := url.QueryEscape(id) + ":" + url.QueryEscape(secret)
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(creds))
}

// capBody returns a copy of at most the first maxRetrieveErrorBody bytes of b.
func capBody(b []byte) []byte {
	if len(b) > maxRetrieveErrorBody {
		b = b[:maxRetrieveErrorBody]
	}
	return append([]byte(nil), b...)
}
