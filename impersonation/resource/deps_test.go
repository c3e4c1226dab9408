package resource_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestImportsNothingOfTheIssuerSide: an API that verifies tokens never
// pulls in the authorize or exchange code (DESIGN.md, the package table).
func TestImportsNothingOfTheIssuerSide(t *testing.T) {
	t.Parallel()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	out, err := exec.Command(gobin, "list", "-deps", ".").Output()
	require.NoError(t, err)
	deps := strings.Fields(string(out))
	require.Contains(t, deps, "github.com/actas/actas/impersonation/resource", "go list ran on this package")
	for _, issuer := range []string{
		"github.com/actas/actas/impersonation",
		"github.com/actas/actas/subjecttoken",
		"github.com/actas/actas/tokenexchange",
	} {
		assert.NotContains(t, deps, issuer)
	}
	t.Logf("dependencies of impersonation/resource inside the module: %v", actasOnly(deps))
}

func actasOnly(deps []string) []string {
	var out []string
	for _, d := range deps {
		if strings.HasPrefix(d, "github.com/actas/") {
			out = append(out, d)
		}
	}
	return out
}
