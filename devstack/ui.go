package devstack

import (
	"fmt"
	"net"
	"strconv"

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	"github.com/temporalio/ui-server/v2/server/server_options"
)

// UI is the Temporal Web UI, served from this process.
type UI struct {
	srv *uiserver.Server
	url string
}

// StartUI serves the Temporal Web UI on host:port for the server at temporalAddr.
func StartUI(temporalAddr, host string, port int, namespace string) (*UI, error) {
	return StartUIWithCodec(temporalAddr, host, port, namespace, "")
}

// StartUIWithCodec is StartUI with the UI's codec endpoint set: the browser decodes
// payloads through that codec server (`reelflow codec-server`), so that the people
// using the UI see plaintext while Temporal stores ciphertext. "" sets none.
func StartUIWithCodec(temporalAddr, host string, port int, namespace, codecEndpoint string) (*UI, error) {
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	// The UI server exits the process when it cannot bind, so the port is checked first.
	if err := portFree(addr); err != nil {
		return nil, fmt.Errorf("temporal ui %s: %w", addr, err)
	}
	cfg := &uiconfig.Config{
		TemporalGRPCAddress: temporalAddr,
		Host:                host,
		Port:                port,
		EnableUI:            true,
		DefaultNamespace:    namespace,
		HideLogs:            true,
		// The dev UI is plain HTTP on loopback, so its CSRF cookie cannot be Secure.
		CORS:  uiconfig.CORS{CookieInsecure: true},
		Codec: uiconfig.Codec{Endpoint: codecEndpoint},
	}
	srv := uiserver.NewServer(server_options.WithConfigProvider(cfg))
	go func() { _ = srv.Start() }()
	return &UI{srv: srv, url: "http://" + addr}, nil
}

// URL is the UI's address.
func (u *UI) URL() string { return u.url }

// Stop closes the UI server.
func (u *UI) Stop() { u.srv.Stop() }
