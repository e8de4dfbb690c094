package main

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gatehouse/internal/config"
	"gatehouse/internal/progress"
	"gatehouse/internal/service/e2eeftp"
	"gatehouse/internal/store"
	"gatehouse/internal/tlsutil"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// ---- gatehouse keys e2eeftp ----

func keysE2EEFTPCmd(e *env) *cobra.Command {
	return newGroup("e2eeftp", "server identity and client keys: init | add-client | revoke | list",
		short(e2eKeysInit(e), "create the server identity (server_id.key, known_server.pub)"),
		short(e2eKeysAddClient(e), "create a client key pair in the original's files and authorise it"),
		short(e2eKeysRevoke(e), "withdraw a client's authorisation on every daemon sharing the store"),
		short(e2eKeysList(e), "show the server key and the authorised clients, with fingerprints"))
}

// e2eStore opens the daemon's store, where the authorised clients every
// daemon sharing it serves are kept (a missing one is refused unless
// --init).
func e2eStore(d *dataFlags) (*store.DB, e2eeftp.KeyDir, error) {
	db, cfg, err := d.openStore(context.Background())
	if err != nil {
		return nil, "", err
	}
	return db, e2eKeyDir(cfg), nil
}

func e2eKeyDir(cfg *config.Config) e2eeftp.KeyDir {
	return e2eeftp.KeyDir(filepath.Join(cfg.DataDir, "e2eeftp"))
}

// keyFingerprint is the "SHA256:…" fingerprint of a raw public key
// (unpadded base64 of its SHA-256, the form tlsutil gives certificates):
// zmqcmd's CURVE keys.
func keyFingerprint(raw []byte) string { return tlsutil.Fingerprint(raw) }

// e2eFingerprint is an e2eeftp identity's fingerprint as the server logs
// it and the client's errors name it (OpenSSH's, e2eeftp.Fingerprint).
func e2eFingerprint(raw []byte) string {
	if len(raw) != ed25519.PublicKeySize {
		return "(not a key)"
	}
	return e2eeftp.Fingerprint(ed25519.PublicKey(raw))
}

func e2eKeysInit(e *env) *cobra.Command {
	cmd := newCmd("init", "", "gatehouse keys e2eeftp init [--force] [--data DIR] [--config FILE]",
		"gatehouse keys e2eeftp init --data /var/lib/gatehouse",
		"gatehouse keys e2eeftp init --force            # replace the identity: every client needs the new known_server.pub")
	fs := cmd.Flags()
	d := newDataFlags(e, fs)
	force := fs.Bool("force", false, "replace an existing server identity")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		// init is the request to create: the data directory and the
		// store (so that add-client works before the first start) too.
		cfg, err := d.configMay(true)
		if err != nil {
			return err
		}
		db, err := openStoreMay(cmd.Context(), cfg, true)
		if err != nil {
			return err
		}
		db.Close()
		kd := e2eKeyDir(cfg)
		priv, err := kd.Init(*force)
		if errors.Is(err, e2eeftp.ErrKeyExists) {
			return fmt.Errorf("%w (use --force to replace it)", err)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "created %s (private, 0600)\ncreated %s (give this file to every client)\nserver key %s\n",
			kd.ServerKey(), kd.KnownServer(), e2eeftp.AuthorizedLine(priv.Public().(ed25519.PublicKey)))
		if *force {
			// The daemon loads its identity once, at start (the original re-read
			// it per connection).
			fmt.Fprintln(e.stdout, "restart a running daemon (gatehouse serve) so that it uses the new identity")
		}
		return nil
	}
	return cmd
}

func e2eKeysAddClient(e *env) *cobra.Command {
	cmd := newCmd("add-client", "", "gatehouse keys e2eeftp add-client (--out DIR | --pub BASE64) [--comment TEXT] [--data DIR]",
		"gatehouse keys e2eeftp add-client --out ./alice --comment alice   # writes alice/client_id.key and alice/known_server.pub",
		"gatehouse keys e2eeftp add-client --pub oJql9HpnWYAv+VX43C0qFKXJnSO+l/hkEn/5ODRVpPA= --comment bob")
	fs := cmd.Flags()
	d := newDataFlags(e, fs)
	out := fs.String("out", "", "folder for the new client's client_id.key and known_server.pub")
	pub := fs.String("pub", "", "authorise an existing client key (base64 of the raw 32 bytes, as in authorized_clients.pub)")
	comment := fs.String("comment", "", "note written above the key in authorized_clients.pub")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if (*out == "") == (*pub == "") || fs.NArg() != 0 {
			fs.Usage()
			return errors.New("add-client: give exactly one of --out or --pub")
		}
		db, kd, err := e2eStore(d)
		if err != nil {
			return err
		}
		defer db.Close()
		var key ed25519.PublicKey
		if *pub != "" {
			raw, err := base64.StdEncoding.Strict().DecodeString(strings.TrimSpace(*pub))
			if err != nil || len(raw) != ed25519.PublicKeySize {
				return errors.New("add-client: --pub is not base64 of a 32-byte Ed25519 key")
			}
			key = raw
		} else {
			serverPub, err := e2eeftp.LoadPublicKey(kd.KnownServer())
			if errors.Is(err, os.ErrNotExist) && *d.init {
				var priv ed25519.PrivateKey
				if priv, _, _, err = kd.LoadOrInit(); err == nil {
					serverPub = priv.Public().(ed25519.PublicKey)
					fmt.Fprintf(e.stdout, "created the server identity %s\n", kd.ServerKey())
				}
			}
			if errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("add-client: no server identity in %s: is this the daemon's data directory? (a daemon creates it on its first start; --init creates it now)", filepath.Dir(kd.ServerKey()))
			}
			if err != nil {
				return fmt.Errorf("add-client: %w", err)
			}
			priv, err := e2eeftp.ClientFiles(*out, serverPub)
			if err != nil {
				return err
			}
			key = priv.Public().(ed25519.PublicKey)
			fmt.Fprintf(e.stdout, "created %s (private, 0600) and %s\n",
				filepath.Join(*out, e2eeftp.ClientKeyFile), filepath.Join(*out, e2eeftp.KnownServerFile))
		}
		added, err := kd.Authorize(key, *comment)
		if err != nil {
			return err
		}
		storeAdded, err := db.E2EEFTPAuthorizeClient(context.Background(), e2eeftp.AuthorizedLine(key), *comment, time.Now())
		if err != nil {
			return err
		}
		added = added || storeAdded
		if added {
			fmt.Fprintf(e.stdout, "authorised %s in %s and the store (every daemon sharing it serves it within %v)\n",
				e2eeftp.AuthorizedLine(key), kd.Authorized(), e2eeftp.DefaultKeyRefresh)
		} else {
			fmt.Fprintf(e.stdout, "%s was already authorised\n", e2eeftp.AuthorizedLine(key))
		}
		return nil
	}
	return cmd
}

func e2eKeysRevoke(e *env) *cobra.Command {
	cmd := newCmd("revoke", "", "gatehouse keys e2eeftp revoke --pub BASE64 [--data DIR] [--config FILE]",
		"gatehouse keys e2eeftp revoke --pub oJql9HpnWYAv+VX43C0qFKXJnSO+l/hkEn/5ODRVpPA=")
	fs := cmd.Flags()
	d := newDataFlags(e, fs)
	pub := fs.String("pub", "", "the client key to revoke (base64 of the raw 32 bytes, as 'keys e2eeftp list' shows it)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		raw, err := base64.StdEncoding.Strict().DecodeString(strings.TrimSpace(*pub))
		if err != nil || len(raw) != ed25519.PublicKeySize || fs.NArg() != 0 {
			fs.Usage()
			return errors.New("revoke: --pub must be base64 of a 32-byte Ed25519 key")
		}
		db, kd, err := e2eStore(d)
		if err != nil {
			return err
		}
		defer db.Close()
		key := ed25519.PublicKey(raw)
		revoked, err := db.E2EEFTPRevokeClient(context.Background(), e2eeftp.AuthorizedLine(key), time.Now())
		if err != nil {
			return err
		}
		removed, err := kd.Unauthorize(key)
		if err != nil {
			return err
		}
		if !revoked && !removed {
			return fmt.Errorf("revoke: %s is not an authorised client", e2eeftp.AuthorizedLine(key))
		}
		fmt.Fprintf(e.stdout, "revoked %s (every daemon sharing the store refuses it within %v)\n",
			e2eeftp.AuthorizedLine(key), e2eeftp.DefaultKeyRefresh)
		return nil
	}
	return cmd
}

func e2eKeysList(e *env) *cobra.Command {
	cmd := newCmd("list", "", "gatehouse keys e2eeftp list [--data DIR] [--config FILE]",
		"gatehouse keys e2eeftp list --data /var/lib/gatehouse")
	fs := cmd.Flags()
	d := newDataFlags(e, fs)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		db, kd, err := e2eStore(d)
		if err != nil {
			return err
		}
		defer db.Close()
		priv, insecure, err := e2eeftp.LoadPrivateKey(kd.ServerKey())
		if err != nil {
			return fmt.Errorf("no server identity (run 'gatehouse keys e2eeftp init'): %w", err)
		}
		spub := priv.Public().(ed25519.PublicKey)
		fmt.Fprintf(e.stdout, "server %s  %s  (%s)\n", e2eFingerprint(spub), e2eeftp.AuthorizedLine(spub), kd.ServerKey())
		if insecure {
			fmt.Fprintf(e.stdout, "warning: %s is readable by group or others; chmod 600 it\n", kd.ServerKey())
		}
		clients, err := db.E2EEFTPClients(context.Background())
		if err != nil {
			return err
		}
		active := 0
		for _, c := range clients {
			if c.Revoked.IsZero() {
				active++
			}
		}
		fmt.Fprintf(e.stdout, "%d authorised client(s) in the store (what every daemon sharing it serves)\n", active)
		for _, c := range clients {
			state := ""
			if !c.Revoked.IsZero() {
				state = "  revoked " + c.Revoked.Format("2006-01-02 15:04Z")
			}
			note := ""
			if c.Comment != "" {
				note = "  # " + c.Comment
			}
			fp := "(not a key)"
			if raw, err := base64.StdEncoding.DecodeString(c.PublicKey); err == nil {
				fp = e2eFingerprint(raw)
			}
			fmt.Fprintf(e.stdout, "  %s  %s%s%s\n", fp, c.PublicKey, state, note)
		}
		f, err := os.Open(kd.Authorized())
		if errors.Is(err, os.ErrNotExist) {
			fmt.Fprintf(e.stdout, "no %s on this machine (import/export file)\n", kd.Authorized())
			return nil
		}
		if err != nil {
			return err
		}
		defer f.Close()
		entries, bad := e2eeftp.ParseAuthorized(io.LimitReader(f, 4<<20))
		fmt.Fprintf(e.stdout, "%d key(s) in %s (imported into the store by the daemon on this machine)\n", len(entries), kd.Authorized())
		for _, b := range bad {
			fmt.Fprintf(e.stdout, "  skipped %s\n", b)
		}
		return nil
	}
	return cmd
}

// ---- gatehouse client e2eeftp ----

func clientE2EEFTPCmd(e *env) *cobra.Command {
	g := newGroup("e2eeftp", "encrypted file transfer: send | get | list | delete | help",
		short(e2eSend(e), "upload a file: send [flags] FILE [REMOTE_NAME]"),
		short(e2eGet(e), "download a file: get [flags] NAME"),
		short(e2eList(e), "list the server's files"),
		short(e2eDelete(e), "delete a file on the server: delete [flags] NAME"))
	g.AddCommand(short(e2eHelp(e, g), "show this help and the commands the server supports (HLIST)"))
	return g
}

type e2eClientFlags struct {
	addr, key, server *string
	timeout           *time.Duration
	quiet             *bool
	tls               func() (*tls.Config, error)
	stderr            io.Writer // where the progress bar goes
}

func e2eFlags(e *env, fs *pflag.FlagSet) e2eClientFlags {
	f := e2eClientFlags{
		stderr:  e.stderr,
		addr:    fs.String("addr", "127.0.0.1:5001", "server host:port (the upstream console script used port 2121)"),
		key:     fs.String("key", e2eeftp.ClientKeyFile, "client identity (PEM PKCS#8 Ed25519), as the original client"),
		server:  fs.String("server-key", e2eeftp.KnownServerFile, "the server's public key (PEM)"),
		timeout: fs.Duration("timeout", 30*time.Second, "longest wait for any network read or write"),
		quiet:   fs.BoolP("quiet", "q", false, "no progress bar"),
		tls:     tlsClientFlags(fs),
	}
	return f
}

func (f e2eClientFlags) client() (*e2eeftp.Client, error) {
	c, err := e2eeftp.LoadClient(*f.addr, *f.key, *f.server)
	if err != nil {
		return nil, fmt.Errorf("%w (point --key and --server-key at this client's key files; 'gatehouse keys e2eeftp add-client --out DIR' creates them)", err)
	}
	c.Timeout = *f.timeout
	if c.TLS, err = f.tls(); err != nil {
		return nil, err
	}
	return c, nil
}

func (f e2eClientFlags) bar(label string, total int64) *progress.Bar {
	if *f.quiet {
		return progress.New(nil, label, total)
	}
	return progress.New(f.stderr, label, total)
}

func e2eSend(e *env) *cobra.Command {
	cmd := newCmd("send FILE [REMOTE_NAME]", "", "gatehouse client e2eeftp send [flags] FILE [REMOTE_NAME]",
		"gatehouse client e2eeftp send report.pdf",
		"gatehouse client e2eeftp send ./big.iso disk.iso --addr files.example:5001 --key alice/client_id.key --server-key alice/known_server.pub")
	fs := cmd.Flags()
	f := e2eFlags(e, fs)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) < 1 || len(args) > 2 {
			fs.Usage()
			return errors.New("send: want FILE [REMOTE_NAME]")
		}
		path := args[0]
		name := filepath.Base(path) // the original sent the base name
		if len(args) == 2 {
			name = args[1]
		}
		c, err := f.client()
		if err != nil {
			return err
		}
		file, err := os.Open(path)
		if err != nil {
			return err
		}
		defer file.Close()
		st, err := file.Stat()
		if err != nil {
			return err
		}
		if !st.Mode().IsRegular() {
			return fmt.Errorf("send: %s is not a regular file", path)
		}
		return interruptible(e, cmd.Context(), func(ctx context.Context) error {
			bar := f.bar("send "+name, st.Size())
			start := time.Now()
			err := c.Send(ctx, name, io.TeeReader(file, bar), st.Size())
			bar.Done()
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "226 Transfer Complete: %s (%s in %s)\n", name, progress.Size(st.Size()), time.Since(start).Round(time.Millisecond))
			return nil
		})
	}
	return cmd
}

// lazyBar is the writer a download goes through: its bar starts when the
// server announced the body (so a refused request draws none) and ends
// before the result line.
type lazyBar struct {
	f     e2eClientFlags
	label string
	bar   *progress.Bar
}

func (l *lazyBar) start(size int64) { l.bar = l.f.bar(l.label, size) }

func (l *lazyBar) Write(p []byte) (int, error) {
	if l.bar == nil {
		l.start(0)
	}
	return l.bar.Write(p)
}

func (l *lazyBar) done() {
	if l.bar != nil {
		l.bar.Done()
	}
}

// complete ends the bar of a download of n bytes that verified.
func (l *lazyBar) complete(n int64) {
	if l.bar != nil {
		l.bar.SetTotal(n)
	}
	l.done()
}

func e2eGet(e *env) *cobra.Command {
	cmd := newCmd("get NAME", "", "gatehouse client e2eeftp get [flags] [-o FILE] NAME",
		"gatehouse client e2eeftp get report.pdf              # writes downloaded_report.pdf, as the original client",
		"gatehouse client e2eeftp get -o - notes.txt | less   # to stdout",
		"gatehouse client e2eeftp get disk.iso -o /tmp/disk.iso --addr files.example:5001")
	fs := cmd.Flags()
	f := e2eFlags(e, fs)
	out := fs.StringP("output", "o", "", "output file ('-' for stdout; default downloaded_NAME)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) != 1 {
			fs.Usage()
			return errors.New("get: want NAME")
		}
		name := args[0]
		if _, err := e2eeftp.CleanName(name); err != nil {
			return fmt.Errorf("get: invalid remote name %q: %v", name, err)
		}
		c, err := f.client()
		if err != nil {
			return err
		}
		bar := &lazyBar{f: f, label: "get " + name}
		c.OnGetSize = bar.start
		return interruptible(e, cmd.Context(), func(ctx context.Context) error {
			return e2eGetTo(ctx, e, c, name, *out, bar)
		})
	}
	return cmd
}

// e2eGetTo downloads name to out (stdout for "-"). A file is written beside
// its destination and renamed once the tag verifies: a failed or
// interrupted download leaves nothing behind.
func e2eGetTo(ctx context.Context, e *env, c *e2eeftp.Client, name, out string, bar *lazyBar) error {
	if out == "-" {
		// Stdout cannot be taken back: the tag is only checked at the end,
		// so buffer nothing and report failure loudly.
		n, err := c.Get(ctx, name, io.MultiWriter(e.stdout, bar))
		if err != nil {
			bar.done()
			return fmt.Errorf("%w (output on stdout is incomplete or unverified: discard it)", err)
		}
		bar.complete(n)
		return nil
	}
	dest := out
	if dest == "" {
		dest = "downloaded_" + name
	}
	tmp, err := os.CreateTemp(filepath.Dir(dest), ".e2eeftp-get-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	start := time.Now()
	n, err := c.Get(ctx, name, io.MultiWriter(tmp, bar))
	if err != nil {
		bar.done()
		tmp.Close()
		return err
	}
	bar.complete(n)
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), dest); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "200 saved %s (%s in %s)\n", dest, progress.Size(n), time.Since(start).Round(time.Millisecond))
	return nil
}

func e2eList(e *env) *cobra.Command {
	cmd := newCmd("list", "", "gatehouse client e2eeftp list [flags]",
		"gatehouse client e2eeftp list",
		"gatehouse client e2eeftp list --addr 127.0.0.1:2121")
	cmd.Args = cobra.NoArgs
	f := e2eFlags(e, cmd.Flags())
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := f.client()
		if err != nil {
			return err
		}
		return interruptible(e, cmd.Context(), func(ctx context.Context) error {
			names, err := c.List(ctx)
			if err != nil {
				return err
			}
			for _, n := range names {
				fmt.Fprintln(e.stdout, n)
			}
			return nil
		})
	}
	return cmd
}

func e2eDelete(e *env) *cobra.Command {
	cmd := newCmd("delete NAME", "", "gatehouse client e2eeftp delete [flags] NAME",
		"gatehouse client e2eeftp delete old-report.pdf")
	fs := cmd.Flags()
	f := e2eFlags(e, fs)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) != 1 {
			fs.Usage()
			return errors.New("delete: want NAME")
		}
		c, err := f.client()
		if err != nil {
			return err
		}
		return interruptible(e, cmd.Context(), func(ctx context.Context) error {
			if err := c.Delete(ctx, args[0]); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "200 File deleted: %s\n", args[0])
			return nil
		})
	}
	return cmd
}

func e2eHelp(e *env, group *cobra.Command) *cobra.Command {
	cmd := newCmd("help", "", "gatehouse client e2eeftp help [flags]",
		"gatehouse client e2eeftp help",
		"gatehouse client e2eeftp help --addr 127.0.0.1:2121   # also asks that server (HLIST)")
	cmd.Args = cobra.NoArgs
	f := e2eFlags(e, cmd.Flags())
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		writeHelp(e.stdout, group)
		c, err := f.client()
		if err != nil {
			fmt.Fprintf(e.stdout, "\n(not asking the server: %v)\n", err)
			return nil
		}
		return interruptible(e, cmd.Context(), func(ctx context.Context) error {
			cmds, err := c.HList(ctx)
			if err != nil {
				fmt.Fprintf(e.stdout, "\n(server %s did not answer HLIST: %v)\n", *f.addr, err)
				return nil
			}
			fmt.Fprintf(e.stdout, "\nserver %s supports: %s\n", *f.addr, strings.Join(cmds, " "))
			return nil
		})
	}
	return cmd
}
