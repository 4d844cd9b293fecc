//go:build cluster

package local

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc's CPU times: 100 on every Linux this runs on.
const clockTicks = 100

// cpuSample is the CPU time (user and system) each part of the cluster has used so far,
// and the machine's busy time, read from /proc.
type cpuSample map[string]time.Duration

// Parts that a CPU sample names besides the cluster's own processes.
const (
	cpuPostgres = "postgres" // every process of the private PostgreSQL cluster
	cpuHarness  = "harness"  // this test process: the senders, and the raw path's SDK client
	cpuMachine  = "machine"  // all cores, every process
)

// sampleCPU reads the CPU time of the named cluster processes, of PostgreSQL's, of this
// process and of the whole machine. A process that cannot be read counts 0.
func (c *cluster) sampleCPU(names ...string) cpuSample {
	s := cpuSample{}
	for _, name := range names {
		s[name], _ = procCPU(c.pid(name))
	}
	s[cpuHarness], _ = procCPU(os.Getpid())
	s[cpuPostgres] = postgresCPU()
	s[cpuMachine] = machineBusy()
	return s
}

// perRequest gives, per part, the CPU milliseconds that each of n requests cost between
// the samples before and after, in a stable order.
func perRequest(before, after cpuSample, n int) string {
	names := make([]string, 0, len(after))
	for k := range after {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, k := range names {
		if n == 0 {
			break
		}
		ms := float64(after[k]-before[k]) / float64(time.Millisecond) / float64(n)
		fmt.Fprintf(&b, " %s %.2f", k, ms)
	}
	return strings.TrimSpace(b.String())
}

// procCPU reads utime+stime of pid from /proc/PID/stat.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces: the fields start after it.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	// After the name: state(0) ppid(1) ... utime(11) stime(12).
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: utime %q stime %q", pid, f[11], f[12])
	}
	return time.Duration(u+st) * time.Second / clockTicks, nil
}

// postgresCPU sums the CPU time of every process named postgres: the private cluster's
// postmaster and backends (no other PostgreSQL runs beside the cluster). A backend that
// exits between two samples takes its time with it; the harness's connections and the
// server's pool stay open through a round.
func postgresCPU() time.Duration {
	paths, _ := filepath.Glob("/proc/[0-9]*/stat")
	var total time.Duration
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil || !bytes.Contains(b, []byte("(postgres)")) {
			continue
		}
		pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		if err != nil {
			continue
		}
		if d, err := procCPU(pid); err == nil {
			total += d
		}
	}
	return total
}

// machineBusy reads the time all cores spent on anything but idle and iowait, from the
// first line of /proc/stat.
func machineBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	var busy int64
	for i, v := range f[1:] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			continue
		}
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		if i >= 8 { // guest and guest_nice are already in user and nice
			break
		}
		busy += n
	}
	return time.Duration(busy) * time.Second / clockTicks
}
