package activities

import (
	"math/rand/v2"
	"net/url"
	"strings"
	"time"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"github.com/wochit-ingest/wochit-ingest/internal/failure"
)

// hostBusyDelay is the wait before a transfer turned away by takeHostSlot is
// tried again (plus up to as much again at random, so that many turned away
// at once do not come back at once).
const hostBusyDelay = 10 * time.Second

// hostKey is one origin host's transfers of one kind (videos and thumbnails
// run on separate queues, in separate slots).
type hostKey struct {
	kind contract.AssetKind
	host string
}

// takeHostSlot counts the transfer against its origin host's share of this
// worker's slots. A host at its limit gets the transfer turned away at once,
// with a retryable OriginHostBusy and a short NextRetryDelay, rather than
// kept waiting: a transfer waiting here would hold a Temporal slot, which is
// what the limit keeps one slow host from taking. The retry may land on any
// worker, and a turned-away attempt costs Temporal no history event.
func (a *Activities) takeHostSlot(in TransferInput, s TransferSettings) (release func(), err error) {
	limit := s.VideoHostSlots
	if in.Kind == contract.KindThumbnail {
		limit = s.ThumbnailHostSlots
	}
	u, perr := url.Parse(in.SourceURL)
	if limit <= 0 || perr != nil || u.Host == "" {
		return func() {}, nil // no limit, or an input the copy refuses itself
	}
	key := hostKey{kind: in.Kind, host: strings.ToLower(u.Host)}
	a.hostsMu.Lock()
	defer a.hostsMu.Unlock()
	if a.hosts[key] >= limit {
		delay := hostBusyDelay + rand.N(hostBusyDelay)
		busy := failure.Retryable(contract.OriginHostBusy, nil, "this worker already runs %d %s transfers from %s; trying again in %s",
			limit, in.Kind, key.host, delay.Round(time.Second))
		busy.RetryAfter = delay
		return nil, applicationError(busy)
	}
	if a.hosts == nil {
		a.hosts = map[hostKey]int{}
	}
	a.hosts[key]++
	return func() {
		a.hostsMu.Lock()
		defer a.hostsMu.Unlock()
		if a.hosts[key]--; a.hosts[key] == 0 {
			delete(a.hosts, key)
		}
	}, nil
}
