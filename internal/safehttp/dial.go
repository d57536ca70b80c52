package safehttp

import (
	"context"
	"net"
	"net/netip"
	"time"
)

func (p Policy) resolver() Resolver {
	if p.Resolver != nil {
		return p.Resolver
	}
	return net.DefaultResolver
}

// dialContext is the transport's DialContext. It refuses host names the
// policy blocks (CheckHost), resolves the others itself and dials the
// resulting addresses one by one. It never decides whether an address is
// allowed: the dialer's Control function does, for the exact address about
// to be connected, so nothing DNS answers (rebinding included) gets past it.
func (p Policy) dialContext(d *net.Dialer) func(ctx context.Context, network, address string) (net.Conn, error) {
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(address)
		if err != nil {
			return nil, &BlockedError{Address: address, Reason: "unparseable address"}
		}
		if err := p.CheckHost(host); err != nil {
			return nil, err
		}
		if _, err := netip.ParseAddr(host); err == nil {
			return d.DialContext(ctx, network, address)
		}
		ips, err := p.resolver().LookupNetIP(ctx, ipNetwork(network), host)
		if err != nil {
			return nil, err
		}
		if len(ips) == 0 {
			return nil, &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true}
		}
		// The destination is blocked only when every address is; a transient
		// failure on an allowed address stays retryable.
		var firstBlocked, firstOther error
		deadline := dialDeadline(ctx, d)
		for i, ip := range ips {
			conn, err := dialPartial(ctx, d, network, net.JoinHostPort(ip.Unmap().String(), port), deadline, len(ips)-i)
			if err == nil {
				return conn, nil
			}
			if IsBlocked(err) {
				if firstBlocked == nil {
					firstBlocked = err
				}
			} else if firstOther == nil {
				firstOther = err
			}
			if ctx.Err() != nil {
				break
			}
		}
		if firstOther != nil {
			return nil, firstOther
		}
		return nil, firstBlocked
	}
}

// dialDeadline is when the whole dial, over every address, must be done
// (zero: no deadline).
func dialDeadline(ctx context.Context, d *net.Dialer) time.Time {
	ctxDeadline, hasCtxDeadline := ctx.Deadline()
	switch {
	case d.Timeout == 0:
		return ctxDeadline
	case hasCtxDeadline && ctxDeadline.Before(time.Now().Add(d.Timeout)):
		return ctxDeadline
	}
	return time.Now().Add(d.Timeout)
}

// dialPartial dials one of several addresses with its share of the time
// left (at least 2 s), as net.Dialer does itself, so an address that does not
// answer (a black-holed IPv6 route) cannot use up the time of the next ones.
func dialPartial(ctx context.Context, d *net.Dialer, network, address string, deadline time.Time, left int) (net.Conn, error) {
	if left > 1 && !deadline.IsZero() {
		end := time.Now().Add(max(time.Until(deadline)/time.Duration(left), 2*time.Second))
		if deadline.Before(end) {
			end = deadline
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, end)
		defer cancel()
	}
	return d.DialContext(ctx, network, address)
}

// ipNetwork maps a dial network to the matching lookup network.
func ipNetwork(network string) string {
	switch network {
	case "tcp4":
		return "ip4"
	case "tcp6":
		return "ip6"
	}
	return "ip"
}
