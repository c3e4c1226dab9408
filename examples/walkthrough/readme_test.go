package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestReadmeWiringCompiles: the README's wiring block, between its
// markers, builds and vets as the body of a function with the names it
// uses as parameters: the front door never shows code that does not
// compile or drops an error.
func TestReadmeWiringCompiles(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	raw, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	require.NoError(t, err)
	_, after, ok := strings.Cut(string(raw), "<!-- wiring:start -->")
	require.True(t, ok, "README.md has no wiring:start marker")
	block, _, ok := strings.Cut(after, "<!-- wiring:end -->")
	require.True(t, ok, "README.md has no wiring:end marker")
	block = strings.TrimSpace(block)
	block = strings.TrimPrefix(block, "```go")
	block = strings.TrimSuffix(block, "```")
	require.NotContains(t, block, "_ =", "every error is handled")
	require.NotContains(t, block, ", _ :=", "every error is handled")

	src := `package main

import (
	"context"
	"net/http"

	"github.com/actas/actas/impersonation"
	"github.com/actas/actas/impersonation/resource"
	"github.com/actas/actas/store"
	"github.com/actas/actas/store/memory"
)

func wiring(ctx context.Context, mux *http.ServeMux, issuer string, myAuditor store.Auditor,
	yourLogin impersonation.Authenticator, yourConsentPage impersonation.ConsentFunc, changePassword http.Handler) error {
` + block + `
	return nil
}

func main() { _ = wiring }
`
	dir, err := os.MkdirTemp(".", "readme-wiring-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	require.NoError(t, os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o600))
	out, err := exec.Command(gobin, "vet", "./"+filepath.Base(dir)).CombinedOutput()
	require.NoError(t, err, "the README's wiring block does not build:\n%s\n%s", out, src)
}
