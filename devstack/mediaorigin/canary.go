package mediaorigin

import (
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// Canary is a loopback server that counts every TCP connection it accepts.
// SSRF tests aim forbidden URLs at it and require zero connections; a control
// request that is allowed must reach it, which proves the zero means
// something. It answers every request with a small video/mp4 body.
type Canary struct {
	// Port is the canary's port on 127.0.0.1; Port6 on [::1] (0 when the host
	// has no IPv6 loopback).
	Port, Port6 int

	conns   atomic.Int64
	servers []*http.Server
}

// CanaryBody is what the canary serves: a (tiny) video, so a transfer that
// is allowed to reach it succeeds.
var CanaryBody = Video("canary", 64)

// NewCanary starts a canary on 127.0.0.1 and, when available, on [::1].
func NewCanary() (*Canary, error) {
	c := &Canary{}
	l4, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	c.Port = c.serve(l4)
	if l6, err := net.Listen("tcp", "[::1]:0"); err == nil {
		c.Port6 = c.serve(l6)
	}
	return c, nil
}

func (c *Canary) serve(l net.Listener) int {
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "video/mp4")
			w.Header().Set("Content-Length", strconv.Itoa(len(CanaryBody)))
			_, _ = w.Write(CanaryBody)
		}),
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				c.conns.Add(1)
			}
		},
		ReadHeaderTimeout: 5 * time.Second,
	}
	c.servers = append(c.servers, srv)
	go func() { _ = srv.Serve(l) }() // returns when closed
	return l.Addr().(*net.TCPAddr).Port
}

// Connections is how many TCP connections the canary has accepted.
func (c *Canary) Connections() int64 { return c.conns.Load() }

// Close stops the canary.
func (c *Canary) Close() {
	for _, s := range c.servers {
		_ = s.Close()
	}
}
