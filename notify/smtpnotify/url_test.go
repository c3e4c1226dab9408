package smtpnotify

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		url  string
		want server
	}{
		{"STARTTLS required by default, submission port", "smtp://mail.example.com",
			server{host: "mail.example.com", port: 587, security: startTLS}},
		{"a port", "smtp://mail.example.com:2525",
			server{host: "mail.example.com", port: 2525, security: startTLS}},
		{"a trailing slash", "smtp://mail.example.com:25/",
			server{host: "mail.example.com", port: 25, security: startTLS}},
		{"implicit TLS, its port", "smtps://mail.example.com",
			server{host: "mail.example.com", port: 465, security: implicitTLS}},
		{"the explicit cleartext opt-out", "smtp://127.0.0.1:2525?starttls=none",
			server{host: "127.0.0.1", port: 2525, security: cleartext}},
		{"cleartext without AUTH to another host", "smtp://relay.internal:25?starttls=none",
			server{host: "relay.internal", port: 25, security: cleartext}},
		{"AUTH over STARTTLS, percent-encoded password", "smtp://notices%40example.com:p%3Ass%40w0rd@mail.example.com",
			server{host: "mail.example.com", port: 587, security: startTLS, auth: true, user: "notices@example.com", password: "p:ss@w0rd"}},
		{"AUTH over implicit TLS", "smtps://u:p@mail.example.com:465",
			server{host: "mail.example.com", port: 465, security: implicitTLS, auth: true, user: "u", password: "p"}},
		{"AUTH in cleartext to loopback", "smtp://u:p@127.0.0.1:2525?starttls=none",
			server{host: "127.0.0.1", port: 2525, security: cleartext, auth: true, user: "u", password: "p"}},
		{"AUTH in cleartext to localhost", "smtp://u:p@localhost:2525?starttls=none",
			server{host: "localhost", port: 2525, security: cleartext, auth: true, user: "u", password: "p"}},
		{"AUTH in cleartext to IPv6 loopback", "smtp://u:p@[::1]:2525?starttls=none",
			server{host: "::1", port: 2525, security: cleartext, auth: true, user: "u", password: "p"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseURL(tc.url)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestParseURL_Refuses(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, url, want string
	}{
		{"not a URL", "smtp://[::1", "not a URL"},
		{"another scheme", "http://mail.example.com", "smtp or smtps"},
		{"no scheme", "mail.example.com:25", "smtp or smtps"},
		{"no host", "smtp://", "no host"},
		{"port 0", "smtp://mail.example.com:0", "port"},
		{"port too big", "smtp://mail.example.com:65536", "port"},
		{"a path", "smtp://mail.example.com/inbox", "nothing else"},
		{"a fragment", "smtp://mail.example.com#x", "nothing else"},
		{"an unknown parameter", "smtp://mail.example.com?tls=off", "unknown parameter"},
		{"opportunistic STARTTLS", "smtp://mail.example.com?starttls=opportunistic", "only value is none"},
		{"starttls twice", "smtp://mail.example.com?starttls=none&starttls=none", "only value is none"},
		{"starttls=none with smtps", "smtps://mail.example.com?starttls=none", "not smtps"},
		{"an empty user", "smtp://:secret@mail.example.com", "empty user"},
		{"AUTH in cleartext to another host", "smtp://u:s3cret@mail.example.com?starttls=none", "password in clear"},
		{"AUTH in cleartext to a private address", "smtp://u:s3cret@10.0.0.5:25?starttls=none", "password in clear"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := parseURL(tc.url)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, err.Error(), "s3cret", "the password is never in an error")
		})
	}
}
