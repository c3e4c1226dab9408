// Package smtptest runs real SMTP servers on loopback for tests, as
// net/http/httptest does for HTTP: one that accepts mail and keeps it
// (with STARTTLS, implicit TLS or AUTH PLAIN when asked), one that refuses
// every recipient, and one that accepts connections and never answers.
//
// The servers are github.com/emersion/go-smtp speaking the real protocol
// over TCP, so a client under test goes through its dialing, TLS and
// timeouts as it would against a mail server.
package smtptest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Config says what a [Server] offers and requires. The zero value is a
// cleartext server without AUTH that accepts every message.
type Config struct {
	// TLS, when set, is offered through STARTTLS, or from the first byte
	// with Implicit.
	TLS *tls.Config
	// Implicit makes the server speak TLS from the first byte (smtps);
	// it needs TLS.
	Implicit bool
	// User and Password, when User is set, make the server offer AUTH
	// PLAIN (also in cleartext) and refuse MAIL before a successful AUTH
	// with this user and password.
	User, Password string
	// RejectRecipients answers every RCPT TO with 550 5.1.1.
	RejectRecipients bool
}

// Message is one message the server accepted.
type Message struct {
	// From is the envelope sender (MAIL FROM), To the envelope recipients
	// (RCPT TO).
	From string
	To   []string
	// Data is the message as received after DATA: headers and body.
	Data []byte
	// TLS reports whether the connection was encrypted when the message
	// was sent; AuthUser is who authenticated, if anyone.
	TLS      bool
	AuthUser string
}

// Server is a running SMTP server on 127.0.0.1. It is safe for concurrent
// use.
type Server struct {
	cfg  Config
	addr string

	mu       sync.Mutex
	messages []Message
	sessions int
}

// NewServer starts a server with cfg on a free port of 127.0.0.1 and stops
// it when the test ends.
func NewServer(tb testing.TB, cfg Config) *Server {
	tb.Helper()
	if cfg.Implicit && cfg.TLS == nil {
		tb.Fatal("smtptest: Implicit needs TLS")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("smtptest: listen: %v", err)
	}
	s := &Server{cfg: cfg, addr: ln.Addr().String()}
	srv := smtp.NewServer(smtp.BackendFunc(s.newSession))
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 30*time.Second, 30*time.Second
	srv.AllowInsecureAuth = true
	srv.ErrorLog = discardLogger{}
	if cfg.TLS != nil {
		srv.TLSConfig = cfg.TLS
	}
	if cfg.Implicit {
		ln = tls.NewListener(ln, cfg.TLS)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	tb.Cleanup(func() {
		// Close the listener too: Close before Serve has registered it
		// would leave Serve accepting.
		_ = srv.Close()
		_ = ln.Close()
		<-done
	})
	return s
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.addr }

// URL is the server's URL in the form smtpnotify.New reads: smtps:// with
// Implicit, smtp:// with TLS (STARTTLS), smtp://...?starttls=none without,
// with the configured user and password.
func (s *Server) URL() string {
	u := url.URL{Scheme: "smtp", Host: s.addr}
	switch {
	case s.cfg.Implicit:
		u.Scheme = "smtps"
	case s.cfg.TLS == nil:
		u.RawQuery = "starttls=none"
	}
	if s.cfg.User != "" {
		u.User = url.UserPassword(s.cfg.User, s.cfg.Password)
	}
	return u.String()
}

// Messages returns a copy of the messages accepted so far, oldest first.
// A message is here once the server has answered its DATA.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Message, len(s.messages))
	for i, m := range s.messages {
		m.To = append([]string(nil), m.To...)
		m.Data = bytes.Clone(m.Data)
		out[i] = m
	}
	return out
}

// Sessions is how many connections the server has greeted.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions
}

func (s *Server) newSession(c *smtp.Conn) (smtp.Session, error) {
	s.mu.Lock()
	s.sessions++
	s.mu.Unlock()
	return &session{s: s, conn: c}, nil
}

// session is one connection's state.
type session struct {
	s      *Server
	conn   *smtp.Conn
	authed string
	msg    Message
}

var _ smtp.AuthSession = (*session)(nil)

func (se *session) AuthMechanisms() []string {
	if se.s.cfg.User == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (se *session) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain || se.s.cfg.User == "" {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, user, password string) error {
		if (identity != "" && identity != user) || user != se.s.cfg.User || password != se.s.cfg.Password {
			return smtp.ErrAuthFailed
		}
		se.authed = user
		return nil
	}), nil
}

func (se *session) Mail(from string, _ *smtp.MailOptions) error {
	if se.s.cfg.User != "" && se.authed == "" {
		return smtp.ErrAuthRequired
	}
	se.msg = Message{From: from}
	return nil
}

func (se *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if se.s.cfg.RejectRecipients {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "mailbox unavailable"}
	}
	se.msg.To = append(se.msg.To, to)
	return nil
}

func (se *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m := se.msg
	m.Data = b
	_, m.TLS = se.conn.TLSConnectionState()
	m.AuthUser = se.authed
	se.s.mu.Lock()
	se.s.messages = append(se.s.messages, m)
	se.s.mu.Unlock()
	return nil
}

func (se *session) Reset()        { se.msg = Message{} }
func (se *session) Logout() error { return nil }

// discardLogger drops go-smtp's error log (connections a test cut short).
type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}
func (discardLogger) Println(...any)        {}

// NewHangingServer listens on a free port of 127.0.0.1, accepts every
// connection and never writes a byte (not even the greeting), until the
// test ends. It returns the host:port. A client must give up on its own
// timeout.
func NewHangingServer(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("smtptest: listen: %v", err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			// Read and drop whatever comes, never answer.
			go func() { _, _ = io.Copy(io.Discard, c) }()
		}
	}()
	tb.Cleanup(func() {
		_ = ln.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return ln.Addr().String()
}

// ClosedAddr returns a host:port of 127.0.0.1 where nothing listens: a
// connection there is refused.
func ClosedAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("smtptest: listen: %v", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		tb.Fatalf("smtptest: close: %v", err)
	}
	return addr
}

// Certificate makes a self-signed ECDSA certificate for 127.0.0.1 and
// localhost, valid for a day, and returns the server's TLS configuration
// and a pool holding the certificate, for the client's RootCAs.
func Certificate(tb testing.TB) (*tls.Config, *x509.CertPool) {
	tb.Helper()
	cfg, pool, err := certificate()
	if err != nil {
		tb.Fatalf("smtptest: certificate: %v", err)
	}
	return cfg, pool
}

func certificate() (*tls.Config, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "smtptest"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}},
		MinVersion:   tls.VersionTLS12,
	}, pool, nil
}
