package sandbox

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"go.uber.org/zap"

	"github.com/reelflow/reelflow/heygen"
)

// eventBody is a webhook delivery as HeyGen sends it.
type eventBody struct {
	EventType string `json:"event_type"`
	EventData any    `json:"event_data"`
}

// successData is avatar_video.success's event_data, with the fields of a logged delivery.
type successData struct {
	VideoID           string `json:"video_id"`
	URL               string `json:"url"`
	CallbackID        string `json:"callback_id,omitempty"` // absent for jobs created without one
	GIFDownloadURL    string `json:"gif_download_url"`
	VideoSharePageURL string `json:"video_share_page_url"`
	FolderID          string `json:"folder_id"`
}

// failData is avatar_video.fail's event_data.
type failData struct {
	VideoID    string `json:"video_id"`
	Msg        string `json:"msg"`
	CallbackID string `json:"callback_id,omitempty"`
}

// translateSuccessData is video_translate.success's event_data.
type translateSuccessData struct {
	ID             string `json:"video_translate_id"`
	URL            string `json:"url"`
	CallbackID     string `json:"callback_id,omitempty"`
	OutputLanguage string `json:"output_language"`
}

// translateFailData is video_translate.fail's event_data.
type translateFailData struct {
	ID             string `json:"video_translate_id"`
	Message        string `json:"message"`
	CallbackID     string `json:"callback_id,omitempty"`
	OutputLanguage string `json:"output_language"`
}

// worker sends ready deliveries one at a time until Close.
func (s *Sandbox) worker() {
	defer s.wg.Done()
	for {
		s.mu.Lock()
		for len(s.ready) == 0 && !s.closing {
			s.cond.Wait()
		}
		if s.closing {
			s.mu.Unlock()
			return
		}
		id := s.ready[0]
		s.ready[0] = ""
		s.ready = s.ready[1:]
		d := s.deliveries[id]
		if d == nil || d.state != stateReady {
			s.mu.Unlock()
			continue
		}
		url, secret, ok := s.targetLocked(d)
		if !ok {
			// The endpoint was deleted or disabled: HeyGen stops delivering to it.
			delete(s.deliveries, id)
			s.dirtyLocked()
			s.mu.Unlock()
			continue
		}
		d.state = stateInFlight
		d.Attempts++
		if d.EndpointID != "" {
			s.stats.Deliveries++
		} else {
			s.stats.CallbackURLPosts++
		}
		body := d.Body
		s.mu.Unlock()

		status, err := s.post(url, secret, d.ID, body)

		s.mu.Lock()
		s.afterAttemptLocked(d, status, err)
		s.mu.Unlock()
	}
}

// targetLocked returns where a delivery goes and the secret that signs it ("" = unsigned).
// The endpoint's URL and secret are read at every attempt: a rotation applies at once.
func (s *Sandbox) targetLocked(d *delivery) (url, secret string, ok bool) {
	if d.EndpointID == "" {
		return d.URL, "", d.URL != ""
	}
	e := s.endpoints[d.EndpointID]
	if e == nil || e.Status != "enabled" {
		return "", "", false
	}
	return e.URL, e.Secret, true
}

// afterAttemptLocked records the outcome of one attempt and schedules the next, if any.
func (s *Sandbox) afterAttemptLocked(d *delivery, status int, err error) {
	log := s.log.With(zap.String("video_id", d.JobID), zap.String("endpoint_id", d.EndpointID), zap.Int("attempt", d.Attempts))
	now := time.Now()
	switch {
	case err != nil && s.ctx.Err() != nil:
		// Close cut the attempt short: it does not count against the budget, and the
		// delivery stays pending for the next sandbox on the same state file.
		d.Attempts--
		d.state = stateWaiting
		d.NextAt = now
	case err == nil && status >= 200 && status <= 299:
		if d.EndpointID != "" {
			s.stats.DeliveriesAcked++
			if j := s.jobs[d.JobID]; j != nil && !d.Contra {
				j.Acked++
			}
		} else {
			s.stats.CallbackURLAcked++
		}
		delete(s.deliveries, d.ID)
		log.Debug("sandbox delivery acked", zap.Int("status", status))
		if d.FollowUp != nil {
			// The contradicting event goes only once the real one is known to have
			// arrived, so it always comes second.
			s.stats.ContradictionsSent++
			c := &delivery{ID: newID(), JobID: d.JobID, EndpointID: d.EndpointID, URL: d.URL, Body: d.FollowUp, Contra: true, NextAt: now}
			s.deliveries[c.ID] = c
			s.readyLocked(c)
		}
	case d.Attempts >= maxAttempts:
		s.stats.DeliveriesExhausted++
		delete(s.deliveries, d.ID)
		log.Info("sandbox delivery abandoned", zap.Int("status", status), zap.Error(err))
	default:
		d.state = stateWaiting
		d.NextAt = now.Add(s.retryBase << (d.Attempts - 1))
		s.scheduleLocked(d.NextAt, itemDelivery, d.ID)
		log.Debug("sandbox delivery will be retried", zap.Int("status", status), zap.Error(err), zap.Time("next_at", d.NextAt))
	}
	s.dirtyLocked()
}

// post sends one attempt of delivery id. It holds no lock.
func (s *Sandbox) post(url, secret, id string, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(s.ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "reelflow-sandbox")
	if secret != "" {
		if err := s.sign(req.Header, secret, id, body); err != nil {
			return 0, err
		}
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	// Drain a little so the connection can be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, nil
}

// sign signs one attempt with the sandbox's scheme. Under Standard Webhooks the
// webhook-id is the delivery's ID, the same on every retry as the standard asks, and the
// timestamp is the attempt's, so that a retry hours later is still fresh.
func (s *Sandbox) sign(h http.Header, secret, id string, body []byte) error {
	return Sign(h, s.scheme, secret, id, time.Now(), body)
}

// Sign sets on h the signature headers of a delivery of body, as the sandbox sends them
// under scheme: heygen.SchemeHex puts heygen.Sign in the Signature header;
// heygen.SchemeStandard sets webhook-id (id), webhook-timestamp (at) and
// webhook-signature, through the Standard Webhooks reference library. Tools that fake a
// delivery (`reelflow webhook send`, tests) sign with it too.
func Sign(h http.Header, scheme heygen.SigningScheme, secret, id string, at time.Time, body []byte) error {
	if scheme != heygen.SchemeStandard {
		h.Set(heygen.SignatureHeader, heygen.Sign(secret, body))
		return nil
	}
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		return fmt.Errorf("standard webhooks key (the secret after whsec_ must be base64): %w", err)
	}
	sig, err := wh.Sign(id, at, body)
	if err != nil {
		return err
	}
	h.Set(standardwebhooks.HeaderWebhookID, id)
	h.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(at.Unix(), 10))
	h.Set(standardwebhooks.HeaderWebhookSignature, sig)
	return nil
}

// mustJSON marshals values that cannot fail to marshal.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("sandbox: marshal: " + err.Error())
	}
	return b
}
