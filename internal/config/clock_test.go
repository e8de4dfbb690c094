package config

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// Weak client keys are served by default (refuse_weak_client_keys is the
// opt-in), and an original menu client may stay idle at its prompt for
// more than an hour.
func TestClockDefaults(t *testing.T) {
	c := Default().Services.Clock
	if c.RefuseWeakClientKeys || c.AllowWeakClientKeys {
		t.Fatalf("weak-key switches on by default: %+v", c)
	}
	if c.IdleTimeout < time.Hour+10*time.Minute {
		t.Fatalf("clock idle_timeout %v: an original menu client idle for an hour would be cut", c.IdleTimeout)
	}
	if c.HandshakeTimeout > 10*time.Second {
		t.Fatalf("clock handshake_timeout %v: the key arrives at once, keep it short", c.HandshakeTimeout)
	}
}

// The old allow_weak_client_keys key still loads (file, env and -set), so
// an upgraded daemon starts with its old config file; the dump leaves it
// out unless it is set.
func TestClockDeprecatedAllowWeakKeyAccepted(t *testing.T) {
	c := Default()
	if err := c.LoadFile(writeFile(t, "[services.clock]\nallow_weak_client_keys = true\nrefuse_weak_client_keys = false\n")); err != nil {
		t.Fatal(err)
	}
	if !c.Services.Clock.AllowWeakClientKeys {
		t.Fatal("allow_weak_client_keys not read")
	}
	c = Default()
	if err := c.LoadEnv([]string{"GATEHOUSE_SERVICES_CLOCK_ALLOW_WEAK_CLIENT_KEYS=true",
		"GATEHOUSE_SERVICES_CLOCK_REFUSE_WEAK_CLIENT_KEYS=true"}); err != nil {
		t.Fatal(err)
	}
	if !c.Services.Clock.AllowWeakClientKeys || !c.Services.Clock.RefuseWeakClientKeys {
		t.Fatalf("env not applied: %+v", c.Services.Clock)
	}
	var b bytes.Buffer
	if err := WriteTOML(&b, Default()); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "allow_weak_client_keys") || !strings.Contains(b.String(), "refuse_weak_client_keys = false") {
		t.Fatalf("default dump:\n%s", b.String())
	}
}
