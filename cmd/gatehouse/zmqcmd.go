package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"gatehouse/internal/service/zmqcmd"
)

func init() {
	clientCmds["zmqcmd"] = command{
		summary: "send os/compute commands to the ZeroMQ JSON command service (REQ over ZMTP)",
		run: func(args []string) error {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
			defer stop()
			return runZMQCmdClient(ctx, args, os.Stdout, os.Stderr)
		},
	}
}

// runZMQCmdClient sends one request like the original client.py and prints
// the result: an os command's output as is, a compute result as JSON.
func runZMQCmdClient(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("client zmqcmd",
		"gatehouse client zmqcmd [-addr HOST:PORT] [-timeout D] [-json] os NAME [PARAM …] | compute EXPR | raw JSON",
		"gatehouse client zmqcmd os ping 127.0.0.1            # ping -c 4 127.0.0.1 on the server",
		"gatehouse client zmqcmd os echo 'Hello, World!'",
		"gatehouse client zmqcmd compute '(6 + 4) * 8'        # prints 80",
		"gatehouse client zmqcmd -json compute '10/3'         # prints the reply frame as sent",
		`gatehouse client zmqcmd raw '{"command_type": "compute", "expression": "2**64"}'`,
		"gatehouse client zmqcmd -addr tcp://10.0.0.5:5555 compute 2**10")
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:5555", "server address (host:port or tcp://host:port)")
	timeout := fs.Duration("timeout", 30*time.Second, "limit for connecting and for the reply")
	raw := fs.Bool("json", false, "print the reply frame exactly as received")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *timeout <= 0 {
		// A zero context timeout would fail every dial with a bare
		// "context deadline exceeded".
		return fmt.Errorf("-timeout must be positive, got %v", *timeout)
	}
	rest := fs.Args()
	if len(rest) < 2 && !(len(rest) == 1 && rest[0] == "os") {
		fs.Usage()
		return errors.New("want: os NAME [PARAM …], compute EXPR or raw JSON")
	}
	var req []byte
	switch rest[0] {
	case "os":
		if len(rest) < 2 {
			fs.Usage()
			return errors.New("os: command name missing")
		}
		req = zmqcmd.OSRequest(rest[1], rest[2:])
	case "compute":
		req = zmqcmd.ComputeRequest(strings.Join(rest[1:], " "))
	case "raw":
		req = []byte(strings.Join(rest[1:], " "))
	default:
		fs.Usage()
		return fmt.Errorf("unknown request type %q: want os, compute or raw", rest[0])
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	c, err := zmqcmd.Dial(ctx, *addr, *timeout)
	if err != nil {
		return err
	}
	defer c.Close()
	reply, err := c.RoundTrip(ctx, req)
	if err != nil {
		return err
	}
	if *raw {
		fmt.Fprintf(stdout, "%s\n", reply)
	}
	r, err := zmqcmd.ParseReply(reply)
	if err != nil {
		return err
	}
	if err := r.Err(); err != nil {
		return err
	}
	if *raw {
		return nil
	}
	if s, ok := r.ResultString(); ok && rest[0] == "os" {
		fmt.Fprint(stdout, s)
		return nil
	}
	fmt.Fprintf(stdout, "%s\n", r.Result)
	return nil
}
