package interop_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/actas/actas/internal/testkit"
	"github.com/stretchr/testify/require"
)

// The reference server, built once by TestMain, and the demo data it
// serves without -data.
const (
	clientID     = "cli"
	clientSecret = "cli-secret-not-for-production"
	redirectURI  = "https://oauth.pstmn.io/v1/callback"
	adminUser    = "alice"
	adminPass    = "alice-demo-password"

	// authorizeScope is what the authorize step asks for; grantedScope is
	// what bob holds for cli of it (internal_user_impersonate is dropped).
	authorizeScope = "internal_user_impersonate openid orders:read"
	grantedScope   = "openid orders:read"

	tokenTypeJWT         = "urn:ietf:params:oauth:token-type:jwt"
	tokenTypeIDToken     = "urn:ietf:params:oauth:token-type:id_token"
	tokenTypeAccessToken = "urn:ietf:params:oauth:token-type:access_token"
	grantTokenExchange   = "urn:ietf:params:oauth:grant-type:token-exchange"
)

const (
	buildTimeout = 5 * time.Minute // a cold build cache compiles everything
	readyTimeout = 30 * time.Second
	stopTimeout  = 15 * time.Second
	httpTimeout  = 10 * time.Second
)

// serverBinary is the reference server TestMain built.
var serverBinary string

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "actas-interop-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "interop:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	root, err := filepath.Abs("..")
	if err != nil {
		fmt.Fprintln(os.Stderr, "interop:", err)
		return 1
	}
	serverBinary = filepath.Join(dir, "server")
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	// From the repository root, in workspace mode: the server as CI and
	// interop/run build it.
	cmd := exec.CommandContext(ctx, "go", "build", "-o", serverBinary, "./examples/server")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "interop: go build ./examples/server: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// server is the reference server running as a child process.
type server struct {
	Issuer string
	cmd    *exec.Cmd
	output *testkit.SyncBuffer
	done   chan struct{}
	err    error // the process's exit, once done is closed
}

// freePort asks the kernel for a free TCP port on the loopback interface.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	return port
}

// startServer runs the reference server on 127.0.0.1:port with its demo
// data, signing with the keys of keysDir ("" for an ephemeral key), waits
// until it serves its discovery document, and stops it when the test ends
// if the test did not.
func startServer(t *testing.T, port int, keysDir string) *server {
	t.Helper()
	addr := "127.0.0.1:" + strconv.Itoa(port)
	s := &server{Issuer: "http://" + addr, output: &testkit.SyncBuffer{}, done: make(chan struct{})}
	args := []string{"-addr", addr, "-issuer", s.Issuer}
	if keysDir != "" {
		args = append(args, "-keys", keysDir)
	}
	s.cmd = exec.Command(serverBinary, args...)
	s.cmd.Stdout, s.cmd.Stderr = s.output, s.output
	require.NoError(t, s.cmd.Start())
	go func() {
		s.err = s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	})
	s.waitReady(t)
	return s
}

// waitReady polls the discovery document until it answers 200, the
// process exits, or readyTimeout passes.
func (s *server) waitReady(t *testing.T) {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(readyTimeout)
	var last error = errors.New("no answer yet")
	for time.Now().Before(deadline) {
		resp, err := client.Get(s.Issuer + "/.well-known/openid-configuration")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			err = errors.New(resp.Status)
		}
		last = err
		select {
		case <-s.done:
			require.Failf(t, "server stopped", "the server exited before it was ready: %v\n%s", s.err, s.output.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	require.Failf(t, "server not ready", "no discovery document from %s in %s (last: %v)\n%s", s.Issuer, readyTimeout, last, s.output.String())
}

// stop sends SIGINT and expects the server to exit cleanly in time.
func (s *server) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, s.cmd.Process.Signal(syscall.SIGINT))
	select {
	case <-s.done:
		require.NoError(t, s.err, "the server did not stop cleanly:\n%s", s.output.String())
	case <-time.After(stopTimeout):
		require.Failf(t, "server did not stop", "no exit %s after SIGINT\n%s", stopTimeout, s.output.String())
	}
}

// writeKey writes a new ES256 private key (PKCS #8 PEM) to dir/name, as
// the server's -keys directory reads it.
func writeKey(t *testing.T, dir, name string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	data := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	require.NoError(t, os.WriteFile(filepath.Join(dir, name), data, 0o600))
}
