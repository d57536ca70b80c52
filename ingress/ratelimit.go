package ingress

import (
	"math"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Defaults of the load limits. Wochit sends one notification per finished
// video, so even a busy customer stays far below them; they exist to stop a
// flood (or a retry storm) before it reaches Temporal.
const (
	DefaultRateLimit           = 50 // notifications per second per source
	DefaultRateBurst           = 100
	DefaultMaxConcurrentStarts = 64
)

// maxSources bounds the memory of the per-source buckets. An idle bucket
// that has refilled completely is indistinguishable from a new one, so
// forgetting it changes nothing; beyond this many busy sources, an arbitrary
// one is forgotten (and gets a full bucket back) rather than growing.
const maxSources = 10000

// sourceLimiter is a token bucket per source address. IPv6 sources are
// grouped by /64, since one host commonly owns a whole /64.
type sourceLimiter struct {
	limit rate.Limit
	burst int

	mu        sync.Mutex
	buckets   map[netip.Prefix]*bucket
	lastSweep time.Time
}

type bucket struct {
	lim      *rate.Limiter
	lastSeen time.Time
}

func newSourceLimiter(limit rate.Limit, burst int) *sourceLimiter {
	if burst < 1 {
		burst = 1
	}
	return &sourceLimiter{limit: limit, burst: burst, buckets: map[netip.Prefix]*bucket{}}
}

// allow takes a token for ip at now. When none is left it returns how long
// until one is.
func (l *sourceLimiter) allow(ip netip.Addr, now time.Time) (ok bool, retryAfter time.Duration) {
	if l == nil || l.limit == rate.Inf {
		return true, 0
	}
	key := sourceKey(ip)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= maxSources {
			for k := range l.buckets {
				delete(l.buckets, k)
				break
			}
		}
		b = &bucket{lim: rate.NewLimiter(l.limit, l.burst)}
		l.buckets[key] = b
	}
	b.lastSeen = now
	r := b.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// refill is how long an unused bucket takes to be full again.
func (l *sourceLimiter) refill() time.Duration {
	return time.Duration(math.Ceil(float64(l.burst) / float64(l.limit) * float64(time.Second)))
}

// sweep forgets buckets idle for longer than a full refill, at most once per
// refill period so the cost stays proportional to the traffic.
func (l *sourceLimiter) sweep(now time.Time) {
	idle := max(l.refill(), time.Second)
	if now.Sub(l.lastSweep) < idle {
		return
	}
	l.lastSweep = now
	for k, b := range l.buckets {
		if now.Sub(b.lastSeen) >= idle {
			delete(l.buckets, k)
		}
	}
}

func (l *sourceLimiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

func sourceKey(ip netip.Addr) netip.Prefix {
	ip = ip.Unmap().WithZone("")
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, _ := ip.Prefix(bits) // the zero Addr (unknown source) gets its own bucket
	return p
}

// startSlots caps the workflow starts in flight. When all slots are taken a
// notification is shed at once with 429 rather than queued: a queue would
// only hold connections open while Temporal is already struggling.
type startSlots chan struct{}

func (s startSlots) tryAcquire() bool {
	select {
	case s <- struct{}{}:
		return true
	default:
		return false
	}
}

func (s startSlots) release() { <-s }
