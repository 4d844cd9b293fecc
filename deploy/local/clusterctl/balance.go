package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// maxBody is larger than the receiver's own limit, so that the receiver, not the
// balancer, answers 413.
const maxBody = 4 << 20

// Delivery is one line of the balancer's delivery log: a webhook POST and the answer
// that went back to the sender. The cluster test reads it to check that every
// delivery answered 200 reached a workflow history.
type Delivery struct {
	Start      time.Time `json:"start"`
	End        time.Time `json:"end"`
	Backend    string    `json:"backend"`
	Status     int       `json:"status"` // 502 when no backend answered
	CallbackID string    `json:"callback_id"`
	EventType  string    `json:"event_type"`
}

// balancer spreads webhook deliveries round-robin over the receivers, and sends a
// delivery to the next receiver when one cannot be reached (a killed receiver): a
// receiver answers only after the signal is durable, so a resend is at worst a
// duplicate, which the Job workflow ignores.
type balancer struct {
	backends []string
	next     atomic.Uint64
	hc       *http.Client
	mu       sync.Mutex
	log      io.Writer
}

func balance(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("clusterctl balance", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:8080", "listen address")
	backends := fs.String("backends", "", "receiver base URLs, comma-separated")
	logPath := fs.String("log", "", "append one JSON line per delivery here")
	if err := fs.Parse(args); err != nil {
		return err
	}
	b := &balancer{backends: strings.Split(*backends, ","), log: io.Discard,
		hc: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	if *backends == "" {
		return errors.New("--backends is empty")
	}
	if *logPath != "" {
		f, err := os.OpenFile(*logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("delivery log: %w", err)
		}
		defer f.Close()
		b.log = f
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *listen, err)
	}
	srv := &http.Server{Handler: b, ReadHeaderTimeout: 5 * time.Second}
	go func() { <-ctx.Done(); _ = srv.Shutdown(context.Background()) }()
	fmt.Println("balancing", *listen, "over", *backends)
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// ServeHTTP answers HeyGen's OPTIONS reachability probe itself, so that the endpoint
// can be registered before the receivers hold its secret, and passes the rest on.
func (b *balancer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodOptions {
		w.WriteHeader(http.StatusOK)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	d := Delivery{Start: time.Now(), Status: http.StatusBadGateway}
	var resp *http.Response
	first := b.next.Add(1)
	for i := range uint64(len(b.backends)) {
		d.Backend = b.backends[(first+i)%uint64(len(b.backends))]
		if resp, err = b.forward(r, d.Backend, body); err == nil {
			break
		}
	}
	if err != nil {
		http.Error(w, "no receiver answered: "+err.Error(), http.StatusBadGateway)
	} else {
		defer resp.Body.Close()
		d.Status = resp.StatusCode
		copyHeader(w.Header(), resp.Header)
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	}
	d.End = time.Now()
	b.note(d, body)
}

func (b *balancer) forward(r *http.Request, backend string, body []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(r.Context(), r.Method, strings.TrimSuffix(backend, "/")+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	copyHeader(req.Header, r.Header)
	return b.hc.Do(req)
}

// note appends d, with the delivery's callback_id and event type, to the log.
func (b *balancer) note(d Delivery, body []byte) {
	var ev struct {
		EventType string `json:"event_type"`
		EventData struct {
			CallbackID string `json:"callback_id"`
		} `json:"event_data"`
	}
	_ = json.Unmarshal(body, &ev)
	d.CallbackID, d.EventType = ev.EventData.CallbackID, ev.EventType
	line, _ := json.Marshal(d)
	b.mu.Lock()
	defer b.mu.Unlock()
	_, _ = b.log.Write(append(line, '\n'))
}

func copyHeader(dst, src http.Header) {
	for k, vs := range src {
		if k == "Content-Length" || k == "Connection" {
			continue
		}
		dst[k] = append([]string(nil), vs...)
	}
}
