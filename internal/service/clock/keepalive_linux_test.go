package clock

import (
	"context"
	"testing"
	"time"

	"gatehouse/internal/netsvc"
	"gatehouse/internal/netsvc/netsvctest"
)

// The default idle bound lets an original menu client sit at its prompt
// for over an hour and still get its next answer; dead peers are left to
// TCP keepalive, which every accepted connection has.
func TestDefaultIdleAllowsAnHourAndKeepAliveIsOn(t *testing.T) {
	t.Parallel()
	l := defaultLimits()
	if l.IdleTimeout < time.Hour+10*time.Minute {
		t.Fatalf("default clock idle_timeout %v: an original menu client idle for an hour would be cut", l.IdleTimeout)
	}
	got := make(chan netsvctest.KeepAlive, 1)
	srv := newServer(t, DefaultConfig(), Env{})
	h := netsvc.HandlerFunc(func(ctx context.Context, c *netsvc.Conn) error {
		ka, err := netsvctest.KeepAliveOf(c.Conn)
		if err != nil {
			t.Error(err)
		}
		got <- ka
		return srv.ServeConn(ctx, c)
	})
	_, addr := netsvctest.Start(t, "clock", h, l)
	s, err := Dial(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Time(); err != nil {
		t.Fatal(err)
	}
	if ka := <-got; !ka.On || ka.Idle <= 0 || ka.Idle+time.Duration(ka.Count)*ka.Interval > 5*time.Minute {
		t.Fatalf("accepted clock connection keepalive %+v: want on, reaping a dead peer within minutes", ka)
	}
}
