package bench

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"runtime"
	"time"

	"gatehouse/internal/service/backup"
)

// Names of the public-key primitive limits: what one handshake request
// costs in cryptography alone, on one core.
const (
	// PrimRSAEncrypt is RSAES-OAEP-SHA1 encryption of a 16-byte AES key
	// under an RSA-1024 e=17 public key: the server's work in backup's
	// 1026 and 1027 (WrapKey).
	PrimRSAEncrypt = "rsa-1024 e=17 oaep encrypt"
	// PrimRSADecrypt is the matching decryption with the private key: the
	// client's work on each 2102/2105 answer (UnwrapKey), not the server's.
	PrimRSADecrypt = "rsa-1024 e=17 oaep decrypt"
	// PrimX25519 is one X25519 key generation plus one shared secret:
	// e2eeftp's ephemeral key exchange on either side.
	PrimX25519 = "x25519 keygen + shared"
	// PrimEd25519Sign and PrimEd25519Verify are one signature over and one
	// verification of a 32-byte ephemeral key: e2eeftp's hello.
	PrimEd25519Sign   = "ed25519 sign"
	PrimEd25519Verify = "ed25519 verify"
)

// maxPrimOps bounds a primitive loop in count as well as time.
const maxPrimOps = 1 << 20

// primBench is one in-process public-key measurement.
type primBench struct {
	name, note string
	setup      func() (func() error, error)
}

var primBenches = []primBench{
	{PrimRSAEncrypt, "16-byte key, SHA-1/MGF1-SHA-1 (backup 1026/1027, server side)", func() (func() error, error) {
		k, err := backup.GenerateLegacyKey(nil)
		if err != nil {
			return nil, err
		}
		aesKey := bytes.Repeat([]byte{5}, backup.AESKeySize)
		return func() error { _, err := backup.WrapKey(nil, &k.PublicKey, aesKey); return err }, nil
	}},
	{PrimRSADecrypt, "CRT private key (backup 2102/2105, client side)", func() (func() error, error) {
		k, err := backup.GenerateLegacyKey(nil)
		if err != nil {
			return nil, err
		}
		ct, err := backup.WrapKey(nil, &k.PublicKey, bytes.Repeat([]byte{5}, backup.AESKeySize))
		if err != nil {
			return nil, err
		}
		return func() error { _, err := backup.UnwrapKey(k, ct); return err }, nil
	}},
	{PrimX25519, "ephemeral key + ECDH with a fixed peer (e2eeftp handshake, each side)", func() (func() error, error) {
		peer, err := ecdh.X25519().GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		pub := peer.PublicKey()
		return func() error {
			k, err := ecdh.X25519().GenerateKey(rand.Reader)
			if err != nil {
				return err
			}
			_ = k.PublicKey()
			_, err = k.ECDH(pub)
			return err
		}, nil
	}},
	{PrimEd25519Sign, "32-byte message (e2eeftp hello, each side)", func() (func() error, error) {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		msg := bytes.Repeat([]byte{9}, 32)
		return func() error { _ = ed25519.Sign(priv, msg); return nil }, nil
	}},
	{PrimEd25519Verify, "32-byte message (e2eeftp hello, each side)", func() (func() error, error) {
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		msg := bytes.Repeat([]byte{9}, 32)
		sig := ed25519.Sign(priv, msg)
		return func() error {
			if !ed25519.Verify(pub, msg, sig) {
				return fmt.Errorf("ed25519: signature does not verify")
			}
			return nil
		}, nil
	}},
}

// primLoop runs op for dur (and at most maxPrimOps times) on one locked OS
// thread and reports operations per CPU-second of that thread and CPU µs
// per operation, like cipherLoop: a busy neighbour does not change it.
func primLoop(ctx context.Context, name, note string, dur time.Duration, op func() error) (Figure, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var n int64
	cpu0, cerr := threadCPU()
	t0 := time.Now()
	for n < maxPrimOps && time.Since(t0) < dur && ctx.Err() == nil {
		if err := op(); err != nil {
			return Figure{}, fmt.Errorf("%s: %w", name, err)
		}
		n++
	}
	el := time.Since(t0)
	cpu1, cerr2 := threadCPU()
	f := Figure{Section: SectionBaseline, Name: name, Kind: "primitive", Clients: 1, Ops: n,
		Seconds: el.Seconds(), ReqPerSec: float64(n) / el.Seconds()}
	wall := f.ReqPerSec
	if cpu := cpu1 - cpu0; cerr == nil && cerr2 == nil && cpu > 0 && n > 0 {
		f.ReqPerSec = float64(n) / cpu.Seconds()
		f.ServerCPUSec = cpu.Seconds()
		f.CPUPerReqUs = float64(cpu.Nanoseconds()) / 1e3 / float64(n)
	}
	f.Note = fmt.Sprintf("%s; one core, ops per CPU-second (wall %.0f/s)", note, wall)
	return f, nil
}

// PrimitiveBaselines measures the public-key primitives the handshake
// requests spend their CPU on, each for dur on one core in this process.
// Key generation for the set-up is not timed.
func PrimitiveBaselines(ctx context.Context, dur time.Duration) ([]Figure, error) {
	var figs []Figure
	for _, p := range primBenches {
		op, err := p.setup()
		if err != nil {
			return figs, fmt.Errorf("%s: %w", p.name, err)
		}
		f, err := primLoop(ctx, p.name, p.note, dur, op)
		if err != nil {
			return figs, err
		}
		figs = append(figs, f)
	}
	return figs, nil
}

// Server-side primitives of the handshake requests, by request, as the
// servers' code does them (docs/performance.md, "CPU ×primitives").
var (
	// backup 1026 (new key, or the retry of a lost answer) and 1027: one
	// OAEP encryption of the AES key under the client's e=17 public key.
	// 1025 does no public-key work.
	PrimsBackupKey = []string{PrimRSAEncrypt}
	// e2eeftp, per connection: verify the client's hello, make an
	// ephemeral key and the shared secret, sign the server's hello.
	PrimsE2EEFTPHandshake = []string{PrimEd25519Verify, PrimX25519, PrimEd25519Sign}
)

// applyPrimitives fills PrimitivesCPUPerReqUs and CPUxPrimitives for every
// figure that names the primitives its requests need.
func (r *Report) applyPrimitives() {
	for i := range r.Figures {
		f := &r.Figures[i]
		if len(f.Primitives) == 0 || f.Skipped() {
			continue
		}
		var sum float64
		ok := true
		for _, p := range f.Primitives {
			b, found := r.Baseline(p)
			if !found || b.CPUPerReqUs <= 0 {
				ok = false
				break
			}
			sum += b.CPUPerReqUs
		}
		if !ok || sum <= 0 {
			continue
		}
		f.PrimitivesCPUPerReqUs = sum
		if f.CPUPerReqUs > 0 {
			f.CPUxPrimitives = f.CPUPerReqUs / sum
		}
	}
}
