package cloudreport

import "gatehouse/internal/netsvc"

// newAddrLimiter is the per-address limit on ids recorded by open
// registration: burst at once, perSec after that, at most maxEntries
// addresses remembered (IPv4 addresses, IPv6 /64s); perSec <= 0 allows
// everything. It is netsvc's shared limiter.
func newAddrLimiter(perSec float64, burst, maxEntries int) *netsvc.AddrLimiter {
	return netsvc.NewAddrLimiterSize(perSec, burst, maxEntries)
}
