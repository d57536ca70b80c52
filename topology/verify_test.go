//go:build topology

package topology

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/api/iterator"
)

// waitStored waits until every video in ns has had its video.stored, failing
// at once on a video.failed.
func (tp *topology) waitStored(t *testing.T, ns []*notification, timeout time.Duration, what string) time.Time {
	t.Helper()
	return waitFor(t, timeout, what, func() bool {
		for _, n := range ns {
			for _, d := range tp.receiver.deliveries(n.WochitVideoID) {
				if d.Event.Type != "video.stored" {
					t.Fatalf("%s: %s %s: %s", short(n.WochitVideoID), d.Event.Type, d.Event.Data.Reason, d.Event.Data.Message)
				}
			}
		}
		return tp.receiver.storedCount(ids(ns)) == len(ns)
	})
}

// closeTimes returns when each workflow of ns closed, as Temporal recorded it.
func (tp *topology) closeTimes(t *testing.T, ns []*notification) []time.Time {
	t.Helper()
	var out []time.Time
	for _, n := range ns {
		var closed time.Time
		waitFor(t, time.Minute, "workflow "+short(n.WochitVideoID)+" to be completed", func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			d, err := tp.client.DescribeWorkflowExecution(ctx, "wochit-video-"+n.WochitVideoID, "")
			if err != nil {
				return false
			}
			info := d.GetWorkflowExecutionInfo()
			switch info.GetStatus() {
			case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
				closed = info.GetCloseTime().AsTime()
				return true
			case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
				return false
			default:
				t.Fatalf("workflow of %s ended %s", short(n.WochitVideoID), info.GetStatus())
				return false
			}
		})
		out = append(out, closed)
	}
	return out
}

// verifyEverything checks every promise: each notification answered 2xx has
// a completed workflow, exactly one video.stored webhook-id and no
// video.failed at the receiver, a callback that carries the notification
// as sent, and objects byte-identical to the origin's files with the size
// and CRC32C the callback reported. Nothing else is in the bucket.
func (tp *topology) verifyEverything(t *testing.T, fig *figures) {
	ctx := context.Background()
	tp.mu.Lock()
	all := slices.Clone(tp.all)
	tp.mu.Unlock()
	tp.closeTimes(t, all)

	crcTable := crc32.MakeTable(crc32.Castagnoli)
	duplicates, objects := 0, 0
	for _, n := range all {
		if !n.accepted() {
			t.Errorf("%s was never answered 2xx", short(n.WochitVideoID))
			continue
		}
		ds := tp.receiver.deliveries(n.WochitVideoID)
		webhookIDs := map[string]bool{}
		for _, d := range ds {
			webhookIDs[d.WebhookID] = true
			if d.Event.Type != "video.stored" {
				t.Errorf("%s: a %s callback (%s)", short(n.WochitVideoID), d.Event.Type, d.Event.Data.Reason)
			}
		}
		if len(webhookIDs) != 1 {
			t.Errorf("%s: %d video.stored webhook-ids (%d deliveries), want exactly 1", short(n.WochitVideoID), len(webhookIDs), len(ds))
			continue
		}
		duplicates += len(ds) - 1
		ev := ds[0].Event
		if ev.Data.VideoContext != n.VideoContext || ev.Data.Title != n.Title || ev.Data.WorkflowID != "wochit-video-"+n.WochitVideoID {
			t.Errorf("%s: the callback does not carry the notification as sent (context %d bytes, title %d bytes, workflow %q)",
				short(n.WochitVideoID), len(ev.Data.VideoContext), len(ev.Data.Title), ev.Data.WorkflowID)
		}
		for _, f := range []struct {
			kind string
			obj  *storedObject
			want []byte
		}{{"video", ev.Data.Video, n.video}, {"thumbnail", ev.Data.Thumbnail, n.thumbnail}} {
			if f.obj == nil {
				t.Errorf("%s: the callback has no %s", short(n.WochitVideoID), f.kind)
				continue
			}
			crc := make([]byte, 4)
			binary.BigEndian.PutUint32(crc, crc32.Checksum(f.want, crcTable))
			if f.obj.Size != int64(len(f.want)) || f.obj.CRC32C != base64.StdEncoding.EncodeToString(crc) || f.obj.Bucket != bucket {
				t.Errorf("%s: the callback reports %s size %d crc32c %s in %s; the origin's file has %d bytes, crc32c %s",
					short(n.WochitVideoID), f.kind, f.obj.Size, f.obj.CRC32C, f.obj.Bucket, len(f.want), base64.StdEncoding.EncodeToString(crc))
			}
			obj := tp.gcs.Bucket(bucket).Object(f.obj.Name)
			attrs, err := obj.Attrs(ctx)
			if err != nil {
				t.Errorf("%s: %s object %s: %v", short(n.WochitVideoID), f.kind, f.obj.Name, err)
				continue
			}
			objects++
			if attrs.Size != f.obj.Size || attrs.CRC32C != binary.BigEndian.Uint32(crc) {
				t.Errorf("%s: GCS has %s at %d bytes crc32c %08x; the callback said %d, %s", short(n.WochitVideoID), f.kind, attrs.Size, attrs.CRC32C, f.obj.Size, f.obj.CRC32C)
			}
			got, err := tp.download(f.obj.Name)
			if want := sha256.Sum256(f.want); err != nil || got != want {
				t.Errorf("%s: the stored %s differs from the origin's (sha256 %x, want %x; %v)", short(n.WochitVideoID), f.kind, got, want, err)
			}
		}
	}
	// Nothing but those objects: no temporary parts, no strays, nothing left
	// in the inbox; only the ingresses' readiness write is there besides.
	var names []string
	it := tp.gcs.Bucket(bucket).Objects(ctx, &storage.Query{Prefix: ""})
	for {
		attrs, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if attrs.Name != prefix+".inbox/probe/readiness" {
			names = append(names, attrs.Name)
		}
	}
	if len(names) != objects {
		var odd []string
		for _, name := range names {
			if strings.Contains(name, ".parts/") || strings.Contains(name, ".inbox/") || !strings.HasPrefix(name, prefix) {
				odd = append(odd, name)
			}
		}
		t.Errorf("the bucket holds %d objects, want the %d called back; unexpected: %v", len(names), objects, odd[:min(len(odd), 10)])
	}
	total, rejected := tp.receiver.stats()
	if len(rejected) > 0 {
		t.Errorf("the receiver refused %d deliveries: %v", len(rejected), rejected[:min(len(rejected), 5)])
	}

	// Visibility on PostgreSQL has every run completed, the widest included.
	query := `IngestStage = "completed"`
	waitFor(t, time.Minute, "visibility to list every run completed", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := tp.client.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: namespace, Query: query})
		return err == nil && resp.GetCount() == int64(len(all))
	})
	for _, n := range all {
		if !n.widest {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		resp, err := tp.client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: namespace, Query: fmt.Sprintf(`WochitVideoId = %q AND CallbackStatus = "delivered"`, n.WochitVideoID),
		})
		cancel()
		if err != nil || len(resp.GetExecutions()) != 1 {
			t.Errorf("visibility query for the widest %s: %d runs, %v", short(n.WochitVideoID), len(resp.GetExecutions()), err)
		}
	}
	fig.add("verified: %d notifications answered 2xx, %d workflows completed, %d objects byte-identical to the origin (sha256) with the reported size and CRC32C, %d callbacks (%d duplicate deliveries of the same webhook-id), 0 video.failed",
		len(all), len(all), objects, total, duplicates)
}
