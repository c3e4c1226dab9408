package claims_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/actas/actas/claims"
	"github.com/actas/actas/impersonation"
	"github.com/actas/actas/internal/authorizetoken"
)

// TestMaxTokenAgeExceedsEveryLifetime: no token the library mints with its
// caps and defaults can be older than MaxTokenAge while it is still valid,
// so the iat bound never refuses a genuine token.
func TestMaxTokenAgeExceedsEveryLifetime(t *testing.T) {
	t.Parallel()
	for name, lifetime := range map[string]time.Duration{
		"subject token (authorizetoken.DefaultMaxTTL)":                    authorizetoken.DefaultMaxTTL,
		"ID token (authorizetoken.DefaultMaxIDTokenTTL)":                  authorizetoken.DefaultMaxIDTokenTTL,
		"any raised cap (authorizetoken.CeilingTTL)":                      authorizetoken.CeilingTTL,
		"access token (impersonation.MaxAccessTokenTTL)":                  impersonation.MaxAccessTokenTTL,
		"refresh token (impersonation.DefaultRefreshTokenTTL)":            impersonation.DefaultRefreshTokenTTL,
		"impersonation session (impersonation.DefaultSessionMaxDuration)": impersonation.DefaultSessionMaxDuration,
	} {
		assert.Greater(t, claims.MaxTokenAge, 100*(lifetime+claims.MaxSkew), name)
	}
}
