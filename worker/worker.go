// Package worker builds reelflow's Temporal worker.
//
// Register is the single registration function: the worker built by New uses it, and so
// do the replay tests (with nil activities), so a workflow cannot be known by one name
// in production and another in a test. Workflows are registered by function, under
// their default names "Pipeline" and "Job"; activities are the exported methods of
// *activities.Activities, under their method names.
package worker

import (
	"time"

	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/reelflow/reelflow/activities"
	"github.com/reelflow/reelflow/workflows"
)

// Register registers reelflow's workflows with r and, when a is not nil, its activities.
// A nil a suits a replayer, which runs workflow code only. With a non-nil a, r must also
// be a worker.ActivityRegistry (a worker or a test environment); otherwise Register
// panics, as the SDK's own registration does for programming errors.
func Register(r sdkworker.WorkflowRegistry, a *activities.Activities) {
	r.RegisterWorkflow(workflows.Pipeline)
	r.RegisterWorkflow(workflows.Job)
	if a == nil {
		return
	}
	ar, ok := r.(sdkworker.ActivityRegistry)
	if !ok {
		panic("worker.Register: activities given, but the registry takes workflows only")
	}
	ar.RegisterActivity(a)
}

// Defaults for Options.
const (
	// DefaultMaxConcurrentActivities bounds HeyGen calls in flight from one worker. Each
	// activity is one short HTTP call; a hundred at once is far more than HeyGen lets one
	// account render anyway (its 429s are retried after Retry-After), while a burst of
	// polls after an outage cannot open thousands of connections.
	DefaultMaxConcurrentActivities = 100
	// DefaultMaxConcurrentWorkflowTasks bounds workflow tasks run at once. reelflow's
	// tasks are brief and CPU-bound (a selector, a few commands), so more slots than
	// this would only queue on the CPUs.
	DefaultMaxConcurrentWorkflowTasks = 100
	// DefaultStopTimeout lets in-flight activities finish on shutdown: a HeyGen call
	// takes at most 30 s (the heygen client's timeout). An interrupted create is safe
	// (its Idempotency-Key), but finishing it spares the retry.
	DefaultStopTimeout = 30 * time.Second
)

// Options tune a worker. Zero fields take the defaults.
type Options struct {
	// MaxConcurrentActivities: DefaultMaxConcurrentActivities when zero.
	MaxConcurrentActivities int
	// MaxConcurrentWorkflowTasks: DefaultMaxConcurrentWorkflowTasks when zero.
	MaxConcurrentWorkflowTasks int
	// StickyCacheSize is how many workflow executions stay cached between tasks, so
	// that they need no replay. Jobs sit idle for minutes to hours between a few
	// tasks, and a cached one costs little memory. Zero keeps the SDK's default
	// (10,000). The cache is shared by every worker in the process, so New applies it
	// process-wide, and it only takes effect before the first worker starts.
	StickyCacheSize int
	// StopTimeout is how long Stop waits for running activities: DefaultStopTimeout
	// when zero.
	StopTimeout time.Duration
}

// WithDefaults fills zero fields with the defaults.
func (o Options) WithDefaults() Options {
	if o.MaxConcurrentActivities <= 0 {
		o.MaxConcurrentActivities = DefaultMaxConcurrentActivities
	}
	if o.MaxConcurrentWorkflowTasks <= 0 {
		o.MaxConcurrentWorkflowTasks = DefaultMaxConcurrentWorkflowTasks
	}
	if o.StopTimeout <= 0 {
		o.StopTimeout = DefaultStopTimeout
	}
	return o
}

// sdkOptions maps o, with defaults, onto the SDK's worker options.
func (o Options) sdkOptions() sdkworker.Options {
	o = o.WithDefaults()
	return sdkworker.Options{
		MaxConcurrentActivityExecutionSize:     o.MaxConcurrentActivities,
		MaxConcurrentWorkflowTaskExecutionSize: o.MaxConcurrentWorkflowTasks,
		WorkerStopTimeout:                      o.StopTimeout,
	}
}

// New returns a worker for reelflow's task queue with everything registered through
// Register. The caller starts it (Run or Start) and stops it. The logger and metrics
// come from c, which cmd/ builds.
func New(c client.Client, a *activities.Activities, opts Options) sdkworker.Worker {
	if opts.StickyCacheSize > 0 {
		sdkworker.SetStickyWorkflowCacheSize(opts.StickyCacheSize)
	}
	w := sdkworker.New(c, workflows.TaskQueue, opts.sdkOptions())
	Register(w, a)
	return w
}
