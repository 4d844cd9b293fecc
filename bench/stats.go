package bench

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Summary is a figure over several runs: the median and the spread.
type Summary struct {
	Median, Min, Max float64
	N                int
}

// Summarize returns the median, minimum and maximum of xs.
func Summarize(xs []float64) Summary {
	if len(xs) == 0 {
		return Summary{Median: math.NaN(), Min: math.NaN(), Max: math.NaN()}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Summary{Median: med, Min: s[0], Max: s[len(s)-1], N: len(s)}
}

// String formats the summary as "median [min-max]", or the bare value for one run.
func (s Summary) String() string {
	if s.N <= 1 || s.Min == s.Max {
		return num(s.Median)
	}
	return fmt.Sprintf("%s [%s-%s]", num(s.Median), num(s.Min), num(s.Max))
}

// num prints a figure with about three significant digits.
func num(v float64) string {
	switch a := math.Abs(v); {
	case math.IsNaN(v):
		return "n/a"
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 1:
		// Four digits: 1.002 calls per job must not print as a goal-meeting "1.00".
		return strconv.FormatFloat(v, 'g', 4, 64)
	default:
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
}

// Percentile returns the p-th percentile (0..100) of ds by the nearest-rank method,
// in milliseconds.
func Percentile(ds []time.Duration, p float64) float64 {
	if len(ds) == 0 {
		return math.NaN()
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	rank = min(max(rank, 1), len(s))
	return ms(s[rank-1])
}

// ms converts a duration to float milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Ratios divides a[i] by b[i], run by run.
func Ratios(a, b []float64) []float64 {
	out := make([]float64, 0, min(len(a), len(b)))
	for i := range min(len(a), len(b)) {
		out = append(out, a[i]/b[i])
	}
	return out
}

// Memory is the process's resident memory, from /proc/self/status.
type Memory struct {
	RSS, HWM float64 // VmRSS and VmHWM (the peak), MB
}

// ReadMemory reads VmRSS and VmHWM. Server, worker, sandbox, receiver and harness share
// this one process, so the figures are theirs together.
func ReadMemory() (Memory, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return Memory{}, err
	}
	defer f.Close()
	var m Memory
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || (name != "VmRSS" && name != "VmHWM") {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		kb, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return Memory{}, fmt.Errorf("parse %s: %w", name, err)
		}
		if name == "VmRSS" {
			m.RSS = kb / 1000
		} else {
			m.HWM = kb / 1000
		}
	}
	return m, sc.Err()
}

// ResetPeakMemory returns freed memory to the OS and resets VmHWM to the current RSS
// (Linux: "5" to /proc/self/clear_refs), so that a run's peak is its own and not an
// earlier run's in the same process. It reports whether the reset worked.
func ResetPeakMemory() bool {
	runtime.GC()
	debug.FreeOSMemory()
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}
