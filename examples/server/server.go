package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/actas/actas/examples/api"
	"github.com/actas/actas/impersonation"
	"github.com/actas/actas/impersonation/resource"
	"github.com/actas/actas/notify/smtpnotify"
	"github.com/actas/actas/store"
	"github.com/actas/actas/store/memory"
	"github.com/actas/actas/tokenexchange"
)

// config is what the flags set, plus knobs for tests.
type config struct {
	// Addr is the listen address.
	Addr string
	// Issuer is the issuer identifier: the exact iss of every token and
	// the issuer of the discovery document. Empty means http://<Addr>.
	Issuer string
	// DataFile is the -data file; empty serves the built-in demo data.
	DataFile string
	// KeysDir is the -keys directory; empty makes an ephemeral key.
	KeysDir string
	// PasswordIterations is the PBKDF2 count for passwords; zero means
	// store.PasswordIterations. Tests lower it.
	PasswordIterations int
	// AppClientID is the client the built-in demo app (/app) and the
	// console use; empty means demo-app.
	AppClientID string
	// StartLimit is how many impersonations one impersonator may start
	// per StartWindow (-start-limit N/DURATION); zero means
	// impersonation.DefaultStartLimit, negative turns the limit off
	// (-start-limit 0).
	StartLimit int
	// StartWindow is the window of StartLimit; zero means
	// impersonation.DefaultStartWindow.
	StartWindow time.Duration
	// MaxSubjectTokenTTL is the -max-subject-token-ttl cap of a subject
	// token's lifetime (impersonation.LifetimeCaps.SubjectToken); zero
	// means impersonation.DefaultMaxSubjectTokenTTL. A client of the data
	// file asking for more is refused at load.
	MaxSubjectTokenTTL time.Duration
	// HTTPClient is what the demo app calls the issuer with (token,
	// revocation and API endpoints); nil means a client with a 10 s
	// timeout.
	HTTPClient *http.Client
	// Redis is the -redis URL (redis://host:port/db): one-time use of
	// subject tokens, revocation and rate limits go there. Empty keeps
	// them in PostgreSQL with -postgres, in memory without.
	Redis string
	// RedisPrefix is the -redis-prefix that starts every Redis key; empty
	// means "actas:" and a hash of the issuer.
	RedisPrefix string
	// Postgres is the -postgres URL (postgres://user@host:port/db): the
	// data is loaded into it at start, and the directory and the audit
	// log are read from it (and the token state kept there without
	// -redis). Empty keeps them in memory.
	Postgres string
	// PostgresSchema is the -postgres-schema that holds the tables; empty
	// means the adapter's default, actas.
	PostgresSchema string
	// App2ClientID is the client of the second demo app (/app2), an
	// ordinary OpenID Connect client; empty means demo-app2.
	App2ClientID string
	// App3ClientID is the client of the third demo app (/app3), an
	// ordinary OpenID Connect client that does not allow impersonation;
	// empty means demo-app3.
	App3ClientID string
	// SMTP is the -smtp URL of the mail server the notices to impersonated
	// users are sent through (notify/smtpnotify); empty logs them.
	SMTP string
	// SMTPFrom is the -smtp-from address of the notices; empty means
	// defaultSMTPFrom.
	SMTPFrom string
	// SMTPOptions are added to the mail notifier's options; tests set a
	// short timeout or their TLS roots. There is no flag.
	SMTPOptions []smtpnotify.Option
	// Now is the clock of the server, the library and the memory stores;
	// nil means time.Now. Tests set it to move time (an impersonation
	// session's end); there is no flag.
	Now func() time.Time
}

// server is the reference identity server: the library's handlers, the
// host's own login, consent and console, and the demo app.
type server struct {
	cfg         config
	issuer      string
	apiAudience string
	logger      *slog.Logger
	dir         *directory
	keys        *memory.KeySet
	keyFiles    []keyFile
	svc         *impersonation.Service
	// grants are the access users give from /account.
	grants *impersonation.Grants
	stores *backends
	// auditor records to the audit store and to stderr; fallback, the
	// stderr half alone, takes an event when the audit store fails.
	auditor  store.Auditor
	fallback store.Auditor
	idp      *sessionStore
	app      *demoApp
	app2     *demoApp2
	app3     *demoApp2
	// codes are the authorization codes issued and not yet redeemed.
	codes *codeStore
	// accountPage is the signed-in user's own page (/account).
	accountPage *accountPage
	// now is cfg.Now.
	now func() time.Time
}

// maxFormBytes caps the bodies of the host's own forms.
const maxFormBytes = 64 << 10

// newServer builds the server from cfg: it checks the issuer, loads the
// keys and the data (printing what it loaded, and the demo credentials
// when it uses the built-in data, to stdout), connects to the shared
// stores cfg names and wires the handlers. Request lines and audit events
// go to stderr as slog JSON. The caller closes the server (close) when
// done with it.
func newServer(cfg config, stdout, stderr io.Writer) (*server, http.Handler, error) {
	return openServer(context.Background(), cfg, stdout, stderr)
}

// openServer is newServer with a context for connecting to the shared
// stores and loading the data into them.
func openServer(ctx context.Context, cfg config, stdout, stderr io.Writer) (_ *server, _ http.Handler, err error) {
	if err := checkIssuer(cfg.Issuer); err != nil {
		return nil, nil, err
	}
	if cfg.PasswordIterations == 0 {
		cfg.PasswordIterations = store.PasswordIterations
	}
	if cfg.StartLimit == 0 {
		cfg.StartLimit = impersonation.DefaultStartLimit
	}
	if cfg.AppClientID == "" {
		cfg.AppClientID = demoAppClientID
	}
	if cfg.App2ClientID == "" {
		cfg.App2ClientID = demoApp2ClientID
	}
	if cfg.App3ClientID == "" {
		cfg.App3ClientID = demoApp3ClientID
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &server{
		cfg:         cfg,
		issuer:      cfg.Issuer,
		apiAudience: cfg.Issuer + "/api",
		logger:      slog.New(slog.NewJSONHandler(stderr, nil)),
		now:         cfg.Now,
	}

	if s.keys, s.keyFiles, err = loadKeys(cfg.KeysDir); err != nil {
		return nil, nil, err
	}
	caps := impersonation.LifetimeCaps{SubjectToken: cfg.MaxSubjectTokenTTL}
	var d *data
	if cfg.DataFile != "" {
		if d, err = loadDataFile(cfg.DataFile); err != nil {
			return nil, nil, err
		}
		if err := d.checkLifetimes(cfg.DataFile, caps); err != nil {
			return nil, nil, err
		}
	} else {
		d = demoData(s.issuer)
		if err := d.validate("built-in demo data"); err != nil {
			return nil, nil, err
		}
	}
	if s.dir, err = newDirectory(d, cfg.PasswordIterations, cfg.Now, cfg.AppClientID, cfg.App2ClientID, cfg.App3ClientID); err != nil {
		return nil, nil, err
	}

	if s.stores, err = openBackends(ctx, cfg, s.dir); err != nil {
		return nil, nil, err
	}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	notices, err := newNotifier(cfg, s.issuer, s.dir.db, s.stores.limiter, s.logger)
	if err != nil {
		return nil, nil, err
	}
	st := s.stores
	s.fallback = store.NewSlogAuditor(s.logger)
	s.auditor = store.MultiAuditor{st.audit, s.fallback}
	grants, err := impersonation.NewGrants(st.subjectGrants, impersonation.GrantConfig{})
	if err != nil {
		return nil, nil, err
	}
	s.grants = grants
	s.svc, err = impersonation.New(s.issuer, impersonation.Stores{
		Clients: st.clients, Users: st.users, Organizations: st.orgs, Grants: st.grants, OneTimeUse: st.oneTime, Keys: s.keys,
	},
		impersonation.WithAuditor(s.auditor),
		impersonation.WithFallbackAuditor(s.fallback),
		impersonation.WithNotifier(notices),
		impersonation.WithRevocationStore(st.revoked),
		impersonation.WithStartLimit(st.limiter, cfg.StartLimit, cfg.startWindow()),
		impersonation.WithClock(cfg.Now),
		impersonation.WithLifetimeCaps(caps),
		// Impersonation sessions (Redis with -redis, else memory), each
		// started with the reason the console asks for, which the tokens
		// issued under it carry as impersonation_reason.
		impersonation.WithSessions(st.sessions, st.revoked, impersonation.SessionConfig{ReasonRequired: true, ReasonClaim: true}),
		// The access users give from /account, for clients with
		// require_subject_grant.
		impersonation.WithSubjectGrants(grants),
	)
	if err != nil {
		return nil, nil, err
	}
	secure := strings.HasPrefix(s.issuer, "https://")
	s.idp = newSessionStore("actas_session", "/", secure, cfg.Now)
	s.codes = newCodeStore(cfg.Now)
	s.app = newDemoApp(s, secure)
	s.app2 = newDemoApp2(s, secure)
	s.app3 = newCodeFlowApp(s, secure, cfg.App3ClientID, "/app3", "Demo app 3")

	h, err := s.routes()
	if err != nil {
		return nil, nil, err
	}
	s.printBanner(stdout, d)
	return s, h, nil
}

// close releases the connections to the shared stores. The server must
// no longer serve.
func (s *server) close() {
	if s.stores != nil {
		s.stores.close()
	}
}

// checkIssuer accepts an http or https URL with a host and nothing after
// it: the server mounts its endpoints at the root, and the issuer is
// compared byte for byte, so a trailing slash would be a different issuer.
func checkIssuer(iss string) error {
	u, err := url.Parse(iss)
	switch {
	case err != nil || iss == "":
		return fmt.Errorf("-issuer %q: not a URL", iss)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("-issuer %q: must be an http or https URL", iss)
	case u.Host == "" || u.User != nil:
		return fmt.Errorf("-issuer %q: must name a host and nothing else before it", iss)
	case strings.HasSuffix(iss, "/"):
		return fmt.Errorf("-issuer %q: must not end with a slash (iss is compared exactly)", iss)
	case u.Path != "" || u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(iss, "?#"):
		return fmt.Errorf("-issuer %q: must be scheme://host[:port] only: this server serves its endpoints at the root", iss)
	}
	return nil
}

// routes mounts every endpoint. The library's handlers are mounted
// without a method so that they answer other methods themselves (405 with
// Allow, as JSON).
func (s *server) routes() (http.Handler, error) {
	// One call for the library's endpoints, every refusal already
	// recorded: one token endpoint for token exchange, the refresh grant
	// of impersonation sessions and the host's authorization-code grant.
	lib, err := s.svc.Handlers(context.Background(), authenticator{s},
		impersonation.WithConsent(s.consent),
		impersonation.WithGrant(tokenexchange.GrantTypeAuthorizationCode, codeGrant{s}),
		impersonation.WithMetadata(s.metadata()),
		impersonation.WithRefusalObserver(s.logRefusal),
		// RP-Initiated Logout at the metadata's end_session_endpoint.
		impersonation.WithLogout(authenticator{s}),
		impersonation.WithLogoutPage(s.logoutPage),
	)
	if err != nil {
		return nil, err
	}
	verifier, err := resource.NewVerifier(s.issuer, s.apiAudience, s.keys,
		resource.WithRevocation(s.stores.revoked), resource.WithClock(s.now))
	if err != nil {
		return nil, err
	}

	if s.accountPage, err = newAccountPage(s); err != nil {
		return nil, err
	}

	mux := http.NewServeMux()
	// The authorize endpoint also serves the host's code flow; the rest
	// mount where the metadata says.
	lib.Authorize = s.authorizeEndpoint(lib.Authorize)
	if err := lib.Mount(mux); err != nil {
		return nil, err
	}

	mux.HandleFunc("GET /{$}", s.index)
	mux.HandleFunc("GET /static/style.css", serveStyle)
	mux.HandleFunc("GET /login", s.loginPage)
	mux.HandleFunc("POST /login", s.login)
	mux.HandleFunc("POST /logout", s.logout)
	mux.HandleFunc("GET /console", s.console)
	mux.HandleFunc("POST /console/impersonate", s.impersonate)
	mux.HandleFunc("POST /console/end", s.endImpersonation)
	mux.HandleFunc("GET /console/audit", s.audit)
	mux.HandleFunc("GET /account", s.accountPage.show)
	mux.HandleFunc("POST /account/end", s.accountPage.end)
	mux.HandleFunc("POST /account/grant", s.accountPage.give)
	mux.HandleFunc("POST /account/revoke", s.accountPage.revoke)

	mux.HandleFunc("GET /app", s.app.home)
	mux.HandleFunc("GET /app/start", s.app.start)
	mux.HandleFunc("POST /app/callback", s.app.callback)
	mux.HandleFunc("POST /app/password", s.app.password)
	mux.HandleFunc("POST /app/end", s.app.end)

	mux.HandleFunc("GET /app2", s.app2.home)
	mux.HandleFunc("GET /app2/login", s.app2.login)
	mux.HandleFunc("GET /app2/callback", s.app2.callback)
	mux.HandleFunc("POST /app2/refresh", s.app2.refresh)
	mux.HandleFunc("POST /app2/logout", s.app2.logout)
	mux.HandleFunc("GET /app2/signed-out", s.app2.signedOut)

	mux.HandleFunc("GET /app3", s.app3.home)
	mux.HandleFunc("GET /app3/login", s.app3.login)
	mux.HandleFunc("GET /app3/callback", s.app3.callback)
	mux.HandleFunc("POST /app3/refresh", s.app3.refresh)
	mux.HandleFunc("POST /app3/logout", s.app3.logout)
	mux.HandleFunc("GET /app3/signed-out", s.app3.signedOut)

	mux.Handle("/api/", api.Handler(verifier, s.auditor))

	return s.logRequests(securityHeaders(mux)), nil
}

// metadata is the discovery document: the library's defaults for the
// paths it mounts, the scopes of the data, the keys' algorithms, and the
// authorization-code flow (with PKCE S256) and refresh tokens the server
// adds (code_challenge_methods_supported: S256 only).
func (s *server) metadata() impersonation.Metadata {
	md := impersonation.DefaultMetadata(s.issuer, s.signingAlg())
	md.ScopesSupported = slices.Clone(s.dir.scopes)
	md.IDTokenSigningAlgValuesSupported = s.algorithms()
	md.ResponseTypesSupported = append(md.ResponseTypesSupported, responseTypeCode)
	md.GrantTypesSupported = append(md.GrantTypesSupported,
		tokenexchange.GrantTypeAuthorizationCode, tokenexchange.GrantTypeRefreshToken)
	md.ClaimsSupported = append(md.ClaimsSupported, impersonation.ClaimSessionID, impersonation.ClaimReason)
	md.CodeChallengeMethodsSupported = []string{"S256"}
	return md
}

// signingAlg is the algorithm of the signing key.
func (s *server) signingAlg() string { return s.keyFiles[len(s.keyFiles)-1].Key.Algorithm }

// algorithms lists the algorithms of every key, the signing key's first.
func (s *server) algorithms() []string {
	algs := []string{s.signingAlg()}
	for _, k := range s.keyFiles {
		if !slices.Contains(algs, k.Key.Algorithm) {
			algs = append(algs, k.Key.Algorithm)
		}
	}
	return algs
}

// logRefusal logs the code of refused token, introspection and
// revocation requests (the library has recorded them in the audit log):
// never the error text nor the request.
func (s *server) logRefusal(r *http.Request, clientID string, err error) {
	code := tokenexchange.ErrServerError.Code
	var te *tokenexchange.Error
	if errors.As(err, &te) {
		code = te.Code
	}
	s.logger.Info("oauth refusal", "path", r.URL.Path, "client_id", clientID, "error", code)
}

// securityHeaders sets the headers every response carries. Handlers that
// need another policy (the library's form_post page, with its script
// nonce, and the cacheable discovery and JWKS documents) replace them.
//
// The CSP has no form-action directive on purpose: browsers apply it to
// the redirects that follow a form submission, and the login and consent
// forms end in a redirect to the client's registered redirect URI.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; frame-ancestors 'none'")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// logRequests writes one slog line per request: method, path (never the
// query string, which may hold an authorize request's parameters),
// status and duration. Bodies, headers and tokens are never logged.
func (s *server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		s.logger.Info("request", "method", r.Method, "path", r.URL.Path, "status", sw.status,
			"duration_ms", float64(time.Since(start).Microseconds())/1000)
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// defaultSMTPFrom is the From address of the notices without -smtp-from.
const defaultSMTPFrom = "actas <noreply@localhost>"

// notifier tells impersonated users: the memory store keeps the notice,
// then it goes by email with -smtp (mail set), else a log line stands for
// it. Either way the log says so ("notice", by log or smtp).
type notifier struct {
	db     *memory.Store
	logger *slog.Logger
	mail   *smtpnotify.Notifier
}

// newNotifier is the notifier cfg asks for: by email through cfg.SMTP,
// with a link to the issuer's account page and the notices to one user
// counted in limiter (shared by the instances with -redis or -postgres),
// or to the log.
func newNotifier(cfg config, issuer string, db *memory.Store, limiter store.RateLimiter, logger *slog.Logger) (notifier, error) {
	n := notifier{db: db, logger: logger}
	if cfg.SMTP == "" {
		return n, nil
	}
	opts := append([]smtpnotify.Option{
		smtpnotify.WithAccountURL(issuer + "/account"),
		smtpnotify.WithClock(cfg.Now),
		smtpnotify.WithRecipientLimit(limiter, smtpnotify.DefaultRecipientLimit, smtpnotify.DefaultRecipientWindow),
	}, cfg.SMTPOptions...)
	mail, err := smtpnotify.New(cfg.SMTP, cfg.smtpFrom(), opts...)
	if err != nil {
		return notifier{}, fmt.Errorf("-smtp: %w", err)
	}
	n.mail = mail
	return n, nil
}

// smtpFrom is cfg.SMTPFrom, or defaultSMTPFrom when it is empty.
func (c config) smtpFrom() string {
	if c.SMTPFrom == "" {
		return defaultSMTPFrom
	}
	return c.SMTPFrom
}

// Notify implements store.Notifier.
func (n notifier) Notify(ctx context.Context, no store.Notice) error {
	if err := n.db.Notify(ctx, no); err != nil {
		return err
	}
	if n.mail == nil {
		n.logger.Info("notice", "by", "log", "user", no.UserID, "impersonator", no.ImpersonatorID, "client_id", no.ClientID)
		return nil
	}
	if err := n.mail.Notify(ctx, no); err != nil {
		return err // audited by the library as impersonation.notification_failed
	}
	n.logger.Info("notice", "by", "smtp", "user", no.UserID, "impersonator", no.ImpersonatorID, "client_id", no.ClientID)
	return nil
}

// printBanner says what the server serves. With the built-in demo data it
// prints the demo credentials; with a data file only counts.
func (s *server) printBanner(w io.Writer, d *data) {
	fmt.Fprintf(w, "actas reference server\n")
	fmt.Fprintf(w, "issuer: %s\n", s.issuer)
	if s.cfg.KeysDir == "" {
		k := s.keyFiles[0].Key
		fmt.Fprintf(w, "keys: no -keys given: using an ephemeral %s key (kid %s); its tokens stop verifying when the server stops\n", k.Algorithm, k.ID)
	} else {
		for i, k := range s.keyFiles {
			role := "verifies"
			if i == len(s.keyFiles)-1 {
				role = "signs and verifies"
			}
			fmt.Fprintf(w, "keys: %s: %s kid %s (%s)\n", k.File, k.Key.Algorithm, k.Key.ID, role)
		}
	}
	if s.cfg.DataFile != "" {
		fmt.Fprintf(w, "data: loaded %d organisations, %d users, %d clients and %d roles from %s\n",
			len(d.Organizations), len(d.Users), len(d.Clients), len(d.Roles), s.cfg.DataFile)
	} else {
		fmt.Fprintf(w, "data: built-in demo data (no -data given). Demo credentials, for this demo only:\n")
		fmt.Fprintf(w, "  organisations: acme (ACME Corporation) > acme-eu (ACME Europe); globex (Globex)\n")
		fmt.Fprintf(w, "  users (username / password / organisation):\n")
		for _, u := range d.Users {
			note := ""
			switch u.ID {
			case "alice":
				note = "  admin: may impersonate acme and acme-eu users in demo-app, cli and demo-app2 (not demo-app3)"
			case "dave":
				note = "  another root organisation: not impersonable by alice"
			}
			fmt.Fprintf(w, "    %-6s %-22s %s%s\n", u.Username, u.Password, u.Org, note)
		}
		fmt.Fprintf(w, "  clients:\n")
		for _, c := range d.Clients {
			fmt.Fprintf(w, "    client_id %s  client_secret %s\n", c.ID, c.Secret)
			if !slices.Contains(c.GrantTypes, tokenexchange.GrantType) {
				allows := "impersonation on, alice holds the impersonation role: an impersonation session signs in as the user"
				if !c.Impersonation {
					allows = "no impersonation: a sign-in under an impersonation session is refused"
				}
				logout := ""
				if len(c.PostLogoutRedirectURIs) > 0 {
					logout = fmt.Sprintf("  post_logout_redirect_uri %s  skip_logout_consent %t", strings.Join(c.PostLogoutRedirectURIs, " "), c.SkipLogoutConsent)
				}
				fmt.Fprintf(w, "      redirect_uri %s  grant_types %s  refresh_tokens %t%s  (an ordinary OpenID Connect client: code flow with PKCE S256; %s)\n",
					strings.Join(c.RedirectURIs, " "), strings.Join(c.GrantTypes, ","), c.RefreshTokens, logout, allows)
				continue
			}
			fmt.Fprintf(w, "      redirect_uri %s  response_modes %s  skip_consent %t  skip_logout_consent %t  audiences %s\n",
				strings.Join(c.RedirectURIs, " "), strings.Join(c.ResponseModes, ","), c.SkipConsent, c.SkipLogoutConsent, strings.Join(c.Audiences, " "))
		}
	}
	s.stores.printStores(w)
	if s.cfg.SMTP != "" {
		shown := "the -smtp server"
		if u, err := url.Parse(s.cfg.SMTP); err == nil {
			shown = u.Redacted()
		}
		fmt.Fprintf(w, "notices: by email through %s from %s, linking %s/account\n", shown, s.cfg.smtpFrom(), s.issuer)
	}
	if s.stores.shared() && s.cfg.KeysDir == "" {
		fmt.Fprintf(w, "keys: warning: with an ephemeral key no other instance verifies this one's tokens: give every instance behind the issuer the same -keys\n")
	}
	if s.app.problem != "" {
		fmt.Fprintf(w, "demo app: disabled: %s\n", s.app.problem)
	}
	if s.app2.problem != "" {
		fmt.Fprintf(w, "demo app 2: disabled: %s\n", s.app2.problem)
	}
	if s.app3.problem != "" {
		fmt.Fprintf(w, "demo app 3: disabled: %s\n", s.app3.problem)
	}
	fmt.Fprintf(w, "console: %s/console   demo app: %s/app   demo app 2: %s/app2   demo app 3: %s/app3   API: %s/api/me (audience %s)\n",
		s.issuer, s.issuer, s.issuer, s.issuer, s.issuer, s.apiAudience)
}
