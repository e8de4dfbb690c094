package bench

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"gatehouse/internal/service/e2eeftp"
)

const tlsTransferNote = "inside TLS 1.3 (AES-GCM on top of the protocol's CBC+HMAC)"

// benchE2EEFTP measures LIST (one connection and handshake per request,
// as the protocol has it), then SEND and GET of the run's transfer file;
// each on the plain port and then on the TLS port.
func benchE2EEFTP(ctx context.Context, e *Env) ([]Figure, error) {
	dir, err := e.NewDataDir()
	if err != nil {
		return nil, err
	}
	// The daemon's key folder, prepared as `gatehouse keys e2eeftp` would:
	// a server identity and one authorized client.
	kd := e2eeftp.KeyDir(filepath.Join(dir, "e2eeftp"))
	srvKey, err := kd.Init(false)
	if err != nil {
		return nil, err
	}
	pub, cliKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	if _, err := kd.Authorize(pub, "gatehouse bench"); err != nil {
		return nil, err
	}
	d, tlsCfg, err := e.startService(ctx, "e2eeftp", dir, true)
	if err != nil {
		return nil, err
	}
	defer d.Stop()
	clientOn := func(addr string, cfg *tls.Config) *e2eeftp.Client {
		return &e2eeftp.Client{Addr: addr, Identity: cliKey, TLS: cfg,
			ServerKey: srvKey.Public().(ed25519.PublicKey), Timeout: 30 * time.Second}
	}
	newClient := func() *e2eeftp.Client { return clientOn(d.Addr, nil) }
	// One small file so LIST has something to return.
	small := bytes.Repeat([]byte("gatehouse\n"), 10)
	if err := newClient().Send(ctx, "small.txt", bytes.NewReader(small), int64(len(small))); err != nil {
		return nil, fmt.Errorf("e2eeftp: seed file: %w", err)
	}
	list := func(addr string, cfg *tls.Config) Opener {
		return func(ctx context.Context, i int) (Op, func(), error) {
			c := clientOn(addr, cfg)
			c.Timeout = clockTimeout
			op := func() error {
				names, err := c.List(ctx)
				if err != nil {
					return err
				}
				if !slices.Contains(names, "small.txt") {
					return fmt.Errorf("e2eeftp: LIST %q lacks small.txt", names)
				}
				return nil
			}
			return op, func() {}, nil
		}
	}
	const listName = "e2eeftp LIST"
	figs, err := e.MeasureRRPerConn(ctx, d, listName, list(d.Addr, nil))
	for i := range figs {
		figs[i].Primitives = PrimsE2EEFTPHandshake
		figs[i].Note = joinNote("new connection + X25519/Ed25519 handshake per request (the protocol's rule)", figs[i].Note)
	}
	if err != nil {
		return figs, err
	}
	if tlsCfg != nil {
		sec, err := e.measureSecure(ctx, d, TransportTLS, listName, list(d.TLSAddr, tlsCfg), true, PrimsE2EEFTPHandshake,
			"new connection, full TLS 1.3 handshake (no session resumption), then the protocol's handshake, per request")
		figs = append(figs, sec...)
		if err != nil {
			return figs, err
		}
	}

	src, sum, err := e.Source()
	if err != nil {
		return figs, err
	}
	size := e.Opts.Size
	type door struct {
		addr, suffix, transport string
		cfg                     *tls.Config
	}
	doors := []door{{addr: d.Addr}}
	if tlsCfg != nil {
		doors = append(doors, door{d.TLSAddr, secureSuffix(TransportTLS), TransportTLS, tlsCfg})
	}
	for _, dr := range doors {
		name := "bench" + dr.transport + ".bin"
		up, err := e.MeasureTransfer(ctx, d, "e2eeftp SEND"+dr.suffix, "upload", BaseAES256Seal, func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, TransferTimeout(size))
			defer cancel()
			f, err := os.Open(src)
			if err != nil {
				return err
			}
			defer f.Close()
			return clientOn(dr.addr, dr.cfg).Send(ctx, name, f, size)
		})
		if err != nil {
			return figs, err
		}
		if dr.transport != "" {
			up.Transport, up.Plain = dr.transport, "e2eeftp SEND"
			up.Note = joinNote(tlsTransferNote, up.Note)
		}
		figs = append(figs, up)
		if up.Bytes == 0 {
			return figs, nil
		}
		dst := filepath.Join(e.Scratch, "e2eeftp-get.bin")
		down, err := e.MeasureTransfer(ctx, d, "e2eeftp GET"+dr.suffix, "download", BaseAES256Seal, func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, TransferTimeout(size))
			defer cancel()
			f, err := os.Create(dst)
			if err != nil {
				return err
			}
			c := clientOn(dr.addr, dr.cfg)
			c.MaxGet = size
			n, err := c.Get(ctx, name, f)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err == nil && n != size {
				err = fmt.Errorf("e2eeftp: GET returned %d bytes, want %d", n, size)
			}
			return err
		})
		if err != nil {
			os.Remove(dst)
			return figs, err
		}
		if down.Bytes > 0 {
			if got, err := FileSHA256(dst); err != nil || got != sum {
				down.Errors++
				down.Note = joinNote(down.Note, "CONTENT MISMATCH after GET")
			}
		}
		os.Remove(dst)
		if dr.transport != "" {
			down.Transport, down.Plain = dr.transport, "e2eeftp GET"
			down.Note = joinNote(tlsTransferNote, down.Note)
		}
		figs = append(figs, down)
	}
	return figs, nil
}
