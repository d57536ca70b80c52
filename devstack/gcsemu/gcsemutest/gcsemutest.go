// Package gcsemutest serves a fresh GCS emulator on loopback for one test
// and returns a real storage client for it: the one copy of that set-up for
// the tests that need nothing more of the emulator.
package gcsemutest

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"cloud.google.com/go/storage"

	"github.com/wochit-ingest/wochit-ingest/devstack/gcsemu"
)

// Start serves an emulator holding bucket until the test ends, wrapped in
// wrap when given (a fault injector, a request counter), and returns a
// storage client for it and its URL.
func Start(tb testing.TB, bucket string, wrap func(http.Handler) http.Handler) (*storage.Client, string) {
	tb.Helper()
	// The emulator needs its own URL before it serves: listen first.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	url := "http://" + l.Addr().String()
	emu, err := gcsemu.New("", url, bucket)
	if err != nil {
		l.Close()
		tb.Fatal(err)
	}
	handler := emu.Handler()
	if wrap != nil {
		handler = wrap(handler)
	}
	srv := httptest.NewUnstartedServer(handler)
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	tb.Cleanup(func() { srv.Close(); emu.Stop() })
	gcs, err := gcsemu.NewClient(context.Background(), url)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { gcs.Close() })
	return gcs, url
}
