// Command api runs the example API (package
// github.com/actas/actas/examples/api) on its own, verifying access tokens
// against the JWKS of a remote issuer:
//
//	go run ./examples/api/cmd/api -issuer http://127.0.0.1:8080 -audience http://127.0.0.1:8080/api [-addr 127.0.0.1:8081]
//
// It serves GET /api/me and POST /api/password. Running apart from the
// issuer, it does not see revocations: a revoked token keeps working here
// until it expires (the reference server's own /api/ does see them).
// Request lines and audit events go to stderr as slog JSON; SIGINT or
// SIGTERM shut it down cleanly.
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
	"syscall"
	"time"

	"github.com/actas/actas/examples/api"
	"github.com/actas/actas/impersonation/resource"
	"github.com/actas/actas/store"
)

func main() {
	fs := flag.NewFlagSet("api", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:8081", "listen address")
	issuer := fs.String("issuer", "", "issuer identifier of the token issuer, e.g. http://127.0.0.1:8080 (required)")
	audience := fs.String("audience", "", "audience this API accepts, e.g. http://127.0.0.1:8080/api (required)")
	_ = fs.Parse(os.Args[1:])

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *addr, *issuer, *audience, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "api:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, addr, issuer, audience string, stderr io.Writer) error {
	if issuer == "" || audience == "" {
		return errors.New("-issuer and -audience are required")
	}
	logger := slog.New(slog.NewJSONHandler(stderr, nil))
	h, err := newHandler(issuer, audience, logger)
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	logger.Info("listening", "addr", ln.Addr().String(), "issuer", issuer, "audience", audience)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	logger.Info("stopped")
	return nil
}

// newHandler returns the API verifying tokens of issuer for audience with
// the keys of the issuer's JWKS (issuer + "/oauth2/jwks"), logging to
// logger.
func newHandler(issuer, audience string, logger *slog.Logger) (http.Handler, error) {
	hc := &http.Client{Timeout: 10 * time.Second}
	keys, err := resource.NewRemoteKeySet(issuer+"/oauth2/jwks", hc)
	if err != nil {
		return nil, err
	}
	v, err := resource.NewVerifier(issuer, audience, keys)
	if err != nil {
		return nil, err
	}
	return logRequests(logger, api.Handler(v, store.NewSlogAuditor(logger))), nil
}

// logRequests writes one line per request: method, path (never the query
// string), status and duration.
func logRequests(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		logger.Info("request", "method", r.Method, "path", r.URL.Path, "status", sw.status,
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
