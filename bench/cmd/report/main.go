// Command report reads raw `go test -bench -benchmem` output and prints a
// small table: each benchmark's median time/op and allocs/op over its runs,
// and the ratios the performance issue asks for:
//
//	exchange / floor   BenchmarkExchange/ES256 ÷ BenchmarkFloor/ES256
//	endpoint / floor   BenchmarkTokenEndpoint ÷ BenchmarkFloor/ES256
//	zitadel / actas    BenchmarkSideBySide/zitadel ÷ BenchmarkSideBySide/actas
//
// It uses the standard library only, so bench/run works without benchstat
// (which gives the confidence intervals).
//
//	go run ./cmd/report out/core.txt out/sidebyside.txt
package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode/utf8"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: report FILE...")
		os.Exit(2)
	}
	r := newResults()
	for _, name := range os.Args[1:] {
		if err := r.readFile(name); err != nil {
			fmt.Fprintln(os.Stderr, "report:", err)
			os.Exit(1)
		}
	}
	if len(r.order) == 0 {
		fmt.Fprintln(os.Stderr, "report: no benchmark results found")
		os.Exit(1)
	}
	r.print(os.Stdout)
}

// sample is one result line's figures.
type sample struct {
	nsPerOp, bytesPerOp, allocsPerOp float64
}

// results holds every run of every benchmark, in the order first seen, and
// the machine lines (goos, goarch, cpu) of the files.
type results struct {
	order   []string
	runs    map[string][]sample
	machine []string
}

func newResults() *results { return &results{runs: map[string][]sample{}} }

func (r *results) readFile(name string) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	return r.read(f)
}

func (r *results) read(in io.Reader) error {
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		line := sc.Text()
		for _, key := range []string{"goos:", "goarch:", "cpu:"} {
			if strings.HasPrefix(line, key) && !slices.Contains(r.machine, line) {
				r.machine = append(r.machine, line)
			}
		}
		name, s, ok := parseLine(line)
		if !ok {
			continue
		}
		if _, seen := r.runs[name]; !seen {
			r.order = append(r.order, name)
		}
		r.runs[name] = append(r.runs[name], s)
	}
	return sc.Err()
}

// parseLine reads "BenchmarkX/y-2  1000  123 ns/op  45 B/op  6 allocs/op",
// dropping the -GOMAXPROCS suffix from the name.
func parseLine(line string) (string, sample, bool) {
	fields := strings.Fields(line)
	if len(fields) < 4 || !strings.HasPrefix(fields[0], "Benchmark") {
		return "", sample{}, false
	}
	if _, err := strconv.Atoi(fields[1]); err != nil {
		return "", sample{}, false
	}
	name := fields[0]
	if i := strings.LastIndexByte(name, '-'); i > 0 {
		if _, err := strconv.Atoi(name[i+1:]); err == nil {
			name = name[:i]
		}
	}
	var s sample
	seen := false
	for i := 2; i+1 < len(fields); i += 2 {
		v, err := strconv.ParseFloat(fields[i], 64)
		if err != nil {
			continue
		}
		switch fields[i+1] {
		case "ns/op":
			s.nsPerOp, seen = v, true
		case "B/op":
			s.bytesPerOp = v
		case "allocs/op":
			s.allocsPerOp = v
		}
	}
	return name, s, seen
}

// median of the values get picks from runs.
func median(runs []sample, get func(sample) float64) float64 {
	v := make([]float64, len(runs))
	for i, s := range runs {
		v[i] = get(s)
	}
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

func (r *results) median(name string, get func(sample) float64) (float64, error) {
	runs := r.runs[name]
	if len(runs) == 0 {
		return 0, fmt.Errorf("%s: no results", name)
	}
	return median(runs, get), nil
}

func ns(s sample) float64     { return s.nsPerOp }
func bytes(s sample) float64  { return s.bytesPerOp }
func allocs(s sample) float64 { return s.allocsPerOp }

// ratio is one line of the ratio table.
type ratio struct {
	name, num, den, target string
}

var ratios = []ratio{
	{"exchange / floor", "BenchmarkExchange/ES256", "BenchmarkFloor/ES256", "<= 1.40 (aim 1.25)"},
	{"endpoint / floor", "BenchmarkTokenEndpoint", "BenchmarkFloor/ES256", "<= 1.50 (aim 1.35)"},
	{"zitadel / actas", "BenchmarkSideBySide/zitadel", "BenchmarkSideBySide/actas", ">= 1.10 (aim 1.30)"},
}

func (r *results) print(w io.Writer) {
	for _, m := range r.machine {
		fmt.Fprintln(w, m)
	}
	fmt.Fprintln(w)
	width := len("benchmark")
	for _, name := range r.order {
		width = max(width, len(name))
	}
	fmt.Fprintf(w, "%-*s  %s  %8s  %9s  %4s\n", width, "benchmark", padLeft("time/op", 10), "B/op", "allocs/op", "runs")
	for _, name := range r.order {
		runs := r.runs[name]
		fmt.Fprintf(w, "%-*s  %s  %8.0f  %9.0f  %4d\n", width, name,
			padLeft(duration(median(runs, ns)), 10), median(runs, bytes), median(runs, allocs), len(runs))
	}
	fmt.Fprintln(w)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ratio (medians)\tvalue\ttarget (issue 5)")
	for _, q := range ratios {
		v, err := r.ratio(q.num, q.den)
		if err != nil {
			fmt.Fprintf(tw, "%s\tn/a (%v)\t%s\n", q.name, err, q.target)
			continue
		}
		fmt.Fprintf(tw, "%s\t%.2f\t%s\n", q.name, v, q.target)
	}
	if a, err := r.median("BenchmarkTokenEndpoint", allocs); err == nil {
		fmt.Fprintf(tw, "allocs / endpoint exchange\t%.0f\t<= 400 (aim 250)\n", a)
	}
	_ = tw.Flush()
}

func (r *results) ratio(num, den string) (float64, error) {
	n, err := r.median(num, ns)
	if err != nil {
		return 0, err
	}
	d, err := r.median(den, ns)
	if err != nil {
		return 0, err
	}
	if d == 0 {
		return 0, errors.New("zero denominator")
	}
	return n / d, nil
}

// padLeft pads s with spaces to n characters (µ is one character, two
// bytes, so fmt's byte-counted width will not do).
func padLeft(s string, n int) string {
	return strings.Repeat(" ", max(0, n-utf8.RuneCountInString(s))) + s
}

// duration formats nanoseconds as benchstat does: ns, µs or ms with four
// significant digits.
func duration(v float64) string {
	switch {
	case v >= 1e6:
		return strconv.FormatFloat(v/1e6, 'g', 4, 64) + "ms"
	case v >= 1e3:
		return strconv.FormatFloat(v/1e3, 'g', 4, 64) + "µs"
	default:
		return strconv.FormatFloat(v, 'g', 4, 64) + "ns"
	}
}
