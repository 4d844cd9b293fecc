package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reelflow/reelflow/workflows"
)

func TestCampaignExit(t *testing.T) {
	tests := []struct {
		name string
		st   workflows.CampaignStatus
		want int
	}{
		{"all done", workflows.CampaignStatus{Rows: 3, Done: 3}, 0},
		{"one failed", workflows.CampaignStatus{Rows: 3, Done: 1, Failed: 1, Partial: 1}, 3},
		{"one cancelled", workflows.CampaignStatus{Rows: 3, Done: 2, Cancelled: 1}, 3},
		{"failed steps only", workflows.CampaignStatus{Rows: 3, Done: 2, Partial: 1}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, exitCode(campaignExit(tt.st)))
		})
	}
}

func TestPrintCampaign(t *testing.T) {
	start := time.Date(2026, 12, 5, 4, 0, 0, 0, time.UTC)
	st := workflows.CampaignStatus{ID: "spring", Rows: 10, Running: 6, Done: 2, Failed: 1, Partial: 1, StartedAt: start,
		Failures: []workflows.CampaignItem{
			{ID: "spring-ana", Outcome: workflows.OutcomeFailed, Reason: "render: avatar gone"},
			{ID: "spring-bo", Outcome: workflows.OutcomeFailedSteps, Reason: "translate/de: unsupported"},
		}}
	share := workflows.CampaignShare{Campaign: "spring", Held: 3, Waiting: 4, OverBudget: 2, Budget: 8, Started: 8}
	var out bytes.Buffer
	printCampaign(&out, st, &share, start.Add(2*time.Minute))
	text := out.String()
	for _, want := range []string{
		"campaign spring: 10 pipelines, 2 done, 6 running, 1 failed, 1 done with failed steps",
		"3 slots held, 4 jobs waiting, 2 over budget", "8 of a budget of 8",
		"4 of 10 ended in 2m0s; about 3m0s left",
		"spring-ana", "render: avatar gone", "spring-bo", "translate/de: unsupported",
	} {
		require.Contains(t, text, want)
	}
	assert.Equal(t, "3/10 done, 1 failed, 6 running, slots 3, jobs waiting 4, 2 over budget, account PAUSED: no credit",
		campaignProgress(st, &share, "no credit"))
}

func TestPrintQueue(t *testing.T) {
	now := time.Date(2026, 12, 5, 4, 0, 0, 0, time.UTC)
	st := workflows.SchedulerStatus{
		Account: "sandbox", Limit: 2, Waiting: 3, Paused: true, PauseReason: "Your account has 0 credits", PausedSince: now.Add(-time.Minute),
		LimitMismatch: []string{"worker-b says 3"},
		Held:          []workflows.SlotHolder{{WorkflowID: "urgent/render", Priority: 1, FairnessKey: "urgent", Since: now.Add(-2 * time.Second)}},
		Groups:        []workflows.WaitGroup{{Priority: 3, FairnessKey: "spring", Weight: 1, Waiting: 3, Held: 1}},
		Next:          []workflows.SlotWaiter{{WorkflowID: "spring-ana/render", Priority: 3, FairnessKey: "spring", Campaign: "spring", Since: now.Add(-5 * time.Second)}},
		Campaigns:     []workflows.CampaignShare{{Campaign: "spring", Started: 5, Budget: 8, Held: 1, Waiting: 3}},
	}
	var out bytes.Buffer
	printQueue(&out, st, now)
	text := out.String()
	for _, want := range []string{
		"account sandbox: 1 of 2 slots in use, 3 waiting", "PAUSED since", "Your account has 0 credits",
		"LIMIT MISMATCH: worker-b says 3", "urgent/render", "spring-ana/render", "spring",
	} {
		require.Contains(t, text, want)
	}
	share, ok := campaignShare(st, "spring")
	require.True(t, ok)
	assert.Equal(t, 8, share.Budget)
}
