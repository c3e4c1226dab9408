package smtpnotify_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"io"
	"mime"
	"mime/multipart"
	netmail "net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/actas/actas/store"
)

// testFrom is the notifier's From address in the tests.
const testFrom = "ACME ID <no-reply@id.acme.example>"

// testAccountURL is where the notices send the user.
const testAccountURL = "https://id.acme.example/account"

// start is the impersonation start of testNotice: 14:03:07 UTC on
// Tuesday 10 March 2026.
var start = time.Date(2026, 3, 10, 14, 3, 7, 0, time.UTC)

// testNotice is what the service passes for alice impersonating bob.
func testNotice() store.Notice {
	return store.Notice{
		UserID: "bob", UserName: "Bob Buyer", Email: "bob@acme.example",
		ImpersonatorID: "alice", ImpersonatorName: "Alice Admin",
		ClientID: "demo-app", ClientName: "Demo Shop",
		Org: "acme-eu", OrgName: "ACME Europe",
		Reason: "TICKET-4711: checkout fails",
		Time:   start,
	}
}

// clock is a test clock; tests move it, never sleep.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock(t time.Time) *clock { return &clock{now: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// mailMessage is a received message taken apart.
type mailMessage struct {
	header *netmail.Header
	// rawHeader is the header block as received, for injection checks.
	rawHeader string
	// contentType is the top-level media type, with its parameters.
	contentType string
	text, html  string
	partTypes   []string
}

// parseMail parses a received message: the headers, and the text and HTML
// parts of its multipart/alternative body, transfer-decoded.
func parseMail(t testing.TB, data []byte) mailMessage {
	t.Helper()
	head, _, ok := bytes.Cut(data, []byte("\r\n\r\n"))
	require.True(t, ok, "a header block ends with an empty line")
	m, err := netmail.ReadMessage(bytes.NewReader(data))
	require.NoError(t, err)
	out := mailMessage{header: &m.Header, rawHeader: string(head)}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	require.NoError(t, err)
	out.contentType = mt
	require.Equal(t, "multipart/alternative", mt, "a text and an HTML alternative")
	r := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		pt, pparams, err := mime.ParseMediaType(p.Header.Get("Content-Type"))
		require.NoError(t, err)
		require.Equal(t, "utf-8", strings.ToLower(pparams["charset"]))
		body, err := io.ReadAll(p) // multipart decodes quoted-printable
		require.NoError(t, err)
		out.partTypes = append(out.partTypes, pt)
		switch pt {
		case "text/plain":
			out.text = string(body)
		case "text/html":
			out.html = string(body)
		}
	}
	return out
}

// decodedSubject is the Subject header, RFC 2047 decoded.
func (m mailMessage) decodedSubject(t testing.TB) string {
	t.Helper()
	s, err := new(mime.WordDecoder).DecodeHeader(m.header.Get("Subject"))
	require.NoError(t, err)
	return s
}

// clientTLS trusts pool only.
func clientTLS(pool *x509.CertPool) *tls.Config {
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}
