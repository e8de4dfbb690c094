package logging

import (
	"bufio"
	"io"
	"sync"
	"time"
)

// The log sink is buffered so that a busy daemon does not pay one write
// system call per log line (every request logs at info): lines gather in a
// bounded buffer that is flushed every FlushInterval, when it is full, and
// on Close (the daemon closes its logger after the drain, so a SIGTERM
// loses nothing). A line waits at most FlushInterval before it is written;
// only a crash of the process itself (not a handler panic, which netsvc
// recovers) can lose the last FlushInterval of lines.
const (
	FlushInterval = 100 * time.Millisecond
	BufferSize    = 64 << 10
)

type bufferedSink struct {
	mu   sync.Mutex
	bw   *bufio.Writer
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

func newBufferedSink(w io.Writer, size int, every time.Duration) *bufferedSink {
	s := &bufferedSink{bw: bufio.NewWriterSize(w, size), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				s.Flush()
			}
		}
	}()
	return s
}

// Write buffers p; a line longer than the free space is written through,
// so memory stays bounded whatever is logged.
func (s *bufferedSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bw.Write(p)
}

// Flush writes what is buffered.
func (s *bufferedSink) Flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bw.Flush()
}

// Close stops the flusher and writes what is left.
func (s *bufferedSink) Close() error {
	s.once.Do(func() { close(s.stop) })
	<-s.done
	return s.Flush()
}
