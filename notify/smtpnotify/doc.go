// Package smtpnotify tells impersonated users by email: a
// [store.Notifier] that sends each notice through an SMTP server, as a
// plain-text and HTML message saying who acted as the user, when, in which
// application, the stated reason, and where to see or end it.
//
// It is a module of its own (github.com/actas/actas/notify/smtpnotify) so
// that the core module does not depend on a mail library. It uses
// github.com/wneessen/go-mail for SMTP (STARTTLS, AUTH, MIME), because the
// standard library's net/smtp is frozen and builds no MIME messages.
//
// # Wiring
//
//	n, err := smtpnotify.New("smtp://mail.example.com:587", "Acme ID <no-reply@example.com>",
//	smtpnotify.WithAccountURL("https://id.example.com/account"))
//	if err != nil { return err }
//	svc, err := impersonation.New(issuer, stores, impersonation.WithNotifier(n))
//
// The service calls Notify once per impersonation start, after the start
// is recorded, and records a failure as an
// impersonation.notification_failed audit event without failing the
// authorize request.
//
// # The server URL
//
//	smtp://[user[:password]@]host[:port][?starttls=none]
//	smtps://[user[:password]@]host[:port]
//
// in which:
//
//   - smtp:// requires STARTTLS (default port 587): a server that does not
//     offer it, or whose certificate does not verify, gets no message, so
//     that an attacker on the path cannot strip the upgrade and read the
//     notice or the password. There is no opportunistic mode.
//   - smtp://...?starttls=none speaks cleartext: for a relay on the same
//     machine or a test server on loopback. It is an explicit opt-out.
//   - smtps:// is TLS from the first byte (implicit TLS, RFC 8314, default
//     port 465).
//   - user and password (percent-encoded) turn on SMTP AUTH, with the best
//     mechanism the server offers of SCRAM-SHA-256, SCRAM-SHA-1, PLAIN and
//     LOGIN. A password is never sent in cleartext to another host: AUTH
//     with starttls=none is refused by [New] unless the host is loopback.
//
// # Timing
//
// Notify sends before it returns, bounded by [WithTimeout] (default
// [DefaultTimeout]) from the first dial to the last byte: a mail server
// that hangs delays the authorize response by at most that, and the
// failure is audited by the service. The send is synchronous on purpose:
// the subject token leaves the issuer only after the user has been told or
// the failure has been recorded, and no queue can lose a notice in a
// crash. Notify does not stop when the caller's context is cancelled (a
// client that hangs up must not suppress the notice of an impersonation
// that was recorded as started); the timeout still bounds it.
//
// # Flooding
//
// One impersonation start is one message. The service's start limit
// (impersonation.WithStartLimit) bounds how many one impersonator can
// cause; [WithRecipientLimit] bounds how many one user receives, however
// many impersonators there are (default [DefaultRecipientLimit] per
// [DefaultRecipientWindow]). A notice over the limit is not sent and Notify
// returns [ErrRecipientLimit], which the service audits. The first notices
// of every window are always sent, so a flood cannot hide from the user
// that they are being impersonated.
package smtpnotify
