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

// RaiseNoFile lifts the soft open-file limit to want (or the hard limit,
// whichever is lower) and returns the soft limit now in force. Children
// started afterwards inherit it.
func RaiseNoFile(want uint64) (uint64, error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, err
	}
	if rl.Cur >= want {
		return rl.Cur, nil
	}
	rl.Cur = min(want, rl.Max)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		// Try the hard limit too (works as root); fall back to what we have.
		rl2 := syscall.Rlimit{Cur: want, Max: want}
		if err2 := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl2); err2 != nil {
			syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl)
			return rl.Cur, err
		}
	}
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl)
	return rl.Cur, nil
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
