// Package httpserver builds the http.Servers wochit-ingest listens with, so
// every listener has the same protections against slow or oversized clients.
package httpserver

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"
)

// New returns a server with read, write and idle timeouts and a header size
// limit: a client that trickles headers or never reads the answer (slowloris)
// cannot hold a connection for long.
func New(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
}

// Listen binds addr now, so a port that is taken fails at start-up rather
// than in a background goroutine.
func Listen(addr string) (net.Listener, error) {
	return net.Listen("tcp", addr)
}

// Serve runs srv on l in the background. The returned channel yields the
// error that stopped it (nil after Shutdown).
func Serve(srv *http.Server, l net.Listener) <-chan error {
	done := make(chan error, 1)
	go func() {
		err := srv.Serve(l)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		done <- err
	}()
	return done
}

// Shutdown stops accepting connections and waits up to timeout for requests
// in flight to finish.
func Shutdown(srv *http.Server, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return srv.Shutdown(ctx)
}
