package backup

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPortInfo(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o644)
		return p
	}
	for body, want := range map[string]int{"1234": 1234, " 1357\n": 1357, "0": 0, "65535": 65535} {
		if got, err := ReadPortInfo(write("p", body)); err != nil || got != want {
			t.Errorf("%q: %d %v", body, got, err)
		}
	}
	for _, body := range []string{"", "abc", "-1", "65536", "12 34", strings.Repeat("1", 100)} {
		if got, err := ReadPortInfo(write("p", body)); err == nil {
			t.Errorf("%q accepted as %d", body, got)
		}
	}
	missing := filepath.Join(dir, "none")
	if _, _, found, err := FindPortInfo(missing); found || err != nil {
		t.Errorf("missing file: %v %v", found, err)
	}
	second := write("second", "4321")
	if port, from, found, err := FindPortInfo(missing, second); !found || err != nil || port != 4321 || from != second {
		t.Errorf("second candidate: %d %s %v %v", port, from, found, err)
	}
	bad := write("bad", "x")
	if _, _, found, err := FindPortInfo(bad, second); !found || err == nil {
		t.Error("an unusable first file must be reported, not skipped")
	}
}

func TestMasterKey(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "master.key")
	k1, err := LoadOrCreateMasterKey(p)
	if err != nil || len(k1) != 32 {
		t.Fatal(err)
	}
	st, _ := os.Stat(p)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", st.Mode())
	}
	k2, err := LoadOrCreateMasterKey(p)
	if err != nil || !bytes.Equal(k1, k2) {
		t.Fatal("key not reloaded")
	}
	os.WriteFile(p, []byte("short"), 0o600)
	if _, err := LoadOrCreateMasterKey(p); err == nil {
		t.Fatal("short key accepted")
	}
}
