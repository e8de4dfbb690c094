package backup

import (
	"bytes"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// slowServer stands in for the original server, which answers a 1028 only
// after it has hex-formatted the whole payload (45-65 s for 20 MiB): it
// reads each request completely, waits delay before answering a 1028 with
// the right CRC, and answers everything else with 2104 at once. It records
// the codes it received.
type slowServer struct {
	addr  string
	delay time.Duration
	mu    sync.Mutex
	codes []uint16
}

func newSlowServer(t *testing.T, delay time.Duration) *slowServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &slowServer{addr: ln.Addr().String(), delay: delay}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer conn.Close()
				conn.SetDeadline(time.Now().Add(10 * time.Second))
				s.serve(conn)
			}()
		}
	}()
	return s
}

func (s *slowServer) serve(conn net.Conn) {
	var hb [RequestHeaderSize]byte
	if _, err := io.ReadFull(conn, hb[:]); err != nil {
		return
	}
	h, _ := ParseRequestHeader(hb[:])
	p := make([]byte, h.PayloadSize)
	if _, err := io.ReadFull(conn, p); err != nil {
		return
	}
	s.mu.Lock()
	s.codes = append(s.codes, h.Code)
	s.mu.Unlock()
	if h.Code != CodeFile {
		conn.Write(Response(RespAck, nil))
		return
	}
	time.Sleep(s.delay) // the original's checking time: the thing the client must wait out
	fh, _ := ParseFileHeader(p[:FileHeaderSize])
	ct := p[FileHeaderSize:]
	conn.Write(Response(RespFileCRC, FileResponse{ClientID: h.ClientID, Size: uint32(len(ct)), Name: fh.Name, CRC: CRC(ct)}.Marshal()))
}

func (s *slowServer) received() []uint16 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]uint16(nil), s.codes...)
}

// The client's wait for a 2103 grows with the upload's size rather than
// being its per-read Timeout: scaled down here (Timeout 40 ms, a server
// answering after 300 ms, ResponseRate making the wait for 64 KiB about
// 1 s), the upload is verified after one 1028. With the wait cut to about
// the Timeout, the same server gets no second 1028 and no status request:
// the client does not re-send a file the server may still be checking.
// Sequential: it times a deadline or a rate, which parallel tests load
// on a two-core machine would move.
func TestUploadWaitsForSlowOriginalServer(t *testing.T) {
	data := bytes.Repeat([]byte("slow server "), 64<<10/12)
	key := bytes.Repeat([]byte{7}, AESKeySize)

	s := newSlowServer(t, 300*time.Millisecond)
	c := &Client{Addr: s.addr, AESKey: key, Timeout: 40 * time.Millisecond, ResponseRate: 64 << 10, RetryDelay: time.Millisecond}
	res, err := c.Upload(ctx, "big.bin", bytes.NewReader(data), int64(len(data)))
	if err != nil || !res.Verified || res.Attempts != 1 {
		t.Fatalf("upload: %+v %v", res, err)
	}
	if got := s.received(); len(got) != 2 || got[0] != CodeFile || got[1] != CodeCRCOK {
		t.Fatalf("server received %v, want [1028 1029]", got)
	}

	s2 := newSlowServer(t, 300*time.Millisecond)
	c.Addr, c.ResponseRate = s2.addr, 1<<40
	res, err = c.Upload(ctx, "big.bin", bytes.NewReader(data), int64(len(data)))
	if !errors.Is(err, ErrAnswerTimeout) || res.Verified || res.Attempts != 1 {
		t.Fatalf("upload with a too-short wait: %+v %v", res, err)
	}
	if got := s2.received(); len(got) != 1 || got[0] != CodeFile {
		t.Fatalf("server received %v, want only the one 1028", got)
	}
}

func TestAnswerWaitDefaults(t *testing.T) {
	t.Parallel()
	c := &Client{}
	// 20 MiB of ciphertext: 30 s + 320 s at 64 KiB/s, well over the 65 s
	// the original needs.
	if got, want := c.answerWait(20<<20), 350*time.Second; got != want {
		t.Fatalf("answerWait(20 MiB) = %s, want %s", got, want)
	}
}
