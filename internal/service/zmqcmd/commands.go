package zmqcmd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"gatehouse/internal/logtext"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// An os command is never given to a shell: each allowlisted name has a
// validator that turns the client's parameters into an argv, or refuses
// them (docs/zmqcmd.md, "Os commands").

type commandSpec struct {
	// builtin commands are answered in-process (echo).
	builtin func(args []string) string
	// argv validates the parameters and returns the arguments to exec.
	argv func(s *Server, args []string) ([]string, error)
}

var commandSpecs = map[string]commandSpec{
	"echo":     {builtin: echo},
	"ping":     {argv: pingArgs},
	"date":     {argv: dateArgs},
	"uptime":   {argv: flagsOnly("-p", "--pretty", "-s", "--since")},
	"uname":    {argv: unameArgs},
	"hostname": {argv: flagsOnly("-s", "--short")},
}

// SupportedCommands lists the names an allowlist may contain.
func SupportedCommands() []string {
	out := make([]string, 0, len(commandSpecs))
	for n := range commandSpecs {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// argError is a refused parameter; its text goes to the client.
type argError struct{ msg string }

func (e *argError) Error() string { return e.msg }

func refuse(format string, a ...any) error { return &argError{fmt.Sprintf(format, a...)} }

// echo behaves like dash's echo for plain words (the original ran
// "sh -c 'echo …'"): arguments joined by one space plus a newline, "-n"
// first drops the newline. Shell syntax is not interpreted: that was the
// injection hole.
func echo(args []string) string {
	nl := "\n"
	if len(args) > 0 && args[0] == "-n" {
		args, nl = args[1:], ""
	}
	return strings.Join(args, " ") + nl
}

func flagsOnly(allowed ...string) func(*Server, []string) ([]string, error) {
	return func(_ *Server, args []string) ([]string, error) {
		for _, a := range args {
			if !slices.Contains(allowed, a) {
				return nil, refuse("Parameter not allowed: %s", logtext.Peer(a, 64))
			}
		}
		return args, nil
	}
}

func unameArgs(_ *Server, args []string) ([]string, error) {
	for _, a := range args {
		ok := len(a) >= 2 && a[0] == '-' && strings.Trim(a[1:], "asnrvmpio") == ""
		ok = ok || slices.Contains([]string{"--all", "--kernel-name", "--nodename", "--kernel-release",
			"--kernel-version", "--machine", "--processor", "--hardware-platform", "--operating-system"}, a)
		if !ok {
			return nil, refuse("Parameter not allowed: %s", logtext.Peer(a, 64))
		}
	}
	return args, nil
}

var isoRe = regexp.MustCompile(`^(-I(date|hours|minutes|seconds|ns)?|--iso-8601(=(date|hours|minutes|seconds|ns))?)$`)

func dateArgs(_ *Server, args []string) ([]string, error) {
	formats := 0
	for _, a := range args {
		switch {
		case a == "-u" || a == "--utc" || a == "--universal" || a == "-R" || a == "--rfc-email":
		case isoRe.MatchString(a):
		case strings.HasPrefix(a, "+") && len(a) <= 128 && !strings.ContainsAny(a, "\n\r\x00"):
			formats++
			if formats > 1 {
				return nil, refuse("Only one date format is allowed")
			}
		default:
			// -s/--set would change the clock, -f/-r read files.
			return nil, refuse("Parameter not allowed: %s", logtext.Peer(a, 64))
		}
	}
	return args, nil
}

var hostRe = regexp.MustCompile(`^[A-Za-z0-9.-]{1,253}$`)

// pingArgs accepts the ping options (docs/zmqcmd.md, "Os commands") in any order (the HEAD client
// sends the host first), injects "-c 4" when no count is given so the
// seed-era client's ["127.0.0.1"] terminates, and translates Windows' -n.
func pingArgs(s *Server, args []string) ([]string, error) {
	var host, count, interval, deadline, wait string
	var family, quiet bool
	var fam string
	value := func(i *int, name string) (string, error) {
		a := args[*i]
		if len(a) > 2 {
			return a[2:], nil
		}
		*i++
		if *i >= len(args) {
			return "", refuse("Option %s needs a value", name)
		}
		return args[*i], nil
	}
	intIn := func(v string, lo, hi int, name string) (string, error) {
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			return "", refuse("Option %s must be a whole number from %d to %d", name, lo, hi)
		}
		return strconv.Itoa(n), nil
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		var err error
		switch {
		case a == "-4" || a == "-6":
			if family {
				return nil, refuse("Only one of -4 and -6 is allowed")
			}
			family, fam = true, a
		case a == "-q":
			quiet = true
		case strings.HasPrefix(a, "-c") || strings.HasPrefix(a, "-n"):
			var v string
			if v, err = value(&i, a[:2]); err == nil {
				count, err = intIn(v, 1, 10, "-c")
			}
		case strings.HasPrefix(a, "-W"):
			var v string
			if v, err = value(&i, "-W"); err == nil {
				wait, err = intIn(v, 1, 10, "-W")
			}
		case strings.HasPrefix(a, "-w"):
			var v string
			if v, err = value(&i, "-w"); err == nil {
				deadline, err = intIn(v, 1, 10, "-w")
			}
		case strings.HasPrefix(a, "-i"):
			var v string
			if v, err = value(&i, "-i"); err == nil {
				f, perr := strconv.ParseFloat(v, 64)
				if perr != nil || f < 0.2 || f > 10 {
					err = refuse("Option -i must be a number from 0.2 to 10")
				} else {
					interval = strconv.FormatFloat(f, 'f', -1, 64)
				}
			}
		case strings.HasPrefix(a, "-"):
			err = refuse("Parameter not allowed: %s", logtext.Peer(a, 64))
		default:
			if host != "" {
				return nil, refuse("Exactly one host is allowed")
			}
			if net.ParseIP(a) == nil && !hostRe.MatchString(a) {
				return nil, refuse("Invalid host: %s", logtext.Peer(a, 64))
			}
			host = a
		}
		if err != nil {
			return nil, err
		}
	}
	if host == "" {
		return nil, refuse("A host is required")
	}
	if len(s.cfg.PingHosts) > 0 && !slices.Contains(s.cfg.PingHosts, host) {
		return nil, refuse("Host not allowed: %s", host)
	}
	if count == "" {
		count = "4"
	}
	// Refuse what can only end in "Command timed out": ping sends its last
	// probe (count-1)·interval after the first, and -w is a hard deadline.
	n, _ := strconv.Atoi(count)
	every := 1.0
	if interval != "" {
		every, _ = strconv.ParseFloat(interval, 64)
	}
	limit := s.cfg.CommandTimeout.Seconds()
	if float64(n-1)*every >= limit {
		return nil, refuse("Options -c %d and -i %s run longer than the command timeout of %s", n, strconv.FormatFloat(every, 'f', -1, 64), s.cfg.CommandTimeout)
	}
	if deadline != "" {
		if d, _ := strconv.Atoi(deadline); float64(d) >= limit {
			return nil, refuse("Option -w must be shorter than the command timeout of %s", s.cfg.CommandTimeout)
		}
	}
	out := []string{"-c", count}
	if interval != "" {
		out = append(out, "-i", interval)
	}
	if wait != "" {
		out = append(out, "-W", wait)
	}
	if deadline != "" {
		out = append(out, "-w", deadline)
	}
	if fam != "" {
		out = append(out, fam)
	}
	if quiet {
		out = append(out, "-q")
	}
	return append(out, host), nil
}

// lookPath finds name in the configured directories only (never the
// daemon's own PATH).
func (s *Server) lookPath(name string) (string, bool) {
	for _, dir := range s.cfg.CommandPath {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, true
		}
	}
	return "", false
}

// MissingPrograms lists the allowlisted commands that run a program not
// found in command_path: a client asking for one gets "Command not
// available", so the operator is told at start.
func (s *Server) MissingPrograms() []string {
	var out []string
	for _, name := range s.cfg.Allow {
		if spec, ok := commandSpecs[name]; ok && spec.builtin == nil {
			if _, found := s.lookPath(name); !found {
				out = append(out, name)
			}
		}
	}
	return out
}

// capWriter keeps the first max bytes and counts the rest.
type capWriter struct {
	buf     bytes.Buffer
	max     int
	dropped int64
}

func (w *capWriter) Write(p []byte) (int, error) {
	room := w.max - w.buf.Len()
	if room > 0 {
		n := min(room, len(p))
		w.buf.Write(p[:n])
		w.dropped += int64(len(p) - n)
	} else {
		w.dropped += int64(len(p))
	}
	return len(p), nil
}

// runResult is what one command run produced.
type runResult struct {
	stdout   string
	stderr   string
	exitCode int
	timedOut bool
	dropped  int64
}

// run executes path with args in its own process group, without a shell,
// with an empty stdin, a minimal environment, a timeout that kills the
// whole group, and capped output.
func (s *Server) run(ctx context.Context, path string, args []string) (runResult, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.CommandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = []string{"PATH=" + strings.Join(s.cfg.CommandPath, ":"), "LANG=C.UTF-8", "LC_ALL=C.UTF-8"}
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		// Kill the group: a command's children must not outlive it.
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	cmd.WaitDelay = time.Second
	stdout := &capWriter{max: s.cfg.MaxOutput}
	stderr := &capWriter{max: 1024}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	err := cmd.Run()
	res := runResult{stdout: stdout.buf.String(), stderr: stderr.buf.String(), dropped: stdout.dropped}
	if ctx.Err() == context.DeadlineExceeded {
		res.timedOut = true
		return res, nil
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		res.exitCode = ee.ExitCode()
	case errors.Is(err, exec.ErrWaitDelay):
	default:
		return res, err
	}
	return res, nil
}

// normalizeOutput applies what the original's text-mode read did
// (universal newlines) and makes the text valid UTF-8 (the original failed
// the whole request on one bad byte; we substitute U+FFFD).
func normalizeOutput(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	return strings.ToValidUTF8(s, "\uFFFD")
}
