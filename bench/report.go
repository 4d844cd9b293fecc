package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Row is one figure of a benchmark: reelflow's, the baseline's when there is one, their
// ratio and the goal.
type Row struct {
	Metric   string
	Reelflow Summary
	Baseline *Summary
	Ratio    *Summary
	Goal     string
	// Met is nil when the row has no goal.
	Met *bool
}

// Result is what a benchmark measured.
type Result struct {
	// Name is the short name that marks its section in BENCHMARKS.md: ack, progress ...
	Name  string
	Title string
	// Setup says what ran, in one paragraph: sizes, scaled clocks, the baseline.
	Setup string
	Runs  int
	Rows  []Row
	// Notes say what else was seen: stalls, fallbacks, errors.
	Notes []string
	// Machine is the machine's description when the benchmark started.
	Machine string
	// Facts are counts that the smoke tests assert on: jobs completed, calls made.
	Facts map[string]float64
}

// fact records a count in r.Facts.
func (r *Result) fact(name string, v float64) {
	if r.Facts == nil {
		r.Facts = map[string]float64{}
	}
	r.Facts[name] += v
}

// goal returns a pointer to ok, for Row.Met.
func goal(ok bool) *bool { return &ok }

// sum returns a pointer to s, for Row.Baseline and Row.Ratio.
func sum(s Summary) *Summary { return &s }

// Missed lists the rows whose goal was missed.
func (r Result) Missed() []string {
	var out []string
	for _, row := range r.Rows {
		if row.Met != nil && !*row.Met {
			out = append(out, row.Metric)
		}
	}
	return out
}

func metText(m *bool) string {
	switch {
	case m == nil:
		return ""
	case *m:
		return "met"
	default:
		return "MISSED"
	}
}

func optional(s *Summary) string {
	if s == nil {
		return ""
	}
	return s.String()
}

// Text is the result as a plain table, for the terminal.
func (r Result) Text() string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "\n== %s (%d runs; median [min-max])\n%s\n", r.Title, r.Runs, r.Machine)
	tw := tabwriter.NewWriter(&b, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "metric\treelflow\tbaseline\tratio\tgoal\t")
	for _, row := range r.Rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s %s\t\n", row.Metric, row.Reelflow, optional(row.Baseline), optional(row.Ratio), row.Goal, metText(row.Met))
	}
	_ = tw.Flush()
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "  - %s\n", n)
	}
	return b.String()
}

// Markdown is the result as a section of BENCHMARKS.md, between markers that
// WriteSection finds again.
func (r Result) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "<!-- bench:%s:begin -->\n", r.Name)
	fmt.Fprintf(&b, "#### Figures: %s\n\n", r.Title)
	fmt.Fprintf(&b, "%s Medians of %d runs, [min-max].\n\n", r.Machine, r.Runs)
	if r.Setup != "" {
		fmt.Fprintf(&b, "%s\n\n", r.Setup)
	}
	b.WriteString("| metric | reelflow | baseline | ratio | goal | |\n| --- | --- | --- | --- | --- | --- |\n")
	for _, row := range r.Rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", row.Metric, row.Reelflow, optional(row.Baseline), optional(row.Ratio), row.Goal, metText(row.Met))
	}
	if len(r.Notes) > 0 {
		b.WriteString("\n")
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	}
	fmt.Fprintf(&b, "<!-- bench:%s:end -->\n", r.Name)
	return b.String()
}

// WriteSection puts r's Markdown into the file at path: in place of its previous
// section when the file has one, else at the end. The rest of the file, the hand-written
// method and analysis, is left as it is.
func WriteSection(path string, r Result) error {
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	text := string(old)
	section := r.Markdown()
	begin := fmt.Sprintf("<!-- bench:%s:begin -->", r.Name)
	end := fmt.Sprintf("<!-- bench:%s:end -->\n", r.Name)
	i := strings.Index(text, begin)
	j := strings.Index(text, end)
	switch {
	case i >= 0 && j > i:
		text = text[:i] + section + text[j+len(end):]
	case text == "":
		text = "# reelflow benchmarks\n\n" + section
	default:
		if !strings.HasSuffix(text, "\n") {
			text += "\n"
		}
		text += "\n" + section
	}
	return os.WriteFile(path, []byte(text), 0o644)
}

// Machine describes the machine, the commit and the moment, for a result's header.
func Machine() string {
	mem := "?"
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				if f := strings.Fields(rest); len(f) > 0 {
					if kb, err := strconv.ParseFloat(f[0], 64); err == nil {
						mem = fmt.Sprintf("%.0f GiB", kb/(1<<20))
					}
				}
			}
		}
	}
	load := "?"
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			load = strings.Join(f[:3], " ")
		}
	}
	return fmt.Sprintf("Measured %s on commit %s; %d CPUs (nproc), %s RAM, %s, load average %s at the start.",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), commit(), runtime.NumCPU(), mem, runtime.Version(), load)
}

// commit is `git rev-parse --short HEAD`, marked when the tree has uncommitted changes.
func commit() string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	c := strings.TrimSpace(string(out))
	if st, err := exec.CommandContext(ctx, "git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(bytes.TrimSpace(st)) > 0 {
		c += " (with uncommitted changes)"
	}
	return c
}

// CPUSample is a reading of the machine's and this process's CPU time, to tell what
// else the machine was doing during a benchmark.
type CPUSample struct {
	at         time.Time
	busy, self float64 // clock ticks: all CPUs' non-idle time, and this process's
}

// ReadCPU reads /proc/stat and /proc/self/stat; on other systems it returns zeros.
func ReadCPU() CPUSample {
	s := CPUSample{at: time.Now()}
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		line, _, _ := strings.Cut(string(b), "\n")
		f := strings.Fields(line)
		for i, v := range f[1:] {
			x, _ := strconv.ParseFloat(v, 64)
			if i != 3 && i != 4 { // idle, iowait
				s.busy += x
			}
		}
	}
	if b, err := os.ReadFile("/proc/self/stat"); err == nil {
		// Fields after the command name, which is in parentheses and may hold spaces.
		if i := strings.LastIndexByte(string(b), ')'); i >= 0 {
			f := strings.Fields(string(b[i+1:]))
			if len(f) > 12 {
				u, _ := strconv.ParseFloat(f[11], 64)
				k, _ := strconv.ParseFloat(f[12], 64)
				s.self = u + k
			}
		}
	}
	return s
}

// CPUNote says how many cores this process and everything else kept busy since s.
func CPUNote(s CPUSample) string {
	e := ReadCPU()
	secs := e.at.Sub(s.at).Seconds()
	const hz = 100 // USER_HZ on Linux
	self := (e.self - s.self) / hz / secs
	other := (e.busy - s.busy - (e.self - s.self)) / hz / secs
	return fmt.Sprintf("During the benchmark (%.0f s) this process kept %.2f cores busy on average and other processes %.2f cores.", secs, self, max(other, 0))
}
