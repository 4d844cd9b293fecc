// Package worker builds reelflow's Temporal worker.
//
// Register is the single registration function: the worker built by New uses it, and so
// do the replay tests (with nil activities), so a workflow cannot be known by one name
// in production and another in a test. Workflows are registered under the names
// workflows.WorkflowType* declare; activities are the exported methods of
// *activities.Activities, under their method names.
package worker

import (
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/reelflow/reelflow/activities"
	"github.com/reelflow/reelflow/workflows"
)

// Register registers reelflow's workflows with r and, when a is not nil, its activities.
// A nil a suits a replayer, which runs workflow code only. With a non-nil a, r must also
// be a worker.ActivityRegistry (a worker or a test environment); otherwise Register
// panics, as the SDK's own registration does for programming errors.
func Register(r sdkworker.WorkflowRegistry, a *activities.Activities) {
	r.RegisterWorkflowWithOptions(workflows.Pipeline, workflow.RegisterOptions{Name: workflows.WorkflowTypePipeline})
	r.RegisterWorkflowWithOptions(workflows.Job, workflow.RegisterOptions{Name: workflows.WorkflowTypeJob})
	r.RegisterWorkflowWithOptions(workflows.Scheduler, workflow.RegisterOptions{Name: workflows.WorkflowTypeScheduler})
	r.RegisterWorkflowWithOptions(workflows.Campaign, workflow.RegisterOptions{Name: workflows.WorkflowTypeCampaign})
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
	// DefaultStickyCacheSize keeps 6,000 workflows cached between tasks. A cached,
	// waiting Job costs about 53 KB (a parked goroutine and the SDK's state, measured
	// with 5,000 Jobs), so 6,000 stay near 320 MB, inside the 400 MB worker budget; the
	// SDK's 10,000 would not, once each Job's Pipeline is cached too. An evicted
	// workflow replays its short history (15-25 events) on its next task.
	DefaultStickyCacheSize = 6000
)

// Options tune a worker. Zero fields take the defaults.
type Options struct {
	// MaxConcurrentActivities: DefaultMaxConcurrentActivities when zero.
	MaxConcurrentActivities int
	// MaxConcurrentWorkflowTasks: DefaultMaxConcurrentWorkflowTasks when zero.
	MaxConcurrentWorkflowTasks int
	// StickyCacheSize is how many workflow executions stay cached between tasks, so
	// that they need no replay: DefaultStickyCacheSize when zero. The cache is shared
	// by every worker in the process, so New applies it process-wide, and it only
	// takes effect before the first worker starts.
	StickyCacheSize int
	// StopTimeout is how long Stop waits for running activities: DefaultStopTimeout
	// when zero.
	StopTimeout time.Duration
	// DeploymentName and BuildID turn on Worker Versioning: the worker polls as that
	// version of that Worker Deployment, and its workflows take the behaviour
	// defaultVersioningBehavior documents. Both or neither (Validate). Empty: unversioned.
	DeploymentName string
	BuildID        string
	// Interceptors run around every workflow and activity, after the one behind
	// reelflow's own metrics (MetricsInterceptor), which New always installs.
	Interceptors []interceptor.WorkerInterceptor
}

// WithDefaults fills zero fields with the defaults.
func (o Options) WithDefaults() Options {
	if o.MaxConcurrentActivities <= 0 {
		o.MaxConcurrentActivities = DefaultMaxConcurrentActivities
	}
	if o.MaxConcurrentWorkflowTasks <= 0 {
		o.MaxConcurrentWorkflowTasks = DefaultMaxConcurrentWorkflowTasks
	}
	if o.StickyCacheSize <= 0 {
		o.StickyCacheSize = DefaultStickyCacheSize
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
		DeploymentOptions:                      o.deploymentOptions(),
		Interceptors:                           append([]interceptor.WorkerInterceptor{MetricsInterceptor()}, o.Interceptors...),
	}
}

// New returns a worker for reelflow's task queue with everything registered through
// Register. The caller starts it (Run or Start) and stops it. The logger and metrics
// come from c, which cmd/ builds. opts should pass Validate; an incomplete versioning
// setting is ignored here.
func New(c client.Client, a *activities.Activities, opts Options) sdkworker.Worker {
	if opts = opts.WithDefaults(); opts.StickyCacheSize > 0 {
		sdkworker.SetStickyWorkflowCacheSize(opts.StickyCacheSize)
	}
	w := sdkworker.New(c, workflows.TaskQueue, opts.sdkOptions())
	Register(w, a)
	return w
}
