package smtpnotify

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"net"
	netmail "net/mail"
	"net/url"
	"strings"
	"sync"
	texttemplate "text/template"
	"time"

	"github.com/wneessen/go-mail"

	"github.com/actas/actas/store"
	"github.com/actas/actas/store/memory"
)

// Defaults and bounds of the options.
const (
	// DefaultTimeout bounds one notice's SMTP conversation, from the dial
	// to the last reply.
	DefaultTimeout = 10 * time.Second
	// MaxTimeout is the longest [WithTimeout] accepted: the authorize
	// response waits for the mail server at most this long.
	MaxTimeout = time.Minute
	// DefaultRecipientLimit is how many notices reach one user per
	// DefaultRecipientWindow; the rest are dropped (see
	// [WithRecipientLimit]).
	DefaultRecipientLimit = 10
	// DefaultRecipientWindow is the window of DefaultRecipientLimit.
	DefaultRecipientWindow = time.Hour
)

// Errors of [Notifier.Notify], which the service records in the
// notification_failed audit event. Sending errors wrap the mail server's
// reply or the network error.
var (
	// ErrNoAddress: the user store has no email address for the user, so
	// the user could not be told.
	ErrNoAddress = errors.New("smtpnotify: the user has no email address")
	// ErrBadAddress: the user's email address in the store is not one
	// address (RFC 5322 addr-spec).
	ErrBadAddress = errors.New("smtpnotify: the user's email address is not a valid address")
	// ErrRecipientLimit: the user has been sent as many notices as the
	// recipient limit allows in this window; this one was not sent.
	ErrRecipientLimit = errors.New("smtpnotify: too many notices to this user in this window; not sent")
	// ErrTimeout: the mail server did not complete the conversation within
	// the timeout ([WithTimeout]); the error also wraps what was pending.
	ErrTimeout = errors.New("smtpnotify: the mail server did not answer in time")
)

// Notifier sends impersonation notices by email through one SMTP server.
// It is safe for concurrent use; each notice is one connection.
type Notifier struct {
	srv        server
	from       *netmail.Address
	fromDomain string
	timeout    time.Duration
	tlsConfig  *tls.Config
	tmpl       templates
	accountURL string
	limiter    store.RateLimiter
	limit      int
	window     time.Duration
	now        func() time.Time
}

var _ store.Notifier = (*Notifier)(nil)

// Option configures [New].
type Option func(*options)

type options struct {
	timeout    time.Duration
	tlsConfig  *tls.Config
	accountURL string
	subject    *texttemplate.Template
	text       *texttemplate.Template
	html       *htmltemplate.Template
	limiter    store.RateLimiter
	limit      int
	window     time.Duration
	now        func() time.Time
}

// WithTimeout bounds one notice's whole SMTP conversation, from the dial to
// the last reply; default [DefaultTimeout], at most [MaxTimeout].
func WithTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// WithTLSConfig sets the TLS configuration of STARTTLS and smtps://, such
// as the roots that verify the server's certificate (default: the system
// roots, TLS 1.2 or later). It is cloned; an empty ServerName becomes the
// URL's host.
func WithTLSConfig(c *tls.Config) Option { return func(o *options) { o.tlsConfig = c } }

// WithAccountURL is the page where users see and end impersonations of
// their account, linked from every notice ({{.AccountURL}} in the
// templates). It must be an absolute http or https URL. Without it the
// notice tells the user to contact their administrator.
func WithAccountURL(u string) Option { return func(o *options) { o.accountURL = u } }

// WithSubject replaces the subject template ([DefaultSubject]), executed
// with [Data]. The result is made one line before it becomes the header.
func WithSubject(t *texttemplate.Template) Option { return func(o *options) { o.subject = t } }

// WithText replaces the plain-text body template ([DefaultText]), executed
// with [Data].
func WithText(t *texttemplate.Template) Option { return func(o *options) { o.text = t } }

// WithHTML replaces the HTML body template ([DefaultHTML]), executed with
// [Data]; html/template escapes the values.
func WithHTML(t *htmltemplate.Template) Option { return func(o *options) { o.html = t } }

// WithRecipientLimit sends at most n notices to one user (one address) per
// window, counted in limiter: a shared store such as Redis when several
// instances serve one issuer, nil for process memory. A notice over the
// limit is not sent and Notify returns [ErrRecipientLimit]. A limiter that
// fails lets the notice through: being told too often is better than not
// at all. The default is [DefaultRecipientLimit] per
// [DefaultRecipientWindow] in process memory; n <= 0 turns the limit off.
// The limiter's keys hold a hash of the address, never the address.
func WithRecipientLimit(limiter store.RateLimiter, n int, per time.Duration) Option {
	return func(o *options) { o.limiter, o.limit, o.window = limiter, n, per }
}

// WithClock sets the clock of the Date header and of the in-memory
// recipient limit; default time.Now.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// New returns a Notifier that sends through the SMTP server of serverURL
// (see the package documentation for its form) from the address from
// (such as "ACME ID <no-reply@acme.example>"). It does no I/O: a server
// that is down shows at the first notice. A configuration it cannot honour
// (a bad URL, AUTH in cleartext to another host, a template that fails on
// a notice) is an error.
func New(serverURL, from string, opts ...Option) (*Notifier, error) {
	srv, err := parseURL(serverURL)
	if err != nil {
		return nil, err
	}
	o := options{timeout: DefaultTimeout, limit: DefaultRecipientLimit, window: DefaultRecipientWindow, now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	fromAddr, err := netmail.ParseAddress(from)
	if err != nil || strings.ContainsAny(from, "\r\n") {
		return nil, fmt.Errorf("smtpnotify: from address %q: not one address", from)
	}
	n := &Notifier{
		srv:        srv,
		from:       fromAddr,
		fromDomain: fromAddr.Address[strings.LastIndexByte(fromAddr.Address, '@')+1:],
		timeout:    o.timeout,
		tmpl:       defaultTemplates(),
		accountURL: o.accountURL,
		limiter:    o.limiter,
		limit:      o.limit,
		window:     o.window,
		now:        o.now,
	}
	switch {
	case o.timeout <= 0 || o.timeout > MaxTimeout:
		return nil, fmt.Errorf("smtpnotify: timeout %s: want more than 0 and at most %s", o.timeout, MaxTimeout)
	case o.now == nil:
		return nil, errors.New("smtpnotify: WithClock(nil)")
	case o.limit > 0 && o.window <= 0:
		return nil, fmt.Errorf("smtpnotify: recipient limit window %s: must be positive", o.window)
	}
	if o.accountURL != "" {
		u, err := url.Parse(o.accountURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || strings.ContainsAny(o.accountURL, "\r\n") {
			return nil, fmt.Errorf("smtpnotify: account URL %q: want an absolute http or https URL", o.accountURL)
		}
	}
	if o.tlsConfig != nil {
		n.tlsConfig = o.tlsConfig.Clone()
	} else {
		n.tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if n.tlsConfig.ServerName == "" {
		n.tlsConfig.ServerName = srv.host
	}
	if o.subject != nil {
		n.tmpl.subject = o.subject
	}
	if o.text != nil {
		n.tmpl.text = o.text
	}
	if o.html != nil {
		n.tmpl.html = o.html
	}
	if _, _, _, err := n.tmpl.render(sampleData(n.accountURL)); err != nil {
		return nil, fmt.Errorf("smtpnotify: template: %w", err)
	}
	if n.limit > 0 && n.limiter == nil {
		n.limiter = memory.New(memory.WithClock(n.now))
	}
	return n, nil
}

// Notify sends the notice to the user's address (n.Email) and returns once
// the mail server has accepted it, or with the reason it did not: the
// user has no address ([ErrNoAddress]) or an invalid one
// ([ErrBadAddress]), the recipient limit was reached
// ([ErrRecipientLimit]), a template failed, the server refused or failed,
// or it did not answer within the timeout ([ErrTimeout]). It takes at
// most the timeout and does not stop when ctx is cancelled (see the
// package documentation).
func (n *Notifier) Notify(ctx context.Context, no store.Notice) error {
	msg, err := n.message(no)
	if err != nil {
		return err
	}
	if n.limit > 0 {
		ok, err := n.limiter.Allow(ctx, recipientKey(no.Email), n.limit, n.window)
		if err == nil && !ok {
			return ErrRecipientLimit
		}
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), n.timeout)
	defer cancel()
	var conns connSet
	defer conns.close()
	opts := []mail.Option{
		mail.WithTimeout(n.timeout),
		mail.WithDialContextFunc(n.dialer(ctx, &conns)),
		mail.WithTLSConfig(n.tlsConfig),
	}
	switch n.srv.security {
	case startTLS:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	case implicitTLS:
		opts = append(opts, mail.WithSSL())
	case cleartext:
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	}
	opts = append(opts, mail.WithPort(n.srv.port))
	if n.srv.auth {
		opts = append(opts,
			mail.WithOpportunisticSMTPAuth(mail.SMTPAuthSCRAMSHA256, mail.SMTPAuthSCRAMSHA1, mail.SMTPAuthPlain, mail.SMTPAuthLogin),
			mail.WithUsername(n.srv.user), mail.WithPassword(n.srv.password))
	}
	c, err := mail.NewClient(n.srv.host, opts...)
	if err != nil {
		return fmt.Errorf("smtpnotify: %w", err)
	}
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		addr := net.JoinHostPort(n.srv.host, fmt.Sprint(n.srv.port))
		if deadline, _ := ctx.Deadline(); !time.Now().Before(deadline) {
			// The connection's deadline or the dial's context, whichever
			// noticed first: both are the timeout.
			return fmt.Errorf("%w: %s (%s), %s: %w", ErrTimeout, addr, n.srv.security, n.timeout, err)
		}
		return fmt.Errorf("smtpnotify: %s (%s): %w", addr, n.srv.security, err)
	}
	return nil
}

// message builds the mail of notice no.
func (n *Notifier) message(no store.Notice) (*mail.Msg, error) {
	if no.Email == "" {
		return nil, ErrNoAddress
	}
	to, err := netmail.ParseAddress(no.Email)
	if err != nil || to.Name != "" || to.Address != no.Email {
		return nil, ErrBadAddress
	}
	d := dataOf(no, n.accountURL)
	subject, text, html, err := n.tmpl.render(d)
	if err != nil {
		return nil, fmt.Errorf("smtpnotify: template: %w", err)
	}
	id, err := n.messageID()
	if err != nil {
		return nil, err
	}
	m := mail.NewMsg(mail.WithNoDefaultUserAgent())
	m.FromMailAddress(n.from)
	m.ToMailAddress(&netmail.Address{Name: d.UserName, Address: to.Address})
	m.Subject(subject)
	m.SetDateWithValue(n.now())
	m.SetMessageIDWithValue(id)
	// RFC 3834: an automatic notice; auto-responders must not answer it.
	m.SetGenHeader("Auto-Submitted", "auto-generated")
	m.SetBodyString(mail.TypeTextPlain, text)
	m.AddAlternativeString(mail.TypeTextHTML, html)
	return m, nil
}

// messageID is a random Message-ID in the From address's domain
// (RFC 5322 §3.6.4), without the angle brackets.
func (n *Notifier) messageID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("smtpnotify: message ID: %w", err)
	}
	return "actas." + hex.EncodeToString(b[:]) + "@" + n.fromDomain, nil
}

// recipientKey is the limiter key of an address: a hash, so that a shared
// store does not hold addresses in clear.
func recipientKey(addr string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(addr)))
	return "smtpnotify-recipient:" + hex.EncodeToString(sum[:16])
}

// dialer connects to the server with every deadline of the connection
// capped at ctx's, so that the whole conversation ends by then however the
// mail library sets its per-command deadlines, and adds the connection to
// conns, which Notify closes at its end (the mail library leaves it open
// on some errors). With smtps:// it does the TLS handshake and returns the
// *tls.Conn, which is how the mail library knows the connection is
// encrypted.
func (n *Notifier) dialer(ctx context.Context, conns *connSet) mail.DialContextFunc {
	deadline, _ := ctx.Deadline()
	return func(dctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		raw, err := d.DialContext(dctx, network, addr)
		if err != nil {
			return nil, err
		}
		conns.add(raw)
		c := &boundedConn{Conn: raw, deadline: deadline}
		if err := c.SetDeadline(deadline); err != nil {
			_ = raw.Close()
			return nil, err
		}
		if n.srv.security != implicitTLS {
			return c, nil
		}
		tc := tls.Client(c, n.tlsConfig)
		if err := tc.HandshakeContext(dctx); err != nil {
			_ = raw.Close()
			return nil, err
		}
		return tc, nil
	}
}

// boundedConn caps every deadline at deadline.
type boundedConn struct {
	net.Conn
	deadline time.Time
}

func (c *boundedConn) clamp(t time.Time) time.Time {
	if t.IsZero() || t.After(c.deadline) {
		return c.deadline
	}
	return t
}

func (c *boundedConn) SetDeadline(t time.Time) error      { return c.Conn.SetDeadline(c.clamp(t)) }
func (c *boundedConn) SetReadDeadline(t time.Time) error  { return c.Conn.SetReadDeadline(c.clamp(t)) }
func (c *boundedConn) SetWriteDeadline(t time.Time) error { return c.Conn.SetWriteDeadline(c.clamp(t)) }

// connSet holds the connections of one Notify, to close at its end.
type connSet struct {
	mu    sync.Mutex
	conns []net.Conn
}

func (s *connSet) add(c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conns = append(s.conns, c)
}

func (s *connSet) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		_ = c.Close()
	}
}
