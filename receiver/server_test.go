package receiver

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reelflow/reelflow/heygen"
)

// serve runs r.Server on a free local port until the test ends.
func serve(t *testing.T, r *Receiver) (*http.Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := r.Server(ln.Addr().String())
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return srv, "http://" + ln.Addr().String()
}

// TestOverTheWire checks what only a real connection shows: header case on the wire,
// chunked bodies, lying sizes, the header cap.
func TestOverTheWire(t *testing.T) {
	r, fake := newTestReceiver(t, nil)
	_, base := serve(t, r)
	c := &http.Client{Timeout: 10 * time.Second}

	post := func(body io.Reader, h http.Header) *http.Response {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, base+WebhookPath, body)
		require.NoError(t, err)
		for k, v := range h {
			req.Header[k] = v // as given: lowercase names reach the wire lowercase
		}
		resp, err := c.Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return resp
	}
	sig := heygen.Sign(secretNew, successBody)

	resp := post(bytes.NewReader(successBody), http.Header{"x-heygen-signature": {sig}})
	assert.Equal(t, http.StatusOK, resp.StatusCode, "lowercase header name")
	resp = post(bytes.NewReader(successBody), http.Header{"SIGNATURE": {sig}})
	assert.Equal(t, http.StatusOK, resp.StatusCode, "uppercase header name")
	assert.Len(t, fake.recorded(), 2)

	// A chunked body (the reader hides its length) is read whole when small ...
	resp = post(io.MultiReader(bytes.NewReader(successBody)), http.Header{"Signature": {sig}})
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	// ... and refused, not truncated, when too large.
	big := padTo(successBody, int(DefaultMaxBodyBytes)+1024)
	resp = post(io.MultiReader(bytes.NewReader(big)), http.Header{"Signature": {heygen.Sign(secretNew, big)}})
	assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	resp = post(bytes.NewReader(big), http.Header{"Signature": {heygen.Sign(secretNew, big)}})
	assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	assert.Len(t, fake.recorded(), 3)

	// Oversized headers never reach the handler.
	resp = post(bytes.NewReader(successBody), http.Header{"Signature": {sig}, "X-Junk": {strings.Repeat("j", 64<<10)}})
	assert.Equal(t, http.StatusRequestHeaderFieldsTooLarge, resp.StatusCode)
	assert.Len(t, fake.recorded(), 3)

	// The OPTIONS probe.
	req, _ := http.NewRequest(http.MethodOptions, base+WebhookPath, nil)
	resp, err := c.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.NotEmpty(t, resp.Header.Get(RequestIDHeader))
}

// gateSignaler holds each signal until released.
type gateSignaler struct {
	entered chan struct{}
	release chan struct{}
}

func (g *gateSignaler) Signal(ctx context.Context, _, _ string, _ heygen.Event) error {
	g.entered <- struct{}{}
	select {
	case <-g.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TestShutdownFinishesInFlightDelivery: Shutdown stops accepting, and a delivery in
// flight is answered 200 only once its signal call returned.
func TestShutdownFinishesInFlightDelivery(t *testing.T) {
	gate := &gateSignaler{entered: make(chan struct{}, 1), release: make(chan struct{})}
	r, err := New(Config{Secrets: []string{secretNew}, SignalTimeout: 10 * time.Second}, gate, nil)
	require.NoError(t, err)
	srv, base := serve(t, r)

	type result struct {
		code int
		err  error
	}
	answered := make(chan result, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, base+WebhookPath, bytes.NewReader(successBody))
		req.Header.Set("Signature", heygen.Sign(secretNew, successBody))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			answered <- result{err: err}
			return
		}
		_ = resp.Body.Close()
		answered <- result{code: resp.StatusCode}
	}()
	select {
	case <-gate.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("the delivery never reached the signaler")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(ctx) }()

	// New connections are refused once Shutdown has closed the listener.
	require.Eventually(t, func() bool {
		conn, err := net.DialTimeout("tcp", strings.TrimPrefix(base, "http://"), time.Second)
		if err == nil {
			_ = conn.Close()
		}
		return err != nil
	}, 5*time.Second, 10*time.Millisecond)

	select {
	case res := <-answered:
		t.Fatalf("answered before the signal returned: %+v", res)
	default:
	}
	close(gate.release)
	select {
	case res := <-answered:
		require.NoError(t, res.err)
		assert.Equal(t, http.StatusOK, res.code)
	case <-time.After(5 * time.Second):
		t.Fatal("no answer after the signal returned")
	}
	err = <-shut
	assert.False(t, errors.Is(err, context.DeadlineExceeded))
	assert.NoError(t, err)
}
