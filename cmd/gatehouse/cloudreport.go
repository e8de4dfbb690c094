package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"gatehouse/internal/blob"
	"gatehouse/internal/config"
	"gatehouse/internal/daemon"
	"gatehouse/internal/fsutil"
	"gatehouse/internal/legacycrypto"
	"gatehouse/internal/service/cloudreport"
	"gatehouse/internal/services"
	"gatehouse/internal/store"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func clientCloudreportCmd(e *env) *cobra.Command {
	out := e.stdout
	cmd := newCmd("cloudreport", "run INIT, INFO, PING, VERS, DWNL and ERRL against a Cloud Report server",
		"gatehouse client cloudreport [--addr HOST:PORT] --id N --object ID [--dialect seed|delphi] [--hst NAME] [--download NAME --out FILE] [--errl TEXT]",
		"gatehouse client cloudreport --id 2 --object 00003e3b",
		"gatehouse client cloudreport --id 9 --object 00003e3b --download app.zip --out /tmp/app.zip --addr 10.0.0.5:8080",
		"gatehouse client cloudreport --dialect delphi --hst DLUKAREV --id 2 --object 00003e3b --errl ''")
	cmd.Args = cobra.NoArgs
	fs := cmd.Flags()
	addr := fs.String("addr", "127.0.0.1:8080", "server address")
	id := fs.Int("id", 1, "INIT ID: the crypto dictionary index 1..10")
	object := fs.String("object", "", "registry client id sent in INFO (ID=…); required")
	dialectName := fs.String("dialect", "seed", "seed or delphi (experimental)")
	hst := fs.String("hst", "", "host name sent as HST= (delphi: part of the key); default the local host name")
	hashName := fs.String("delphi-hash", "sha1", "delphi dialect: sha1 or md5")
	noZlib := fs.Bool("delphi-no-zlib", false, "delphi dialect: payloads without zlib")
	download := fs.String("download", "", "file to ask DWNL for (default: DWNL without F=)")
	outFile := fs.String("out", "", "write the downloaded file here (atomically)")
	errl := fs.String("errl", "[Info]gatehouse client check", "text of the ERRL report; empty skips ERRL")
	timeout := fs.Duration("timeout", 10*time.Second, "limit for connecting and for each request")
	tlsConfig := tlsClientFlags(fs)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		tlsCfg, err := tlsConfig()
		if err != nil {
			return err
		}
		if *object == "" {
			fs.Usage()
			return errors.New("--object is required (the client id registered with 'gatehouse admin cloudreport add')")
		}
		if *outFile != "" && *download == "" {
			return errors.New("--out needs --download")
		}
		dialect, err := cloudreport.ParseDialect(*dialectName)
		if err != nil {
			return err
		}
		hash, err := legacycrypto.ParseHash(*hashName)
		if err != nil {
			return err
		}
		if *hst == "" {
			if h, err := os.Hostname(); err == nil {
				*hst = strings.ToUpper(strings.SplitN(h, ".", 2)[0])
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), *timeout)
		defer cancel()
		c, err := cloudreport.Dial(ctx, *addr, cloudreport.ClientOptions{
			Dialect: dialect, HST: *hst, DelphiHash: hash, DelphiZlib: !*noZlib, Timeout: *timeout, TLS: tlsCfg,
		})
		if err != nil {
			return err
		}
		defer c.Close()

		ir, err := c.Init(*id)
		if err != nil {
			return fmt.Errorf("INIT: %w", err)
		}
		fmt.Fprintf(out, "INIT  KEY=%s LEN=%d\n", ir.Key, ir.Len)
		info, err := c.Info(cloudreport.Fields{{Key: "ID", Value: *object}, {Key: "HS", Value: *hst}})
		if err != nil {
			return fmt.Errorf("INFO: %w", err)
		}
		printFields(out, "INFO", info)
		start := time.Now()
		if err := c.Ping(); err != nil {
			return fmt.Errorf("PING: %w", err)
		}
		fmt.Fprintf(out, "PING  ok (%s)\n", time.Since(start).Round(time.Microsecond))
		vers, err := c.Vers()
		if err != nil {
			return fmt.Errorf("VERS: %w", err)
		}
		printFields(out, "VERS", vers)
		f, content, err := c.Download(*download)
		if err != nil {
			return fmt.Errorf("DWNL: %w", err)
		}
		shown := make(cloudreport.Fields, 0, len(f))
		for _, kv := range f {
			if kv.Key == "FILE" {
				kv.Value = fmt.Sprintf("<%d bytes of base64>", len(kv.Value))
			}
			shown = append(shown, kv)
		}
		printFields(out, "DWNL", shown)
		if *download != "" && content == nil {
			st, _ := f.Get("STATUS")
			return fmt.Errorf("DWNL %s: status %s", *download, st)
		}
		if *outFile != "" {
			if err := fsutil.WriteFileAtomic(*outFile, content, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(out, "      wrote %d bytes to %s\n", len(content), *outFile)
		}
		if *errl != "" {
			if err := c.ReportError(*errl); err != nil {
				return fmt.Errorf("ERRL: %w", err)
			}
			fmt.Fprintln(out, "ERRL  ok")
		}
		return nil
	}
	return cmd
}

func printFields(out io.Writer, cmd string, f cloudreport.Fields) {
	fmt.Fprintf(out, "%-5s ok\n", cmd)
	for _, kv := range f {
		fmt.Fprintf(out, "      %s=%s\n", kv.Key, kv.Value)
	}
}

func adminCloudreportCmd(e *env) *cobra.Command {
	g := newGroup("cloudreport", "client registry, error reports and update files: add|list|enable|disable|set-expiry|errors|publish|unpublish|updates",
		short(crAdd(e), "register a client: add --id ID --name NAME [--expires YYYY-MM-DD] [--disabled]"),
		short(crList(e), "list the clients (registered with add, or recorded when they first connected)"),
		short(crSetEnabled(e, "enable"), "enable a client: enable ID"),
		short(crSetEnabled(e, "disable"), "disable a client: disable ID"),
		short(crSetExpiry(e), "change the expiry: set-expiry ID YYYY-MM-DD"),
		short(crErrors(e), "error reports (ERRL): errors [--client ID] [--limit N]"),
		short(crUpdates(e, "publish"), "serve a file to VERS/DWNL on every daemon: publish FILE [--name NAME]"),
		short(crUpdates(e, "unpublish"), "stop serving an update file: unpublish NAME"),
		short(crUpdates(e, "updates"), "list the update files VERS announces"))
	g.Long = "Every command takes --config/--data/--set to find the daemon's store."
	return g
}

// crOpen registers the store flags on fs and returns the function that
// runs check (argument errors must not create a data directory as a side
// effect) and opens the daemon's store.
func crOpen(e *env, fs *pflag.FlagSet) func(check func() error) (*store.DB, error) {
	d := newDataFlags(e, fs)
	return func(check func() error) (*store.DB, error) {
		if check != nil {
			if err := check(); err != nil {
				return nil, err
			}
		}
		db, _, err := d.openStore(context.Background())
		return db, err
	}
}

func parseDate(s string) (time.Time, error) {
	t, err := time.Parse(store.CloudreportDateLayout, s)
	if err != nil {
		return t, fmt.Errorf("date %q: want YYYY-MM-DD", s)
	}
	return t, nil
}

func crAdd(e *env) *cobra.Command {
	out := e.stdout
	cmd := newCmd("add", "", "gatehouse admin cloudreport add --id ID --name NAME [--expires YYYY-MM-DD] [--disabled] [--data DIR]",
		"gatehouse admin cloudreport add --id 00003e3b --name 'Firm Ltd'            # expires in one year",
		"gatehouse admin cloudreport add --id 0000abcd --name Shop --expires 2027-12-31 --data /var/lib/gatehouse")
	fs := cmd.Flags()
	id := fs.String("id", "", "client id the client sends in INFO (ID=…), 1..64 of [A-Za-z0-9._-]; any case matches")
	name := fs.String("name", "", "client (object) name")
	expires := fs.String("expires", "", "expiry date YYYY-MM-DD (default: one year from today)")
	disabled := fs.Bool("disabled", false, "register the client disabled")
	now := time.Now()
	exp := cloudreport.AddYears(time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC), 1)
	open := crOpen(e, fs)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		db, err := open(func() (err error) {
			if !cloudreport.ValidClientID(*id) {
				return fmt.Errorf("--id %q: want 1..64 characters of [A-Za-z0-9._-]", *id)
			}
			if strings.TrimSpace(*name) == "" {
				return errors.New("--name is required")
			}
			if *expires != "" {
				exp, err = parseDate(*expires)
			}
			return err
		})
		if err != nil {
			return err
		}
		defer db.Close()
		c := store.CloudreportClient{ID: store.NormalizeCloudreportID(*id), Name: *name, Expires: exp, Enabled: !*disabled, Created: now}
		if err := db.CloudreportAddClient(context.Background(), c); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return fmt.Errorf("client %s is already registered", *id)
			}
			return err
		}
		fmt.Fprintf(out, "added client %s (%s), expires %s, %s\n", c.ID, c.Name, exp.Format(store.CloudreportDateLayout), enabledText(c.Enabled))
		return nil
	}
	return cmd
}

func enabledText(b bool) string {
	if b {
		return "enabled"
	}
	return "disabled"
}

func crList(e *env) *cobra.Command {
	out := e.stdout
	cmd := newCmd("list", "", "gatehouse admin cloudreport list [--data DIR]",
		"gatehouse admin cloudreport list --data /var/lib/gatehouse")
	fs := cmd.Flags()
	open := crOpen(e, fs)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		db, err := open(nil)
		if err != nil {
			return err
		}
		defer db.Close()
		list, err := db.CloudreportListClients(context.Background())
		if err != nil {
			return err
		}
		if len(list) == 0 {
			fmt.Fprintln(out, "no clients registered (add one with 'gatehouse admin cloudreport add')")
			return nil
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tEXPIRES\tSTATE\tCREATED\tFIRST SEEN\tLAST SEEN\tLAST ADDRESS")
		today := time.Now().Format(store.CloudreportDateLayout)
		for _, c := range list {
			state := enabledText(c.Enabled)
			if exp := c.Expires.Format(store.CloudreportDateLayout); exp < today {
				state += ", expired"
			}
			name := c.Name
			if name == "" {
				name = "-"
			}
			addr := c.LastAddr
			if addr == "" {
				addr = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.ID, name, c.Expires.Format(store.CloudreportDateLayout), state,
				c.Created.Local().Format("2006-01-02 15:04:05"), seenText(c.FirstSeen), seenText(c.LastSeen), addr)
		}
		return tw.Flush()
	}
	return cmd
}

// seenText shows a seen time; "-" for never. Last-seen times are written
// coalesced, so they may lag by up to the flush interval (a minute).
func seenText(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

// oneArg takes the positional arguments, at least one.
func oneArg(fs *pflag.FlagSet, what string) ([]string, error) {
	if fs.NArg() == 0 {
		fs.Usage()
		return nil, fmt.Errorf("missing %s", what)
	}
	return fs.Args(), nil
}

func crSetEnabled(e *env, sub string) *cobra.Command {
	out := e.stdout
	cmd := newCmd(sub+" ID", "", "gatehouse admin cloudreport "+sub+" ID [--data DIR]",
		"gatehouse admin cloudreport "+sub+" 00003e3b")
	fs := cmd.Flags()
	open := crOpen(e, fs)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		var a []string
		db, err := open(func() (err error) {
			if a, err = oneArg(fs, "client ID"); err == nil && len(a) != 1 {
				err = fmt.Errorf("want one client ID, got %d arguments", len(a))
			}
			return err
		})
		if err != nil {
			return err
		}
		defer db.Close()
		if err := db.CloudreportSetEnabled(context.Background(), a[0], sub == "enable"); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("no client %s", a[0])
			}
			return err
		}
		fmt.Fprintf(out, "client %s %sd\n", a[0], sub)
		return nil
	}
	return cmd
}

func crSetExpiry(e *env) *cobra.Command {
	out := e.stdout
	cmd := newCmd("set-expiry", "", "gatehouse admin cloudreport set-expiry [--data DIR] ID YYYY-MM-DD",
		"gatehouse admin cloudreport set-expiry 00003e3b 2028-02-29")
	fs := cmd.Flags()
	var a []string
	var exp time.Time
	open := crOpen(e, fs)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		db, err := open(func() (err error) {
			if a, err = oneArg(fs, "client ID and date"); err != nil {
				return err
			}
			if len(a) != 2 {
				fs.Usage()
				return fmt.Errorf("want a client ID and a date, got %d arguments", len(a))
			}
			exp, err = parseDate(a[1])
			return err
		})
		if err != nil {
			return err
		}
		defer db.Close()
		if err := db.CloudreportSetExpiry(context.Background(), a[0], exp); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("no client %s", a[0])
			}
			return err
		}
		fmt.Fprintf(out, "client %s expires %s\n", a[0], exp.Format(store.CloudreportDateLayout))
		return nil
	}
	return cmd
}

func crErrors(e *env) *cobra.Command {
	out := e.stdout
	cmd := newCmd("errors", "", "gatehouse admin cloudreport errors [--client ID] [--limit N] [--data DIR]",
		"gatehouse admin cloudreport errors                  # newest 50 reports",
		"gatehouse admin cloudreport errors --client 00003e3b --limit 10")
	fs := cmd.Flags()
	client := fs.String("client", "", "only this client id (\"init:N\" for reports sent before INFO)")
	limit := fs.Int("limit", 50, "newest N reports")
	open := crOpen(e, fs)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		db, err := open(func() error {
			if *limit <= 0 || *limit > 100000 {
				return fmt.Errorf("--limit %d: want 1..100000", *limit)
			}
			return nil
		})
		if err != nil {
			return err
		}
		defer db.Close()
		list, err := db.CloudreportErrors(context.Background(), *client, *limit)
		if err != nil {
			return err
		}
		if len(list) == 0 {
			fmt.Fprintln(out, "no error reports")
			return nil
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TIME\tCLIENT\tPEER\tTEXT")
		for _, e := range list {
			text := fmt.Sprintf("%q", e.Text)
			if e.Data != "" {
				text += fmt.Sprintf(" data=%q", e.Data)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.Created.Local().Format("2006-01-02 15:04:05"), e.ClientID, e.Peer, text)
		}
		return tw.Flush()
	}
	return cmd
}

// crUpdates publishes, removes or lists the update files where the daemon
// finds them (services.cloudreport.updates: the shared blob store, or this
// machine's <data>/cloudreport/updates).
func crUpdates(e *env, sub string) *cobra.Command {
	out := e.stdout
	use := map[string]string{"publish": "publish FILE", "unpublish": "unpublish NAME", "updates": "updates"}[sub]
	synopsis := map[string]string{
		"publish":   "gatehouse admin cloudreport publish FILE [--name NAME] [--config FILE] [--data DIR]",
		"unpublish": "gatehouse admin cloudreport unpublish NAME [--config FILE] [--data DIR]",
		"updates":   "gatehouse admin cloudreport updates [--config FILE] [--data DIR]",
	}[sub]
	cmd := newCmd(use, "", synopsis,
		"gatehouse admin cloudreport publish ./app-1.2.zip --name app.zip   # every daemon serves it at once",
		"gatehouse admin cloudreport unpublish app.zip",
		"gatehouse admin cloudreport updates")
	fs := cmd.Flags()
	var name *string
	if sub == "publish" {
		name = fs.String("name", "", "the name clients ask DWNL for (default the file's base name)")
	}
	d := newDataFlags(e, fs)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		var arg string
		if sub != "updates" {
			if len(args) != 1 {
				fs.Usage()
				return fmt.Errorf("%s: want one %s", sub, map[string]string{"publish": "FILE", "unpublish": "NAME"}[sub])
			}
			arg = args[0]
		} else if len(args) != 0 {
			fs.Usage()
			return fmt.Errorf("updates: unexpected argument %q", args[0])
		}
		cfg, err := d.config()
		if err != nil {
			return err
		}
		// The update files live beside the daemon's store: a directory
		// without one is not the daemon's, unless --init makes it so.
		db, err := openStoreMay(cmd.Context(), cfg, *d.init)
		if err != nil {
			return err
		}
		db.Close()
		return crUpdatesRun(e, cfg, sub, arg, name, out)
	}
	return cmd
}

func crUpdatesRun(e *env, cfg *config.Config, sub, arg string, name *string, out io.Writer) error {
	ctx := context.Background()
	shared, err := daemon.OpenBlob(ctx, cfg)
	if err != nil {
		return err
	}
	defer shared.Close()
	st, where, err := services.CloudreportUpdateStore(cfg, blob.Prefixed(shared, "cloudreport"))
	if err != nil {
		return err
	}
	if l, ok := st.(*blob.Local); ok {
		defer l.Close()
	}
	switch sub {
	case "publish":
		n := *name
		if n == "" {
			n = filepath.Base(arg)
		}
		if !cloudreport.ValidUpdateName(n) {
			return fmt.Errorf("publish: %q cannot be an update name (letters, digits, . _ -, at most 128, not starting with a dot); choose one with --name", n)
		}
		f, err := os.Open(arg)
		if err != nil {
			return err
		}
		defer f.Close()
		size, err := cloudreport.PublishUpdate(ctx, st, n, f)
		if err != nil {
			return fmt.Errorf("publish %s: %w", n, err)
		}
		fmt.Fprintf(out, "published %s (%d bytes) in %s\n", n, size, where)
	case "unpublish":
		if err := cloudreport.UnpublishUpdate(ctx, st, arg); err != nil {
			return fmt.Errorf("unpublish %s: %w", arg, err)
		}
		fmt.Fprintf(out, "unpublished %s from %s\n", arg, where)
	case "updates":
		list, err := cloudreport.ListUpdates(ctx, cloudreport.BlobUpdates(st))
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%d update file(s) in %s\n", len(list), where)
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		for _, u := range list {
			fmt.Fprintf(tw, "%s\t%d\t%s\n", u.Name, u.Size, u.ModTime.UTC().Format("2006-01-02 15:04:05Z"))
		}
		tw.Flush()
	}
	return nil
}
