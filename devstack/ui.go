package devstack

import (
	"fmt"
	"net"
	"strconv"
	"time"

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	uioptions "github.com/temporalio/ui-server/v2/server/server_options"
)

// startUI serves the Temporal Web UI on addr for the server at temporalAddr;
// the browser decodes payloads through the codec server at codecURL (its
// token as the last path segment: the UI cannot send a header).
func startUI(addr, temporalAddr, codecURL string) (stop func(), err error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("UI address %q: bad port", addr)
	}
	// The UI server binds by itself and exits the process if it cannot, so
	// make sure the port is free first (resolvePort already did) and start it
	// in the background.
	ui := uiserver.NewServer(uioptions.WithConfigProvider(&uiconfig.Config{
		Host:                host,
		Port:                port,
		TemporalGRPCAddress: temporalAddr,
		EnableUI:            true,
		DefaultNamespace:    Namespace,
		CORS:                uiconfig.CORS{CookieInsecure: true},
		HideLogs:            true,
		DisableNewsFetch:    true,
		Codec:               uiconfig.Codec{Endpoint: codecURL},
	}))
	go func() { _ = ui.Start() }()
	// Report ready only once it answers.
	deadline := time.Now().Add(15 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			return ui.Stop, nil
		}
		if time.Now().After(deadline) {
			ui.Stop()
			return nil, fmt.Errorf("the Web UI did not start listening on %s", addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
