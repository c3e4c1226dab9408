package main

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/impersonation"
	"github.com/actas/actas/store"
)

// TestParseFlagsStartLimit: -start-limit N/DURATION sets the start limit
// and its window, 0 turns the limit off (with a warning), and every bad
// value stops the server at start with a message saying what is wrong.
func TestParseFlagsStartLimit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		value  string
		limit  int
		window time.Duration
		// err is in the error and on stderr; empty for a good value.
		err string
	}{
		{name: "per minute", value: "30/1m", limit: 30, window: time.Minute},
		{name: "per second", value: "1/1s", limit: 1, window: time.Second},
		{name: "compound duration", value: "5/1h30m", limit: 5, window: 90 * time.Minute},
		{name: "largest", value: "100000/24h", limit: 100_000, window: 24 * time.Hour},
		{name: "off", value: "0", limit: -1},
		{name: "off with a window", value: "0/1m", limit: -1},

		{name: "empty", value: "", err: "want N/DURATION, such as 30/1m, or 0 to turn the limit off"},
		{name: "not a number", value: "many", err: "want N/DURATION, such as 30/1m, or 0 to turn the limit off"},
		{name: "no duration", value: "30", err: "no DURATION: want N/DURATION, such as 30/1m"},
		{name: "empty duration", value: "30/", err: `DURATION "": not a duration (such as 30s, 1m, 1h)`},
		{name: "duration without unit", value: "30/60", err: `DURATION "60": not a duration (such as 30s, 1m, 1h)`},
		{name: "unparsable duration", value: "30/soon", err: `DURATION "soon": not a duration (such as 30s, 1m, 1h)`},
		{name: "zero duration", value: "30/0s", err: "DURATION 0s: must be positive"},
		{name: "negative duration", value: "30/-1m", err: "DURATION -1m: must be positive"},
		{name: "duration too short", value: "30/500ms", err: "DURATION 500ms: want 1s to 24h"},
		{name: "duration too long", value: "30/48h", err: "DURATION 48h: want 1s to 24h"},
		{name: "unparsable duration with N 0", value: "0/soon", err: `DURATION "soon": not a duration`},
		{name: "negative N", value: "-1/1m", err: "limit -1: must not be negative (0 turns the limit off)"},
		{name: "negative N alone", value: "-5", err: "limit -5: must not be negative (0 turns the limit off)"},
		{name: "N not whole", value: "1.5/1m", err: `limit "1.5": want a whole number from 0 to 100000`},
		{name: "N empty", value: "/1m", err: `limit "": want a whole number from 0 to 100000`},
		{name: "N too large", value: "100001/1m", err: `limit "100001": want a whole number from 0 to 100000`},
		{name: "N out of range", value: "99999999999999999999/1m", err: `limit "99999999999999999999": want a whole number from 0 to 100000`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var stderr bytes.Buffer
			cfg, err := parseFlags([]string{"-start-limit", tc.value}, &stderr)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				assert.Contains(t, stderr.String(), `invalid value "`+tc.value+`" for flag -start-limit: `+tc.err)
				assert.Contains(t, stderr.String(), "-start-limit N/DURATION", "the usage follows")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.limit, cfg.StartLimit)
			assert.Equal(t, tc.window, cfg.StartWindow)
			if tc.limit < 0 {
				assert.Contains(t, stderr.String(), "warning: -start-limit 0: impersonation starts are not rate-limited")
			} else {
				assert.Empty(t, stderr.String())
			}
		})
	}

	cfg, err := parseFlags(nil, io.Discard)
	require.NoError(t, err)
	assert.Zero(t, cfg.StartLimit, "without the flag the server's default applies")
	assert.Equal(t, impersonation.DefaultStartWindow, cfg.startWindow())
}

// TestStartLimitTakesEffect: the limit -start-limit sets is the one the
// authorize endpoint applies, per impersonator, on the injected clock:
// the start over it is refused with temporarily_unavailable and audited
// rate_limited, and a window later starts are allowed again. Without the
// flag the default applies; with 0 there is no limit.
func TestStartLimitTakesEffect(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		// allowed starts go through in a window, the next is refused;
		// -1: none is refused.
		allowed int
		window  time.Duration
	}{
		{"2/1m", []string{"-start-limit", "2/1m"}, 2, time.Minute},
		{"3/1h", []string{"-start-limit", "3/1h"}, 3, time.Hour},
		{"default", nil, impersonation.DefaultStartLimit, impersonation.DefaultStartWindow},
		{"off", []string{"-start-limit", "0"}, -1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			flags, err := parseFlags(tc.args, io.Discard)
			require.NoError(t, err)
			clock := newTestClock()
			f := newFixture(t, func(c *config) {
				c.StartLimit, c.StartWindow, c.Now = flags.StartLimit, flags.StartWindow, clock.Now
			})
			b := f.browser(t)
			b.login("alice", "alice-demo-password")

			// Response mode query: the refusal's description has a
			// semicolon, which cliAuthorize's fragment parsing trips on.
			if tc.allowed < 0 {
				for i := range 3 * impersonation.DefaultStartLimit {
					assert.NotEmpty(t, b.cliAuthorize("bob", "query").Get("subject_token"), "start %d", i+1)
				}
				for _, e := range f.eventsOf(store.EventImpersonationDenied) {
					assert.NotEqual(t, "rate_limited", e.Reason)
				}
				return
			}
			for i := range tc.allowed {
				require.NotEmpty(t, b.cliAuthorize("bob", "query").Get("subject_token"), "start %d", i+1)
			}
			v := b.cliAuthorize("carol", "query")
			assert.Equal(t, "temporarily_unavailable", v.Get("error"))
			assert.Equal(t, "too many impersonation requests; slow down", v.Get("error_description"))
			assert.Empty(t, v.Get("subject_token"))
			denied := f.oneDenial(t, "rate_limited")
			assert.Equal(t, "rate_limited", denied.Reason)
			assert.Equal(t, "alice", denied.Impersonator)
			assert.Equal(t, "carol", denied.Subject)

			clock.Advance(tc.window)
			assert.NotEmpty(t, b.cliAuthorize("carol", "query").Get("subject_token"), "a window later, allowed again")
		})
	}
}
