package main

import (
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	netmail "net/mail"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/internal/testkit"
	"github.com/actas/actas/notify/smtpnotify"
	"github.com/actas/actas/notify/smtpnotify/smtptest"
	"github.com/actas/actas/store"
)

// TestSMTPNotices: with -smtp, an impersonation start sends the user one
// email through a real SMTP server on loopback, from -smtp-from, linking
// the account page; the log says it went by smtp and the banner names the
// server without its password.
func TestSMTPNotices(t *testing.T) {
	srv := smtptest.NewServer(t, smtptest.Config{User: "notices", Password: "s3cret"})
	cfg, err := parseFlags([]string{"-smtp", srv.URL(), "-smtp-from", "ACME ID <id@acme.example>"}, io.Discard)
	require.NoError(t, err)
	f := newFixture(t, func(c *config) { c.SMTP, c.SMTPFrom = cfg.SMTP, cfg.SMTPFrom })
	assert.Contains(t, f.stdout.String(), "notices: by email through smtp://notices:xxxxx@"+srv.Addr()+"?starttls=none from ACME ID <id@acme.example>, linking "+f.issuer+"/account\n")
	assert.NotContains(t, f.stdout.String(), "s3cret")

	b := f.browser(t)
	b.login("alice", "alice-demo-password")
	v := b.cliAuthorize("bob", "fragment")
	require.NotEmpty(t, v.Get("subject_token"))

	msgs := srv.Messages()
	require.Len(t, msgs, 1, "one start, one mail")
	assert.Equal(t, "id@acme.example", msgs[0].From)
	assert.Equal(t, []string{"bob@acme.example"}, msgs[0].To, "the user's email of the data")
	assert.Equal(t, "notices", msgs[0].AuthUser)
	m, err := netmail.ReadMessage(bytes.NewReader(msgs[0].Data))
	require.NoError(t, err)
	subject, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	require.NoError(t, err)
	assert.Equal(t, "alice acted as you in cli", subject)
	text := strings.ReplaceAll(textPart(t, m), "\r\n", "\n")
	assert.Contains(t, text, "alice started acting as you in\ncli (ACME Europe)")
	assert.Contains(t, text, f.issuer+"/account")
	assert.Len(t, f.s.dir.db.Notices(), 1)
	assert.Contains(t, f.stderr.String(), `"msg":"notice","by":"smtp","user":"bob"`)
	assert.NotContains(t, f.eventTypes(), string(store.EventNotificationFailed))
}

// TestSMTPNotices_FailingServer: a mail server that refuses or does not
// answer leaves an impersonation.notification_failed event; the
// impersonation goes on.
func TestSMTPNotices_FailingServer(t *testing.T) {
	for _, tc := range []struct {
		name   string
		url    func(t *testing.T) string
		hangs  bool
		reason string
	}{
		{"refuses the recipient", func(t *testing.T) string {
			return smtptest.NewServer(t, smtptest.Config{RejectRecipients: true}).URL()
		}, false, "550"},
		{"never answers", func(t *testing.T) string {
			return "smtp://" + smtptest.NewHangingServer(t) + "?starttls=none"
		}, true, smtpnotify.ErrTimeout.Error()},
		{"is not there", func(t *testing.T) string {
			return "smtp://" + smtptest.ClosedAddr(t) + "?starttls=none"
		}, false, "connection refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := tc.url(t)
			f := newFixture(t, func(c *config) {
				c.SMTP = u
				if tc.hangs {
					c.SMTPOptions = []smtpnotify.Option{smtpnotify.WithTimeout(300 * time.Millisecond)}
				}
			})
			b := f.browser(t)
			b.login("alice", "alice-demo-password")
			v := b.cliAuthorize("bob", "fragment")
			require.NotEmpty(t, v.Get("subject_token"), "a failing mail server never fails the impersonation")
			status, _ := f.exchange(t, v.Get("subject_token"), v.Get("id_token"), nil)
			assert.Equal(t, 200, status, "and the subject token is good")

			var failed []store.Event
			for _, e := range f.s.dir.db.Events() {
				if e.Type == store.EventNotificationFailed {
					failed = append(failed, e)
				}
			}
			require.Len(t, failed, 1)
			assert.Equal(t, "bob", failed[0].Subject)
			assert.Contains(t, failed[0].Reason, tc.reason)
			assert.NotContains(t, f.stderr.String(), `"msg":"notice"`, "no notice line: it was not sent")
		})
	}
}

// TestSMTPNotices_WithoutSMTPTheLogStandsIn: the default is as before, a
// log line per notice and nothing in the banner.
func TestSMTPNotices_WithoutSMTPTheLogStandsIn(t *testing.T) {
	f := newFixture(t)
	assert.NotContains(t, f.stdout.String(), "notices:")
	b := f.browser(t)
	b.login("alice", "alice-demo-password")
	b.cliAuthorize("bob", "fragment")
	assert.Contains(t, f.stderr.String(), `"msg":"notice","by":"log","user":"bob","impersonator":"alice","client_id":"cli"`)
	assert.Len(t, f.s.dir.db.Notices(), 1)
}

// TestSMTPFlags: -smtp-from needs -smtp; a bad -smtp URL stops the server
// at start without showing its password.
func TestSMTPFlags(t *testing.T) {
	var stderr testkit.SyncBuffer
	_, err := parseFlags([]string{"-smtp-from", "a@example.com"}, &stderr)
	require.Error(t, err)
	assert.Contains(t, stderr.String(), "-smtp-from needs -smtp")

	for _, tc := range []struct{ url, want string }{
		{"http://mail.example.com", "smtp or smtps"},
		{"smtp://u:s3cret@mail.example.com?starttls=none", "password in clear"},
		{"smtp://mail.example.com?starttls=maybe", "starttls"},
	} {
		t.Run(tc.url, func(t *testing.T) {
			_, _, err := newServer(config{Addr: "127.0.0.1:0", Issuer: "http://127.0.0.1:8080", PasswordIterations: testPasswordIterations, SMTP: tc.url}, io.Discard, io.Discard)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "-smtp: ")
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, err.Error(), "s3cret")
		})
	}
	_, _, err = newServer(config{Addr: "127.0.0.1:0", Issuer: "http://127.0.0.1:8080", PasswordIterations: testPasswordIterations,
		SMTP: "smtp://127.0.0.1:2525?starttls=none", SMTPFrom: "not an address"}, io.Discard, io.Discard)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "from address")
}

// textPart is the text/plain alternative of m, transfer-decoded.
func textPart(t *testing.T, m *netmail.Message) string {
	t.Helper()
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	require.NoError(t, err)
	require.Equal(t, "multipart/alternative", mt)
	r := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := r.NextPart()
		require.NoError(t, err, "a text/plain part")
		if strings.HasPrefix(p.Header.Get("Content-Type"), "text/plain") {
			b, err := io.ReadAll(p)
			require.NoError(t, err)
			return string(b)
		}
	}
}

// TestSMTPNotices_RecipientLimit: however many starts the start limit
// lets through, one user gets at most smtpnotify.DefaultRecipientLimit
// mails an hour; the ones over it are audited, not sent.
func TestSMTPNotices_RecipientLimit(t *testing.T) {
	srv := smtptest.NewServer(t, smtptest.Config{})
	f := newFixture(t, func(c *config) { c.SMTP, c.StartLimit = srv.URL(), 100 })
	b := f.browser(t)
	b.login("alice", "alice-demo-password")
	for range smtpnotify.DefaultRecipientLimit + 2 {
		require.NotEmpty(t, b.cliAuthorize("bob", "fragment").Get("subject_token"), "every start is granted")
	}
	assert.Len(t, srv.Messages(), smtpnotify.DefaultRecipientLimit, "bob's inbox is not flooded")
	var dropped int
	for _, e := range f.s.dir.db.Events() {
		if e.Type == store.EventNotificationFailed {
			dropped++
			assert.Equal(t, smtpnotify.ErrRecipientLimit.Error(), e.Reason)
		}
	}
	assert.Equal(t, 2, dropped, "each dropped notice is audited")
}
