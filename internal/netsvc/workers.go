package netsvc

import (
	"sync/atomic"
	"time"
)

// workers runs accepted connections on goroutines that already served
// one. A new goroutine starts with a small stack, and a connection whose
// handler does public-key work grows it several times (Ed25519's tables
// live on the stack): for e2eeftp, connect-per-request, those stack copies
// were ≈ 6 % of the daemon's CPU per LIST. A finished worker waits up to
// workerIdle for the next connection, and at most maxIdleWorkers wait at
// once; the others exit, as a goroutine per connection did, and all exit
// when the server shuts down.
type workers struct {
	jobs chan workerJob // unbuffered: a send succeeds only to a waiting worker
	idle atomic.Int32
}

type workerJob struct {
	sv *svcState
	c  *Conn
}

const (
	workerIdle     = 5 * time.Second
	maxIdleWorkers = 64
)

// serveOnWorker runs c on a waiting worker, or on a new goroutine if none waits.
func (s *Server) serveOnWorker(sv *svcState, c *Conn) {
	select {
	case s.workers.jobs <- workerJob{sv, c}:
	default:
		go s.work(workerJob{sv, c})
	}
}

func (s *Server) work(j workerJob) {
	var t *time.Timer
	for {
		s.serve(j.sv, j.c, nil)
		j = workerJob{} // hold nothing of the finished connection while waiting
		if s.workers.idle.Add(1) > maxIdleWorkers {
			s.workers.idle.Add(-1)
			return
		}
		if t == nil {
			t = time.NewTimer(workerIdle)
		} else {
			t.Reset(workerIdle)
		}
		select {
		case j = <-s.workers.jobs:
			s.workers.idle.Add(-1)
		case <-t.C:
			s.workers.idle.Add(-1)
			return
		case <-s.ctx.Done(): // shutting down: no more connections come
			s.workers.idle.Add(-1)
			t.Stop()
			return
		}
	}
}
