package syncbuf

import (
	"strings"
	"sync"
	"testing"

	"gatehouse/internal/testmain"
)

func TestMain(m *testing.M) { testmain.Run(m, 0, false) }

// Writers and a reader at once (run under -race): every write lands whole.
func TestConcurrentWrites(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				b.Write([]byte("line\n"))
				_ = b.String()
			}
		}()
	}
	wg.Wait()
	if got := strings.Count(b.String(), "line\n"); got != 800 {
		t.Fatalf("%d lines, want 800", got)
	}
}
