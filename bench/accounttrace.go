package bench

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/converter"

	"github.com/reelflow/reelflow/activities"
	"github.com/reelflow/reelflow/workflows"
)

// Where a slot's time goes: the account benchmark's trace.
//
// A slot is held from the scheduler's grant to its receipt of the release. Of that, only
// the render is HeyGen's; the rest is the round trip of reelflow and Temporal. After a
// run the trace reads the histories of the scheduler and of every render Job, and the
// tap's note of when the sandbox posted each webhook, and splits each Job's hold into
// legs (all wall-clock times of the one machine):
//
//	grant      the scheduler's SignalExternal to the grant's arrival in the Job's history
//	to create  the grant's arrival to the CreateJob activity's start (a workflow task,
//	           the activity's dispatch)
//	create     CreateJob's start to its completion (the POST to the sandbox)
//	render+    CreateJob's completion to the sandbox's webhook post at the tap, less the
//	           render time: the sandbox's own lag
//	webhook    the tap's post to the event's arrival in the Job's history (the receiver,
//	           its SignalWorkflow)
//	to release the event's arrival to the Job's release signal (a workflow task)
//	release    the release signal to its arrival at the scheduler
//	regrant    the release's arrival at the scheduler to the next grant it sends (a
//	           workflow task), for releases with Jobs waiting
//
// and the hold's overhead: the hold less the render time. Per run, it also notes when the
// first grant was sent and the last release received, from the run's start (t0), and
// the time between them.

// traceLegs are the legs in the order they are reported.
var traceLegs = []string{"grant", "to create", "  task wait", "  task run", "  dispatch", "create", "render+", "webhook", "to release", "  task wait ", "release", "regrant", "overhead",
	"first grant", "granting", "last release"}

// slotTrace collects each leg's samples, in seconds.
type slotTrace map[string][]float64

// jobTimes are the instants of one Job's history that the trace reads.
type jobTimes struct {
	grant, createStart, createDone, event, releaseSent time.Time
	// grantTask and eventTask are when the workflow tasks that took the grant and the
	// event in started; createSched when the CreateJob after the grant was scheduled.
	grantTask, eventTask, createSched time.Time
}

// traceSlots reads the histories of the scheduler (its latest run) and the render Jobs
// of pipelines, and splits each Job's slot hold into its legs.
func traceSlots(ctx context.Context, env *Env, pipelines []string, render time.Duration, t0 time.Time) (slotTrace, error) {
	sched, err := historyEvents(ctx, env, schedulerID)
	if err != nil {
		return nil, err
	}
	tr := slotTrace{}
	grantSent, releaseRecv, regrants := schedulerTimes(sched)
	tr["regrant"] = regrants
	var first, last time.Time // the first grant, the last release
	for _, at := range grantSent {
		if first.IsZero() || at.Before(first) {
			first = at
		}
	}
	for _, at := range releaseRecv {
		if at.After(last) {
			last = at
		}
	}
	for _, p := range pipelines {
		id := workflows.JobWorkflowID(p, workflows.StepRender)
		evs, err := historyEvents(ctx, env, id)
		if err != nil {
			return nil, err
		}
		jt := jobEventTimes(evs)
		posted, ok := env.Tap.PostedAt(id)
		sent, recv := grantSent[id], releaseRecv[id]
		if !ok || sent.IsZero() || recv.IsZero() || jt.grant.IsZero() || jt.createDone.IsZero() || jt.event.IsZero() || jt.releaseSent.IsZero() {
			continue // not a Job that waited, created and was ended by its webhook
		}
		add := func(leg string, from, to time.Time) { tr[leg] = append(tr[leg], to.Sub(from).Seconds()) }
		add("grant", sent, jt.grant)
		add("to create", jt.grant, jt.createStart)
		add("  task wait", jt.grant, jt.grantTask)
		add("  task run", jt.grantTask, jt.createSched)
		add("  dispatch", jt.createSched, jt.createStart)
		add("create", jt.createStart, jt.createDone)
		add("render+", jt.createDone.Add(render), posted)
		add("webhook", posted, jt.event)
		add("to release", jt.event, jt.releaseSent)
		add("  task wait ", jt.event, jt.eventTask)
		add("release", jt.releaseSent, recv)
		add("overhead", sent.Add(render), recv)
	}
	if !first.IsZero() && !t0.IsZero() {
		tr["first grant"] = []float64{first.Sub(t0).Seconds()}
		tr["granting"] = []float64{last.Sub(first).Seconds()}
		tr["last release"] = []float64{last.Sub(t0).Seconds()}
	}
	return tr, nil
}

// historyEvents reads the whole history of id's latest run.
func historyEvents(ctx context.Context, env *Env, id string) ([]*historypb.HistoryEvent, error) {
	it := env.Client.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var out []*historypb.HistoryEvent
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return nil, fmt.Errorf("history of %s: %w", id, err)
		}
		out = append(out, ev)
	}
	return out, nil
}

// schedulerTimes reads the scheduler's history: when it sent each Job's first grant and
// received its release, and, for each workflow task that sent grants, the time from
// the first release it took in to its first grant.
func schedulerTimes(evs []*historypb.HistoryEvent) (grantSent, releaseRecv map[string]time.Time, regrants []float64) {
	grantSent, releaseRecv = map[string]time.Time{}, map[string]time.Time{}
	var firstRelease time.Time // the first release since the last grant
	dc := converter.GetDefaultDataConverter()
	for _, ev := range evs {
		at := ev.GetEventTime().AsTime()
		switch ev.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
			a := ev.GetWorkflowExecutionSignaledEventAttributes()
			if a.GetSignalName() != workflows.SignalSlotRelease {
				continue
			}
			var req activities.SlotRequest
			if dc.FromPayloads(a.GetInput(), &req) != nil {
				continue
			}
			if _, ok := releaseRecv[req.WorkflowID]; !ok {
				releaseRecv[req.WorkflowID] = at
			}
			if firstRelease.IsZero() {
				firstRelease = at
			}
		case enumspb.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED:
			a := ev.GetSignalExternalWorkflowExecutionInitiatedEventAttributes()
			if a.GetSignalName() != workflows.SignalSlotGrant {
				continue
			}
			if id := a.GetWorkflowExecution().GetWorkflowId(); grantSent[id].IsZero() {
				grantSent[id] = at
			}
			if !firstRelease.IsZero() {
				regrants = append(regrants, at.Sub(firstRelease).Seconds())
				firstRelease = time.Time{}
			}
		}
	}
	return grantSent, releaseRecv, regrants
}

// jobEventTimes reads a Job's history: its grant, the CreateJob that followed it, the
// first webhook event after the create, and its release.
func jobEventTimes(evs []*historypb.HistoryEvent) jobTimes {
	var jt jobTimes
	var createSched int64
	for _, ev := range evs {
		at := ev.GetEventTime().AsTime()
		switch ev.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED:
			if !jt.grant.IsZero() && jt.grantTask.IsZero() {
				jt.grantTask = at
			}
			if !jt.event.IsZero() && jt.eventTask.IsZero() {
				jt.eventTask = at
			}
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
			switch ev.GetWorkflowExecutionSignaledEventAttributes().GetSignalName() {
			case workflows.SignalSlotGrant:
				if jt.grant.IsZero() {
					jt.grant = at
				}
			case workflows.SignalEvent:
				if !jt.createDone.IsZero() && jt.event.IsZero() {
					jt.event = at
				}
			}
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			a := ev.GetActivityTaskScheduledEventAttributes()
			if !jt.grant.IsZero() && createSched == 0 && strings.HasSuffix(a.GetActivityType().GetName(), "CreateJob") {
				createSched, jt.createSched = ev.GetEventId(), at
			}
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED:
			if createSched != 0 && ev.GetActivityTaskStartedEventAttributes().GetScheduledEventId() == createSched {
				jt.createStart = at
			}
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
			if createSched != 0 && ev.GetActivityTaskCompletedEventAttributes().GetScheduledEventId() == createSched {
				jt.createDone = at
			}
		case enumspb.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED:
			a := ev.GetSignalExternalWorkflowExecutionInitiatedEventAttributes()
			if a.GetSignalName() == workflows.SignalSlotRelease && jt.releaseSent.IsZero() {
				jt.releaseSent = at
			}
		}
	}
	return jt
}

// merge adds o's samples to t.
func (t slotTrace) merge(o slotTrace) {
	for k, v := range o {
		t[k] = append(t[k], v...)
	}
}

// String is one line per leg: its median, 90th percentile and samples, in ms.
func (t slotTrace) String() string {
	var b strings.Builder
	for _, leg := range traceLegs {
		xs := slices.Clone(t[leg])
		if len(xs) == 0 {
			continue
		}
		slices.Sort(xs)
		fmt.Fprintf(&b, "%s: median %.0f ms, p90 %.0f ms (n %d); ", leg, 1000*Summarize(xs).Median, 1000*xs[len(xs)*9/10], len(xs))
	}
	return strings.TrimSuffix(b.String(), "; ")
}
