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

// The README's [services.cloudreport] sample stands for every service: each
// key it shows has that value in every service, except where the line's
// comment says "other defaults: svc value, …".
func TestREADMEServiceKeysAreEveryServicesDefaults(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	start := strings.Index(text, "```toml\nhost = ")
	if start < 0 {
		t.Fatal("README has no ```toml sample starting with host =")
	}
	sample := text[start:]
	sample = sample[:strings.Index(sample[3:], "```")+3]
	sec := strings.Index(sample, "\n[services.cloudreport]")
	if sec < 0 {
		t.Fatal("README sample has no [services.cloudreport] section")
	}
	services := []string{"cloudreport", "backup", "clock", "e2eeftp", "zmqcmd"}
	checked := 0
	for _, line := range strings.Split(sample[sec+1:], "\n")[1:] {
		if strings.HasPrefix(line, "[") {
			break
		}
		code, comment, _ := strings.Cut(line, "#")
		key, val, ok := strings.Cut(code, "=")
		if !ok {
			continue
		}
		key = strings.TrimSpace(key)
		val = strings.Trim(strings.TrimSpace(val), `"`)
		want := map[string]string{}
		for _, s := range services {
			want[s] = val
		}
		if _, others, ok := strings.Cut(comment, "other defaults:"); ok {
			for _, pair := range strings.Split(others, ",") {
				f := strings.Fields(pair)
				if len(f) != 2 {
					t.Fatalf("%s: %q: want \"service value\"", key, pair)
				}
				if _, known := want[f[0]]; !known {
					t.Fatalf("%s: unknown service %q", key, f[0])
				}
				want[f[0]] = f[1]
			}
		}
		for _, s := range services {
			c := Default()
			if err := c.Set("services."+s+"."+key, want[s]); err != nil {
				t.Fatalf("README: %v", err)
			}
			changed, err := Diff(Default(), c)
			if err != nil {
				t.Fatal(err)
			}
			if len(changed) > 0 {
				t.Errorf("README says services.%s.%s defaults to %q; the default differs (%v)", s, key, want[s], changed)
			}
			checked++
		}
	}
	if checked < 5*10 {
		t.Fatalf("checked only %d service keys", checked)
	}
}
