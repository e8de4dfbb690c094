package services_test

import (
	"strings"
	"testing"

	"gatehouse/internal/config"
	"gatehouse/internal/services"
)

func TestDefaultsListenOnHistoricalPorts(t *testing.T) {
	t.Parallel()
	c := config.Default()
	if err := services.Validate(c); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"cloudreport": "127.0.0.1:8080", "backup": "127.0.0.1:1357", "clock": "127.0.0.1:7777",
		"e2eeftp": "127.0.0.1:5001", "zmqcmd": "127.0.0.1:5555",
	}
	for name, addr := range want {
		if got := services.ListenAddr(c, name); got != addr {
			t.Errorf("%s listens on %s, want %s", name, got, addr)
		}
	}
	if c.AdminAddr() != "127.0.0.1:9090" {
		t.Errorf("admin on %s", c.AdminAddr())
	}
	c.Host = "0.0.0.0"
	if got := services.ListenAddr(c, "clock"); got != "0.0.0.0:7777" {
		t.Errorf("host not applied: %s", got)
	}
}

// Every TCP service has the TLS keys; zmqcmd refuses them (it uses CURVE);
// a certificate without its key is an error.
func TestTLSKeysValidated(t *testing.T) {
	t.Parallel()
	c := config.Default()
	for _, n := range []string{"cloudreport", "backup", "clock", "e2eeftp"} {
		if err := c.Set("services."+n+".tls_listen", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	if err := services.Validate(c); err != nil {
		t.Fatalf("tls_listen on the TCP services: %v", err)
	}
	c.Services.ZMQCmd.TLSListen = "127.0.0.1:5556"
	if err := services.Validate(c); err == nil || !strings.Contains(err.Error(), "services.zmqcmd.tls_listen") || !strings.Contains(err.Error(), "CURVE") {
		t.Fatalf("zmqcmd tls_listen: %v", err)
	}
	c = config.Default()
	c.Services.Clock.TLSCert = "clock.crt"
	if err := services.Validate(c); err == nil || !strings.Contains(err.Error(), "services.clock.tls_cert/tls_key") {
		t.Fatalf("certificate without key: %v", err)
	}
	c.Services.Clock.TLSListen = "nonsense"
	if err := services.Validate(c); err == nil || !strings.Contains(err.Error(), "services.clock.tls_listen") {
		t.Fatalf("bad tls_listen: %v", err)
	}
}
