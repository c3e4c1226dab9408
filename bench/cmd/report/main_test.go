package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseLine(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, line, want string
		ok               bool
		s                sample
	}{
		{name: "sub-benchmark with procs", line: "BenchmarkSideBySide/actas-2   \t    5756\t    187343 ns/op\t   37374 B/op\t     317 allocs/op",
			want: "BenchmarkSideBySide/actas", ok: true, s: sample{187343, 37374, 317}},
		{name: "no procs suffix", line: "BenchmarkFloor/ES256 100 159605 ns/op 7216 B/op 79 allocs/op",
			want: "BenchmarkFloor/ES256", ok: true, s: sample{159605, 7216, 79}},
		{name: "name ending in a dash word", line: "BenchmarkX/a-b-4 10 5.5 ns/op",
			want: "BenchmarkX/a-b", ok: true, s: sample{nsPerOp: 5.5}},
		{name: "header line", line: "cpu: Intel(R) Xeon(R) Processor"},
		{name: "benchmark name alone", line: "BenchmarkSideBySide"},
		{name: "log line", line: "Benchmarks are below: 1 2 3"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			name, s, ok := parseLine(tc.line)
			require.Equal(t, tc.ok, ok)
			assert.Equal(t, tc.want, name)
			assert.Equal(t, tc.s, s)
		})
	}
}

func TestReportRatios(t *testing.T) {
	t.Parallel()
	in := `cpu: Test CPU
BenchmarkFloor/ES256-2 10 100 ns/op 0 B/op 1 allocs/op
BenchmarkFloor/ES256-2 10 300 ns/op 0 B/op 1 allocs/op
BenchmarkExchange/ES256-2 10 130 ns/op 0 B/op 2 allocs/op
BenchmarkExchange/ES256-2 10 110 ns/op 0 B/op 2 allocs/op
BenchmarkExchange/ES256-2 10 900 ns/op 0 B/op 2 allocs/op
BenchmarkTokenEndpoint-2 10 280 ns/op 0 B/op 300 allocs/op
BenchmarkSideBySide/actas-2 10 200 ns/op 0 B/op 3 allocs/op
BenchmarkSideBySide/zitadel-2 10 300 ns/op 0 B/op 4 allocs/op
`
	r := newResults()
	require.NoError(t, r.read(strings.NewReader(in)))
	v, err := r.ratio("BenchmarkExchange/ES256", "BenchmarkFloor/ES256")
	require.NoError(t, err)
	assert.InDelta(t, 130.0/200, v, 1e-9, "medians: 130 over (100+300)/2")
	v, err = r.ratio("BenchmarkSideBySide/zitadel", "BenchmarkSideBySide/actas")
	require.NoError(t, err)
	assert.InDelta(t, 1.5, v, 1e-9)
	_, err = r.ratio("BenchmarkMissing", "BenchmarkFloor/ES256")
	assert.Error(t, err)

	var out strings.Builder
	r.print(&out)
	assert.Contains(t, out.String(), "cpu: Test CPU")
	assert.Contains(t, out.String(), "endpoint / floor")
	assert.Contains(t, out.String(), "1.40")
}
