package smtpnotify

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
)

// security is how the connection to the mail server is protected.
type security int

const (
	// startTLS: cleartext greeting, then STARTTLS, required.
	startTLS security = iota
	// implicitTLS: TLS from the first byte (smtps).
	implicitTLS
	// cleartext: no TLS at all (starttls=none).
	cleartext
)

func (s security) String() string {
	switch s {
	case implicitTLS:
		return "implicit TLS"
	case cleartext:
		return "cleartext"
	}
	return "STARTTLS"
}

// Default ports of the URL schemes: submission with STARTTLS (RFC 6409)
// and submission over implicit TLS (RFC 8314).
const (
	defaultSMTPPort  = 587
	defaultSMTPSPort = 465
)

// server is a parsed server URL.
type server struct {
	host     string
	port     int
	security security
	// auth is set when the URL has a user; password may be empty.
	auth           bool
	user, password string
}

// parseURL parses the server URL (see the package documentation). Its
// errors never hold the password.
func parseURL(raw string) (server, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error quotes the input, password included: say less.
		return server{}, errors.New("smtpnotify: server URL: not a URL")
	}
	bad := func(format string, a ...any) (server, error) {
		return server{}, fmt.Errorf("smtpnotify: server URL %q: "+format, append([]any{u.Redacted()}, a...)...)
	}
	var s server
	switch u.Scheme {
	case "smtp":
		s.security, s.port = startTLS, defaultSMTPPort
	case "smtps":
		s.security, s.port = implicitTLS, defaultSMTPSPort
	default:
		return bad("the scheme must be smtp or smtps")
	}
	if u.Opaque != "" || (u.Path != "" && u.Path != "/") || u.Fragment != "" {
		return bad("want scheme://[user[:password]@]host[:port][?starttls=none] and nothing else")
	}
	s.host = u.Hostname()
	if s.host == "" {
		return bad("no host")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return bad("port %q: want 1 to 65535", p)
		}
		s.port = n
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return bad("query: %v", err)
	}
	for k, v := range q {
		switch {
		case k != "starttls":
			return bad("unknown parameter %q (only starttls=none)", k)
		case len(v) != 1 || v[0] != "none":
			return bad("starttls: the only value is none (STARTTLS is required without it)")
		case s.security == implicitTLS:
			return bad("starttls=none is for smtp://, not smtps://")
		}
		s.security = cleartext
	}
	if u.User != nil {
		s.auth = true
		s.user = u.User.Username()
		s.password, _ = u.User.Password()
		if s.user == "" {
			return bad("an empty user name")
		}
		if s.security == cleartext && !loopback(s.host) {
			return bad("AUTH over a cleartext connection to %s would send the password in clear: use STARTTLS (no starttls=none) or smtps://", s.host)
		}
	}
	return s, nil
}

// loopback reports whether host is this machine: localhost or a loopback
// address.
func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
