package e2eeftp

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"gatehouse/internal/blob"
	"gatehouse/internal/netsvc"
	"gatehouse/internal/netsvc/netsvctest"
)

// commitHold holds the Commit of every blob it creates until release is
// closed, then fails it if the request's context was cancelled meanwhile,
// as a network store (S3) completes an upload under the request's context.
type commitHold struct {
	blob.Store
	committing chan struct{}
	release    chan struct{}
}

type heldWriter struct {
	blob.Writer
	ctx context.Context
	h   *commitHold
}

func (s *commitHold) Create(ctx context.Context, name string) (blob.Writer, error) {
	w, err := s.Store.Create(ctx, name)
	if err != nil {
		return nil, err
	}
	return &heldWriter{Writer: w, ctx: ctx, h: s}, nil
}

func (w *heldWriter) Commit() error {
	w.h.committing <- struct{}{}
	<-w.h.release
	if err := w.ctx.Err(); err != nil {
		w.Writer.Abort()
		return err
	}
	return w.Writer.Commit()
}

// A SEND in flight when shutdown starts completes its store write: the
// blob is committed under the request's context, which shutdown does not
// cancel, and the client gets its success answer.
func TestShutdownLetsSendCommit(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	hs := &commitHold{Store: f.store, committing: make(chan struct{}, 1), release: make(chan struct{})}
	srv := netsvc.New(nil, nil)
	if err := srv.Listen(netsvc.Service{Name: "e2eeftp", Addr: "127.0.0.1:0",
		Handler: newTestServer(t, f.srvID, f.auth, hs), Limits: netsvctest.DefaultLimits}); err != nil {
		t.Fatal(err)
	}
	srv.Start()
	c := *f.client
	c.Addr = srv.Addr("e2eeftp").String()
	data := bytes.Repeat([]byte("in flight "), 1000)
	sent := make(chan error, 1)
	go func() { sent <- c.Send(context.Background(), "drain.bin", bytes.NewReader(data), int64(len(data))) }()
	select {
	case <-hs.committing:
	case <-time.After(10 * time.Second):
		t.Fatal("SEND never reached its commit")
	}
	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		stopped <- srv.Shutdown(ctx)
	}()
	netsvctest.Draining(t, srv, "e2eeftp")
	close(hs.release)
	if err := <-sent; err != nil {
		t.Fatalf("SEND during shutdown: %v", err)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	rc, _, err := f.store.Open(context.Background(), f.srv.folder(pubArray(f.cliID))+"drain.bin")
	if err != nil {
		t.Fatalf("stored file: %v", err)
	}
	defer rc.Close()
	if got, _ := io.ReadAll(rc); len(got) == 0 {
		t.Fatal("stored file empty")
	}
}
