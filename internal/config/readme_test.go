package config

import (
	"os"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

// The README's configuration sample shows the real defaults: decoded over
// the defaults it changes nothing, and every key it names exists.
func TestREADMESampleIsTheDefaults(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	start := strings.Index(text, "```toml\nhost = ")
	if start < 0 {
		t.Fatal("README has no ```toml sample starting with host =")
	}
	sample := text[start+len("```toml\n"):]
	sample = sample[:strings.Index(sample, "```")]
	c := Default()
	md, err := toml.Decode(sample, c)
	if err != nil {
		t.Fatalf("README sample does not decode: %v", err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		t.Fatalf("README sample names keys that do not exist: %v", und)
	}
	if len(md.Keys()) < 30 {
		t.Fatalf("README sample decoded only %d keys", len(md.Keys()))
	}
	changed, err := Diff(Default(), c)
	if err != nil {
		t.Fatal(err)
	}
	if len(changed) > 0 {
		t.Fatalf("README sample values differ from the defaults: %v", changed)
	}
}
