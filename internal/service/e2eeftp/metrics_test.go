package e2eeftp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"gatehouse/internal/blob"
	"gatehouse/internal/netsvc"
	"gatehouse/internal/netsvc/netsvctest"
)

// failingOpen is a blob store whose Open fails (a broken disk or S3).
type failingOpen struct{ blob.Store }

func (failingOpen) Open(context.Context, string) (io.ReadCloser, blob.Info, error) {
	return nil, blob.Info{}, errors.New("disk on fire")
}

// Every protocol answer lands on netsvc's status vocabulary
// (docs/e2eeftp.md, "Metrics").
func TestRequestStatuses(t *testing.T) {
	t.Parallel()
	m := newMetered(t, netsvctest.DefaultLimits, func(c *Config, _ *Env) { c.MaxFileSize = 100 })
	m.put("here.txt", "x")
	steps := []struct {
		line    string
		body    func(Keys) []byte
		want    string // the reply's prefix
		command string
		status  netsvc.Status
	}{
		{"LIST\n", nil, "200|8\n", "LIST", netsvc.StatusOK},
		{"HLIST\n", nil, "200|26\n", "HLIST", netsvc.StatusOK},
		{"GET|here.txt\n", nil, "200|64\n", "GET", netsvc.StatusOK},
		{"GET|missing\n", nil, "404|", "GET", netsvc.StatusClientError},
		{"GET|../x\n", nil, "404|", "GET", netsvc.StatusClientError},
		{"GET|\n", nil, "500|Server Read Error", "GET", netsvc.StatusClientError},
		{"GET\n", nil, "400|", "GET", netsvc.StatusClientError},
		{"DELETE|missing\n", nil, "404|", "DELETE", netsvc.StatusClientError},
		{"DELETE|here.txt\n", nil, "200|File deleted", "DELETE", netsvc.StatusOK},
		{"SEND|a.txt|64\n", sealed("hello", false), "226|", "SEND", netsvc.StatusOK},
		{"SEND|b.txt|64\n", sealed("hello", true), "500|Decryption Failed", "SEND", netsvc.StatusClientError},
		{"SEND|b.txt|x\n", nil, "400|", "SEND", netsvc.StatusClientError},
		{fmt.Sprintf("SEND|big|%d\n", BlobLen(200)), nil, "400|", "SEND", netsvc.StatusRefused},
		{"NOPE\n", nil, "400|Invalid Command", "INVALID", netsvc.StatusClientError},
		{"\xff\n", nil, "400|Malformed", "INVALID", netsvc.StatusClientError},
	}
	for _, s := range steps {
		before := m.series("gatehouse_requests_total", map[string]string{"command": s.command, "status": string(s.status)})
		got := m.roundTrip(s.line, s.body)
		if len(got) < len(s.want) || got[:len(s.want)] != s.want {
			t.Errorf("%q: reply %q, want %q…", s.line, got, s.want)
		}
		waitFor(t, 5*time.Second, s.line+" counted", func() bool {
			return m.series("gatehouse_requests_total", map[string]string{"command": s.command, "status": string(s.status)}) == max(before, 0)+1
		})
	}

	// DELETE with allow_delete off is a policy refusal.
	off := newMetered(t, netsvctest.DefaultLimits, func(c *Config, _ *Env) { c.AllowDelete = false })
	if got := off.roundTrip("DELETE|x\n", nil); got != StatusInvalidCommand {
		t.Fatalf("DELETE with allow_delete off: %q", got)
	}
	waitFor(t, 5*time.Second, "refused DELETE counted", func() bool {
		return off.series("gatehouse_requests_total", map[string]string{"command": "DELETE", "status": string(netsvc.StatusRefused)}) == 1
	})

	// A store that cannot open a file: 500|Server Read Error, server_error.
	bad := newMetered(t, netsvctest.DefaultLimits, func(c *Config, e *Env) { e.Blob = failingOpen{e.Blob} })
	if got := bad.roundTrip("GET|here.txt\n", nil); got != StatusServerReadError {
		t.Fatalf("GET on a broken store: %q", got)
	}
	waitFor(t, 5*time.Second, "server error counted", func() bool {
		return bad.series("gatehouse_requests_total", map[string]string{"command": "GET", "status": string(netsvc.StatusServerError)}) == 1
	})

	// A SEND whose body never comes: the client went away.
	hello, eph := freshHello(t, m.cliID)
	exchange(t, m.addr, hello, eph, func(Keys) []byte { return []byte("SEND|c.txt|64\nshort") }, true)
	waitFor(t, 5*time.Second, "closed counted", func() bool {
		return m.series("gatehouse_requests_total", map[string]string{"command": "SEND", "status": string(netsvc.StatusClosed)}) == 1
	})
}
