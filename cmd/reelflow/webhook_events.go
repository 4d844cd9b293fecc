package main

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/reelflow/reelflow/heygen"
	"github.com/reelflow/reelflow/receiver"
)

// parseSince reads --since: a duration back from now (90m, 2h) or an RFC 3339 time.
// Empty is the zero time: no bound.
func parseSince(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, fmt.Errorf("--since %s: want a positive duration", s)
		}
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--since %q: want a duration (90m, 2h) or an RFC 3339 time", s)
	}
	return t, nil
}

// eventsFlags are the filters of `webhook events` and `webhook replay`.
type eventsFlags struct{ eventType, since string }

// list reads HeyGen's event history through api, filtered by f, oldest first.
func (f eventsFlags) list(cmd *cobra.Command, api heygenAPI) ([]heygen.WebhookEvent, error) {
	since, err := parseSince(f.since, time.Now())
	if err != nil {
		return nil, &exitError{code: 2, err: err}
	}
	c, err := api()
	if err != nil {
		return nil, err
	}
	evs, err := c.ListWebhookEvents(cmd.Context(), heygen.ListWebhookEventsRequest{EventType: f.eventType, Since: since})
	if err != nil {
		return nil, fmt.Errorf("list webhook events: %w", err)
	}
	// HeyGen publishes no order; events whose time cannot be read keep their place last.
	sort.SliceStable(evs, func(i, j int) bool {
		ti, oki := evs[i].Time()
		tj, okj := evs[j].Time()
		return oki && (!okj || ti.Before(tj))
	})
	return evs, nil
}

// webhookEventsCommand is `reelflow webhook events`.
func (a *app) webhookEventsCommand(api heygenAPI) *cobra.Command {
	var f eventsFlags
	cmd := &cobra.Command{
		Use:   "events",
		Short: "List HeyGen's recent webhook deliveries (GET /v3/webhooks/events), oldest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			evs, err := f.list(cmd, api)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(a.out, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "CREATED\tTYPE\tEVENT ID\tJOB ID\tCALLBACK ID")
			for _, we := range evs {
				ev, _ := we.Event() // an unreadable event still shows its type and ID
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", we.CreatedAt, we.Type, we.ID, dash(ev.JobID), dash(ev.CallbackID))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(a.out, "%d %s\n", len(evs), plural(len(evs), "event", "events"))
			return nil
		},
	}
	a.env.String(cmd.Flags(), &f.eventType, "type", "REELFLOW_WEBHOOK_EVENTS_TYPE", "", "only this event_type, such as avatar_video.success")
	a.env.String(cmd.Flags(), &f.since, "since", "REELFLOW_WEBHOOK_EVENTS_SINCE", "", "only events from this far back (90m, 2h) or since an RFC 3339 time")
	return cmd
}

// webhookReplayCommand is `reelflow webhook replay`.
func (a *app) webhookReplayCommand(api heygenAPI) *cobra.Command {
	var (
		f       eventsFlags
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "replay",
		Short: "Re-signal every HeyGen event of a window to its Job, as the receiver would have",
		Long: `replay reads HeyGen's event history and routes each event exactly as the receiver
routes a delivery: to the Job named by its callback_id, or found by its HeyGenJobID. Each
signal carries the event's request ID, so an event that already arrived is dropped by
Temporal (and a Job ignores repeats anyway): replaying too much is harmless. Use it after a
receiver outage, to finish the waiting Jobs at once instead of by polling.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if strings.TrimSpace(f.since) == "" {
				return &exitError{code: 2, err: errors.New("--since is required, such as --since 2h")}
			}
			evs, err := f.list(cmd, api)
			if err != nil {
				return err
			}
			rt, closeClient, err := a.replayRouter(cmd, timeout)
			if err != nil {
				return err
			}
			defer closeClient()
			return a.replay(cmd, rt, evs)
		},
	}
	a.env.String(cmd.Flags(), &f.eventType, "type", "REELFLOW_WEBHOOK_REPLAY_TYPE", "", "only this event_type")
	a.env.String(cmd.Flags(), &f.since, "since", "REELFLOW_WEBHOOK_REPLAY_SINCE", "", "(required) replay events from this far back (90m, 2h) or since an RFC 3339 time")
	a.env.Duration(cmd.Flags(), &timeout, "signal-timeout", "REELFLOW_SIGNAL_TIMEOUT", receiver.DefaultSignalTimeout, "longest wait for Temporal per event")
	return cmd
}

// replayRouter connects to Temporal as the receiver does (request IDs on signals) and
// builds the receiver's router on it.
func (a *app) replayRouter(cmd *cobra.Command, timeout time.Duration) (*receiver.Router, func(), error) {
	log, err := a.logger()
	if err != nil {
		return nil, nil, err
	}
	opts, err := a.clientOptions(log.WithOptions(zap.IncreaseLevel(zapcore.WarnLevel)))
	if err != nil {
		return nil, nil, err
	}
	opts.ConnectionOptions.DialOptions = append(opts.ConnectionOptions.DialOptions, receiver.RequestIDDialOption())
	c, err := client.DialContext(cmd.Context(), opts)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to temporal at %s (is `reelflow dev` running?): %w", opts.HostPort, err)
	}
	rt, err := receiver.NewRouter(receiver.NewTemporalSignaler(c, log), receiver.NewTemporalJobFinder(c), timeout)
	if err != nil {
		c.Close()
		return nil, nil, err
	}
	return rt, c.Close, nil
}

// replay routes each event and prints its fate, then a summary. It goes on past an event
// that Temporal did not take, and exits 1 if there was one: running it again is safe.
func (a *app) replay(cmd *cobra.Command, rt *receiver.Router, evs []heygen.WebhookEvent) error {
	counts := map[string]int{}
	failed := 0
	tw := tabwriter.NewWriter(a.out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "EVENT ID\tTYPE\tOUTCOME\tJOB WORKFLOW")
	for _, we := range evs {
		ev, err := we.Event()
		if err != nil {
			counts["malformed"]++
			fmt.Fprintf(tw, "%s\t%s\tmalformed\t-\n", we.ID, we.Type)
			continue
		}
		routed, err := rt.Route(cmd.Context(), ev)
		if err != nil {
			failed++
			fmt.Fprintf(tw, "%s\t%s\tfailed: %v\t-\n", we.ID, we.Type, err)
			continue
		}
		counts[routed.Outcome]++
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", we.ID, we.Type, routed.Outcome, dash(routed.WorkflowID))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys)+1)
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d %s", counts[k], k))
	}
	if failed > 0 {
		parts = append(parts, fmt.Sprintf("%d failed", failed))
	}
	fmt.Fprintf(a.out, "replayed %d %s: %s\n", len(evs), plural(len(evs), "event", "events"), strings.Join(parts, ", "))
	if failed > 0 {
		return &exitError{code: 1, err: fmt.Errorf("%d %s not signalled (Temporal unreachable?): run replay again", failed, plural(failed, "event was", "events were"))}
	}
	return nil
}
