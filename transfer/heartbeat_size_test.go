package transfer

import (
	"encoding/base64"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"google.golang.org/protobuf/proto"

	"github.com/wochit-ingest/wochit-ingest/internal/payloadcodec"
	"github.com/wochit-ingest/wochit-ingest/transfer/origin"
)

// The heartbeat lists a copy's finished parts, and Temporal warns about a
// blob over 512 KiB and refuses one over 2 MiB. At the widest legal inputs
// — the smallest TRANSFER_PART_SIZE (256 KiB), files up to the engine's
// "no limit", the longest validator, every part finished — the heartbeat,
// encoded as the worker sends it (JSON, encrypted), stays under 256 KiB:
// a file that would need too many parts gets larger ones (issue 17, item
// 12: on main a 10 GiB file in 256 KiB parts made a 1.5 MB heartbeat).
func TestWidestHeartbeatStaysSmall(t *testing.T) {
	const limit = 256 << 10
	// The longest validator, of the characters JSON escapes the longest.
	validator := `"` + strings.Repeat("<", origin.MaxValidatorLen-2) + `"`
	key := base64.StdEncoding.EncodeToString(make([]byte, payloadcodec.KeySize))
	ring, err := payloadcodec.ParseKeyring(strings.Repeat("k", 64) + ":" + key)
	if err != nil {
		t.Fatal(err)
	}
	codec := payloadcodec.DataConverter(ring)

	for _, total := range []int64{10 << 30, 5 << 40, 1 << 62} {
		c := &copier{
			opts: Options{PartSize: 256 << 10, MinPartSize: 256 << 10}.withDefaults(),
			dst:  Destination{WochitVideoID: strings.Repeat("v", 64), Prefix: "videos/", Kind: contract.KindVideo},
		}
		c.opts.Resume.RangeCap = math.MaxInt64
		probe := origin.Probe{Resp: &http.Response{Header: http.Header{"Etag": {validator}}}, Total: total, Ranged: true,
			Length: 256 << 10, Asked: 256 << 10}
		plan, parted := c.planParts(probe)
		if !parted || plan.validator != validator {
			t.Fatalf("%d bytes: not copied in parts (plan %+v)", total, plan)
		}
		if n := plan.count(); n > 20000 {
			t.Fatalf("%d bytes in %d parts of %d: the heartbeat would list them all", total, n, plan.size)
		}
		tracker := &partTracker{kind: contract.KindVideo, plan: plan, done: map[int]uint32{}}
		for i := range plan.count() {
			tracker.done[i] = math.MaxUint32
		}
		p := tracker.progress()
		p.IncompleteSince, p.RangeCap = time.Now(), math.MaxInt64
		payloads, err := codec.ToPayloads(p)
		if err != nil {
			t.Fatal(err)
		}
		if size := proto.Size(payloads); size > limit || len(p.Parts) != plan.count() {
			t.Fatalf("%d bytes in %d parts of %d: a heartbeat of %d bytes listing %d parts, want at most %d bytes",
				total, plan.count(), plan.size, size, len(p.Parts), limit)
		} else {
			t.Logf("%d bytes in %d parts of %d: a heartbeat of %d bytes", total, plan.count(), plan.size, size)
		}
	}
}
