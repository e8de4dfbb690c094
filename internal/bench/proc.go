package bench

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// clockTick is USER_HZ, the unit of the CPU times in /proc/<pid>/stat. It
// is 100 on every Linux architecture Go supports (the kernel fixes it for
// user space), so it is not read through sysconf (which needs cgo).
const clockTick = 100

// ProcSample is one reading of a process from /proc.
type ProcSample struct {
	CPU      time.Duration // utime+stime, plus those of reaped children
	RSSKiB   int64         // VmRSS
	PeakKiB  int64         // VmHWM (since start or the last ResetPeak)
	Threads  int
	SampleAt time.Time
}

// ReadProc reads /proc/<pid>/stat and /proc/<pid>/status.
func ReadProc(pid int) (ProcSample, error) {
	s := ProcSample{SampleAt: time.Now()}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	cpu, err := parseStatCPU(b)
	if err != nil {
		return s, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	s.CPU = cpu
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	s.RSSKiB = statusKiB(st, "VmRSS:")
	s.PeakKiB = statusKiB(st, "VmHWM:")
	s.Threads = int(statusKiB(st, "Threads:"))
	return s, nil
}

// parseStatCPU returns utime+stime+cutime+cstime. The command name in
// field 2 may contain spaces and parentheses, so fields are counted from
// the last ')'.
func parseStatCPU(b []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("no command field")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime is field 14, so f[11]..f[14].
	if len(f) < 15 {
		return 0, errors.New("short stat line")
	}
	var ticks int64
	for _, s := range f[11:15] {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, err
		}
		ticks += v
	}
	return time.Duration(ticks) * time.Second / clockTick, nil
}

// parsePPID returns field 4 of a stat line.
func parsePPID(b []byte) (int, bool) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return 0, false
	}
	p, err := strconv.Atoi(f[1])
	return p, err == nil
}

func statusKiB(st []byte, key string) int64 {
	sc := bufio.NewScanner(bytes.NewReader(st))
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, key); ok {
			v, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return v
		}
	}
	return 0
}

// ResetPeak sets the process's VmHWM back to its current RSS, so a later
// reading gives the peak of what happened in between.
func ResetPeak(pid int) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// Tree returns pid and all its descendants, from one scan of /proc.
func Tree(pid int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return []int{pid}
	}
	children := map[int][]int{}
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		if pp, ok := parsePPID(b); ok {
			children[pp] = append(children[pp], p)
		}
	}
	out := []int{pid}
	for i := 0; i < len(out) && i < 10000; i++ {
		out = append(out, children[out[i]]...)
	}
	return out
}

// TreeSampler polls the summed RSS of a process tree (for servers that
// fork per connection, like sshd) and keeps the peak.
type TreeSampler struct {
	stop chan struct{}
	wg   sync.WaitGroup
	mu   sync.Mutex
	peak int64
}

// SampleTree starts polling pid's tree every interval.
func SampleTree(pid int, interval time.Duration) *TreeSampler {
	t := &TreeSampler{stop: make(chan struct{})}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		tk := time.NewTicker(interval)
		defer tk.Stop()
		for {
			var sum int64
			for _, p := range Tree(pid) {
				if s, err := ReadProc(p); err == nil {
					sum += s.RSSKiB
				}
			}
			t.mu.Lock()
			t.peak = max(t.peak, sum)
			t.mu.Unlock()
			select {
			case <-t.stop:
				return
			case <-tk.C:
			}
		}
	}()
	return t
}

// Stop ends the sampling and returns the peak summed RSS in KiB.
func (t *TreeSampler) Stop() int64 {
	close(t.stop)
	t.wg.Wait()
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.peak
}

// NoFile is RLIMIT_NOFILE after RaiseNoFile: the limits in force and the
// number of descriptors that were wanted.
type NoFile struct {
	Soft, Hard uint64
	Want       uint64
	// Err is a failed getrlimit/setrlimit other than the refusal to raise
	// the hard limit (which Short reports).
	Err error
}

// Short is how many descriptors the soft limit in force lacks of Want
// (0 when it is enough).
func (n NoFile) Short() uint64 {
	if n.Soft >= n.Want {
		return 0
	}
	return n.Want - n.Soft
}

// String says what the limit is and, when it is too low, by how much.
func (n NoFile) String() string {
	s := fmt.Sprintf("RLIMIT_NOFILE %d (hard %d)", n.Soft, n.Hard)
	if short := n.Short(); short > 0 {
		s += fmt.Sprintf(", %d short of the %d wanted: raise the hard limit (ulimit -Hn, LimitNOFILE=, or run with CAP_SYS_RESOURCE)", short, n.Want)
	}
	if n.Err != nil {
		s += " (" + n.Err.Error() + ")"
	}
	return s
}

// RaiseNoFile lifts the soft open-file limit to the hard limit, and the
// hard limit to want when it is lower and the process may (root with
// CAP_SYS_RESOURCE), with syscall.Setrlimit. Children started afterwards
// inherit the result. It never lowers a limit.
func RaiseNoFile(want uint64) NoFile {
	return raiseNoFile(want, syscall.Getrlimit, syscall.Setrlimit)
}

func raiseNoFile(want uint64, get, set func(int, *syscall.Rlimit) error) NoFile {
	n := NoFile{Want: want}
	var rl syscall.Rlimit
	if err := get(syscall.RLIMIT_NOFILE, &rl); err != nil {
		n.Err = fmt.Errorf("getrlimit: %w", err)
		return n
	}
	if rl.Max < want {
		// Raising the hard limit needs CAP_SYS_RESOURCE; without it the
		// soft limit still goes up to the hard one below.
		if set(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: want, Max: want}) == nil {
			rl = syscall.Rlimit{Cur: want, Max: want}
		}
	}
	if rl.Cur < rl.Max {
		up := syscall.Rlimit{Cur: rl.Max, Max: rl.Max}
		if err := set(syscall.RLIMIT_NOFILE, &up); err != nil {
			n.Err = fmt.Errorf("setrlimit soft %d: %w", rl.Max, err)
		}
	}
	if err := get(syscall.RLIMIT_NOFILE, &rl); err != nil && n.Err == nil {
		n.Err = fmt.Errorf("getrlimit: %w", err)
	}
	n.Soft, n.Hard = rl.Cur, rl.Max
	return n
}

// HostInfo describes this machine.
func HostInfo() Host {
	h := Host{GoVersion: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH, CPUs: runtime.NumCPU()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				h.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		f := strings.Fields(string(b))
		if len(f) >= 3 {
			h.LoadAvg = strings.Join(f[:3], " ")
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		h.MemGiB = float64(statusKiB(b, "MemTotal:")) / (1 << 20)
	}
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) == nil {
		h.NoFile = rl.Cur
	}
	return h
}
