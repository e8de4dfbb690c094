package cloudreport

import (
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// addrLimiter is a token bucket per client address (golang.org/x/time/rate)
// for account-creating requests: in open registration, recording a client
// id seen for the first time. Its API is only Allow, so a shared limiter
// can replace it.
//
// Keys: the IPv4 address; for IPv6 the /64 prefix (one host usually has a
// whole /64). Memory: at most maxEntries buckets. A bucket idle long enough
// to have refilled (burst/rate) is the same as a new one, so those are
// swept when the map is full; if it is still full, an arbitrary entry goes
// (an attacker who controls that many addresses has that much budget
// anyway).
type addrLimiter struct {
	limit      rate.Limit
	burst      int
	maxEntries int
	refill     time.Duration // time for an empty bucket to refill
	now        func() time.Time

	mu sync.Mutex
	m  map[string]*addrBucket
}

type addrBucket struct {
	lim  *rate.Limiter
	last time.Time
}

// newAddrLimiter allows burst requests per address at once and perSec
// after that; perSec <= 0 allows everything.
func newAddrLimiter(perSec float64, burst, maxEntries int) *addrLimiter {
	l := &addrLimiter{limit: rate.Limit(perSec), burst: max(burst, 1), maxEntries: max(maxEntries, 1),
		now: time.Now, m: map[string]*addrBucket{}}
	if perSec > 0 {
		l.refill = time.Duration(float64(l.burst) / perSec * float64(time.Second))
	}
	return l
}

// addrKey is the bucket key of a peer address text.
func addrKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// Allow takes one token from ip's bucket and says whether there was one.
func (l *addrLimiter) Allow(ip string) bool {
	if l == nil || l.limit <= 0 {
		return true
	}
	key := addrKey(ip)
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.m[key]
	if b == nil {
		if len(l.m) >= l.maxEntries {
			l.sweep(now)
		}
		b = &addrBucket{lim: rate.NewLimiter(l.limit, l.burst)}
		l.m[key] = b
	}
	b.last = now
	return b.lim.AllowN(now, 1)
}

// sweep drops buckets that have refilled; if none has, one arbitrary bucket.
func (l *addrLimiter) sweep(now time.Time) {
	for k, b := range l.m {
		if now.Sub(b.last) >= l.refill {
			delete(l.m, k)
		}
	}
	if len(l.m) >= l.maxEntries {
		for k := range l.m {
			delete(l.m, k)
			break
		}
	}
}

// size is the number of buckets held (tests).
func (l *addrLimiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}
