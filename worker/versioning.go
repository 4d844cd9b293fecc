package worker

import (
	"errors"

	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// defaultVersioningBehavior is the Worker Versioning behaviour New gives every
// workflow when a worker runs with a deployment name and build ID: AutoUpgrade, for all.
//
//   - Pipeline lives as long as its slowest step, and Job until HeyGen answers or its
//     deadline (24 h by default). Pinned to the build that started them, they would
//     keep every old build's workers running for a day or more after each deploy, and
//     a fix to workflows/ would never reach the workflows already running.
//   - Limiter is one workflow per namespace that lives as long as Jobs keep asking for
//     permits, continuing as new; pinned, it would hold every Job's permit queue on an
//     old build.
//   - AutoUpgrade moves a running workflow to the current version at its next workflow
//     task. The price is that every change to workflows/ must replay the histories the
//     old code wrote: guard it with workflow.GetVersion, and let the replay tests prove
//     it (see docs/production.md, "Deploying changes to workflows/ safely").
//
// Pinned suits short workflows, which reelflow does not have.
const defaultVersioningBehavior = workflow.VersioningBehaviorAutoUpgrade

// ErrVersioningIncomplete is returned by Options.Validate when only one of the
// deployment name and the build ID is set.
var ErrVersioningIncomplete = errors.New("worker versioning needs both a deployment name and a build ID")

// Validate reports options that New cannot honour.
func (o Options) Validate() error {
	if (o.DeploymentName == "") != (o.BuildID == "") {
		return ErrVersioningIncomplete
	}
	return nil
}

// deploymentOptions turns the deployment name and build ID into the SDK's Worker
// Versioning options; without them the worker is unversioned.
func (o Options) deploymentOptions() sdkworker.DeploymentOptions {
	if o.DeploymentName == "" || o.BuildID == "" {
		return sdkworker.DeploymentOptions{}
	}
	return sdkworker.DeploymentOptions{
		UseVersioning: true,
		Version: sdkworker.WorkerDeploymentVersion{
			DeploymentName: o.DeploymentName,
			BuildID:        o.BuildID,
		},
		DefaultVersioningBehavior: defaultVersioningBehavior,
	}
}
