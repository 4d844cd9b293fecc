package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// receiver is a backend that counts the webhook bodies it got, byte for byte.
func receiver(t *testing.T, got *atomic.Int64, want []byte) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		assert.Equal(t, want, b, "the body arrives as sent")
		assert.Equal(t, "/webhooks/heygen", r.URL.Path)
		assert.Equal(t, "sig", r.Header.Get("Signature"))
		got.Add(1)
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func post(t *testing.T, b *balancer, body []byte) int {
	req := httptest.NewRequest(http.MethodPost, "/webhooks/heygen", bytes.NewReader(body))
	req.Header.Set("Signature", "sig")
	rec := httptest.NewRecorder()
	b.ServeHTTP(rec, req)
	return rec.Code
}

func TestBalancerSpreadsAndFailsOver(t *testing.T) {
	body := []byte(`{"event_type":"avatar_video.success","event_data":{"callback_id":"p/render"}}`)
	var gotA, gotB atomic.Int64
	a, bk := receiver(t, &gotA, body), receiver(t, &gotB, body)
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close() // a killed receiver: nothing listens there

	b, err := newBalancer([]string{a.URL, dead.URL, bk.URL + "/"})
	require.NoError(t, err)
	var log bytes.Buffer
	b.log = &log
	for range 6 {
		require.Equal(t, http.StatusOK, post(t, b, body))
	}
	assert.Equal(t, int64(6), gotA.Load()+gotB.Load(), "every delivery reached a live receiver once")
	assert.NotZero(t, gotA.Load(), "spread over the receivers")
	assert.NotZero(t, gotB.Load(), "spread over the receivers")

	lines := strings.Split(strings.TrimSpace(log.String()), "\n")
	require.Len(t, lines, 6)
	for _, l := range lines {
		var d Delivery
		require.NoError(t, json.Unmarshal([]byte(l), &d))
		assert.Equal(t, http.StatusOK, d.Status)
		assert.Contains(t, []string{a.URL, bk.URL}, d.Backend, "the receiver that answered")
		assert.Equal(t, "p/render", d.CallbackID)
		assert.Equal(t, "avatar_video.success", d.EventType)
	}
}

func TestBalancerNoReceiver(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	b, err := newBalancer([]string{dead.URL})
	require.NoError(t, err)
	var log bytes.Buffer
	b.log = &log

	assert.Equal(t, http.StatusBadGateway, post(t, b, []byte(`{}`)))
	var d Delivery
	require.NoError(t, json.Unmarshal(log.Bytes(), &d))
	assert.Equal(t, http.StatusBadGateway, d.Status)

	rec := httptest.NewRecorder()
	b.ServeHTTP(rec, httptest.NewRequest(http.MethodOptions, "/webhooks/heygen", nil))
	assert.Equal(t, http.StatusOK, rec.Code, "the reachability probe is answered by the balancer")
}
