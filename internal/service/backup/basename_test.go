package backup

import (
	"encoding/hex"
	"strings"
	"testing"

	"gatehouse/internal/store"
)

// An original client listing "../notes.txt" in transfer.info sends that
// path as the file name (it writes the path as given). Its exact bytes, the
// 1028 of the upload vector (docs/backup.md, "Test vectors") with that name and then its 1029, are backed up
// under the base name with the default configuration, and every answer is
// the original's byte for byte (the 2103 echoes the name field as sent).
func TestOriginalClientDotDotPathBacksUpBaseName(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const idHex = "0123456789abcdef0123456789abcdef"
	id := ClientID(unhexT(t, idHex))
	e.putClient(id, "vector", unhexT(t, "00112233445566778899aabbccddeeff"))
	nameHex := hex.EncodeToString([]byte("../notes.txt")) + strings.Repeat("00", 255-len("../notes.txt"))
	req := unhexT(t, idHex+"01"+"0404"+"23010000"+"20000000"+nameHex+
		"5a6398b9e05a0a2186b510bda6d8f6c119e2da2922c0bc8cf2aa3ce7df18b66b")
	want := "03370817010000" + idHex + "20000000" + nameHex + "99755b10"
	h, p, ok := raw(t, e.addr, req)
	if got := hex.EncodeToString(Response(h.Code, p)); !ok || got != want {
		t.Fatalf("2103\n got %s\nwant %s", got, want)
	}
	h, p, ok = raw(t, e.addr, unhexT(t, idHex+"01"+"0504"+"ff000000"+nameHex))
	if got := hex.EncodeToString(Response(h.Code, p)); !ok || got != "03380800000000" {
		t.Fatalf("2104: %s", got)
	}
	f, err := e.db.BackupFile(ctx, id.String(), "notes.txt")
	if err != nil || !f.Verified || f.Status != store.BackupVerified || f.CRC != 0x105b7599 {
		t.Fatalf("row %+v %v", f, err)
	}
	if got, err := e.readBlob(f.Path); err != nil || string(got) != "Hello, backup server!\n" {
		t.Fatalf("stored %q %v", got, err)
	}
}
