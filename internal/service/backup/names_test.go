package backup

import (
	"bytes"
	"context"
	"errors"
	"testing"
)

// TestNamePolicy: the shared name policy on backup file names (after the
// base-name step) and on registrations. The original stored names with
// bidi overrides, which make a listing show "invoice\u202Efdp.exe" as
// "invoiceexe.pdf".
func TestNamePolicy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	c := e.newClient("Michael Jackson") // a real client's name, space inside
	c.serverChecksNames = true          // the server's policy is under test, not the client's check
	data := []byte("some data")

	for _, bad := range []string{"invoice\u202Efdp.exe", "dir/a\u2066b", "a\u0085b", " "} {
		_, err := c.Upload(ctx, bad, bytes.NewReader(data), int64(len(data)))
		var re *ResponseError
		if !errors.As(err, &re) || re.Response != RespError {
			t.Errorf("upload %q: %v, want 2107", bad, err)
		}
	}
	if fs, err := e.db.BackupFiles(ctx, c.ID.String()); err != nil || len(fs) != 0 {
		t.Fatalf("refused names stored: %v %v", fs, err)
	}

	// Trailing white space is removed the same way on 1028 and on 1029.
	res, err := c.Upload(ctx, "dir/a.txt ", bytes.NewReader(data), int64(len(data)))
	if err != nil || !res.Verified {
		t.Fatalf("upload with a trailing space: %+v %v", res, err)
	}
	if f, err := e.db.BackupFile(ctx, c.ID.String(), "a.txt"); err != nil || !f.Verified {
		t.Fatalf(`"a.txt " not stored and verified as "a.txt": %+v %v`, f, err)
	}
	for _, ok := range []string{"café.txt", " lead.txt", "日本語.txt", "sub/notes.txt"} {
		if res, err := c.Upload(ctx, ok, bytes.NewReader(data), int64(len(data))); err != nil || !res.Verified {
			t.Errorf("upload %q: %+v %v", ok, res, err)
		}
	}

	// A registration under a bidi-spoofed name gets the original's answer
	// to an invalid name, 2107.
	h, _, ok := raw(t, e.addr, request(ClientID{}, CodeRegister, nameField(t, "admin\u202E")))
	if !ok || h.Code != RespError {
		t.Fatalf("bidi registration: %+v %v", h, ok)
	}
}
