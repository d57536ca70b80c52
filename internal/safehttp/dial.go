package safehttp

import (
	"context"
	"net"
	"net/netip"
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
		for _, ip := range ips {
			conn, err := d.DialContext(ctx, network, net.JoinHostPort(ip.Unmap().String(), port))
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
