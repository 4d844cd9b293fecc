package main

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/reelflow/reelflow/heygen"
	"github.com/reelflow/reelflow/sandbox"
)

// heygenAPI returns the HeyGen client of a webhook subcommand, or an exit-2 error when
// no API key is set. The key is read when the subcommand runs, after flag parsing.
type heygenAPI func() (*heygen.Client, error)

// webhookCommand is `reelflow webhook`: one subcommand per endpoint operation, a test
// delivery, and HeyGen's event history.
func (a *app) webhookCommand() *cobra.Command {
	var hg heygenFlags
	cmd := &cobra.Command{
		Use:   "webhook",
		Short: "Manage HeyGen webhook endpoints, send a signed test delivery, read and replay HeyGen's event history",
	}
	a.env.String(cmd.PersistentFlags(), &hg.apiKey, "heygen-api-key", "HEYGEN_API_KEY", "", "HeyGen API key")
	a.env.String(cmd.PersistentFlags(), &hg.baseURL, "heygen-base-url", "HEYGEN_BASE_URL", "", "HeyGen API base URL (default "+heygen.DefaultBaseURL+")")
	api := func() (*heygen.Client, error) {
		if hg.apiKey != "" {
			return heygen.NewClient(hg.baseURL, hg.apiKey, nil), nil
		}
		return a.devSandbox()
	}
	cmd.AddCommand(
		a.webhookRegisterCommand(api),
		a.webhookListCommand(api),
		a.webhookDeleteCommand(api),
		a.webhookRotateCommand(api),
		a.webhookSendCommand(),
		a.webhookEventsCommand(api),
		a.webhookReplayCommand(api),
	)
	return cmd
}

// devSandbox is the HeyGen client of the sandbox that a `reelflow dev` run with the
// same --dir serves, for the webhook commands without HEYGEN_API_KEY.
func (a *app) devSandbox() (*heygen.Client, error) {
	st, ok, err := readDevState(a.devDir)
	if err != nil {
		return nil, err
	}
	if !ok || st.SandboxURL == "" {
		return nil, usageError(fmt.Errorf("HEYGEN_API_KEY is not set, and no reelflow dev with a sandbox has run in %s "+
			"(dev keeps its sandbox's address in %s): set HEYGEN_API_KEY, or run this beside reelflow dev, or pass dev's --dir",
			a.devDir, filepath.Join(a.devDir, devStateFile)))
	}
	fmt.Fprintf(a.errOut, "using the HeyGen sandbox of reelflow dev at %s (from %s)\n", st.SandboxURL, filepath.Join(a.devDir, devStateFile))
	// The sandbox takes any API key.
	return heygen.NewClient(st.SandboxURL, "sandbox", nil), nil
}

// webhookRegisterCommand is `reelflow webhook register URL`.
func (a *app) webhookRegisterCommand(api heygenAPI) *cobra.Command {
	var events string
	cmd := &cobra.Command{
		Use:   "register URL",
		Short: "Register URL (the receiver's /webhooks/heygen) and print its signing secret once",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := api()
			if err != nil {
				return err
			}
			ep, err := c.CreateWebhookEndpoint(cmd.Context(), args[0], splitList(events))
			if err != nil {
				return fmt.Errorf("register %s: %w", args[0], err)
			}
			fmt.Fprintf(a.out, "registered endpoint %s for %s\n", ep.ID, ep.URL)
			fmt.Fprintf(a.out, "signing secret (shown once): %s\n", ep.Secret)
			fmt.Fprintln(a.out, "give it to every receiver: HEYGEN_WEBHOOK_SECRETS="+ep.Secret)
			return nil
		},
	}
	a.env.String(cmd.Flags(), &events, "events", "REELFLOW_WEBHOOK_EVENTS", "", "event types to receive, comma-separated (default: all)")
	return cmd
}

// webhookListCommand is `reelflow webhook list`.
func (a *app) webhookListCommand(api heygenAPI) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List registered webhook endpoints",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := api()
			if err != nil {
				return err
			}
			eps, err := c.ListWebhookEndpoints(cmd.Context())
			if err != nil {
				return fmt.Errorf("list endpoints: %w", err)
			}
			tw := tabwriter.NewWriter(a.out, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSTATUS\tURL\tEVENTS")
			for _, ep := range eps {
				ev := "all"
				if len(ep.Events) > 0 {
					ev = fmt.Sprint(ep.Events)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", ep.ID, ep.Status, ep.URL, ev)
			}
			return tw.Flush()
		},
	}
}

// webhookDeleteCommand is `reelflow webhook delete ID`.
func (a *app) webhookDeleteCommand(api heygenAPI) *cobra.Command {
	return &cobra.Command{
		Use:   "delete ID",
		Short: "Delete a webhook endpoint",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := api()
			if err != nil {
				return err
			}
			if err := c.DeleteWebhookEndpoint(cmd.Context(), args[0]); err != nil {
				return fmt.Errorf("delete %s: %w", args[0], err)
			}
			fmt.Fprintf(a.out, "deleted endpoint %s\n", args[0])
			return nil
		},
	}
}

// webhookRotateCommand is `reelflow webhook rotate ID`.
func (a *app) webhookRotateCommand(api heygenAPI) *cobra.Command {
	return &cobra.Command{
		Use:   "rotate ID",
		Short: "Rotate an endpoint's signing secret and print the new one once",
		Long: `rotate asks HeyGen for a new signing secret. HeyGen stops signing with the old
secret AT ONCE, so roll out in this order: rotate, then set HEYGEN_WEBHOOK_SECRETS=new,old
on every receiver and restart them, then drop the old secret. Deliveries that fail
verification in between are answered 401, and HeyGen retries them; "reelflow webhook
replay" re-signals whatever was missed.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := api()
			if err != nil {
				return err
			}
			ep, err := c.RotateWebhookSecret(cmd.Context(), args[0])
			if err != nil {
				return fmt.Errorf("rotate %s: %w", args[0], err)
			}
			fmt.Fprintf(a.out, "new signing secret for %s (shown once): %s\n", ep.ID, ep.Secret)
			fmt.Fprintln(a.out, "roll it out: HEYGEN_WEBHOOK_SECRETS=<new>,<old> on every receiver, restart them, then remove <old>")
			return nil
		},
	}
}

// sendFlags are the flags of `reelflow webhook send`.
type sendFlags struct {
	to, secret, scheme, eventType, callbackID, jobID, url, message string
}

// webhookSendCommand is `reelflow webhook send`.
func (a *app) webhookSendCommand() *cobra.Command {
	var f sendFlags
	cmd := &cobra.Command{
		Use:   "send",
		Short: "Send a signed HeyGen-style delivery to a receiver, to test it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			body, err := f.body()
			if err != nil {
				return err
			}
			to, secrets, err := a.sendTarget(f)
			if err != nil {
				return err
			}
			scheme, err := heygen.ParseSigningScheme(f.scheme)
			if err != nil {
				return &exitError{code: 2, err: fmt.Errorf("--signing-scheme: %w", err)}
			}
			status, reply, err := post(cmd.Context(), to, secrets[0], scheme, body)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.out, "%d %s\n", status, bytes.TrimSpace(reply))
			if status/100 != 2 {
				return &exitError{code: 1, err: fmt.Errorf("receiver answered %d", status)}
			}
			return nil
		},
	}
	fs := cmd.Flags()
	a.env.String(fs, &f.to, "to", "REELFLOW_WEBHOOK_URL", "", "receiver URL (default: the receiver of the reelflow dev whose --dir this is, else "+defaultWebhookURL+")")
	a.env.String(fs, &f.secret, "secret", "HEYGEN_WEBHOOK_SECRETS", "", "signing secret, the first of a list (default: the secret reelflow dev keeps in webhook.json under --dir)")
	a.env.String(fs, &f.scheme, "signing-scheme", "REELFLOW_WEBHOOK_SIGNING_SCHEME", string(heygen.SchemeHex), "hex (HMAC of the body in Signature) or standard (Standard Webhooks headers)")
	a.env.String(fs, &f.eventType, "type", "REELFLOW_WEBHOOK_EVENT_TYPE", heygen.EventAvatarVideoSuccess, "event_type")
	a.env.String(fs, &f.callbackID, "callback-id", "REELFLOW_WEBHOOK_CALLBACK_ID", "", "callback_id: the job's workflow ID, such as welcome-42/render (empty: none, as a v3 video sends)")
	a.env.String(fs, &f.jobID, "video-id", "REELFLOW_WEBHOOK_VIDEO_ID", "", "HeyGen video ID")
	a.env.String(fs, &f.url, "url", "REELFLOW_WEBHOOK_VIDEO_URL", "", "video URL for a success event")
	a.env.String(fs, &f.message, "message", "REELFLOW_WEBHOOK_MESSAGE", "render failed", "failure message for a fail event")
	return cmd
}

// defaultWebhookURL is where send posts with no --to and no dev stack: the receiver's
// default address.
const defaultWebhookURL = "http://127.0.0.1:8080/webhooks/heygen"

// sendTarget is where send posts and the secrets it may sign with: the flags', else
// those of the reelflow dev whose --dir this is.
func (a *app) sendTarget(f sendFlags) (string, []string, error) {
	to, secrets := f.to, splitList(f.secret)
	if to != "" && len(secrets) > 0 {
		return to, secrets, nil
	}
	st, _, err := readDevState(a.devDir)
	if err != nil {
		return "", nil, err
	}
	if to == "" {
		to = cmp.Or(st.WebhookURL, defaultWebhookURL)
	}
	if len(secrets) == 0 && st.secret != "" {
		secrets = []string{st.secret}
		fmt.Fprintf(a.errOut, "signing with the secret of reelflow dev (from %s)\n", filepath.Join(a.devDir, devWebhookFile))
	}
	if len(secrets) == 0 {
		return "", nil, usageError(fmt.Errorf("no secret: set HEYGEN_WEBHOOK_SECRETS or --secret, or run this beside reelflow dev "+
			"(dev keeps its secret in %s; pass dev's --dir if it runs elsewhere)", filepath.Join(a.devDir, devWebhookFile)))
	}
	return to, secrets, nil
}

// body is the delivery that send posts.
func (f sendFlags) body() ([]byte, error) {
	data := map[string]any{"video_id": f.jobID}
	if f.callbackID != "" {
		data["callback_id"] = f.callbackID
	}
	switch (heygen.Event{Type: f.eventType}).Outcome() {
	case heygen.OutcomeSuccess:
		data["url"] = f.url
	case heygen.OutcomeFailure:
		data["msg"] = f.message
	}
	return json.Marshal(map[string]any{"event_type": f.eventType, "event_data": data})
}

// post sends a delivery signed the way HeyGen does, under scheme.
func post(ctx context.Context, to, secret string, scheme heygen.SigningScheme, body []byte) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, to, bytes.NewReader(body))
	if err != nil {
		return 0, nil, fmt.Errorf("send to %s: %w", to, err)
	}
	req.Header.Set("Content-Type", "application/json")
	if err := sandbox.Sign(req.Header, scheme, secret, rand.Text(), time.Now(), body); err != nil {
		return 0, nil, &exitError{code: 2, err: err}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("send to %s: %w", to, err)
	}
	defer resp.Body.Close()
	reply, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, reply, nil
}
