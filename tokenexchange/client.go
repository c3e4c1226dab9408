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

// maxResponseBytes caps how much of a token response [Exchange] reads.
const maxResponseBytes = 1 << 20

// maxRetrieveErrorBody caps [RetrieveError.Body].
const maxRetrieveErrorBody = 64 << 10

// RetrieveError is the error [Exchange] returns when the token endpoint
// refuses the request: a non-2xx status, or a 2xx response with an error
// member. ErrorCode, ErrorDescription and ErrorURI are the error,
// error_description and error_uri members of the RFC 6749 §5.2
// (https://www.rfc-editor.org/rfc/rfc6749#section-5.2) body when it had them.
type RetrieveError struct {
	// StatusCode is the HTTP status of the response.
	StatusCode int
	// ErrorCode is the error member, such as [CodeInvalidGrant]; empty if
	// the body was not an OAuth error.
	ErrorCode string
	// ErrorDescription is the error_description member.
	ErrorDescription string
	// ErrorURI is the error_uri member.
	ErrorURI string
	// Body is the response body, at most its first 64 KiB.
	Body []byte
}

// Error describes the status and the OAuth error, quoted. It does not
// include Body.
func (e *RetrieveError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "tokenexchange: token endpoint returned status %d", e.StatusCode)
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
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, tokenURL, strings.NewReader(req.Values().Encode()))
	if err != nil {
		return nil, fmt.Errorf("tokenexchange: Exchange: %w", err)
	}
	hreq.Header.Set("Content-Type", formContentType)
	hreq.Header.Set("Accept", "application/json")
	hreq.Header.Set("Authorization", basicAuthorization(clientID, clientSecret))

	hresp, err := hc.Do(hreq)
	if err != nil {
		return nil, fmt.Errorf("tokenexchange: Exchange: %w", err)
	}
	defer hresp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(hresp.Body, maxResponseBytes+1))
	if err != nil {
		return nil, fmt.Errorf("tokenexchange: Exchange: read response: %w", err)
	}
	tooLarge := len(body) > maxResponseBytes

	if hresp.StatusCode < 200 || hresp.StatusCode > 299 {
		re := &RetrieveError{StatusCode: hresp.StatusCode, Body: capBody(body)}
		var eb errorBody
		if !tooLarge && json.Unmarshal(body, &eb) == nil {
			re.ErrorCode, re.ErrorDescription, re.ErrorURI = eb.Error, eb.ErrorDescription, eb.ErrorURI
		}
		return nil, re
	}
	if tooLarge {
		return nil, fmt.Errorf("tokenexchange: Exchange: response larger than %d bytes", maxResponseBytes)
	}
	var tr struct {
		Response
		errorBody
	}
	if err := json.Unmarshal(body, &tr); err != nil {
		return nil, fmt.Errorf("tokenexchange: Exchange: decode response: %w", err)
	}
	if tr.Error != "" {
		return nil, &RetrieveError{
			StatusCode:       hresp.StatusCode,
			ErrorCode:        tr.Error,
			ErrorDescription: tr.ErrorDescription,
			ErrorURI:         tr.ErrorURI,
			Body:             capBody(body),
		}
	}
	resp := tr.Response
	if err := resp.check(); err != nil {
		return nil, err
	}
	return &resp, nil
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
