package backup

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"gatehouse/internal/blob"
	"gatehouse/internal/blob/blobtest"
	"gatehouse/internal/netsvc/netsvctest"
	"gatehouse/internal/store/storetest"
)

// restoreAll restores version (0: latest) of name in full.
func restoreAll(t testing.TB, c *Client, name string, version uint32) ([]byte, RestoreResult, error) {
	t.Helper()
	var out bytes.Buffer
	res, err := c.Restore(ctx, name, version, nil, 0, &out)
	return out.Bytes(), res, err
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// upload runs the original flow and insists on a verified result.
func upload(t testing.TB, c *Client, name string, data []byte) {
	t.Helper()
	if res, err := c.Upload(ctx, name, bytes.NewReader(data), int64(len(data))); err != nil || !res.Verified {
		t.Fatalf("upload %s (%d bytes): %+v %v", name, len(data), res, err)
	}
}

var restoreSizes = []int{0, 1, 15, 16, 17, 20 << 20}

// roundTrip uploads each size and restores it byte for byte, with the
// listing describing every version.
func roundTrip(t *testing.T, e *env) {
	c := e.newClient("roundtrip")
	files := map[string][]byte{}
	for _, n := range restoreSizes {
		name := fmt.Sprintf("f%d.bin", n)
		files[name] = randBytes(n)
		upload(t, c, name, files[name])
	}
	l, err := c.List(ctx)
	if err != nil || len(l.Entries) != len(restoreSizes) || l.Truncated {
		t.Fatalf("list: %+v %v", l, err)
	}
	for _, en := range l.Entries {
		data := files[en.Name]
		ct, _ := EncryptFile(c.AESKey, data)
		if en.Version != 1 || en.Size != uint64(len(data)) || en.CipherSize != uint64(len(ct)) || en.CRC != CRC(ct) || en.UploadedAt == 0 {
			t.Errorf("entry %+v for %d bytes", en, len(data))
		}
	}
	for name, data := range files {
		got, res, err := restoreAll(t, c, name, 0)
		if err != nil || !bytes.Equal(got, data) || res.Header.Version != 1 || res.Written != int64(len(data)) {
			t.Fatalf("%s: %d bytes (want %d) %+v %v", name, len(got), len(data), res, err)
		}
	}
}

func TestRestoreRoundTripSQLiteLocal(t *testing.T) {
	t.Parallel()
	for _, atRest := range []bool{false, true} {
		t.Run(fmt.Sprintf("at_rest=%v", atRest), func(t *testing.T) {
			t.Parallel()
			roundTrip(t, newEnv(t, func(c *Config) { c.EncryptAtRest = atRest }))
		})
	}
}

func TestRestoreRoundTripPostgresS3(t *testing.T) {
	db := storetest.Postgres(t)
	blobtest.FakeS3Env(t, "restore")
	s3, err := blob.OpenS3(ctx, "s3://restore/gh", blob.S3OptionsFromEnv())
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, newEnvOn(t, db, blob.Prefixed(s3, "backup"), func(c *Config) { c.EncryptAtRest = true }))
}

// The splice attack of the issue: the client id and every 1028 travel in
// clear, and random blocks followed by the last two ciphertext blocks of
// any earlier upload pass the padding check. Sent under the victim's id,
// then confirmed with its 1029, they get the original's answers byte for
// byte, and they add one junk version: every earlier version stays and
// restores byte for byte. A replayed older 1028 likewise only adds a
// version (with old content); nothing rolls back.
func TestSpliceAndReplayKeepEveryVerifiedVersion(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	victim := e.newClient("victim")
	v1, v2 := randBytes(5000), randBytes(7000)
	upload(t, victim, "diary.txt", v1)
	ct1, _ := EncryptFile(victim.AESKey, v1)
	upload(t, victim, "diary.txt", v2)
	ct2, _ := EncryptFile(victim.AESKey, v2)

	name := nameField(t, "diary.txt")
	splice := append(randBytes(4096), ct2[len(ct2)-32:]...)
	h, p, ok := raw(t, e.addr, fileRequest(victim.ID, name, splice))
	if want := Response(RespFileCRC, FileResponse{ClientID: victim.ID, Size: uint32(len(splice)), Name: [NameSize]byte(name),
		CRC: CRC(splice)}.Marshal()); !ok || !bytes.Equal(Response(h.Code, p), want) {
		t.Fatalf("splice answered %+v, want the original's 2103", h)
	}
	if h, p, ok := raw(t, e.addr, request(victim.ID, CodeCRCOK, name)); !ok || !bytes.Equal(Response(h.Code, p), Response(RespAck, nil)) {
		t.Fatalf("1029 answered %+v", h)
	}
	// The replay: v1's 1028 exactly as the victim sent it, then a 1029.
	h, p, ok = raw(t, e.addr, fileRequest(victim.ID, name, ct1))
	if !ok || h.Code != RespFileCRC || len(p) != FileResponseSize {
		t.Fatalf("replay answered %+v", h)
	}
	if h, _, ok := raw(t, e.addr, request(victim.ID, CodeCRCOK, name)); !ok || h.Code != RespAck {
		t.Fatalf("1029 answered %+v", h)
	}
	// And an attack that gives up (1031) or never confirms changes nothing.
	raw(t, e.addr, fileRequest(victim.ID, name, append(randBytes(64), ct2[len(ct2)-32:]...)))
	raw(t, e.addr, request(victim.ID, CodeCRCFail, name))
	raw(t, e.addr, fileRequest(victim.ID, name, append(randBytes(64), ct2[len(ct2)-32:]...)))

	l, err := victim.List(ctx)
	if err != nil || len(l.Entries) != 4 {
		t.Fatalf("versions after the attack: %+v %v", l, err)
	}
	for v, want := range map[uint32][]byte{1: v1, 2: v2, 4: v1} {
		got, res, err := restoreAll(t, victim, "diary.txt", v)
		if err != nil || !bytes.Equal(got, want) || res.Header.Version != v {
			t.Fatalf("version %d: %d bytes %v", v, len(got), err)
		}
	}
	// Version 3 is the attacker's junk; it restores as what was stored.
	if _, res, err := restoreAll(t, victim, "diary.txt", 3); err != nil || res.Header.CRC != CRC(splice) {
		t.Fatalf("junk version: %+v %v", res, err)
	}
	// Every version's blob is still there.
	vs, _ := e.db.BackupVersions(ctx, victim.ID.String(), "diary.txt")
	for _, v := range vs {
		if _, err := e.blobs.Stat(ctx, v.Path); err != nil {
			t.Fatalf("version %d blob: %v", v.Version, err)
		}
	}
}

// Retention is the operator's, applied by the sweep: the newest
// KeepVersions stay, older ones and their blobs go, the newest always stays.
func TestRetentionSweep(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.KeepVersions, c.KeepDays = 2, 0 })
	c := e.newClient("keeper")
	var data [][]byte
	for i := range 4 {
		data = append(data, randBytes(100+i))
		upload(t, c, "f", data[i])
	}
	before := len(e.blobNames())
	n, err := e.srv.ApplyRetention(ctx)
	if err != nil || n != 2 {
		t.Fatalf("retention removed %d: %v", n, err)
	}
	if after := len(e.blobNames()); after != before-2 {
		t.Fatalf("blobs %d -> %d", before, after)
	}
	if _, _, err := restoreAll(t, c, "f", 2); !errors.Is(err, ErrUnknownVersion) {
		t.Fatalf("pruned version: %v", err)
	}
	for v := uint32(3); v <= 4; v++ {
		if got, _, err := restoreAll(t, c, "f", v); err != nil || !bytes.Equal(got, data[v-1]) {
			t.Fatalf("version %d: %v", v, err)
		}
	}
	if n, err := e.srv.ApplyRetention(ctx); n != 0 || err != nil {
		t.Fatal(n, err)
	}
	if v, b, err := e.srv.UsageTotals(ctx); err != nil || v != 2 || b != int64(len(data[2])+len(data[3])) {
		t.Fatalf("usage %d versions, %d bytes, %v", v, b, err)
	}
}

// Clear errors for a name or version the server does not have, a bad
// offset, and a client the server does not know.
func TestRestoreErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.newClient("errs")
	upload(t, c, "a.txt", []byte("hello"))
	if _, _, err := restoreAll(t, c, "b.txt", 0); !errors.Is(err, ErrUnknownFile) {
		t.Fatalf("unknown file: %v", err)
	}
	if _, _, err := restoreAll(t, c, "a.txt", 2); !errors.Is(err, ErrUnknownVersion) {
		t.Fatalf("unknown version: %v", err)
	}
	// A path restores its base name's versions, as it was stored.
	if got, _, err := restoreAll(t, c, "../dir/a.txt", 1); err != nil || string(got) != "hello" {
		t.Fatalf("by path: %q %v", got, err)
	}
	for _, off := range []int64{16, 32} {
		if _, err := c.Restore(ctx, "a.txt", 1, bytes.NewReader(make([]byte, off)), off, io.Discard); !errors.Is(err, ErrBadOffset) {
			t.Fatalf("offset %d: %v", off, err)
		}
	}
	// An unaligned offset is refused by the server too.
	h, p, ok := raw(t, e.addr, request(c.ID, CodeRestore, RestoreRequest{Name: [NameSize]byte(nameField(t, "a.txt")), Version: 1, Offset: 3}.Marshal()))
	if !ok || h.Code != RespNotFound || !bytes.Equal(p, []byte{NotFoundOffset}) {
		t.Fatalf("offset 3: %+v %x", h, p)
	}
	other := *c
	other.ID[0] ^= 0xff
	if _, err := other.List(ctx); !errors.Is(err, ErrReconnectDenied) {
		t.Fatalf("unknown client list: %v", err)
	}
	if _, _, err := restoreAll(t, &other, "a.txt", 0); !errors.Is(err, ErrReconnectDenied) {
		t.Fatalf("unknown client restore: %v", err)
	}
	wrongName := *c
	wrongName.Name = "someone else"
	if _, err := wrongName.List(ctx); !errors.Is(err, ErrReconnectDenied) {
		t.Fatalf("list with another name: %v", err)
	}
	// A wrong key (someone who knows only the id) cannot read the listing.
	thief := *c
	thief.AESKey = randBytes(16)
	if _, err := thief.List(ctx); err == nil {
		t.Fatal("listing decrypted with a wrong key")
	}
	// The wire's CRC covers the ciphertext, so what catches a wrong key is
	// the final block's padding check, which garbage passes about once in
	// 256 tries: then the client gets garbage, never the plaintext.
	if got, _, err := restoreAll(t, &thief, "a.txt", 0); !errors.Is(err, ErrRestoreCRC) &&
		(err != nil || bytes.Equal(got, []byte("hello"))) {
		t.Fatalf("restore with a wrong key: %v (%q)", err, got)
	}
}

// A restore resumes from a block offset: the client re-encrypts what it
// has for the chain and the CRC, the server sends only the rest.
func TestRestoreResume(t *testing.T) {
	t.Parallel()
	for _, atRest := range []bool{false, true} {
		e := newEnv(t, func(c *Config) { c.EncryptAtRest = atRest })
		c := e.newClient("resumer")
		data := randBytes(3*chunkSize + 1000)
		upload(t, c, "big", data)
		for _, off := range []int64{16, chunkSize, chunkSize + 48, int64(len(data)) &^ 15} {
			var out bytes.Buffer
			res, err := c.Restore(ctx, "big", 1, bytes.NewReader(data[:off]), off, &out)
			if err != nil || !bytes.Equal(out.Bytes(), data[off:]) || res.Header.Offset != uint64(off) {
				t.Fatalf("at_rest=%v offset %d: %d bytes %+v %v", atRest, off, out.Len(), res.Header, err)
			}
		}
		// A damaged prefix shows as a CRC failure, not as silent garbage.
		bad := bytes.Clone(data[:64])
		bad[3] ^= 1
		if _, err := c.Restore(ctx, "big", 1, bytes.NewReader(bad), 64, io.Discard); !errors.Is(err, ErrRestoreCRC) {
			t.Fatalf("damaged prefix: %v", err)
		}
	}
}

// After a key replacement (allow_key_replace) old versions are encrypted
// for the client's new key, plain and at rest, and verify.
func TestRestoreAfterKeyReplacement(t *testing.T) {
	t.Parallel()
	for _, atRest := range []bool{false, true} {
		e := newEnv(t, func(c *Config) { c.EncryptAtRest = atRest; c.AllowKeyReplace = true })
		c := e.newClient("rotator")
		data := randBytes(chunkSize + 33)
		upload(t, c, "f", data)
		k2, err := GenerateLegacyKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		old := bytes.Clone(c.AESKey)
		c.Key = k2
		if err := c.ExchangeKeys(ctx); err != nil || bytes.Equal(old, c.AESKey) {
			t.Fatalf("key replacement: %v", err)
		}
		got, res, err := restoreAll(t, c, "f", 1)
		ct, _ := EncryptFile(c.AESKey, data)
		if err != nil || !bytes.Equal(got, data) || res.Header.CRC != CRC(ct) {
			t.Fatalf("at_rest=%v: %d bytes %+v %v", atRest, len(got), res.Header, err)
		}
	}
}

// Original clients never send 1032/1033, and codes past them are still
// unknown: 2107 as before.
func TestUnknownCodesAfterExtension(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, code := range []uint16{1034, 2000, 0} {
		if h, _, ok := raw(t, e.addr, request(ClientID{}, code, []byte{1})); !ok || h.Code != RespError {
			t.Fatalf("code %d: %+v", code, h)
		}
	}
}

// A restore whose reader stops reading is cut by the progressive minimum
// rate (netsvc StartTransfer) once the socket buffers are full, rather
// than holding the stream open: counted as too_slow.
// Sequential: it times a deadline or a rate, which parallel tests load
// on a two-core machine would move.
func TestRestoreSlowReaderCut(t *testing.T) {
	lim := netsvctest.DefaultLimits
	// 8 MiB/s: the cut comes once the socket buffers (a few MiB) are full and
	// the time they bought at that rate has passed, well under a second.
	lim.MinRate, lim.RateGrace = 8<<20, 50*time.Millisecond
	// The upload goes through a daemon with the generous test limits (a
	// race build on a loaded machine may take seconds to encrypt 24 MiB),
	// the restore through one with the strict rate, on the same store.
	up := newEnv(t)
	c := up.newClient("sloth")
	data := randBytes(24 << 20)
	upload(t, c, "big", data)
	e := up.siblingLimits(lim)
	conn, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write(request(c.ID, CodeRestore, RestoreRequest{Name: [NameSize]byte(nameField(t, "big"))}.Marshal())); err != nil {
		t.Fatal(err)
	}
	hdr := make([]byte, ResponseHeaderSize+RestoreHeaderSize)
	if _, err := io.ReadFull(conn, hdr); err != nil {
		t.Fatal(err)
	}
	// Read nothing more; the server must give up on its own.
	for deadline := time.Now().Add(10 * time.Second); e.closedTooSlow() == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("a stalled restore reader was not cut")
		}
	}
}

// A version whose blob is gone is answered 2107 before any of the stream,
// and the other versions still restore.
func TestRestoreMissingBlob(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.newClient("lost")
	upload(t, c, "f", []byte("one"))
	upload(t, c, "f", []byte("two"))
	vs, _ := e.db.BackupVersions(ctx, c.ID.String(), "f")
	if err := e.blobs.Remove(ctx, vs[0].Path); err != nil {
		t.Fatal(err)
	}
	var re *ResponseError
	if _, _, err := restoreAll(t, c, "f", 1); !errors.As(err, &re) || re.Response != RespError {
		t.Fatalf("missing blob: %v", err)
	}
	if got, _, err := restoreAll(t, c, "f", 2); err != nil || string(got) != "two" {
		t.Fatalf("version 2: %q %v", got, err)
	}
}

// Export (admin backup export) gives the plaintext of plain and at-rest
// versions, checks the upload's CRC, and reports a damaged blob.
func TestExport(t *testing.T) {
	t.Parallel()
	for _, atRest := range []bool{false, true} {
		e := newEnv(t, func(c *Config) { c.EncryptAtRest = atRest })
		c := e.newClient("exporter")
		data := randBytes(chunkSize + 77)
		upload(t, c, "f", data)
		vs, _ := e.db.BackupVersions(ctx, c.ID.String(), "f")
		var out bytes.Buffer
		if ok, err := Export(ctx, e.blobs, e.master, vs[0], &out); err != nil || !ok || !bytes.Equal(out.Bytes(), data) {
			t.Fatalf("at_rest=%v: %d bytes, checked %v, %v", atRest, out.Len(), ok, err)
		}
		// Damage one stored byte.
		stored, _ := e.readBlob(vs[0].Path)
		stored[100] ^= 1
		blobtest.Put(t, e.blobs, vs[0].Path, stored)
		if _, err := Export(ctx, e.blobs, e.master, vs[0], io.Discard); !errors.Is(err, ErrExportCRC) {
			t.Fatalf("at_rest=%v damaged blob: %v", atRest, err)
		}
		// The client's restore reports it too.
		if _, _, err := restoreAll(t, c, "f", 1); !errors.Is(err, ErrRestoreCRC) {
			t.Fatalf("at_rest=%v restore of a damaged blob: %v", atRest, err)
		}
	}
}
