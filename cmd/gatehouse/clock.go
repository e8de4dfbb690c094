package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode"

	"gatehouse/internal/service/clock"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

const clockMenu = `Select one of the option below:
1. Request time from the server.
2. Request date from the server.
3. Request temperature from the server.
4. Exit
`

// clientClockCmd is the menu client of the original (1 time, 2 date,
// 3 temperature, 4 exit, with the round-trip time of each request), or,
// given commands as arguments, a non-interactive client for scripts.
func clientClockCmd(e *env) *cobra.Command {
	cmd := newCmd("clock [time|date|temp …]", "TIME/DATE/TEMP menu client of the legacy clock protocol (toy DH + Caesar)",
		"gatehouse client clock [--addr HOST:PORT] [--timeout D] [--rtt] [time|date|temp …]",
		"gatehouse client clock                          # interactive menu against 127.0.0.1:7777",
		"gatehouse client clock --addr 10.0.0.5:7777",
		"gatehouse client clock time                     # print the server's time and exit",
		"gatehouse client clock time date temp --rtt     # one line each, with the round-trip time",
		"gatehouse client clock time --addr 127.0.0.1:7778 --tls --tls-pin SHA256:…   # the tls_listen port")
	fs := cmd.Flags()
	addr := fs.String("addr", "127.0.0.1:7777", "server host:port")
	host := fs.String("host", "", "server address (earlier spelling: --addr's host)")
	port := fs.Int("port", 0, "server port (earlier spelling: --addr's port)")
	fs.MarkHidden("host")
	fs.MarkHidden("port")
	timeout := fs.Duration("timeout", clock.DefaultTimeout, "limit for connecting and for each request")
	rtt := fs.Bool("rtt", false, "non-interactive: also print each round-trip time")
	allowWeak := fs.Bool("allow-weak-shift", false,
		"keep a session whose Caesar shift is 0 or 1 (plaintext); by default the client reconnects")
	tlsConfig := tlsClientFlags(fs)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if fs.Changed("addr") && (fs.Changed("host") || fs.Changed("port")) {
			return errors.New("--addr and the older --host/--port both given: use --addr host:port alone")
		}
		h, p, err := net.SplitHostPort(*addr)
		if err != nil {
			return fmt.Errorf("--addr %q: want host:port", *addr)
		}
		if *host != "" {
			h = *host
		}
		if *port != 0 {
			p = strconv.Itoa(*port)
		}
		pn, err := strconv.Atoi(p)
		if err != nil || pn <= 0 || pn > 65535 {
			return fmt.Errorf("port %s: want 1..65535", p)
		}
		return interruptible(e, cmd.Context(), func(ctx context.Context) error {
			return clockClient(ctx, e, fs, h, pn, *timeout, *rtt, *allowWeak, tlsConfig)
		})
	}
	return cmd
}

func clockClient(ctx context.Context, e *env, fs *pflag.FlagSet, host string, port int, timeout time.Duration,
	rtt, allowWeak bool, tlsConfig func() (*tls.Config, error)) error {
	stdin, stdout := e.stdin, e.stdout
	tlsCfg, err := tlsConfig()
	if err != nil {
		return err
	}
	var cmds []clock.Command
	for _, a := range fs.Args() {
		switch strings.ToLower(a) {
		case "time", "1":
			cmds = append(cmds, clock.CmdTime)
		case "date", "2":
			cmds = append(cmds, clock.CmdDate)
		case "temp", "3":
			cmds = append(cmds, clock.CmdTemp)
		default:
			fs.Usage()
			return fmt.Errorf("unknown request %q: want time, date or temp", a)
		}
	}
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	d := clock.Dialer{Timeout: timeout, AllowWeakShift: allowWeak, TLS: tlsCfg}
	s, err := d.Dial(ctx, addr)
	if err != nil {
		return err
	}
	defer s.Close()
	// Ctrl+C during a request: closing the session ends the blocked read.
	stopAbort := context.AfterFunc(ctx, func() { s.Close() })
	defer stopAbort()

	if len(cmds) > 0 {
		for _, c := range cmds {
			t0 := time.Now()
			r, err := s.Do(c)
			if err != nil {
				return err
			}
			if rtt {
				fmt.Fprintf(stdout, "%s\t%.4f ms\n", printable(r), msSince(t0))
			} else {
				fmt.Fprintln(stdout, printable(r))
			}
		}
		return nil
	}
	return clockMenuLoop(ctx, s, host, port, stdin, stdout)
}

func clockMenuLoop(ctx context.Context, s *clock.Session, host string, port int, stdin io.Reader, stdout io.Writer) error {
	hostname, _ := os.Hostname()
	if la, ok := s.Conn().LocalAddr().(*net.TCPAddr); ok {
		// The original prints this line; "Sum" is its course-assignment
		// checksum (server port + our port), nothing cryptographic.
		fmt.Fprintf(stdout, "User %s with %s address on port %d connected to the server with %s address on port %d. Sum: %d\n",
			hostname, la.IP, la.Port, host, port, port+la.Port)
	}
	// The stdin reader stops handing over lines once the loop is done.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	lines := make(chan string)
	readErr := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stdin)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
		readErr <- sc.Err()
	}()
	defer fmt.Fprintln(stdout, "Connection closed")
	for {
		fmt.Fprint(stdout, clockMenu)
		var line string
		select {
		case <-ctx.Done():
			// The original swallowed Ctrl+C and spun; we leave cleanly.
			fmt.Fprintln(stdout)
			return nil
		case err := <-readErr:
			// End of input without "4": the original looped forever here.
			return err
		case line = <-lines:
		}
		opt, err := strconv.Atoi(strings.TrimSpace(line))
		var cmd clock.Command
		switch {
		case err != nil:
		case opt == 1:
			cmd = clock.CmdTime
		case opt == 2:
			cmd = clock.CmdDate
		case opt == 3:
			cmd = clock.CmdTemp
		case opt == 4:
			return nil
		}
		if cmd == clock.CmdUnknown {
			fmt.Fprintln(stdout, "The option is not a valid one, please try again.")
			continue
		}
		t0 := time.Now()
		r, err := s.Do(cmd)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		fmt.Fprintf(stdout, "Response: %s with RTT %.4f ms\n", printable(r), msSince(t0))
	}
}

func msSince(t time.Time) float64 { return float64(time.Since(t).Nanoseconds()) / 1e6 }

// printable keeps a hostile server from writing terminal escapes.
func printable(s string) string {
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}
