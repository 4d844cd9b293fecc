package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/reelflow/reelflow/heygen"
)

func (a *app) webhookCommand() *cobra.Command {
	var hg heygenFlags
	cmd := &cobra.Command{
		Use:   "webhook",
		Short: "Manage HeyGen webhook endpoints, and send a signed test delivery",
	}
	a.env.String(cmd.PersistentFlags(), &hg.apiKey, "heygen-api-key", "HEYGEN_API_KEY", "", "HeyGen API key")
	a.env.String(cmd.PersistentFlags(), &hg.baseURL, "heygen-base-url", "HEYGEN_BASE_URL", "", "HeyGen API base URL (default "+heygen.DefaultBaseURL+")")
	api := func() (*heygen.Client, error) {
		if hg.apiKey == "" {
			return nil, &exitError{code: 2, err: errors.New("HEYGEN_API_KEY is not set")}
		}
		return heygen.NewClient(hg.baseURL, hg.apiKey, nil), nil
	}

	var events string
	register := &cobra.Command{
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
	a.env.String(register.Flags(), &events, "events", "REELFLOW_WEBHOOK_EVENTS", "", "event types to receive, comma-separated (default: all)")

	list := &cobra.Command{
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

	del := &cobra.Command{
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

	rotate := &cobra.Command{
		Use:   "rotate ID",
		Short: "Rotate an endpoint's signing secret and print the new one once",
		Long: `rotate asks HeyGen for a new signing secret. HeyGen stops signing with the old
secret AT ONCE, so roll out in this order: rotate, then set HEYGEN_WEBHOOK_SECRETS=new,old
on every receiver and restart them, then drop the old secret. Deliveries that fail
verification in between are answered 401, and HeyGen retries them.`,
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

	var (
		to, secret, eventType, callbackID, jobID, url, message string
	)
	send := &cobra.Command{
		Use:   "send",
		Short: "Send a signed HeyGen-style delivery to a receiver, to test it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			data := map[string]any{"video_id": jobID, "callback_id": callbackID}
			switch (heygen.Event{Type: eventType}).Outcome() {
			case heygen.OutcomeSuccess:
				data["url"] = url
			case heygen.OutcomeFailure:
				data["msg"] = message
			}
			body, err := json.Marshal(map[string]any{"event_type": eventType, "event_data": data})
			if err != nil {
				return err
			}
			secrets := splitList(secret)
			if len(secrets) == 0 {
				return &exitError{code: 2, err: errors.New("no secret: set HEYGEN_WEBHOOK_SECRETS or --secret")}
			}
			status, reply, err := post(cmd.Context(), to, secrets[0], body)
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
	fs := send.Flags()
	a.env.String(fs, &to, "to", "REELFLOW_WEBHOOK_URL", "http://127.0.0.1:8080/webhooks/heygen", "receiver URL")
	a.env.String(fs, &secret, "secret", "HEYGEN_WEBHOOK_SECRETS", "", "signing secret (the first of a list is used)")
	a.env.String(fs, &eventType, "type", "REELFLOW_WEBHOOK_EVENT_TYPE", heygen.EventAvatarVideoSuccess, "event_type")
	a.env.String(fs, &callbackID, "callback-id", "REELFLOW_WEBHOOK_CALLBACK_ID", "", "callback_id: the job's workflow ID, such as welcome-42/render")
	a.env.String(fs, &jobID, "video-id", "REELFLOW_WEBHOOK_VIDEO_ID", "", "HeyGen video ID")
	a.env.String(fs, &url, "url", "REELFLOW_WEBHOOK_VIDEO_URL", "", "video URL for a success event")
	a.env.String(fs, &message, "message", "REELFLOW_WEBHOOK_MESSAGE", "render failed", "failure message for a fail event")

	cmd.AddCommand(register, list, del, rotate, send)
	return cmd
}

// post sends a signed delivery the way HeyGen does.
func post(ctx context.Context, to, secret string, body []byte) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, to, bytes.NewReader(body))
	if err != nil {
		return 0, nil, fmt.Errorf("send to %s: %w", to, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(heygen.SignatureHeader, heygen.Sign(secret, body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("send to %s: %w", to, err)
	}
	defer resp.Body.Close()
	reply, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, reply, nil
}
