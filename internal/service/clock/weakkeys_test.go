package clock

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"gatehouse/internal/netsvc"
	"gatehouse/internal/syncbuf"
)

// defaultConfig is the default configuration, checked to serve weak
// client keys, with the exponent source and clock fixed when given.
func defaultConfig(t *testing.T, rnd *exponents, now time.Time) Config {
	t.Helper()
	c := DefaultConfig()
	if c.RefuseWeakClientKeys {
		t.Fatal("the default configuration refuses weak client keys")
	}
	if rnd != nil {
		c.Rand = rnd
	}
	if !now.IsZero() {
		c.Now = func() time.Time { return now }
	}
	return c
}

// The original client's private key is 0..1000; 0 or 32 mod 64 (about
// 3.2 % of runs) gives public key 1 or 256, which forces shift 1 or 0
// whatever the server draws. The original server served those sessions,
// and refusing them crashes the unchanged client, so the default serves
// them. The bytes are the original's vectors (docs/clock.md, "Test vectors")
// and live-server checks:
// a=0 (A=1) with b=500 (B=129) gives K=1, and E_1("DATE") is answered
// "3137.22.33"; a=32 (A=256) with b=1 (B=11) gives K=256, plaintext.
func TestWeakClientKeysServedByDefault(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 22, 11, 51, 6, 90880_000, time.Local)
	for _, tc := range []struct {
		name  string
		exp   uint16
		steps []struct{ send, want string }
	}{
		{"shift 1: A=1, B=129", 500, []struct{ send, want string }{
			{"31", "31 32 39"}, // "1" -> "129"
			{"45 42 55 46", "33 31 33 37 2e 32 32 2e 33 33"},                // E_1("DATE") -> "3137.22.33"
			{"55 4a 4e 46", "32 32 3b 36 32 3b 31 37 2f 31 3a 31 39 39 31"}, // E_1("TIME") -> E_1("11:51:06.090880")
			{"55 46 4e 51", "2e 35 35 c3 b1 44"},                            // E_1("TEMP") -> E_1("-44°C")
		}},
		{"shift 0: A=256, B=11", 1, []struct{ send, want string }{
			{"32 35 36", "31 31"}, // "256" -> "11"
			{"54 49 4d 45", "31 31 3a 35 31 3a 30 36 2e 30 39 30 38 38 30"}, // plaintext "TIME" -> "11:51:06.090880"
			{"44 41 54 45", "32 30 32 36 2d 31 31 2d 32 32"},                // "DATE" -> "2026-11-22"
		}},
		{"shift 0: A=0", 500, []struct{ send, want string }{
			{"30", "31 32 39"}, // "0" -> "129"; K = 0^500 = 0
			{"54 49 4d 45", "31 31 3a 35 31 3a 30 36 2e 30 39 30 38 38 30"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := withFixedTemp(defaultConfig(t, newExponents(tc.exp), now), -44)
			_, addr := start(t, o, defaultLimits())
			c := dialRaw(t, addr)
			for _, s := range tc.steps {
				if got := exchange(t, c, unhex(t, s.send)); !bytes.Equal(got, unhex(t, s.want)) {
					t.Fatalf("sent %s, got % x, want %s", s.send, got, s.want)
				}
			}
		})
	}
}

// The original client's own steps, with a real random server exponent:
// private key a, public 11^a sent as text, K = int(reply)^a mod 257, then
// byte-shifted TIME/DATE; for every a the original can draw that gives a
// weak public key, the default configuration answers.
func TestOriginalClientWeakPrivateKeysServed(t *testing.T) {
	t.Parallel()
	now := time.Date(2024, 10, 23, 0, 2, 19, 198109_000, time.Local)
	_, addr := start(t, defaultConfig(t, nil, now), defaultLimits())
	n := 0
	for a := 0; a <= 1000; a++ {
		if !IsWeakPeerKey(PublicKey(a)) {
			continue
		}
		n++
		c := dialRaw(t, addr)
		b, err := ParseKey(exchange(t, c, FormatKey(PublicKey(a))))
		if err != nil {
			t.Fatalf("a=%d: %v", a, err)
		}
		k := SharedKey(b, a)
		if !IsWeakShift(k) {
			t.Fatalf("a=%d: K=%d is not weak", a, k)
		}
		for req, want := range map[string]string{"TIME": "00:02:19.198109", "DATE": "2024-10-23"} {
			got := Decrypt(nil, exchange(t, c, Encrypt(nil, []byte(req), k)), k)
			if string(got) != want {
				t.Fatalf("a=%d %s: %q, want %q", a, req, got, want)
			}
		}
		c.Close()
	}
	if n != 32 { // 0 and 32 mod 64: 16 each in 0..1000
		t.Fatalf("%d weak private keys in 0..1000, want 32", n)
	}
}

// gatehouse_clock_weak_keys_total exists at zero from the start, counts
// every weak-key session that is served, and with the opt-in counts the
// refused ones instead (which are also failed handshakes, as before).
func TestWeakKeysMetric(t *testing.T) {
	t.Parallel()
	for _, refuse := range []bool{false, true} {
		o := defaultConfig(t, nil, time.Time{})
		o.RefuseWeakClientKeys = refuse
		_, addr, reg := startWithMetrics(t, o, defaultLimits())
		for _, outcome := range []string{"served", "refused"} {
			if !hasSeries(t, reg, "gatehouse_clock_weak_keys_total", map[string]string{"outcome": outcome}) {
				t.Fatalf("refuse=%v: series outcome=%s not pre-created", refuse, outcome)
			}
		}
		for _, key := range []string{"0", "1", "256"} {
			c := dialRaw(t, addr)
			if refuse {
				c.Write([]byte(key))
				expectClosed(t, c)
			} else if _, err := ParseKey(exchange(t, c, []byte(key))); err != nil {
				t.Fatal(err)
			}
			c.Close()
		}
		// A strong key is not counted.
		c := dialRaw(t, addr)
		if _, err := ParseKey(exchange(t, c, []byte("169"))); err != nil {
			t.Fatal(err)
		}
		served, refused := 3.0, 0.0
		if refuse {
			served, refused = 0, 3
		}
		if got := counter(t, reg, "gatehouse_clock_weak_keys_total", map[string]string{"outcome": "served"}); got != served {
			t.Errorf("refuse=%v: served = %v, want %v", refuse, got, served)
		}
		if got := counter(t, reg, "gatehouse_clock_weak_keys_total", map[string]string{"outcome": "refused"}); got != refused {
			t.Errorf("refuse=%v: refused = %v, want %v", refuse, got, refused)
		}
	}
}

// hasSeries reports whether reg exports a series of name with labels.
func hasSeries(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) bool {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
					continue metrics
				}
			}
			return true
		}
	}
	return false
}

// The deprecated allow_weak_client_keys is accepted (it is what the default
// does now) but cannot be combined with the opt-in that contradicts it.
func TestNewWeakKeySwitches(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		allow, refuse bool
		wantRefuse    bool
		wantErr       bool
	}{
		{false, false, false, false},
		{true, false, false, false},
		{false, true, true, false},
		{true, true, false, true},
	} {
		c := DefaultConfig()
		c.AllowWeakClientKeys, c.RefuseWeakClientKeys = tc.allow, tc.refuse
		var refuse bool
		s, err := New(c, Env{})
		if err == nil {
			refuse = s.cfg.RefuseWeakClientKeys
		}
		if (err != nil) != tc.wantErr || (err == nil && refuse != tc.wantRefuse) {
			t.Errorf("allow=%v refuse=%v: refuse=%v err=%v", tc.allow, tc.refuse, refuse, err)
		}
	}
}

// A served weak key is logged at debug, on the connection's logger, and
// the line carries neither the key nor the shift.
func TestWeakKeyLoggedAtDebug(t *testing.T) {
	t.Parallel()
	var buf syncbuf.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := netsvc.New(log, nil)
	if err := srv.Listen(netsvc.Service{Name: "clock", Addr: "127.0.0.1:0", Handler: newServer(t, DefaultConfig(), Env{}), Limits: defaultLimits()}); err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	c := dialRaw(t, srv.Addr("clock").String())
	// The line is written before the server key goes out.
	if _, err := ParseKey(exchange(t, c, []byte("256"))); err != nil {
		t.Fatal(err)
	}
	var line string
	for _, l := range strings.Split(buf.String(), "\n") {
		if strings.Contains(l, "weak client key served") {
			line = l
		}
	}
	if !strings.Contains(line, "level=DEBUG") || !strings.Contains(line, "service=clock") ||
		strings.Contains(line, "key=") || strings.Contains(line, "shift=") {
		t.Fatalf("weak-key log line %q in:\n%s", line, buf.String())
	}
}
