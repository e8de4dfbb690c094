package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gatehouse/internal/config"
	"gatehouse/internal/service/zmqcmd"
	"gatehouse/internal/zmtp"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// clientZMQCmdCmd sends one request like the original client.py and
// prints the result: an os command's output as is, a compute result as
// JSON.
func clientZMQCmdCmd(e *env) *cobra.Command {
	cmd := newCmd("zmqcmd", "send os/compute commands to the ZeroMQ JSON command service (REQ over ZMTP)",
		"gatehouse client zmqcmd [--addr HOST:PORT] [--timeout D] [--json] [--server-key Z85|FILE --key FILE] os NAME [PARAM …] | compute EXPR | raw JSON",
		"gatehouse client zmqcmd os ping 127.0.0.1            # ping -c 4 127.0.0.1 on the server",
		"gatehouse client zmqcmd os echo 'Hello, World!'",
		"gatehouse client zmqcmd compute '(6 + 4) * 8'        # prints 80",
		"gatehouse client zmqcmd --json compute '10/3'        # prints the reply frame as sent",
		`gatehouse client zmqcmd raw '{"command_type": "compute", "expression": "2**64"}'`,
		"gatehouse client zmqcmd compute 2**10 --addr tcp://10.0.0.5:5555",
		"gatehouse client zmqcmd os ls -- --help              # after --, everything is a parameter",
		"gatehouse client zmqcmd --addr 10.0.0.5:5556 --server-key ./alice/curve_server.key --key ./alice/client.key_secret os uptime   # CURVE port")
	// os parameters may start with a dash (ls -l): only this command's
	// flags are taken as flags.
	cmd.Annotations["dash-args"] = "1"
	fs := cmd.Flags()
	addr := fs.String("addr", "127.0.0.1:5555", "server address (host:port or tcp://host:port)")
	timeout := fs.Duration("timeout", 30*time.Second, "limit for connecting and for the reply")
	raw := fs.Bool("json", false, "print the reply frame exactly as received")
	serverKey := fs.String("server-key", "", "speak CURVE: the server's public key (Z85, as 'keys zmqcmd init' prints it) or its certificate file")
	key := fs.String("key", "", "with --server-key: this client's secret certificate ('keys zmqcmd add-client --out DIR' writes DIR/"+zmqcmd.ClientSecretFile+")")
	cmd.RunE = func(cmd *cobra.Command, rest []string) error {
		return interruptible(e, cmd.Context(), func(ctx context.Context) error {
			return runZMQCmdRequest(ctx, e, fs, rest, *addr, *timeout, *raw, *serverKey, *key)
		})
	}
	return cmd
}

func runZMQCmdRequest(ctx context.Context, e *env, fs *pflag.FlagSet, rest []string, addr string, timeout time.Duration, raw bool, serverKey, key string) error {
	stdout := e.stdout
	if (serverKey == "") != (key == "") {
		fs.Usage()
		return errors.New("--server-key and --key go together (CURVE port)")
	}
	if timeout <= 0 {
		// A zero context timeout would fail every dial with a bare
		// "context deadline exceeded".
		return fmt.Errorf("--timeout must be positive, got %v", timeout)
	}
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
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, err := zmqcmdDial(ctx, addr, timeout, serverKey, key)
	if err != nil {
		return err
	}
	defer c.Close()
	reply, err := c.RoundTrip(ctx, req)
	if err != nil {
		return err
	}
	if raw {
		fmt.Fprintf(stdout, "%s\n", reply)
	}
	r, err := zmqcmd.ParseReply(reply)
	if err != nil {
		return err
	}
	if err := r.Err(); err != nil {
		return err
	}
	if raw {
		return nil
	}
	if s, ok := r.ResultString(); ok && rest[0] == "os" {
		fmt.Fprint(stdout, s)
		return nil
	}
	fmt.Fprintf(stdout, "%s\n", r.Result)
	return nil
}

// zmqcmdDial connects to the NULL port, or with serverKey and keyFile to
// the CURVE port.
func zmqcmdDial(ctx context.Context, addr string, timeout time.Duration, serverKey, keyFile string) (*zmqcmd.Client, error) {
	if serverKey == "" {
		return zmqcmd.Dial(ctx, addr, timeout)
	}
	sk, err := zmqcmdServerKey(serverKey)
	if err != nil {
		return nil, err
	}
	cert, _, err := zmqcmd.LoadCert(keyFile)
	if err != nil {
		return nil, fmt.Errorf("--key: %w", err)
	}
	if !cert.HasSecret {
		return nil, fmt.Errorf("--key: %s holds no secret-key (use the .key_secret file)", keyFile)
	}
	c, err := zmqcmd.DialCurve(ctx, addr, timeout, sk, cert)
	if errors.Is(err, zmtp.ErrUnauthorized) {
		return nil, fmt.Errorf("%w (authorize it with 'gatehouse keys zmqcmd add-client -pub %s')", err, zmtp.KeyText(cert.Public))
	}
	return c, err
}

// zmqcmdServerKey reads -server-key: 40 Z85 characters, or a certificate
// file holding the public key.
func zmqcmdServerKey(v string) ([32]byte, error) {
	if k, err := zmtp.ParseKey(strings.TrimSpace(v)); err == nil {
		return k, nil
	}
	c, _, err := zmqcmd.LoadCert(v)
	if err != nil {
		return [32]byte{}, fmt.Errorf("--server-key is neither a 40-character Z85 key nor a readable certificate: %w", err)
	}
	return c.Public, nil
}

// ---- gatehouse keys zmqcmd ----

func keysZMQCmdCmd(e *env) *cobra.Command {
	return newGroup("zmqcmd", "CURVE port keys: init | add-client | list | revoke",
		short(zmqKeysInit(e), "create the CURVE server key pair; prints the server public key (Z85) last"),
		short(zmqKeysAddClient(e), "authorize a client public key (--pub Z85), or create a client key pair (--out DIR)"),
		short(zmqKeysList(e), "show the server key and the authorized client keys"),
		short(zmqKeysRevoke(e), "withdraw a client key (refused from its next connection)"))
}

func zmqKeyDir(cfg *config.Config) string { return filepath.Join(cfg.DataDir, "zmqcmd") }

func zmqKeysInit(e *env) *cobra.Command {
	cmd := newCmd("init", "", "gatehouse keys zmqcmd init [--force] [--data DIR] [--config FILE]",
		"gatehouse keys zmqcmd init --data /var/lib/gatehouse",
		"gatehouse keys zmqcmd init --force     # new server key: every CURVE client needs the new public key")
	fs := cmd.Flags()
	d := newDataFlags(e, fs)
	force := fs.Bool("force", false, "replace an existing server key pair")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		cfg, err := d.configMay(true) // init creates what it is asked to
		if err != nil {
			return err
		}
		dir := zmqKeyDir(cfg)
		c, err := zmqcmd.InitServerKeys(dir, *force)
		if errors.Is(err, zmqcmd.ErrKeyExists) {
			return fmt.Errorf("%w (use --force to replace it)", err)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "created %s (secret, 0600)\ncreated %s (public certificate for clients)\n",
			filepath.Join(dir, zmqcmd.ServerSecretFile), filepath.Join(dir, zmqcmd.ServerPublicFile))
		if *force {
			fmt.Fprintln(e.stdout, "restart a running daemon (gatehouse serve) so that it uses the new key")
		}
		fmt.Fprintln(e.stdout, "server public key (Z85, for curve_serverkey):")
		fmt.Fprintln(e.stdout, zmtp.KeyText(c.Public))
		return nil
	}
	return cmd
}

func zmqKeysAddClient(e *env) *cobra.Command {
	cmd := newCmd("add-client", "", "gatehouse keys zmqcmd add-client (--pub Z85 | --out DIR) [--comment TEXT] [--data DIR]",
		`gatehouse keys zmqcmd add-client --pub 'rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7' --comment bob   # a key from zmq.curve_keypair()`,
		"gatehouse keys zmqcmd add-client --out ./alice --comment alice   # writes alice/client.key_secret, client.key, curve_server.key")
	fs := cmd.Flags()
	d := newDataFlags(e, fs)
	out := fs.String("out", "", "create a client key pair in this folder and authorize it")
	pub := fs.String("pub", "", "authorize an existing client public key (40 Z85 characters)")
	comment := fs.String("comment", "", "note written above the key in the authorized list")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if (*out == "") == (*pub == "") || fs.NArg() != 0 {
			fs.Usage()
			return errors.New("add-client: give exactly one of --out or --pub")
		}
		cfg, err := d.config()
		if err != nil {
			return err
		}
		dir := zmqKeyDir(cfg)
		var key [32]byte
		if *pub != "" {
			if key, err = zmtp.ParseKey(strings.TrimSpace(*pub)); err != nil {
				return fmt.Errorf("add-client: --pub: %w", err)
			}
		} else {
			server, _, err := zmqcmd.LoadCert(filepath.Join(dir, zmqcmd.ServerPublicFile))
			if err != nil {
				return fmt.Errorf("add-client: no server key yet (run 'gatehouse keys zmqcmd init'): %w", err)
			}
			c, err := zmqcmd.WriteClientFiles(*out, server)
			if err != nil {
				return err
			}
			key = c.Public
			fmt.Fprintf(e.stdout, "created %s (secret, 0600), %s and %s\n", filepath.Join(*out, zmqcmd.ClientSecretFile),
				filepath.Join(*out, zmqcmd.ClientPublicFile), filepath.Join(*out, zmqcmd.ServerPublicFile))
		}
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return err
		}
		path := filepath.Join(dir, zmqcmd.AuthorizedFile)
		added, err := zmqcmd.AuthorizeKey(path, key, *comment)
		if err != nil {
			return err
		}
		if added {
			fmt.Fprintf(e.stdout, "authorized %s in %s (the daemon reads the change on the next connection)\n", zmtp.KeyText(key), path)
		} else {
			fmt.Fprintf(e.stdout, "%s was already authorized\n", zmtp.KeyText(key))
		}
		return nil
	}
	return cmd
}

func zmqKeysRevoke(e *env) *cobra.Command {
	cmd := newCmd("revoke", "", "gatehouse keys zmqcmd revoke --pub Z85 [--data DIR] [--config FILE]",
		`gatehouse keys zmqcmd revoke --pub 'rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7'`)
	fs := cmd.Flags()
	d := newDataFlags(e, fs)
	pub := fs.String("pub", "", "the client public key to revoke (Z85, as 'keys zmqcmd list' shows it)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		key, err := zmtp.ParseKey(strings.TrimSpace(*pub))
		if err != nil || fs.NArg() != 0 {
			fs.Usage()
			return fmt.Errorf("revoke: --pub: %w", zmtp.ErrKeyText)
		}
		cfg, err := d.config()
		if err != nil {
			return err
		}
		dir := zmqKeyDir(cfg)
		removed, err := zmqcmd.RevokeKey(filepath.Join(dir, zmqcmd.AuthorizedFile), key)
		if err != nil {
			return err
		}
		if !removed {
			return fmt.Errorf("revoke: %s is not an authorized client", zmtp.KeyText(key))
		}
		fmt.Fprintf(e.stdout, "revoked %s (refused from its next connection; open connections keep running)\n", zmtp.KeyText(key))
		return nil
	}
	return cmd
}

func zmqKeysList(e *env) *cobra.Command {
	cmd := newCmd("list", "", "gatehouse keys zmqcmd list [--data DIR] [--config FILE]",
		"gatehouse keys zmqcmd list --data /var/lib/gatehouse")
	fs := cmd.Flags()
	d := newDataFlags(e, fs)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		cfg, err := d.config()
		if err != nil {
			return err
		}
		dir := zmqKeyDir(cfg)
		c, insecure, err := zmqcmd.LoadServerCert(dir)
		if err != nil {
			return fmt.Errorf("no server key (run 'gatehouse keys zmqcmd init'): %w", err)
		}
		fmt.Fprintf(e.stdout, "server %s  %s  (%s)\n", keyFingerprint(c.Public[:]), zmtp.KeyText(c.Public), filepath.Join(dir, zmqcmd.ServerSecretFile))
		if insecure {
			fmt.Fprintf(e.stdout, "warning: %s is readable by group or others; chmod 600 it\n", filepath.Join(dir, zmqcmd.ServerSecretFile))
		}
		path := filepath.Join(dir, zmqcmd.AuthorizedFile)
		b, err := os.ReadFile(path)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		entries, bad := zmqcmd.ParseAuthorized(b)
		fmt.Fprintf(e.stdout, "%d authorized client(s) in %s\n", len(entries), path)
		for _, a := range entries {
			note := ""
			if a.Comment != "" {
				note = "  # " + a.Comment
			}
			fmt.Fprintf(e.stdout, "  %s  %s%s\n", keyFingerprint(a.Key[:]), zmtp.KeyText(a.Key), note)
		}
		for _, m := range bad {
			fmt.Fprintf(e.stdout, "  skipped %s\n", m)
		}
		return nil
	}
	return cmd
}
