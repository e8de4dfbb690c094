package clock

import (
	"bytes"
	"net"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzClientResponse drives Session.Do, the client's parser of server
// replies, with arbitrary reply bytes cut into arbitrary reads: it must
// never panic or hang, and whatever it accepts must have the shape of a
// real reply to the command sent.
func FuzzClientResponse(f *testing.F) {
	// Worked example B (K=211) replies, whole and split, and example A (K=189).
	f.Add(uint8(CmdTime), 211, unhex(f, "03 03 0d 03 05 0d 04 0c 01 04 0c 0b 04 03 0c"), []byte{})
	f.Add(uint8(CmdTime), 211, unhex(f, "03 03 0d 03 05 0d 04 0c 01 04 0c 0b 04 03 0c"), []byte{6, 0})
	f.Add(uint8(CmdTime), 211, unhex(f, "03 03 0d 03 05 0d 04 0c"), []byte{})
	f.Add(uint8(CmdDate), 211, unhex(f, "05 03 05 07 00 04 03 00 05 06"), []byte{4})
	f.Add(uint8(CmdTemp), 211, unhex(f, "09 95 83 16"), []byte{1})
	f.Add(uint8(CmdTemp), 189, unhex(f, "ea f1 f1 7f 6d 00"), []byte{})
	f.Add(uint8(CmdDate), 189, unhex(f, "ef ed ef f3 ea ee ee ea ef ef ef"), []byte{})
	f.Fuzz(func(t *testing.T, c uint8, k int, reply, sizes []byte) {
		cmd := Command(c)
		if cmd < CmdTime || cmd > CmdTemp || len(reply) > 4*MaxMessage {
			return
		}
		cli, srv := net.Pipe()
		defer cli.Close()
		go func() {
			defer srv.Close()
			var req [MaxMessage]byte
			if _, err := srv.Read(req[:]); err != nil {
				return
			}
			for _, seg := range cut(reply, sizes) {
				if _, err := srv.Write(seg); err != nil {
					return
				}
			}
		}()
		s := &Session{conn: cli, key: k, timeout: 2 * time.Second}
		t0 := time.Now()
		got, err := s.Do(cmd)
		if d := time.Since(t0); d > 1500*time.Millisecond {
			t.Fatalf("Do took %v", d)
		}
		if err != nil {
			return
		}
		b := []byte(got)
		if !responseRE[cmd].Match(b) {
			t.Fatalf("accepted malformed %v %q", cmd, got)
		}
		if !utf8.Valid(b) || !bytes.HasPrefix(Decrypt(nil, reply, k), b) {
			t.Fatalf("accepted %q from % x", got, reply)
		}
		switch cmd {
		case CmdDate:
			if len(b) != 10 {
				t.Fatalf("DATE %q", got)
			}
		case CmdTime:
			if len(b) != 8 && (len(b) != 15 || b[8] != '.') {
				t.Fatalf("TIME %q", got)
			}
		case CmdTemp:
			if len(b) > maxTempResponse || !bytes.HasSuffix(b, []byte("°C")) {
				t.Fatalf("TEMP %q", got)
			}
		}
	})
}
