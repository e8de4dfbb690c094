package logging

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gatehouse/internal/config"
)

func TestSecretsNeverLogged(t *testing.T) {
	var buf bytes.Buffer
	dir := t.TempDir()
	cfg := config.Log{Level: "debug", Format: "json", File: "logs/g.log", MaxSizeMB: 1}
	log, closer, err := New(cfg, dir, &buf)
	if err != nil {
		t.Fatal(err)
	}
	log.Debug("x", "aes_key", "00112233", "v", Secret("topsecret"), "service", "backup")
	closer.Close()
	file, err := os.ReadFile(filepath.Join(dir, "logs/g.log"))
	if err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{buf.String(), string(file)} {
		if strings.Contains(out, "00112233") || strings.Contains(out, "topsecret") {
			t.Fatalf("secret in log: %s", out)
		}
		if !strings.Contains(out, `"service":"backup"`) {
			t.Fatalf("attribute missing: %s", out)
		}
	}
}
