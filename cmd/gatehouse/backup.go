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
	"strings"
	"text/tabwriter"
	"time"

	"gatehouse/internal/progress"
	"gatehouse/internal/service/backup"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// backupList collects a repeatable flag.
type backupList []string

func (l *backupList) String() string     { return strings.Join(*l, ",") }
func (l *backupList) Set(v string) error { *l = append(*l, v); return nil }
func (l *backupList) Type() string       { return "path" }

// progressThreshold: smaller files finish before a bar would be useful.
const backupProgressThreshold = 4 << 20

func clientBackupCmd(e *env) *cobra.Command {
	cmd := newCmd("backup", "back files up to the encrypted backup service (stands in for the original C++ client)",
		"gatehouse client backup [--addr HOST:PORT] [--name NAME] [--file PATH …] [--dir DIR]\n       gatehouse client backup list|restore …  (see their -h)",
		"gatehouse client backup --name alice --file notes.txt                 # 127.0.0.1:1357",
		"gatehouse client backup --addr 10.0.0.5:1357 --name alice --file a.txt --file b.pdf",
		"gatehouse client backup --dir ~/backup-client    # server, name and files from transfer.info there",
		"",
		"The client keeps the original client's files in --dir: transfer.info (server, name, files),",
		"me.info and priv.key (its identity). With me.info present it reconnects instead of registering.")
	cmd.Args = cobra.NoArgs
	fs := cmd.Flags()
	server := fs.String("addr", "", "server host:port (default: transfer.info line 1, else 127.0.0.1:1357)")
	aliasFlag(fs, "server", "addr")
	name := fs.String("name", "", "client name for a new registration (default: transfer.info line 2)")
	var files backupList
	fs.Var(&files, "file", "file to back up (repeatable; default: the files listed in transfer.info)")
	dir := fs.String("dir", ".", "folder holding transfer.info, me.info and priv.key")
	timeout := fs.Duration("timeout", 30*time.Second, "limit for each read or write")
	quiet := fs.BoolP("quiet", "q", false, "no progress bar")
	register := fs.Bool("register", false, "when the server no longer knows this client's id (me.info), register anew (a new id and key)")
	tlsConfig := tlsClientFlags(fs)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return interruptible(e, cmd.Context(), func(ctx context.Context) error {
			return runBackupUpload(ctx, e, fs, *server, *name, files, *dir, *timeout, *quiet, *register, tlsConfig)
		})
	}
	cmd.AddCommand(short(backupListCmd(e), "list the versions the server keeps of this client's files"),
		short(backupRestoreCmd(e), "restore a file (a version of it) from the server"))
	return cmd
}

func runBackupUpload(ctx context.Context, e *env, flags *pflag.FlagSet, server, name string, files backupList, dir string,
	timeout time.Duration, quiet, register bool, tlsConfig func() (*tls.Config, error)) error {
	stdout, stderr := e.stdout, e.stderr
	tlsCfg, err := tlsConfig()
	if err != nil {
		return err
	}
	ti, err := backup.ReadTransferInfo(filepath.Join(dir, backup.TransferInfoFile))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	addr := firstNonEmpty(server, ti.Addr, "127.0.0.1:1357")
	cname := firstNonEmpty(name, ti.Name)
	// Where each file is read from; the name sent stays as given, as the
	// original client sent the path written in transfer.info.
	open := map[string]string{}
	if len(files) == 0 {
		files = ti.Files
		for _, f := range files {
			// The original client runs in its transfer.info's folder, so
			// relative paths listed there are relative to --dir.
			if !filepath.IsAbs(f) {
				open[f] = filepath.Join(dir, f)
			}
		}
	}
	if cname == "" {
		if _, err := os.Stat(filepath.Join(dir, backup.MeInfoFile)); err != nil {
			flags.Usage()
			return errors.New("--name is required for a first registration (or a transfer.info)")
		}
	}
	if len(cname) > backup.MaxClientName {
		return fmt.Errorf("--name is %d bytes; the protocol's clients allow %d", len(cname), backup.MaxClientName)
	}
	if len(files) == 0 {
		flags.Usage()
		return errors.New("nothing to back up: give --file or list files in transfer.info")
	}
	// Checked before logging in: a mistyped path must not leave a new
	// identity behind (me.info, priv.key and a client on the server).
	var sendable, failed []string
	for _, f := range files {
		if err := backupCheckFile(firstNonEmpty(open[f], f)); err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", f, err)
			failed = append(failed, f)
			continue
		}
		// The server's own name rule, before any byte is sent: a name it
		// would refuse is not uploaded three times to learn that.
		if err := backup.CheckFileName(f); err != nil {
			fmt.Fprintf(stderr, "%s: not sent: %v\n", f, err)
			failed = append(failed, f)
			continue
		}
		sendable = append(sendable, f)
	}
	if len(sendable) == 0 {
		return fmt.Errorf("nothing to back up: none of the %d file(s) is a readable regular file with a name the server accepts", len(files))
	}
	c := &backup.Client{Addr: addr, Name: cname, Timeout: timeout, TLS: tlsCfg, ReRegister: register}
	var bars []*progress.Bar
	if !quiet {
		c.Progress = func(label string, total int64) io.Writer {
			if total < backupProgressThreshold {
				return io.Discard
			}
			b := progress.New(stderr, filepath.Base(label), total)
			bars = append(bars, b)
			return b
		}
	}
	registered, err := c.Login(ctx, dir)
	if errors.Is(err, backup.ErrNotRegistered) {
		return fmt.Errorf("login to %s: %w (the identity in %s is kept; --register makes a new id and key, and the versions kept under the old id stay with it)",
			addr, err, filepath.Join(dir, backup.MeInfoFile))
	}
	if err != nil {
		return fmt.Errorf("login to %s: %w", addr, err)
	}
	if registered {
		fmt.Fprintf(stdout, "registered as %q, id %s (identity saved in %s)\n", c.Name, c.ID, filepath.Join(dir, backup.MeInfoFile))
	} else {
		fmt.Fprintf(stdout, "reconnected as %q, id %s\n", c.Name, c.ID)
	}
	for _, path := range sendable {
		err := backupOne(ctx, c, path, firstNonEmpty(open[path], path), stdout)
		for _, b := range bars {
			b.Done()
		}
		bars = bars[:0]
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", path, err)
			failed = append(failed, path)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d file(s) not backed up: %s", len(failed), len(files), strings.Join(failed, ", "))
	}
	return nil
}

func backupCheckFile(path string) error {
	f, _, err := openRegular(path)
	if err == nil {
		f.Close()
	}
	return err
}

// openRegular opens path for reading, refusing anything but a regular file.
func openRegular(path string) (*os.File, os.FileInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	st, err := f.Stat()
	if err == nil && !st.Mode().IsRegular() {
		err = errors.New("not a regular file")
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, st, nil
}

// backupOne uploads the file at from under the name path.
func backupOne(ctx context.Context, c *backup.Client, path, from string, stdout io.Writer) error {
	f, st, err := openRegular(from)
	if err != nil {
		return err
	}
	defer f.Close()
	res, err := c.Upload(ctx, path, f, st.Size())
	if err != nil {
		return err
	}
	rate := float64(st.Size()) / res.Elapsed.Seconds()
	fmt.Fprintf(stdout, "backed up %s: %s, CRC %08x, verified after %d attempt(s), %s/s\n",
		path, progress.Size(st.Size()), res.CRC, res.Attempts, progress.Size(int64(rate)))
	return nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

func adminBackupCmd(e *env) *cobra.Command {
	return newGroup("backup", "backup clients, files and versions; export a version: admin backup clients|files|versions|export",
		short(backupAdminCmd(e, "clients"), "every registered client, with its storage use"),
		short(backupAdminCmd(e, "files"), "every stored file, with its status"),
		short(backupAdminCmd(e, "versions"), "the verified versions of the stored files"),
		short(backupAdminCmd(e, "export"), "write one version's plaintext to a file"))
}

func backupAdminCmd(e *env, what string) *cobra.Command {
	cmd := newCmd(what, "", "gatehouse admin backup "+what+" [--client ID] [--file NAME] [--version V] [-o PATH] [--config FILE] [--data DIR] [--set key=value …]",
		"gatehouse admin backup clients                 # every registered client, with its storage use",
		"gatehouse admin backup files                   # every stored file, with its status",
		"gatehouse admin backup files --client 1f93925f-86d8-432a-ad42-d24db9eb1a27",
		"gatehouse admin backup versions --client 1f93925f-86d8-432a-ad42-d24db9eb1a27 --file notes.txt",
		"gatehouse admin backup export --client 1f93925f-86d8-432a-ad42-d24db9eb1a27 --file notes.txt --version 2 -o notes-v2.txt",
		"gatehouse admin backup clients --data /var/lib/gatehouse")
	cmd.Args = cobra.NoArgs
	fs := cmd.Flags()
	d := newDataFlags(e, fs)
	client := fs.String("client", "", "files, versions: only this client's; export: the client (dashed UUID)")
	file := fs.String("file", "", "versions: only this file's; export: the file")
	version := fs.Int64("version", 0, "export: the version (default: the latest)")
	out := fs.StringP("output", "o", "", "export: where to write the plaintext")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return backupAdmin(cmd.Context(), e, d, what, *client, *file, *version, *out)
	}
	return cmd
}

func backupAdmin(ctx context.Context, e *env, d *dataFlags, what, client, file string, version int64, out string) error {
	stdout := e.stdout
	if client != "" {
		id, err := backup.ParseClientID(client)
		if err != nil {
			return err
		}
		client = id.String()
	}
	db, cfg, err := d.openStore(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	switch what {
	case "versions":
		return runBackupVersions(ctx, db, client, file, stdout)
	case "export":
		return runBackupExport(ctx, backupExportConfig{db: db, cfg: cfg, dataDir: cfg.DataDir, client: client, file: file,
			out: out, version: version}, stdout)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	defer tw.Flush()
	if what == "clients" {
		cls, err := db.BackupClients(ctx)
		if err != nil {
			return err
		}
		usage, err := db.BackupUsage(ctx)
		if err != nil {
			return err
		}
		// FILES and VERSIONS count verified versions; STORED is what they
		// and any upload awaiting its 1029 take in the blob store.
		fmt.Fprintln(tw, "ID\tNAME\tKEY\tREGISTERED\tLAST SEEN\tFILES\tVERSIONS\tSTORED")
		for _, c := range cls {
			key := "none"
			if c.HasKeys() {
				key = fmt.Sprintf("%d-byte RSA", len(c.PublicKey))
			}
			u := usage[c.ID]
			fmt.Fprintf(tw, "%s\t%q\t%s\t%s\t%s\t%d\t%d\t%d\n", c.ID, c.Name, key, c.CreatedAt.Format(time.RFC3339),
				c.LastSeen.Format(time.RFC3339), u.Files, u.Versions, u.VersionBytes+u.OtherBytes)
		}
		return nil
	}
	files, err := db.BackupFiles(ctx, client)
	if err != nil {
		return err
	}
	// PENDING is a re-upload of a verified file awaiting the client's 1029;
	// until then SIZE, CRC and UPLOADED describe the verified copy.
	fmt.Fprintln(tw, "CLIENT\tFILE\tSIZE\tCRC\tSTATUS\tATTEMPTS\tAT REST\tUPLOADED\tPENDING")
	for _, f := range files {
		rest := "plain"
		if f.AtRestKey != nil {
			rest = "cipher"
		}
		pending := "-"
		if p := f.Pending; p != nil {
			pending = fmt.Sprintf("%d bytes, crc %08x, %s", p.Size, p.CRC, p.UploadedAt.Format(time.RFC3339))
		}
		fmt.Fprintf(tw, "%s\t%q\t%d\t%08x\t%s\t%d\t%s\t%s\t%s\n", f.ClientID, f.FileName, f.Size, f.CRC, f.Status, f.Attempts, rest,
			f.UploadedAt.Format(time.RFC3339), pending)
	}
	return nil
}
