package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
)

// retryableClientStatus reports whether a 4xx answer may pass on its own: 408 Request
// Timeout, 409 Conflict (a repeat still being processed), 425 Too Early and 429 Too Many
// Requests.
func retryableClientStatus(code int) bool {
	switch code {
	case http.StatusRequestTimeout, http.StatusConflict, http.StatusTooEarly, http.StatusTooManyRequests:
		return true
	}
	return false
}

// secretPrefix starts a Standard Webhooks secret; base64 of the key follows. The
// library trims it when present; Notify requires it, so that a secret pasted from
// elsewhere (a hex HeyGen secret, say) is refused instead of decoded as base64.
const secretPrefix = "whsec_"

// NotifyInput posts a signed notification.
type NotifyInput struct {
	// URL receives the POST.
	URL string `json:"url"`
	// SecretEnv names the environment variable, on the worker, that holds the
	// whsec_ signing secret. Only the name travels through Temporal.
	SecretEnv string `json:"secret_env"`
	// WebhookID is the webhook-id header: the same on every attempt, so that the
	// receiver can drop repeats.
	WebhookID string `json:"webhook_id"`
	// Body is the JSON payload, sent byte for byte as given and signed as such.
	Body json.RawMessage `json:"body"`
}

// NotifyResult is the endpoint's answer.
type NotifyResult struct {
	WebhookID  string `json:"webhook_id"`
	StatusCode int    `json:"status_code"`
	Attempt    int32  `json:"attempt"`
}

// Notify POSTs in.Body to in.URL, signed the Standard Webhooks way: webhook-id,
// webhook-timestamp (unix seconds, of this attempt) and webhook-signature
// "v1,<base64 HMAC-SHA256 of id.timestamp.body>", keyed with the base64-decoded part of
// the whsec_ secret. The secret is read here, on the worker, from the environment
// variable the spec names, so that it never enters workflow history.
//
// A 4xx answer other than 408, 409, 425 and 429 stops it at once (ErrTypeNotifyRefused,
// non-retryable); any other non-2xx answer, or none, is a retryable ErrTypeNotifyRejected.
func (a *Activities) Notify(ctx context.Context, in NotifyInput) (NotifyResult, error) {
	secret, ok := a.lookupEnv(in.SecretEnv)
	if !ok || secret == "" {
		return NotifyResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("notify: environment variable %s is not set on the worker", in.SecretEnv), ErrTypeNotifyConfig, nil)
	}
	ts := a.now()
	sig, err := signWebhook(secret, in.WebhookID, ts, in.Body)
	if err != nil {
		return NotifyResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("notify: %s: %v", in.SecretEnv, err), ErrTypeNotifyConfig, nil)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, in.URL, bytes.NewReader(in.Body))
	if err != nil {
		return NotifyResult{}, temporal.NewNonRetryableApplicationError("notify: bad url: "+err.Error(), ErrTypeNotifyConfig, nil)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "reelflow")
	req.Header.Set(standardwebhooks.HeaderWebhookID, in.WebhookID)
	req.Header.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set(standardwebhooks.HeaderWebhookSignature, sig)

	attempt := activity.GetInfo(ctx).Attempt
	resp, err := a.http.Do(req)
	if err != nil {
		return NotifyResult{}, temporal.NewApplicationError("notify "+redactURL(in.URL)+": "+unwrapURLError(err).Error(), ErrTypeNotifyRejected)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 400 && resp.StatusCode < 500 && !retryableClientStatus(resp.StatusCode) {
		return NotifyResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("notify %s: HTTP %d: refused, not retried", redactURL(in.URL), resp.StatusCode), ErrTypeNotifyRefused, nil)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return NotifyResult{}, temporal.NewApplicationError(
			fmt.Sprintf("notify %s: HTTP %d", redactURL(in.URL), resp.StatusCode), ErrTypeNotifyRejected)
	}
	activity.GetLogger(ctx).Info("notified", "WebhookID", in.WebhookID, "StatusCode", resp.StatusCode)
	return NotifyResult{WebhookID: in.WebhookID, StatusCode: resp.StatusCode, Attempt: attempt}, nil
}

// signWebhook returns the webhook-signature header value of a message, through the
// Standard Webhooks reference library (the one the sandbox signs and the receiver
// verifies with): "v1," and the base64 HMAC-SHA256 of "id.timestamp.body", keyed with
// the bytes that the whsec_ secret encodes. Its errors never carry the secret.
func signWebhook(secret, id string, at time.Time, body []byte) (string, error) {
	enc, ok := strings.CutPrefix(secret, secretPrefix)
	if !ok {
		return "", fmt.Errorf("secret does not start with %s", secretPrefix)
	}
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil || enc == "" {
		return "", fmt.Errorf("secret is not %s followed by base64", secretPrefix)
	}
	return wh.Sign(id, at, body)
}
