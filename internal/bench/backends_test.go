package bench

import (
	"bytes"
	"context"
	"database/sql"
	"slices"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/blob"
	"gatehouse/internal/blob/blobtest"
	"gatehouse/internal/store/storetest"
)

// A bench run with -store on PostgreSQL runs the daemon on it: the report
// header names the store (password left out), the backup figures were
// measured, and the clients they registered are rows in that database.
func TestRunOnPostgreSQL(t *testing.T) {
	t.Parallel()
	dsn := storetest.PGDSN(t)
	r, err := Run(context.Background(), Options{
		Targets: []string{"backup"}, Scratch: t.TempDir(), Duration: 100 * time.Millisecond,
		Clients: []int{1}, Size: 64 << 10, IdleConns: 1, InProcess: true,
		Backends: Backends{Store: dsn},
	})
	if err != nil {
		t.Fatal(err)
	}
	var tb bytes.Buffer
	if err := r.WriteTable(&tb); err != nil {
		t.Fatal(err)
	}
	want := "daemon store: " + strings.SplitN(dsn, "?", 2)[0]
	if !strings.Contains(tb.String(), want) || r.Settings.Store == "" ||
		!strings.Contains(tb.String(), "blobs: local files") {
		t.Fatalf("header lacks %q:\n%s", want, tb.String())
	}
	var measured, secure int
	for _, f := range r.Figures {
		if f.Service != "backup" {
			continue
		}
		if f.Skipped() || strings.HasPrefix(f.Note, "failed") {
			t.Fatalf("backup on PostgreSQL: %+v", f)
		}
		if f.Transport != "" {
			secure++
			continue
		}
		measured++
	}
	if measured != 4 || secure != 2 { // register, key, reconnect, upload; reconnect and upload over TLS
		t.Fatalf("%d backup figures measured, want 4:\n%s", measured, tb.String())
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow("SELECT count(*) FROM backup_clients WHERE name LIKE 'bench-%'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n < 3 {
		t.Fatalf("%d bench clients in PostgreSQL: the daemon did not run on it", n)
	}
}

func TestBackendsDescribe(t *testing.T) {
	t.Parallel()
	s, b := Backends{}.Describe()
	if !strings.HasPrefix(s, "sqlite") || !strings.HasPrefix(b, "local files") {
		t.Fatalf("defaults described as %q, %q", s, b)
	}
	s, b = Backends{Store: "postgres://u:secret@127.0.0.1:5432/db", Blob: "s3://bucket/prefix"}.Describe()
	if strings.Contains(s, "secret") || !strings.Contains(s, "postgres://u:") || b != "s3://bucket/prefix" {
		t.Fatalf("described as %q, %q", s, b)
	}
	env := Backends{Store: "postgres://x", Blob: "s3://b/p"}.env()
	if len(env) < 2 || env[0] != "GATEHOUSE_STORE_DSN=postgres://x" || env[1] != "GATEHOUSE_BLOB_URL=s3://b/p" {
		t.Fatalf("child env %q", env)
	}
}

// The daemon child runs at warn unless told otherwise: the figures leave
// out the info lines (docs/performance.md, Method); --log-level reaches it.
func TestDaemonArgsLogLevel(t *testing.T) {
	t.Parallel()
	level := func(args []string) string {
		for i, a := range args {
			if a == "-log-level" && i+1 < len(args) {
				return args[i+1]
			}
		}
		return ""
	}
	if got := level(daemonArgs("/d", Backends{}, nil)); got != "warn" {
		t.Fatalf("default daemon log level %q, want warn", got)
	}
	args := daemonArgs("/d", Backends{LogLevel: "info"}, []string{"a=1", "b=2"})
	if got := level(args); got != "info" {
		t.Fatalf("daemon log level %q, want info (%q)", got, args)
	}
	if want := []string{"-set", "a=1", "-set", "b=2"}; !slices.Equal(args[len(args)-4:], want) {
		t.Fatalf("args %q end without the sets %q", args, want)
	}
}

// A bench run with -blob on S3 (an in-process fake S3 server here) runs
// the daemon on it: the header names the blob store, the transfer figures
// were measured, and the uploaded files are objects under the URL's prefix.
func TestRunOnS3Blob(t *testing.T) {
	blobtest.FakeS3Env(t, "bench")
	const url = "s3://bench/run"
	r, err := Run(context.Background(), Options{
		Targets: []string{"backup", "e2eeftp"}, Scratch: t.TempDir(), Duration: 100 * time.Millisecond,
		Clients: []int{1}, Size: 64 << 10, IdleConns: 1, InProcess: true,
		Backends: Backends{Blob: url},
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Settings.Blob != url {
		t.Fatalf("settings.blob = %q, want %q", r.Settings.Blob, url)
	}
	transfers := 0
	for _, f := range r.Figures {
		if f.Service == "" || f.Section != SectionService {
			continue
		}
		if f.Skipped() || strings.HasPrefix(f.Note, "failed") || f.Errors != 0 {
			t.Fatalf("%s on S3: %+v", f.Name, f)
		}
		if f.Bytes > 0 {
			transfers++
		}
	}
	if transfers != 6 { // backup upload, e2eeftp SEND and GET, plain and over TLS
		t.Fatalf("%d transfer figures, want 3: %+v", transfers, r.Figures)
	}
	s3, err := blob.OpenS3(context.Background(), url, blob.S3OptionsFromEnv())
	if err != nil {
		t.Fatal(err)
	}
	objs, err := s3.List(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	var big int
	for _, o := range objs {
		if o.Size == 64<<10 {
			big++
		}
	}
	if big < 4 {
		t.Fatalf("S3 holds %d objects of the transfer size (%+v): the daemon did not write there", big, objs)
	}
}
