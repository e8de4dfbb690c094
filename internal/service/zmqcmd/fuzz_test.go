package zmqcmd

import (
	"gatehouse/internal/netsvc"

	"context"
	"log/slog"
	"testing"
)

// FuzzRequest: any request frame gets exactly one well-formed reply.
func FuzzRequest(f *testing.F) {
	for _, row := range specRows {
		f.Add([]byte(row.req))
	}
	f.Add([]byte(`{"command_type": "os", "command_name": "echo", "parameters": {"a": 1}}`))
	f.Add([]byte(`{"command_type": "os", "command_name": 5, "parameters": null}`))
	cfg := DefaultConfig()
	cfg.Allow = []string{"echo"} // no processes while fuzzing
	s, err := New(cfg, Env{})
	if err != nil {
		f.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	begin := func(ctx context.Context, _ string) (context.Context, func(netsvc.Status)) {
		return ctx, func(netsvc.Status) {}
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		reply := s.handle(context.Background(), begin, log, nil, [][]byte{frame})
		r, err := ParseReply(reply)
		if err != nil {
			t.Fatalf("reply %q: %v", reply, err)
		}
		if r.Status != "success" && (r.Status != "error" || r.Message == "") {
			t.Fatalf("reply %q", reply)
		}
	})
}
