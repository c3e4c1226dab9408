// Command server is the reference identity server of actas: a small but
// real OpenID provider that offers user impersonation through OAuth 2.0
// Token Exchange (RFC 8693), embedding the library the way a host would
// and using only its public API.
//
//	go run ./examples/server [-addr 127.0.0.1:8080] [-issuer http://127.0.0.1:8080] [-data FILE] [-keys DIR]
//	                         [-redis redis://127.0.0.1:6379/0 [-redis-prefix P]]
//	                         [-postgres postgres://user@127.0.0.1:5432/db [-postgres-schema S]]
//	                         [-start-limit N/DURATION]
//	                         [-smtp smtp://host:port [-smtp-from ADDRESS]]
//
// Without -data it serves built-in demo data and prints the demo
// credentials; without -keys it signs with an ephemeral ES256 key. It logs
// one line per request and the audit events as slog JSON on stderr and
// shuts down cleanly on SIGINT or SIGTERM.
//
// Without -redis and -postgres it keeps everything in memory. Several
// instances behind one issuer (the same -issuer and the same -keys) share
// state through them: with -redis, one-time use of subject tokens,
// revocation and the impersonation rate limit live in Redis, under a key
// prefix derived from the issuer; with -postgres, the data is loaded into
// PostgreSQL at start (by every instance: the loads are upserts), the
// library reads clients, users, organisations and role grants from there,
// the audit log is written there (and still to stderr) and the audit page
// reads it; without -redis the token state lives there too. Impersonation
// sessions live in Redis with -redis, else in memory. Login sessions,
// passwords and authorization codes stay in each process. A store that cannot be
// reached at start stops the server; one that fails later makes the
// requests that need it fail closed (503 temporarily_unavailable), with
// the failure on stderr.
//
// -start-limit N/DURATION (default 10/1m) is how many impersonations one
// impersonator may start per window (authorize requests that reach the
// policy, refused ones included); over it the authorize endpoint answers
// temporarily_unavailable and audits rate_limited. N is 0 to 100000
// (0 turns the limit off, which leaves a stolen admin session or a
// scripted console free to impersonate every user at once), DURATION a Go
// duration from 1s to 24h; anything else stops the server at start.
//
// Without -smtp the notice to an impersonated user (one per impersonation
// start) goes to the log as a "notice" line. With -smtp URL it is sent by
// email (notify/smtpnotify) through that server, to the user's email in the
// data, from -smtp-from (default actas <noreply@localhost>), with a link to
// <issuer>/account. smtp://host[:port] requires STARTTLS (default port
// 587), smtp://host:port?starttls=none is cleartext (a local relay or a
// test server), smtps:// is implicit TLS (465); user:password@ in the URL
// turns on SMTP AUTH, refused in cleartext to another host. A bad URL
// stops the server at start; a mail server that fails or does not answer
// within 10 s never fails the impersonation: the failure is audited
// (impersonation.notification_failed).
//
// Endpoints, under the issuer:
//
//	GET  /.well-known/openid-configuration, /.well-known/oauth-authorization-server
//	GET  /oauth2/authorize (and POST: the consent page posts back): the impersonation
//	                         response types, and response_type=code with PKCE S256
//	POST /oauth2/token       token exchange, authorization_code, refresh_token
//	                         (client_secret_basic or _post)
//	GET  /oauth2/userinfo    (and POST) OpenID Connect UserInfo: the claims of the access
//	                         token's user, with act under impersonation (each such read audited)
//	GET  /oauth2/jwks
//	POST /oauth2/introspect  RFC 7662
//	POST /oauth2/revoke      RFC 7009: revoking an impersonated token ends the impersonation
//	GET  /oauth2/logout (and POST: the confirmation posts back): OpenID Connect
//	                         RP-Initiated Logout (end_session_endpoint): ends the
//	                         impersonation session and the login
//	GET  /login, POST /login, POST /logout
//	GET  /console, POST /console/impersonate, POST /console/end, GET /console/audit[?format=json]
//	GET  /app, GET /app/start?handle=H (the console's single-use handle: no other
//	                         GET starts an impersonation), POST /app/callback,
//	                         POST /app/password, POST /app/end
//	GET  /app2, GET /app2/login, GET /app2/callback, POST /app2/refresh, POST /app2/logout,
//	     GET /app2/signed-out (the post-logout redirect URI)
//	GET  /app3, GET /app3/login, GET /app3/callback, POST /app3/refresh, POST /app3/logout,
//	     GET /app3/signed-out
//	                         (demo-app3: impersonation off, so a sign-in under an
//	                         impersonation session is refused with access_denied)
//	GET  /api/me, POST /api/password (examples/api, audience <issuer>/api)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/actas/actas/impersonation"
)

// shutdownTimeout bounds how long in-flight requests get on shutdown.
const shutdownTimeout = 10 * time.Second

func main() {
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if err != nil {
		os.Exit(2)
	}
	redis.SetLogger(redisLog{slog.New(slog.NewJSONHandler(os.Stderr, nil))})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(1)
	}
}

// parseFlags reads the command line.
func parseFlags(args []string, stderr io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.Addr, "addr", "127.0.0.1:8080", "listen address")
	fs.StringVar(&cfg.Issuer, "issuer", "", "issuer identifier, the exact iss of every token (default http://<addr>)")
	fs.StringVar(&cfg.DataFile, "data", "", "JSON file of organisations, users, clients and roles (default: built-in demo data)")
	fs.StringVar(&cfg.KeysDir, "keys", "", "directory of *.pem, *.jwk and *.json private keys, sorted by name: all verify, the last signs (default: an ephemeral ES256 key)")
	fs.StringVar(&cfg.Redis, "redis", "", "Redis URL (redis://host:port/db) for one-time use of subject tokens, revocation and rate limits, shared by every instance of the issuer (default: PostgreSQL with -postgres, else memory)")
	fs.StringVar(&cfg.RedisPrefix, "redis-prefix", "", `prefix of every Redis key (default "actas:" and a hash of the issuer)`)
	fs.StringVar(&cfg.Postgres, "postgres", "", "PostgreSQL URL (postgres://user@host:port/db) for clients, users, organisations, roles (the data is loaded into it) and the audit log, shared by every instance (default: memory)")
	fs.StringVar(&cfg.PostgresSchema, "postgres-schema", "", "PostgreSQL schema of the tables (default actas)")
	fs.Var(startLimitFlag{&cfg}, "start-limit", fmt.Sprintf(
		"impersonations one impersonator may start per window, as `N/DURATION` (N 0 to %d, DURATION %s to %s, such as 30/1m); 0 turns the limit off, see docs/limits.md for the risk (default %d/%s)",
		maxStartLimit, short(minStartWindow), short(maxStartWindow), impersonation.DefaultStartLimit, short(impersonation.DefaultStartWindow)))
	fs.StringVar(&cfg.SMTP, "smtp", "", "SMTP server URL (smtp://host:port, STARTTLS required; smtp://host:port?starttls=none for cleartext; smtps://host:port; user:password@ for AUTH) to send the impersonation notices by email (default: to the log)")
	fs.StringVar(&cfg.SMTPFrom, "smtp-from", "", `From address of the notices sent with -smtp (default "`+defaultSMTPFrom+`")`)
	fs.DurationVar(&cfg.MaxSubjectTokenTTL, "max-subject-token-ttl", impersonation.DefaultMaxSubjectTokenTTL,
		fmt.Sprintf("the longest subject token lifetime a client of the data file may ask for (subject_token_ttl), at most %s; a longer one is refused at load, never shortened", short(impersonation.MaxAccessTokenTTL)))
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	var err error
	switch {
	case fs.NArg() > 0:
		err = fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case cfg.RedisPrefix != "" && cfg.Redis == "":
		err = errors.New("-redis-prefix needs -redis")
	case cfg.PostgresSchema != "" && cfg.Postgres == "":
		err = errors.New("-postgres-schema needs -postgres")
	case cfg.SMTPFrom != "" && cfg.SMTP == "":
		err = errors.New("-smtp-from needs -smtp")
	case cfg.MaxSubjectTokenTTL < time.Second || cfg.MaxSubjectTokenTTL > impersonation.MaxAccessTokenTTL:
		err = fmt.Errorf("-max-subject-token-ttl must be between 1s and %s", short(impersonation.MaxAccessTokenTTL))
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		fs.Usage()
		return config{}, err
	}
	if cfg.StartLimit < 0 {
		fmt.Fprintln(stderr, "warning: -start-limit 0: impersonation starts are not rate-limited")
	}
	return cfg, nil
}

// Bounds of -start-limit N/DURATION.
const (
	maxStartLimit  = 100_000
	minStartWindow = time.Second
	maxStartWindow = 24 * time.Hour
)

// startLimitFlag is -start-limit N/DURATION: it sets cfg.StartLimit and
// cfg.StartWindow, or turns the limit off (StartLimit -1) with N 0.
type startLimitFlag struct{ cfg *config }

func (f startLimitFlag) String() string {
	switch {
	case f.cfg == nil || f.cfg.StartLimit == 0:
		return ""
	case f.cfg.StartLimit < 0:
		return "0"
	}
	return fmt.Sprintf("%d/%s", f.cfg.StartLimit, short(f.cfg.startWindow()))
}

// Set parses N/DURATION, or 0 (0/DURATION too) for no limit.
func (f startLimitFlag) Set(v string) error {
	n, per, err := parseStartLimit(v)
	if err != nil {
		return err
	}
	f.cfg.StartLimit, f.cfg.StartWindow = n, per
	if n == 0 {
		f.cfg.StartLimit, f.cfg.StartWindow = -1, 0
	}
	return nil
}

// parseStartLimit parses N/DURATION (or 0) within the bounds.
func parseStartLimit(v string) (int, time.Duration, error) {
	ns, ds, ok := strings.Cut(v, "/")
	n, err := strconv.Atoi(ns)
	switch {
	case err != nil && !ok:
		return 0, 0, errors.New("want N/DURATION, such as 30/1m, or 0 to turn the limit off")
	case err != nil || n > maxStartLimit:
		return 0, 0, fmt.Errorf("limit %q: want a whole number from 0 to %d", ns, maxStartLimit)
	case n < 0:
		return 0, 0, fmt.Errorf("limit %d: must not be negative (0 turns the limit off)", n)
	case !ok && n == 0:
		return 0, 0, nil
	case !ok:
		return 0, 0, fmt.Errorf("no DURATION: want N/DURATION, such as %d/1m", n)
	}
	per, err := time.ParseDuration(ds)
	switch {
	case err != nil:
		return 0, 0, fmt.Errorf("DURATION %q: not a duration (such as 30s, 1m, 1h)", ds)
	case per <= 0:
		return 0, 0, fmt.Errorf("DURATION %s: must be positive", short(per))
	case per < minStartWindow || per > maxStartWindow:
		return 0, 0, fmt.Errorf("DURATION %s: want %s to %s", short(per), short(minStartWindow), short(maxStartWindow))
	}
	return n, per, nil
}

// short is d as time.Duration writes it, without a trailing 0s or 0m
// (1m, 24h, 1h30m, 500ms).
func short(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// startWindow is cfg.StartWindow, or impersonation.DefaultStartWindow
// when it is zero.
func (c config) startWindow() time.Duration {
	if c.StartWindow == 0 {
		return impersonation.DefaultStartWindow
	}
	return c.StartWindow
}

// run listens on cfg.Addr, serves until ctx is done, then shuts down,
// giving in-flight requests shutdownTimeout.
func run(ctx context.Context, cfg config, stdout, stderr io.Writer) error {
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	if cfg.Issuer == "" {
		cfg.Issuer = "http://" + ln.Addr().String()
	}
	s, h, err := openServer(ctx, cfg, stdout, stderr)
	if err != nil {
		return err
	}
	defer s.close()
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          nil,
	}
	fmt.Fprintf(stdout, "listening on %s (stop with Ctrl-C)\n", ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	s.logger.Info("stopped")
	return nil
}
