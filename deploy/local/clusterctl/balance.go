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
	"net/http/httputil"
	"net/url"
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

// balancer spreads webhook deliveries round-robin over the receivers through an
// httputil.ReverseProxy, and sends a delivery to the next receiver when one cannot be
// reached (a killed receiver): a receiver answers only after the signal is durable, so a
// resend is at worst a duplicate, which the Job workflow ignores.
type balancer struct {
	backends []*url.URL
	next     atomic.Uint64
	proxy    *httputil.ReverseProxy
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
	if *backends == "" {
		return errors.New("--backends is empty")
	}
	b, err := newBalancer(strings.Split(*backends, ","))
	if err != nil {
		return err
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

func newBalancer(backends []string) (*balancer, error) {
	b := &balancer{log: io.Discard}
	for _, raw := range backends {
		u, err := url.Parse(strings.TrimSuffix(raw, "/"))
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("backend %q is not a base URL", raw)
		}
		b.backends = append(b.backends, u)
	}
	b.proxy = &httputil.ReverseProxy{
		// The receiver is chosen, and failed over, by the transport.
		Rewrite:   func(*httputil.ProxyRequest) {},
		Transport: failover{b: b, base: &http.Transport{MaxIdleConnsPerHost: 64, ResponseHeaderTimeout: 30 * time.Second}},
		ModifyResponse: func(resp *http.Response) error {
			deliveryOf(resp.Request.Context()).Status = resp.StatusCode
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			http.Error(w, "no receiver answered: "+err.Error(), http.StatusBadGateway)
		},
	}
	return b, nil
}

// deliveryKey carries a request's *Delivery, which the proxy's hooks fill in.
type deliveryKey struct{}

func deliveryOf(ctx context.Context) *Delivery { return ctx.Value(deliveryKey{}).(*Delivery) }

// ServeHTTP answers HeyGen's OPTIONS reachability probe itself, so that the endpoint
// can be registered before the receivers hold its secret, and passes the rest on. The
// body is read first: the failover sends it again, and the log names its callback_id.
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
	d := &Delivery{Start: time.Now(), Status: http.StatusBadGateway}
	r = r.WithContext(context.WithValue(r.Context(), deliveryKey{}, d))
	r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	b.proxy.ServeHTTP(w, r)
	d.End = time.Now()
	b.note(*d, body)
}

// failover sends a request to the next receiver in turn, and on to the others while
// one cannot be reached.
type failover struct {
	b    *balancer
	base http.RoundTripper
}

func (f failover) RoundTrip(r *http.Request) (*http.Response, error) {
	d := deliveryOf(r.Context())
	first := f.b.next.Add(1)
	n := uint64(len(f.b.backends))
	var err error
	for i := range n {
		to := f.b.backends[(first+i)%n]
		out := r.Clone(r.Context())
		out.URL.Scheme, out.URL.Host, out.Host = to.Scheme, to.Host, ""
		if out.Body, err = r.GetBody(); err != nil {
			return nil, err
		}
		d.Backend = to.String()
		var resp *http.Response
		if resp, err = f.base.RoundTrip(out); err == nil {
			return resp, nil
		}
	}
	return nil, err
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
