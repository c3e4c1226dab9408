package smtpnotify_test

import (
	"context"
	"errors"
	htmltemplate "html/template"
	netmail "net/mail"
	"regexp"
	"strings"
	"syscall"
	"testing"
	texttemplate "text/template"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/notify/smtpnotify"
	"github.com/actas/actas/notify/smtpnotify/smtptest"
	"github.com/actas/actas/store"
	"github.com/actas/actas/store/memory"
)

// newNotifier is a notifier of srv's URL with the test From, account URL
// and clock, and opts.
func newNotifier(t testing.TB, rawURL string, opts ...smtpnotify.Option) *smtpnotify.Notifier {
	t.Helper()
	n, err := smtpnotify.New(rawURL, testFrom, append([]smtpnotify.Option{
		smtpnotify.WithAccountURL(testAccountURL),
		smtpnotify.WithClock(newClock(start.Add(2 * time.Second)).Now),
	}, opts...)...)
	require.NoError(t, err)
	return n
}

// TestNotify_DeliversTheNotice: the message arrives at a real SMTP server
// with the right envelope, headers and both alternatives saying who, when,
// in which application, why, and where to see or end it.
func TestNotify_DeliversTheNotice(t *testing.T) {
	t.Parallel()
	srv := smtptest.NewServer(t, smtptest.Config{})
	n := newNotifier(t, srv.URL())
	require.NoError(t, n.Notify(context.Background(), testNotice()))

	msgs := srv.Messages()
	require.Len(t, msgs, 1, "one notice, one message")
	got := msgs[0]
	assert.Equal(t, "no-reply@id.acme.example", got.From, "MAIL FROM")
	assert.Equal(t, []string{"bob@acme.example"}, got.To, "RCPT TO: the user, and only the user")

	m := parseMail(t, got.Data)
	from, err := m.header.AddressList("From")
	require.NoError(t, err)
	assert.Equal(t, []string{`"ACME ID" <no-reply@id.acme.example>`}, addrs(from))
	to, err := m.header.AddressList("To")
	require.NoError(t, err)
	assert.Equal(t, []string{`"Bob Buyer" <bob@acme.example>`}, addrs(to))
	assert.Empty(t, m.header.Get("Cc"))
	assert.Empty(t, m.header.Get("Bcc"))
	assert.Equal(t, "Alice Admin acted as you in Demo Shop", m.decodedSubject(t))
	date, err := m.header.Date()
	require.NoError(t, err)
	assert.True(t, start.Add(2*time.Second).Equal(date), "Date is the notifier's clock: %v", date)
	assert.Regexp(t, `^<actas\.[0-9a-f]{32}@id\.acme\.example>$`, m.header.Get("Message-Id"))
	assert.Equal(t, "auto-generated", m.header.Get("Auto-Submitted"), "RFC 3834: no auto-replies")
	assert.Equal(t, "1.0", m.header.Get("Mime-Version"))
	assert.Empty(t, m.header.Get("User-Agent"), "no library fingerprint")
	assert.Empty(t, m.header.Get("X-Mailer"))
	assert.Equal(t, []string{"text/plain", "text/html"}, m.partTypes, "text first: the HTML is preferred where shown")

	for name, body := range map[string]string{"text": m.text, "html": m.html} {
		for what, want := range map[string]string{
			"who":          "Alice Admin",
			"who (ID)":     "(alice)",
			"whom":         "Bob Buyer",
			"when":         "Tuesday, 10 March 2026 at 14:03:07 UTC",
			"application":  "Demo Shop",
			"organisation": "ACME Europe",
			"reason":       "TICKET-4711: checkout fails",
			"account URL":  testAccountURL,
		} {
			assert.Contains(t, body, want, "%s part says %s", name, what)
		}
	}
	assert.Contains(t, m.html, `<a href="`+testAccountURL+`">`)
	assert.Contains(t, m.html, `datetime="2026-03-10T14:03:07Z"`)
}

func addrs(l []*netmail.Address) []string {
	out := make([]string, len(l))
	for i, a := range l {
		out[i] = a.String()
	}
	return out
}

// TestNotify_TransportSecurity: smtp:// requires STARTTLS with a verified
// certificate and sends nothing otherwise; smtps:// is TLS from the first
// byte; AUTH works over either, and over cleartext to loopback.
func TestNotify_TransportSecurity(t *testing.T) {
	t.Parallel()
	serverTLS, pool := smtptest.Certificate(t)
	_, otherPool := smtptest.Certificate(t)
	for _, tc := range []struct {
		name    string
		cfg     smtptest.Config
		url     func(*smtptest.Server) string
		opts    []smtpnotify.Option
		wantErr string
		// wantTLS and wantAuth describe the delivered message.
		wantTLS  bool
		wantAuth string
	}{
		{name: "STARTTLS, verified", cfg: smtptest.Config{TLS: serverTLS},
			opts: []smtpnotify.Option{smtpnotify.WithTLSConfig(clientTLS(pool))}, wantTLS: true},
		{name: "STARTTLS required: a server without it gets nothing", cfg: smtptest.Config{},
			url:     func(s *smtptest.Server) string { return "smtp://" + s.Addr() },
			wantErr: "STARTTLS"},
		{name: "STARTTLS with a certificate that does not verify: nothing sent", cfg: smtptest.Config{TLS: serverTLS},
			opts: []smtpnotify.Option{smtpnotify.WithTLSConfig(clientTLS(otherPool))}, wantErr: "certificate"},
		{name: "STARTTLS against the system roots: a self-signed certificate does not verify", cfg: smtptest.Config{TLS: serverTLS},
			wantErr: "certificate"},
		{name: "implicit TLS", cfg: smtptest.Config{TLS: serverTLS, Implicit: true},
			opts: []smtpnotify.Option{smtpnotify.WithTLSConfig(clientTLS(pool))}, wantTLS: true},
		{name: "implicit TLS with a certificate that does not verify", cfg: smtptest.Config{TLS: serverTLS, Implicit: true},
			opts: []smtpnotify.Option{smtpnotify.WithTLSConfig(clientTLS(otherPool))}, wantErr: "certificate"},
		{name: "AUTH PLAIN over STARTTLS", cfg: smtptest.Config{TLS: serverTLS, User: "notices", Password: "s3cret"},
			opts: []smtpnotify.Option{smtpnotify.WithTLSConfig(clientTLS(pool))}, wantTLS: true, wantAuth: "notices"},
		{name: "AUTH PLAIN over implicit TLS", cfg: smtptest.Config{TLS: serverTLS, Implicit: true, User: "notices", Password: "s3cret"},
			opts: []smtpnotify.Option{smtpnotify.WithTLSConfig(clientTLS(pool))}, wantTLS: true, wantAuth: "notices"},
		{name: "AUTH PLAIN in cleartext to loopback", cfg: smtptest.Config{User: "notices", Password: "s3cret"},
			wantAuth: "notices"},
		{name: "a wrong password: refused, nothing sent", cfg: smtptest.Config{TLS: serverTLS, User: "notices", Password: "s3cret"},
			url: func(s *smtptest.Server) string {
				return "smtp://notices:wrong@" + s.Addr()
			},
			opts: []smtpnotify.Option{smtpnotify.WithTLSConfig(clientTLS(pool))}, wantErr: "535"},
		{name: "a server that wants AUTH, none configured: refused", cfg: smtptest.Config{User: "notices", Password: "s3cret"},
			url:     func(s *smtptest.Server) string { return "smtp://" + s.Addr() + "?starttls=none" },
			wantErr: "authenticate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := smtptest.NewServer(t, tc.cfg)
			u := srv.URL()
			if tc.url != nil {
				u = tc.url(srv)
			}
			err := newNotifier(t, u, tc.opts...).Notify(context.Background(), testNotice())
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				assert.NotContains(t, err.Error(), "s3cret")
				assert.Empty(t, srv.Messages(), "nothing delivered")
				return
			}
			require.NoError(t, err)
			msgs := srv.Messages()
			require.Len(t, msgs, 1)
			assert.Equal(t, tc.wantTLS, msgs[0].TLS, "encrypted")
			assert.Equal(t, tc.wantAuth, msgs[0].AuthUser, "authenticated as")
			assert.Equal(t, []string{"bob@acme.example"}, msgs[0].To)
		})
	}
}

// TestNotify_Failures: a server that refuses, hangs or is not there, and a
// user who cannot be written to, make Notify return an error (which the
// service audits) within the timeout.
func TestNotify_Failures(t *testing.T) {
	t.Parallel()
	// hangTimeout ends the cases against a server that never answers;
	// the others keep the default, so that a slow machine cannot turn a
	// refusal into a timeout.
	const hangTimeout = 300 * time.Millisecond
	for _, tc := range []struct {
		name   string
		url    func(t *testing.T) (string, *smtptest.Server)
		notice func(*store.Notice)
		hangs  bool
		check  func(t *testing.T, err error)
	}{
		{
			name: "the server refuses the recipient (550)",
			url: func(t *testing.T) (string, *smtptest.Server) {
				s := smtptest.NewServer(t, smtptest.Config{RejectRecipients: true})
				return s.URL(), s
			},
			check: func(t *testing.T, err error) { assert.Contains(t, err.Error(), "550") },
		},
		{
			name: "the server accepts the connection and never greets",
			url: func(t *testing.T) (string, *smtptest.Server) {
				return "smtp://" + smtptest.NewHangingServer(t) + "?starttls=none", nil
			},
			hangs: true,
			check: func(t *testing.T, err error) {
				assert.ErrorIs(t, err, smtpnotify.ErrTimeout, "the timeout ended it: %v", err)
			},
		},
		{
			name: "the server hangs, STARTTLS mode",
			url: func(t *testing.T) (string, *smtptest.Server) {
				return "smtp://" + smtptest.NewHangingServer(t), nil
			},
			hangs: true,
			check: func(t *testing.T, err error) { assert.ErrorIs(t, err, smtpnotify.ErrTimeout) },
		},
		{
			name: "the server hangs in the TLS handshake (smtps)",
			url: func(t *testing.T) (string, *smtptest.Server) {
				return "smtps://" + smtptest.NewHangingServer(t), nil
			},
			hangs: true,
			check: func(t *testing.T, err error) { assert.ErrorIs(t, err, smtpnotify.ErrTimeout) },
		},
		{
			name: "nothing listens: connection refused",
			url: func(t *testing.T) (string, *smtptest.Server) {
				return "smtp://" + smtptest.ClosedAddr(t) + "?starttls=none", nil
			},
			check: func(t *testing.T, err error) { assert.ErrorIs(t, err, syscall.ECONNREFUSED) },
		},
		{
			name: "the user has no address: nothing is sent",
			url: func(t *testing.T) (string, *smtptest.Server) {
				s := smtptest.NewServer(t, smtptest.Config{})
				return s.URL(), s
			},
			notice: func(n *store.Notice) { n.Email = "" },
			check:  func(t *testing.T, err error) { assert.ErrorIs(t, err, smtpnotify.ErrNoAddress) },
		},
		{
			name: "the user's address is not an address",
			url: func(t *testing.T) (string, *smtptest.Server) {
				s := smtptest.NewServer(t, smtptest.Config{})
				return s.URL(), s
			},
			notice: func(n *store.Notice) { n.Email = "bob" },
			check:  func(t *testing.T, err error) { assert.ErrorIs(t, err, smtpnotify.ErrBadAddress) },
		},
		{
			name: "an address with a second recipient smuggled in",
			url: func(t *testing.T) (string, *smtptest.Server) {
				s := smtptest.NewServer(t, smtptest.Config{})
				return s.URL(), s
			},
			notice: func(n *store.Notice) { n.Email = "bob@acme.example, mallory@evil.example" },
			check:  func(t *testing.T, err error) { assert.ErrorIs(t, err, smtpnotify.ErrBadAddress) },
		},
		{
			name: "an address with a display name is not what the store holds",
			url: func(t *testing.T) (string, *smtptest.Server) {
				s := smtptest.NewServer(t, smtptest.Config{})
				return s.URL(), s
			},
			notice: func(n *store.Notice) { n.Email = "Mallory <mallory@evil.example>" },
			check:  func(t *testing.T, err error) { assert.ErrorIs(t, err, smtpnotify.ErrBadAddress) },
		},
		{
			name: "an address with CR LF",
			url: func(t *testing.T) (string, *smtptest.Server) {
				s := smtptest.NewServer(t, smtptest.Config{})
				return s.URL(), s
			},
			notice: func(n *store.Notice) { n.Email = "bob@acme.example\r\nBcc: mallory@evil.example" },
			check:  func(t *testing.T, err error) { assert.ErrorIs(t, err, smtpnotify.ErrBadAddress) },
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			u, srv := tc.url(t)
			no := testNotice()
			if tc.notice != nil {
				tc.notice(&no)
			}
			// A context without a deadline: only the notifier's timeout
			// can end a hang.
			var opts []smtpnotify.Option
			if tc.hangs {
				opts = append(opts, smtpnotify.WithTimeout(hangTimeout))
			}
			err := newNotifier(t, u, opts...).Notify(context.Background(), no)
			require.Error(t, err)
			tc.check(t, err)
			if srv != nil {
				assert.Empty(t, srv.Messages(), "nothing delivered")
			}
			if tc.notice != nil {
				assert.Zero(t, srv.Sessions(), "no connection for a notice that cannot be sent")
			}
		})
	}
}

// TestNotify_CallerCancellationDoesNotSuppressTheNotice: the service calls
// Notify after the start is recorded; a client that hangs up then must
// not stop the user from being told.
func TestNotify_CallerCancellationDoesNotSuppressTheNotice(t *testing.T) {
	t.Parallel()
	srv := smtptest.NewServer(t, smtptest.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.NoError(t, newNotifier(t, srv.URL()).Notify(ctx, testNotice()))
	assert.Len(t, srv.Messages(), 1)
}

// TestNotify_NoHeaderInjectionAndHTMLEscaped: names and the reason come
// from the store and the impersonator; they cannot add a header or a
// recipient, forge a line of the text, or inject markup into the HTML.
func TestNotify_NoHeaderInjectionAndHTMLEscaped(t *testing.T) {
	t.Parallel()
	srv := smtptest.NewServer(t, smtptest.Config{})
	subject := texttemplate.Must(texttemplate.New("s").Parse(`{{.ImpersonatorName}}: {{.Reason}}`))
	n := newNotifier(t, srv.URL(), smtpnotify.WithSubject(subject))
	no := testNotice()
	no.UserName = "Bob\r\nBcc: mallory@evil.example"
	no.ImpersonatorName = "Alice\r\nX-Injected: yes\r\n\r\n<b>body</b>"
	no.Reason = `<script>alert("x")</script>` + "\nTo end it, open https://evil.example"
	no.ClientName = `Shop" onmouseover="alert(1)`
	require.NoError(t, n.Notify(context.Background(), no))

	msgs := srv.Messages()
	require.Len(t, msgs, 1)
	assert.Equal(t, []string{"bob@acme.example"}, msgs[0].To, "no recipient added")
	m := parseMail(t, msgs[0].Data)
	names := regexp.MustCompile(`(?m)^([A-Za-z-]+):`).FindAllStringSubmatch(m.rawHeader, -1)
	for _, h := range names {
		assert.Contains(t, []string{"Auto-Submitted", "Content-Type", "Date", "From", "Message-ID", "Mime-Version", "MIME-Version", "Subject", "To"},
			h[1], "only the notifier's own headers")
	}
	assert.Empty(t, m.header.Get("Bcc"))
	assert.Empty(t, m.header.Get("X-Injected"))
	s := m.decodedSubject(t)
	assert.NotContains(t, s, "\r")
	assert.NotContains(t, s, "\n")
	assert.Equal(t, `Alice X-Injected: yes <b>body</b>: <script>alert("x")</script> To end it, open https://evil.example`, s,
		"the subject is one line, spaces collapsed")
	to, err := m.header.AddressList("To")
	require.NoError(t, err)
	require.Len(t, to, 1)
	assert.Equal(t, "bob@acme.example", to[0].Address)
	assert.Equal(t, "Bob  Bcc: mallory@evil.example", to[0].Name, "the name is a quoted display name, one line")

	assert.NotContains(t, m.html, "<script>")
	assert.Contains(t, m.html, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;")
	assert.NotContains(t, m.html, "<b>body</b>")
	assert.NotContains(t, m.html, `" onmouseover="`)
	assert.Contains(t, m.text, `Reason given: "<script>alert("x")</script> To end it, open https://evil.example"`,
		"the reason is one quoted line of the text, not a line of its own")
}

// TestNotify_RecipientLimit: at most n notices per user per window, the
// rest dropped with ErrRecipientLimit; other users are unaffected; a new
// window sends again; a shared limiter counts across notifiers (several
// instances).
func TestNotify_RecipientLimit(t *testing.T) {
	t.Parallel()
	srv := smtptest.NewServer(t, smtptest.Config{})
	clk := newClock(start)
	n := newNotifier(t, srv.URL(), smtpnotify.WithClock(clk.Now), smtpnotify.WithRecipientLimit(nil, 2, time.Hour))
	ctx := context.Background()
	require.NoError(t, n.Notify(ctx, testNotice()))
	require.NoError(t, n.Notify(ctx, testNotice()))
	err := n.Notify(ctx, testNotice())
	require.ErrorIs(t, err, smtpnotify.ErrRecipientLimit)
	assert.Len(t, srv.Messages(), 2, "the third is not sent")
	assert.Equal(t, 2, srv.Sessions(), "not even a connection")

	carol := testNotice()
	carol.UserID, carol.Email = "carol", "carol@acme.example"
	require.NoError(t, n.Notify(ctx, carol), "another user has a count of their own")
	upper := testNotice()
	upper.Email = "BOB@acme.example"
	require.ErrorIs(t, n.Notify(ctx, upper), smtpnotify.ErrRecipientLimit, "the address is counted without regard to case")

	clk.Advance(time.Hour)
	require.NoError(t, n.Notify(ctx, testNotice()), "a new window")
	assert.Len(t, srv.Messages(), 4)

	t.Run("shared across instances", func(t *testing.T) {
		t.Parallel()
		srv := smtptest.NewServer(t, smtptest.Config{})
		shared := memory.New(memory.WithClock(newClock(start).Now))
		a := newNotifier(t, srv.URL(), smtpnotify.WithRecipientLimit(shared, 1, time.Hour))
		b := newNotifier(t, srv.URL(), smtpnotify.WithRecipientLimit(shared, 1, time.Hour))
		require.NoError(t, a.Notify(ctx, testNotice()))
		require.ErrorIs(t, b.Notify(ctx, testNotice()), smtpnotify.ErrRecipientLimit)
		assert.Len(t, srv.Messages(), 1)
	})
	t.Run("a failing limiter lets the notice through", func(t *testing.T) {
		t.Parallel()
		srv := smtptest.NewServer(t, smtptest.Config{})
		n := newNotifier(t, srv.URL(), smtpnotify.WithRecipientLimit(failingLimiter{}, 1, time.Hour))
		require.NoError(t, n.Notify(ctx, testNotice()))
		require.NoError(t, n.Notify(ctx, testNotice()))
		assert.Len(t, srv.Messages(), 2)
	})
	t.Run("n 0 turns it off", func(t *testing.T) {
		t.Parallel()
		srv := smtptest.NewServer(t, smtptest.Config{})
		n := newNotifier(t, srv.URL(), smtpnotify.WithRecipientLimit(nil, 0, 0))
		for range smtpnotify.DefaultRecipientLimit + 1 {
			require.NoError(t, n.Notify(ctx, testNotice()))
		}
		assert.Len(t, srv.Messages(), smtpnotify.DefaultRecipientLimit+1)
	})
	t.Run("the default", func(t *testing.T) {
		t.Parallel()
		srv := smtptest.NewServer(t, smtptest.Config{})
		n := newNotifier(t, srv.URL())
		for range smtpnotify.DefaultRecipientLimit {
			require.NoError(t, n.Notify(ctx, testNotice()))
		}
		require.ErrorIs(t, n.Notify(ctx, testNotice()), smtpnotify.ErrRecipientLimit)
	})
}

type failingLimiter struct{}

func (failingLimiter) Allow(context.Context, string, int, time.Duration) (bool, error) {
	return false, errors.New("redis: connection refused")
}

// TestNotify_Templates: a host replaces the subject, text and HTML; the
// default without an account URL tells the user whom to ask.
func TestNotify_Templates(t *testing.T) {
	t.Parallel()
	t.Run("replaced", func(t *testing.T) {
		t.Parallel()
		srv := smtptest.NewServer(t, smtptest.Config{})
		n := newNotifier(t, srv.URL(),
			smtpnotify.WithSubject(texttemplate.Must(texttemplate.New("s").Parse(`[{{.OrgName}}] {{.UserID}} impersonated`))),
			smtpnotify.WithText(texttemplate.Must(texttemplate.New("t").Parse(`by {{.ImpersonatorID}} via {{.ClientID}} at {{.Time.Unix}}; {{.AccountURL}}`))),
			smtpnotify.WithHTML(htmltemplate.Must(htmltemplate.New("h").Parse(`<p>by <em>{{.ImpersonatorID}}</em> in {{.Application}}</p>`))))
		require.NoError(t, n.Notify(context.Background(), testNotice()))
		require.Len(t, srv.Messages(), 1)
		m := parseMail(t, srv.Messages()[0].Data)
		assert.Equal(t, "[ACME Europe] bob impersonated", m.decodedSubject(t))
		assert.Equal(t, "by alice via demo-app at 1773151387; "+testAccountURL, m.text)
		assert.Equal(t, "<p>by <em>alice</em> in Demo Shop</p>", m.html)
	})
	t.Run("default, the impersonator known by ID only", func(t *testing.T) {
		t.Parallel()
		srv := smtptest.NewServer(t, smtptest.Config{})
		no := testNotice()
		no.ImpersonatorName = no.ImpersonatorID
		require.NoError(t, newNotifier(t, srv.URL()).Notify(context.Background(), no))
		require.Len(t, srv.Messages(), 1)
		m := parseMail(t, srv.Messages()[0].Data)
		assert.Contains(t, m.text, "\nalice started acting as you", "not alice (alice)")
		assert.Contains(t, m.html, "<strong>alice</strong> started acting as you")
	})
	t.Run("default, no account URL, no reason, no client name", func(t *testing.T) {
		t.Parallel()
		srv := smtptest.NewServer(t, smtptest.Config{})
		n, err := smtpnotify.New(srv.URL(), testFrom)
		require.NoError(t, err)
		no := testNotice()
		no.Reason, no.ClientName = "", ""
		require.NoError(t, n.Notify(context.Background(), no))
		require.Len(t, srv.Messages(), 1)
		m := parseMail(t, srv.Messages()[0].Data)
		assert.Equal(t, "Alice Admin acted as you in demo-app", m.decodedSubject(t), "the client ID when it has no name")
		for _, body := range []string{m.text, m.html} {
			assert.Contains(t, body, "Reason given: none")
			assert.Contains(t, body, "tell your administrator")
			assert.NotContains(t, body, "http")
		}
	})
}

// TestNew_Refuses: a configuration the notifier cannot honour is an error
// at construction, never at the first notice.
func TestNew_Refuses(t *testing.T) {
	t.Parallel()
	const good = "smtp://127.0.0.1:2525?starttls=none"
	for _, tc := range []struct {
		name string
		url  string
		from string
		opts []smtpnotify.Option
		want string
	}{
		{name: "a bad URL", url: "http://mail.example.com", want: "smtp or smtps"},
		{name: "AUTH in cleartext to another host", url: "smtp://u:s3cret@mail.example.com?starttls=none", want: "password in clear"},
		{name: "no from", url: good, from: "-", want: "from address"},
		{name: "two from addresses", url: good, from: "a@example.com, b@example.com", want: "from address"},
		{name: "a from with CR LF", url: good, from: "a@example.com\r\nBcc: b@example.com", want: "from address"},
		{name: "timeout 0", url: good, opts: []smtpnotify.Option{smtpnotify.WithTimeout(0)}, want: "timeout"},
		{name: "timeout over the cap", url: good, opts: []smtpnotify.Option{smtpnotify.WithTimeout(2 * time.Minute)}, want: "timeout"},
		{name: "a javascript account URL", url: good, opts: []smtpnotify.Option{smtpnotify.WithAccountURL("javascript:alert(1)")}, want: "account URL"},
		{name: "a relative account URL", url: good, opts: []smtpnotify.Option{smtpnotify.WithAccountURL("/account")}, want: "account URL"},
		{name: "a template that fails on a notice", url: good,
			opts: []smtpnotify.Option{smtpnotify.WithSubject(texttemplate.Must(texttemplate.New("s").Parse(`{{.Nope}}`)))}, want: "template"},
		{name: "an HTML template that fails on a notice", url: good,
			opts: []smtpnotify.Option{smtpnotify.WithHTML(htmltemplate.Must(htmltemplate.New("h").Parse(`{{.Time.Nope}}`)))}, want: "template"},
		{name: "a limit without a window", url: good, opts: []smtpnotify.Option{smtpnotify.WithRecipientLimit(nil, 3, 0)}, want: "window"},
		{name: "no clock", url: good, opts: []smtpnotify.Option{smtpnotify.WithClock(nil)}, want: "WithClock"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			from := testFrom
			if tc.from != "" {
				from = tc.from
			}
			n, err := smtpnotify.New(tc.url, from, tc.opts...)
			require.Error(t, err)
			assert.Nil(t, n)
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, err.Error(), "s3cret")
		})
	}
}

// TestNotify_ConcurrentUse: one notifier serves concurrent authorize
// requests.
func TestNotify_ConcurrentUse(t *testing.T) {
	t.Parallel()
	srv := smtptest.NewServer(t, smtptest.Config{})
	n := newNotifier(t, srv.URL(), smtpnotify.WithRecipientLimit(nil, 0, 0))
	const count = 8
	errs := make(chan error, count)
	for i := range count {
		go func() {
			no := testNotice()
			no.Email = "user" + strings.Repeat("x", i) + "@acme.example"
			errs <- n.Notify(context.Background(), no)
		}()
	}
	for range count {
		require.NoError(t, <-errs)
	}
	assert.Len(t, srv.Messages(), count)
}
