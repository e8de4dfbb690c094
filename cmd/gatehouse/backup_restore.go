package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"gatehouse/internal/blob"
	"gatehouse/internal/config"
	"gatehouse/internal/daemon"
	"gatehouse/internal/progress"
	"gatehouse/internal/service/backup"
	"gatehouse/internal/store"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// backupIdentityFlags are the flags list and restore share: where the
// identity is, which server, and how to reach it (the TLS flags of the
// upload command, for a tls_listen port).
type backupIdentityFlags struct {
	dir, server *string
	timeout     *time.Duration
	tls         func() (*tls.Config, error)
}

func addBackupIdentityFlags(flags *pflag.FlagSet) backupIdentityFlags {
	f := backupIdentityFlags{
		dir:     flags.String("dir", ".", "folder holding me.info and priv.key (and transfer.info)"),
		server:  flags.String("addr", "", "server host:port (default: transfer.info line 1, else 127.0.0.1:1357)"),
		timeout: flags.Duration("timeout", 30*time.Second, "limit for each read or write"),
	}
	aliasFlag(flags, "server", "addr")
	f.tls = tlsClientFlags(flags)
	return f
}

// backupReconnect logs in with the identity in --dir by a 1027 only: list
// and restore never register, and never forget the identity on a refusal
// (a backup client's priv.key is what its restores depend on).
func backupReconnect(ctx context.Context, f backupIdentityFlags) (*backup.Client, error) {
	tlsCfg, err := f.tls()
	if err != nil {
		return nil, err
	}
	ti, err := backup.ReadTransferInfo(filepath.Join(*f.dir, backup.TransferInfoFile))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	me, err := backup.ReadMeInfo(filepath.Join(*f.dir, backup.MeInfoFile))
	if err != nil {
		return nil, fmt.Errorf("no backup identity in %s (me.info): %w", *f.dir, err)
	}
	key, err := backup.ReadPrivateKey(filepath.Join(*f.dir, backup.PrivKeyFile))
	if err != nil {
		return nil, fmt.Errorf("no usable private key in %s: %w", *f.dir, err)
	}
	addr := firstNonEmpty(*f.server, ti.Addr, "127.0.0.1:1357")
	c := &backup.Client{Addr: addr, Name: me.Name, ID: me.ID, Key: key, Timeout: *f.timeout, TLS: tlsCfg}
	if err := c.Reconnect(ctx); err != nil {
		if errors.Is(err, backup.ErrReconnectDenied) {
			return nil, fmt.Errorf("%s does not know client %s (%q): %w", addr, me.ID, me.Name, err)
		}
		return nil, fmt.Errorf("reconnect to %s: %w", addr, err)
	}
	return c, nil
}

func backupListCmd(e *env) *cobra.Command {
	cmd := newCmd("list", "", "gatehouse client backup list [--dir DIR] [--addr HOST:PORT] [--tls [--tls-ca FILE|--tls-pin SHA256:…]]",
		"gatehouse client backup list --dir ~/backup-client",
		"gatehouse client backup list --addr 127.0.0.1:1358 --tls --tls-pin SHA256:…   # the tls_listen port",
		"",
		"Lists every version the server keeps of this client's files (a Gatehouse extension; the",
		"original server cannot answer it). The identity comes from me.info and priv.key in --dir.")
	cmd.Args = cobra.NoArgs
	id := addBackupIdentityFlags(cmd.Flags())
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return interruptible(e, cmd.Context(), func(ctx context.Context) error { return runBackupList(ctx, e, id) })
	}
	return cmd
}

func runBackupList(ctx context.Context, e *env, id backupIdentityFlags) error {
	stdout, stderr := e.stdout, e.stderr
	c, err := backupReconnect(ctx, id)
	if err != nil {
		return err
	}
	l, err := c.List(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FILE\tVERSION\tSIZE\tUPLOADED\tCRC")
	for _, e := range l.Entries {
		size := "?"
		if e.Size != backup.UnknownSize {
			size = strconv.FormatUint(e.Size, 10)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%08x\n", e.Name, e.Version, size, time.Unix(e.UploadedAt, 0).UTC().Format(time.RFC3339), e.CRC)
	}
	tw.Flush()
	if l.Truncated {
		fmt.Fprintf(stderr, "(listing cut at %d versions)\n", len(l.Entries))
	}
	return nil
}

func backupRestoreCmd(e *env) *cobra.Command {
	cmd := newCmd("restore NAME", "", "gatehouse client backup restore NAME [--version V] [-o PATH] [--dir DIR] [--addr HOST:PORT] [--tls …]",
		"gatehouse client backup restore notes.txt                     # latest version, to ./notes.txt",
		"gatehouse client backup restore notes.txt --version 2 -o /tmp/notes-v2.txt",
		"gatehouse client backup restore notes.txt --addr 127.0.0.1:1358 --tls --tls-ca cert.pem   # the tls_listen port",
		"",
		"The file is written to a hidden .NAME.vV.gatehouse-restore file beside PATH and renamed",
		"onto PATH only once its CRC checked out; an interrupted restore resumes from that file.")
	fs := cmd.Flags()
	id := addBackupIdentityFlags(fs)
	version := fs.Uint("version", 0, "version to restore (default: the latest)")
	outPath := fs.StringP("output", "o", "", "where to write the file (default: NAME's base name in the current folder; a folder: inside it)")
	quiet := fs.BoolP("quiet", "q", false, "no progress bar")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) != 1 {
			fs.Usage()
			if len(args) == 0 {
				return errors.New("which file? give its NAME")
			}
			return fmt.Errorf("unexpected argument %q", args[1])
		}
		return interruptible(e, cmd.Context(), func(ctx context.Context) error {
			return runBackupRestore(ctx, e, id, args[0], *version, *outPath, *quiet)
		})
	}
	return cmd
}

func runBackupRestore(ctx context.Context, e *env, id backupIdentityFlags, name string, version uint, outPath string, quiet bool) error {
	stdout, stderr := e.stdout, e.stderr
	base, err := backup.StoredFileName(name)
	if err != nil {
		return fmt.Errorf("%q: %w", name, err)
	}
	if version > 1<<32-1 {
		return fmt.Errorf("--version %d is out of range", version)
	}
	c, err := backupReconnect(ctx, id)
	if err != nil {
		return err
	}
	l, err := c.List(ctx)
	if err != nil {
		return err
	}
	var versions []backup.ListEntry
	names := map[string]bool{}
	for _, e := range l.Entries {
		names[e.Name] = true
		if e.Name == base {
			versions = append(versions, e)
		}
	}
	if len(versions) == 0 {
		var have []string
		for n := range names {
			have = append(have, n)
		}
		return fmt.Errorf("unknown file %q: the server keeps no verified version of it (it has %d file(s)%s)", base, len(have), listSome(have))
	}
	entry := versions[len(versions)-1]
	if version != 0 {
		found := false
		for _, e := range versions {
			if e.Version == uint32(version) {
				entry, found = e, true
			}
		}
		if !found {
			var vs []string
			for _, e := range versions {
				vs = append(vs, strconv.Itoa(int(e.Version)))
			}
			return fmt.Errorf("unknown version %d of %q (versions kept: %s)", version, base, strings.Join(vs, ", "))
		}
	}
	out := firstNonEmpty(outPath, base)
	if st, err := os.Stat(out); err == nil && st.IsDir() {
		out = filepath.Join(out, base)
	}
	part := filepath.Join(filepath.Dir(out), fmt.Sprintf(".%s.v%d.gatehouse-restore", filepath.Base(out), entry.Version))
	f, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	// Whole blocks of an earlier attempt are kept; the server sends the
	// rest (the offset must stay inside the ciphertext).
	offset := st.Size() &^ 15
	if offset >= int64(entry.CipherSize) {
		offset = 0
	}
	if err := f.Truncate(offset); err != nil {
		return err
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return err
	}
	var bar *progress.Bar
	if !quiet {
		c.Progress = func(label string, total int64) io.Writer {
			if total < backupProgressThreshold {
				return io.Discard
			}
			bar = progress.New(stderr, filepath.Base(label), total)
			return bar
		}
	}
	res, err := c.Restore(ctx, base, entry.Version, io.NewSectionReader(f, 0, offset), offset, f)
	if bar != nil {
		bar.Done()
	}
	if err != nil {
		if errors.Is(err, backup.ErrRestoreCRC) {
			f.Close()
			os.Remove(part)
			return fmt.Errorf("restore of %s version %d: %w (nothing written to %s)", base, entry.Version, err, out)
		}
		if ctx.Err() != nil {
			// Interrupted: the partial file is what a resume continues from
			// (docs: it is kept on purpose, unlike a failed e2eeftp get's).
			fmt.Fprintf(stderr, "%s keeps what arrived; run the same command again to resume\n", part)
		}
		return fmt.Errorf("restore of %s version %d: %w (%s keeps what arrived; run the same command again to resume)", base, entry.Version, err, part)
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(part, out); err != nil {
		return err
	}
	resumed := ""
	if offset > 0 {
		resumed = fmt.Sprintf(", resumed at %s", progress.Size(offset))
	}
	fmt.Fprintf(stdout, "restored %s version %d to %s: %s, CRC %08x%s\n", base, entry.Version, out,
		progress.Size(offset+res.Written), res.Header.CRC, resumed)
	return nil
}

func listSome(names []string) string {
	if len(names) == 0 {
		return ""
	}
	sort.Strings(names)
	if len(names) > 10 {
		return ": " + strings.Join(names[:10], ", ") + ", …"
	}
	return ": " + strings.Join(names, ", ")
}

// runBackupVersions is `admin backup versions`.
func runBackupVersions(ctx context.Context, db *store.DB, client, file string, stdout io.Writer) error {
	vs, err := db.BackupVersions(ctx, client, file)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	defer tw.Flush()
	fmt.Fprintln(tw, "CLIENT\tFILE\tVERSION\tSIZE\tSTORED\tCRC\tAT REST\tUPLOADED\tVERIFIED")
	for _, v := range vs {
		rest, size := "plain", "?"
		if v.AtRestKey != nil {
			rest = "cipher"
		}
		if v.PlainSize >= 0 {
			size = strconv.FormatInt(v.PlainSize, 10)
		}
		fmt.Fprintf(tw, "%s\t%q\t%d\t%s\t%d\t%08x\t%s\t%s\t%s\n", v.ClientID, v.FileName, v.Version, size, v.Size, v.CRC, rest,
			v.UploadedAt.Format(time.RFC3339), v.VerifiedAt.Format(time.RFC3339))
	}
	return nil
}

type backupExportConfig struct {
	db                *store.DB
	cfg               *config.Config
	dataDir           string
	client, file, out string
	version           int64
}

// runBackupExport is `admin backup export`: one version's plaintext,
// written to a temporary file beside out and renamed onto it once the
// upload's CRC checked out.
func runBackupExport(ctx context.Context, cfg backupExportConfig, stdout io.Writer) error {
	if cfg.client == "" || cfg.file == "" || cfg.out == "" {
		return errors.New("export needs --client ID, --file NAME and -o PATH")
	}
	vs, err := cfg.db.BackupVersions(ctx, cfg.client, cfg.file)
	if err != nil {
		return err
	}
	if len(vs) == 0 {
		return fmt.Errorf("client %s has no verified version of %q", cfg.client, cfg.file)
	}
	v := vs[len(vs)-1]
	if cfg.version != 0 {
		found := false
		for _, x := range vs {
			if x.Version == cfg.version {
				v, found = x, true
			}
		}
		if !found {
			return fmt.Errorf("client %s has no version %d of %q (versions kept: %d to %d)", cfg.client, cfg.version, cfg.file,
				vs[0].Version, vs[len(vs)-1].Version)
		}
	}
	master, err := os.ReadFile(filepath.Join(cfg.dataDir, "backup", "master.key"))
	if err != nil {
		return fmt.Errorf("the backup master key is needed to open stored keys: %w", err)
	}
	bs, err := daemon.OpenBlob(ctx, cfg.cfg)
	if err != nil {
		return err
	}
	defer bs.Close()
	tmp, err := os.CreateTemp(filepath.Dir(cfg.out), "."+filepath.Base(cfg.out)+".export-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	verified, err := backup.Export(ctx, blob.Prefixed(bs, "backup"), master, v, tmp)
	if err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), cfg.out); err != nil {
		return err
	}
	check := "CRC checked"
	if !verified {
		check = "CRC not checked: the upload's key was not recorded (stored before versions)"
	}
	fmt.Fprintf(stdout, "exported %s %q version %d to %s (%s)\n", v.ClientID, v.FileName, v.Version, cfg.out, check)
	return nil
}
