package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"gatehouse/internal/services"
	"log/slog"
	"strings"
	"testing"

	"gatehouse/internal/config"
	"gatehouse/internal/daemon"
	"gatehouse/internal/netsvc/netsvctest"
	"gatehouse/internal/service/zmqcmd"
)

func TestZMQCmdClientCLI(t *testing.T) {
	t.Parallel()
	s, err := zmqcmd.New(zmqcmd.DefaultConfig(), zmqcmd.Env{})
	if err != nil {
		t.Fatal(err)
	}
	_, addr := netsvctest.Start(t, "zmqcmd", s, netsvctest.DefaultLimits)
	cases := []struct {
		args    []string
		out     string
		errText string
	}{
		{[]string{"-addr", addr, "compute", "(6 + 4) * 8"}, "80\n", ""},
		{[]string{"-addr", "tcp://" + addr, "compute", "10/3"}, "3.3333333333333335\n", ""},
		{[]string{"-addr", addr, "-json", "compute", "2**64"}, `{"status": "success", "result": 18446744073709551616}` + "\n", ""},
		{[]string{"-addr", addr, "os", "echo", "Hello, World!"}, "Hello, World!\n", ""},
		{[]string{"-addr", addr, "compute", "10/0"}, "", "server: division by zero"},
		{[]string{"-addr", addr, "os", "rm", "-rf", "/"}, "", "server: Command not allowed: rm"},
		{[]string{"-addr", addr, "raw", `{"command_type": "foo"}`}, "", "server: Invalid command type"},
		{[]string{"-addr", addr, "bogus", "x"}, "", "unknown request type"},
		{[]string{"-addr", addr}, "", "want: os"},
		{[]string{"-addr", addr, "-timeout", "0", "compute", "1"}, "", "-timeout must be positive"},
	}
	for _, tc := range cases {
		var out, errb bytes.Buffer
		err := runZMQCmdClient(context.Background(), bufEnv(&out, &errb), tc.args)
		if tc.errText == "" && err != nil || tc.errText != "" && (err == nil || !strings.Contains(err.Error(), tc.errText)) {
			t.Errorf("%q: err %v, want %q", tc.args, err, tc.errText)
		}
		if out.String() != tc.out {
			t.Errorf("%q: out %q want %q", tc.args, out.String(), tc.out)
		}
	}
}

func TestZMQCmdClientHelp(t *testing.T) {
	t.Parallel()
	var out, errb bytes.Buffer
	err := runZMQCmdClient(context.Background(), bufEnv(&out, &errb), []string{"-h"})
	if !errors.Is(err, flag.ErrHelp) || !strings.Contains(out.String(), "examples:") || !strings.Contains(out.String(), "compute '(6 + 4) * 8'") {
		t.Fatalf("help: %v\n%s", err, out.String())
	}
}

func TestZMQCmdClientNoServer(t *testing.T) {
	t.Parallel()
	var out, errb bytes.Buffer
	err := runZMQCmdClient(context.Background(), bufEnv(&out, &errb), []string{"-addr", "127.0.0.1:1", "-timeout", "2s", "compute", "1"})
	if err == nil || !strings.Contains(err.Error(), "dial") {
		t.Fatalf("no server: %v", err)
	}
}

// TestZMQCmdThroughDaemon starts the real daemon with only zmqcmd enabled
// and config keys set as an operator would, then uses the CLI against it.
func TestZMQCmdThroughDaemon(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Admin.Enabled = false
	for _, name := range services.Names() {
		sc, _ := services.Common(cfg, name)
		sc.Enabled = name == "zmqcmd"
	}
	for k, v := range map[string]string{
		"services.zmqcmd.listen":         "127.0.0.1:0",
		"services.zmqcmd.allow":          "echo,uname",
		"services.zmqcmd.max_expression": "16",
	} {
		if err := cfg.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	d, err := daemon.Start(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Shutdown() })
	addr := d.Server.Addr("zmqcmd").String()
	run := func(args ...string) (string, error) {
		var out, errb bytes.Buffer
		err := runZMQCmdClient(context.Background(), bufEnv(&out, &errb), append([]string{"-addr", addr}, args...))
		return out.String(), err
	}
	if out, err := run("os", "uname", "-s"); err != nil || out != "Linux\n" {
		t.Fatalf("uname allowed by config: %q %v", out, err)
	}
	if _, err := run("os", "date"); err == nil || !strings.Contains(err.Error(), "Command not allowed: date") {
		t.Fatalf("date not in allow: %v", err)
	}
	if _, err := run("compute", "1+1+1+1+1+1+1+1+1"); err == nil || !strings.Contains(err.Error(), "maximum recursion depth") {
		t.Fatalf("max_expression not applied: %v", err)
	}
	if out, err := run("compute", "2**10"); err != nil || out != "1024\n" {
		t.Fatalf("compute: %q %v", out, err)
	}
}
