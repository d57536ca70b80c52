package devstack

import (
	"context"
	"net"
	"net/http"
	"time"

	"github.com/wochit-ingest/wochit-ingest/devstack/gcsemu"
	"github.com/wochit-ingest/wochit-ingest/internal/httpserver"
)

type gcsEmulator struct {
	url  string
	stop func(context.Context) error
}

// startGCS serves the GCS emulator on l with bucket created, keeping objects
// under root so they survive restarts.
func startGCS(l net.Listener, root, bucket string) (*gcsEmulator, error) {
	url := "http://" + l.Addr().String()
	emu, err := gcsemu.New(root, url, bucket)
	if err != nil {
		l.Close()
		return nil, err
	}
	// No read/write timeouts: chunk uploads of large videos take a while.
	srv := httpserver.Serve(&http.Server{Handler: emu.Handler(), ReadHeaderTimeout: 5 * time.Second}, l)
	return &gcsEmulator{url: url, stop: func(ctx context.Context) error {
		err := srv.Shutdown(ctx)
		emu.Stop()
		return err
	}}, nil
}
