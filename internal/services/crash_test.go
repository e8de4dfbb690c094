package services_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"gatehouse/internal/services"
	"gatehouse/internal/testmain"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/minio/minio-go/v7"

	"gatehouse/internal/blob/blobtest"
	"gatehouse/internal/config"
	"gatehouse/internal/daemon"
	"gatehouse/internal/service/e2eeftp"
	"gatehouse/internal/store/storetest"
)

// envChildDaemon makes the test binary run a daemon instead of the tests:
// its value is the config file. The child prints "ADDR <service> <addr>"
// for every service, then "READY", and serves until it is killed.
const envChildDaemon = "GATEHOUSE_TEST_CHILD_DAEMON"

func TestMain(m *testing.M) {
	if path := os.Getenv(envChildDaemon); path != "" {
		os.Exit(runChildDaemon(path))
	}
	testmain.Run(m, 8, false)
}

func runChildDaemon(path string) int {
	cfg, err := config.Load(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	d, err := daemon.Start(context.Background(), cfg, slog.New(slog.NewTextHandler(os.Stderr, nil)))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for _, n := range services.Names() {
		if a := d.Server.Addr(n); a != nil {
			fmt.Printf("ADDR %s %s\n", n, a)
		}
	}
	fmt.Println("READY")
	select {} // until killed
}

// startChildDaemon runs cfg in a separate process (this test binary) and
// returns it with its service addresses.
func startChildDaemon(t *testing.T, cfg *config.Config) (*exec.Cmd, map[string]string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gatehouse.toml")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := toml.NewEncoder(f).Encode(cfg); err != nil {
		t.Fatal(err)
	}
	f.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envChildDaemon+"="+path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	addrs := map[string]string{}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	timeout := time.After(60 * time.Second)
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("child daemon exited before READY: %s", stderr.String())
			}
			if line == "READY" {
				return cmd, addrs
			}
			if f := strings.Fields(line); len(f) == 3 && f[0] == "ADDR" {
				addrs[f[1]] = f[2]
			}
		case <-timeout:
			t.Fatalf("child daemon not ready after 60 s: %s", stderr.String())
		}
	}
}

// stallingReader yields n bytes of data, then closes reached and blocks
// until its context ends, like a client whose machine died mid-upload.
type stallingReader struct {
	r       io.Reader
	n       int64
	reached chan struct{}
	ctx     context.Context
}

func (s *stallingReader) Read(p []byte) (int, error) {
	if s.n <= 0 {
		select {
		case <-s.reached:
		default:
			close(s.reached)
		}
		<-s.ctx.Done()
		return 0, s.ctx.Err()
	}
	if int64(len(p)) > s.n {
		p = p[:s.n]
	}
	k, err := s.r.Read(p)
	s.n -= int64(k)
	return k, err
}

// Daemon A is killed with SIGKILL in the middle of an e2eeftp upload whose
// blob is already a multipart upload in the shared S3 bucket: nothing of it
// becomes visible anywhere (no listing, no object), and daemon B, on the
// same PostgreSQL and bucket, goes on serving.
func TestKilledDaemonMidUploadLeavesNothingVisible(t *testing.T) {
	t.Run("fake-s3", func(t *testing.T) {
		blobtest.FakeS3Env(t, "gatehouse")
		testKilledDaemonMidUpload(t, "gatehouse")
	})
	t.Run("real-s3", func(t *testing.T) {
		testKilledDaemonMidUpload(t, blobtest.RealS3Env(t))
	})
}

func testKilledDaemonMidUpload(t *testing.T, bucket string) {
	dsn := storetest.PGDSN(t)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()

	cfgA, cfgB := sharedConfig(t, dsn, bucket), sharedConfig(t, dsn, bucket)
	clientPub, clientKey, _ := ed25519.GenerateKey(rand.Reader)
	kd := e2eeftp.KeyDir(filepath.Join(cfgA.DataDir, "e2eeftp"))
	priv, err := kd.Init(false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kd.Authorize(clientPub, "crash test"); err != nil {
		t.Fatal(err)
	}
	serverPub := priv.Public().(ed25519.PublicKey)
	for _, cfg := range []*config.Config{cfgA, cfgB} {
		for _, n := range services.Names() {
			sc, _ := services.Common(cfg, n)
			sc.Enabled = n == "e2eeftp"
		}
	}
	copyFiles(t, cfgA.DataDir, cfgB.DataDir, e2eeftpKeyFiles...)
	b, err := daemon.Start(ctx, cfgB, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Shutdown()

	child, addrs := startChildDaemon(t, cfgA)

	// 40 MiB declared; the client stalls after 24 MiB, when at least one
	// 16 MiB part has gone to S3 as a multipart upload.
	const size, sent = 40 << 20, 24 << 20
	payload := make([]byte, size)
	rand.Read(payload)
	sendCtx, stopSend := context.WithCancel(ctx)
	defer stopSend()
	sr := &stallingReader{r: bytes.NewReader(payload), n: sent, reached: make(chan struct{}), ctx: sendCtx}
	ca := &e2eeftp.Client{Addr: addrs["e2eeftp"], Identity: clientKey, ServerKey: serverPub, Timeout: 60 * time.Second}
	sendErr := make(chan error, 1)
	go func() { sendErr <- ca.Send(sendCtx, "crash.bin", sr, size) }()

	raw := blobtest.RawS3(t)
	deadline := time.Now().Add(60 * time.Second)
	for pendingUploads(t, raw, bucket) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no multipart upload in flight after 60 s")
		}
		select {
		case err := <-sendErr:
			t.Fatalf("send ended before the crash: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	if err := child.Process.Kill(); err != nil { // SIGKILL: no drain, no abort
		t.Fatal(err)
	}
	child.Wait()
	stopSend()
	<-sendErr

	for _, o := range objects(t, raw, bucket) {
		if strings.Contains(o, "e2eeftp") {
			t.Fatalf("object %s visible after the crash", o)
		}
	}
	cb := &e2eeftp.Client{Addr: b.Server.Addr("e2eeftp").String(), Identity: clientKey, ServerKey: serverPub, Timeout: 30 * time.Second}
	names, err := cb.List(ctx)
	if err != nil {
		t.Fatalf("B after A's crash: %v", err)
	}
	for _, n := range names {
		if n == "crash.bin" {
			t.Fatal("B lists the upload A was killed in")
		}
	}
	small := []byte("B is unaffected")
	if err := cb.Send(ctx, "after.txt", bytes.NewReader(small), int64(len(small))); err != nil {
		t.Fatalf("send to B after A's crash: %v", err)
	}
	var got bytes.Buffer
	if _, err := cb.Get(ctx, "after.txt", &got); err != nil || !bytes.Equal(got.Bytes(), small) {
		t.Fatalf("get from B: %q %v", got.Bytes(), err)
	}
}

func pendingUploads(t *testing.T, raw *minio.Client, bucket string) int {
	t.Helper()
	// ListMultipartUploads alone: minio's ListIncompleteUploads also lists
	// every upload's parts, which races with uploads that finish meanwhile.
	res, err := (&minio.Core{Client: raw}).ListMultipartUploads(t.Context(), bucket, "", "", "", "", 1000)
	if minio.ToErrorResponse(err).Code == "NoSuchUpload" {
		return 0 // gofakes3's answer for a bucket without uploads
	}
	if err != nil {
		t.Fatal(err)
	}
	return len(res.Uploads)
}

func objects(t *testing.T, raw *minio.Client, bucket string) []string {
	t.Helper()
	var keys []string
	for o := range raw.ListObjects(t.Context(), bucket, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		keys = append(keys, o.Key)
	}
	return keys
}
