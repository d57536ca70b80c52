// Package httpserver builds, starts and stops the http.Servers wochit-ingest
// listens with — the commands' and the dev stack's — so every listener has
// the same protections against slow or oversized clients, binds its port
// before anything is served, and stops with a graceful Shutdown, never
// Close.
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

// Server is an http.Server serving in the background on a bound listener.
type Server struct {
	srv  *http.Server
	l    net.Listener
	done chan error
}

// Start binds addr (Listen) and serves srv on it in the background.
func Start(addr string, srv *http.Server) (*Server, error) {
	l, err := Listen(addr)
	if err != nil {
		return nil, err
	}
	return Serve(srv, l), nil
}

// Serve serves srv on l, already bound, in the background.
func Serve(srv *http.Server, l net.Listener) *Server {
	s := &Server{srv: srv, l: l, done: make(chan error, 1)}
	go func() {
		err := srv.Serve(l)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.done <- err
	}()
	return s
}

// Addr is the address the server listens on (the port chosen for port 0).
func (s *Server) Addr() string { return s.l.Addr().String() }

// URL is http://Addr.
func (s *Server) URL() string { return "http://" + s.Addr() }

// Wait returns when ctx is done (nil) or when the server has stopped
// serving (the error that stopped it; nil after Shutdown).
func (s *Server) Wait(ctx context.Context) error {
	select {
	case err := <-s.done:
		return err
	case <-ctx.Done():
		return nil
	}
}

// Shutdown stops accepting connections and waits for requests in flight
// to finish, until ctx is done.
func (s *Server) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }

// Stop is Shutdown within timeout.
func (s *Server) Stop(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return s.Shutdown(ctx)
}

// Run serves until ctx is done, then stops within timeout; it returns early
// with the error that stops the server from serving, if one does.
func (s *Server) Run(ctx context.Context, timeout time.Duration) error {
	if err := s.Wait(ctx); err != nil {
		return err
	}
	return s.Stop(timeout)
}
