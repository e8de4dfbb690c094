package netsvc

import (
	"net/netip"
	"slices"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// AddrLimiter limits how often one client address may do something costly
// (create an account, register an id): a token bucket per address, refilled
// at Rate per second up to Burst. An address is an IPv4 address (also when
// it arrives 4-in-6) or an IPv6 /64, since one host usually holds a whole
// /64. The table of addresses is bounded: when it
// is full, addresses idle for longest are forgotten first (a forgotten
// address starts again with a full bucket, which only ever errs on the side
// of the client).
type AddrLimiter struct {
	limit rate.Limit
	burst int
	max   int
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*addrBucket
}

type addrBucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// DefaultAddrLimiterSize bounds the addresses an AddrLimiter remembers.
const DefaultAddrLimiterSize = 10000

// NewAddrLimiter allows burst events at once per address, refilled at
// perSecond per second. perSecond <= 0 disables the limit (Allow always
// reports true).
func NewAddrLimiter(perSecond float64, burst int) *AddrLimiter {
	return NewAddrLimiterSize(perSecond, burst, DefaultAddrLimiterSize)
}

// NewAddrLimiterSize is NewAddrLimiter remembering at most maxAddrs
// addresses.
func NewAddrLimiterSize(perSecond float64, burst, maxAddrs int) *AddrLimiter {
	return &AddrLimiter{limit: rate.Limit(perSecond), burst: max(burst, 1), max: max(maxAddrs, 1),
		now: time.Now, buckets: map[string]*addrBucket{}}
}

// SetNow replaces the clock (tests).
func (l *AddrLimiter) SetNow(now func() time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.now = now
}

// addrKey is the bucket of a peer address text: the IPv4 address, or the
// IPv6 /64.
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

// Allow reports whether ip may do one more event now, and takes a token if so.
func (l *AddrLimiter) Allow(ip string) bool {
	if l == nil || l.limit <= 0 {
		return true
	}
	ip = addrKey(ip)
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b := l.buckets[ip]
	if b == nil {
		if len(l.buckets) >= l.max {
			l.evict(now)
		}
		b = &addrBucket{lim: rate.NewLimiter(l.limit, l.burst)}
		l.buckets[ip] = b
	}
	b.seen = now
	return b.lim.AllowN(now, 1)
}

// evict forgets every address whose bucket is full again (it would behave
// exactly like a new one), and if none is, the least recently seen half.
// Called with l.mu held.
func (l *AddrLimiter) evict(now time.Time) {
	full := time.Duration(float64(l.burst) / float64(l.limit) * float64(time.Second))
	for ip, b := range l.buckets {
		if now.Sub(b.seen) >= full {
			delete(l.buckets, ip)
		}
	}
	if len(l.buckets) < l.max {
		return
	}
	// Everyone is active: drop the older half by last use.
	seen := make([]time.Time, 0, len(l.buckets))
	for _, b := range l.buckets {
		seen = append(seen, b.seen)
	}
	cut := medianTime(seen)
	for ip, b := range l.buckets {
		if !b.seen.After(cut) {
			delete(l.buckets, ip)
		}
	}
}

func medianTime(ts []time.Time) time.Time {
	slices.SortFunc(ts, time.Time.Compare)
	return ts[len(ts)/2]
}

// Len is the number of addresses remembered now.
func (l *AddrLimiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}
