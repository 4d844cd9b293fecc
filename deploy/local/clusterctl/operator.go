package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/types/known/durationpb"
)

// callTimeout bounds each call: setup.sh retries a failed command itself.
const callTimeout = 10 * time.Second

// operatorFlags are the flags of the `temporal operator` commands setup.sh uses.
type operatorFlags struct {
	address, namespace, retention, name, kind string
}

// operator runs `temporal operator cluster health | namespace describe | namespace
// create | search-attribute create` with the Temporal CLI's flags and exit codes
// (non-zero on any failure), as deploy/temporal/setup.sh calls them.
func operator(ctx context.Context, args []string) error {
	if len(args) < 3 || args[0] != "operator" {
		return fmt.Errorf("only `operator cluster health|namespace describe|namespace create|search-attribute create` is implemented, got %q", strings.Join(args, " "))
	}
	cmd := args[1] + " " + args[2]
	var f operatorFlags
	fs := flag.NewFlagSet("temporal operator "+cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&f.address, "address", "127.0.0.1:7233", "frontend address")
	fs.StringVar(&f.namespace, "namespace", "default", "namespace")
	fs.StringVar(&f.retention, "retention", "72h", "workflow retention")
	fs.StringVar(&f.name, "name", "", "search attribute name")
	fs.StringVar(&f.kind, "type", "Keyword", "search attribute type")
	if err := fs.Parse(args[3:]); err != nil {
		return fmt.Errorf("temporal operator %s: %w", cmd, err)
	}
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	c, err := client.DialContext(ctx, client.Options{HostPort: f.address, Namespace: f.namespace, Logger: quietLogger{}})
	if err != nil {
		return fmt.Errorf("connect to %s: %w", f.address, err)
	}
	defer c.Close()
	switch cmd {
	case "cluster health":
		if _, err := c.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
			return fmt.Errorf("cluster health: %w", err)
		}
		fmt.Println("SERVING")
		return nil
	case "namespace describe":
		_, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: f.namespace})
		return err
	case "namespace create":
		return createNamespace(ctx, c, f)
	case "search-attribute create":
		return createSearchAttribute(ctx, c, f)
	}
	return fmt.Errorf("temporal operator %s: not implemented", cmd)
}

func createNamespace(ctx context.Context, c client.Client, f operatorFlags) error {
	ret, err := time.ParseDuration(f.retention)
	if err != nil {
		return fmt.Errorf("--retention: %w", err)
	}
	_, err = c.WorkflowService().RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
		Namespace: f.namespace, WorkflowExecutionRetentionPeriod: durationpb.New(ret),
	})
	if err != nil {
		return fmt.Errorf("create namespace %s: %w", f.namespace, err)
	}
	fmt.Printf("namespace %s created\n", f.namespace)
	return nil
}

// createSearchAttribute adds one attribute; one that exists with the same type counts
// as done, as setup.sh expects of a re-run.
func createSearchAttribute(ctx context.Context, c client.Client, f operatorFlags) error {
	v, ok := enumspb.IndexedValueType_value["INDEXED_VALUE_TYPE_"+strings.ToUpper(f.kind)]
	if !ok || f.name == "" {
		return fmt.Errorf("search-attribute create: want --name and a --type such as Keyword, got %q %q", f.name, f.kind)
	}
	_, err := c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace:        f.namespace,
		SearchAttributes: map[string]enumspb.IndexedValueType{f.name: enumspb.IndexedValueType(v)},
	})
	var exists *serviceerror.AlreadyExists
	if err != nil && !errors.As(err, &exists) {
		return fmt.Errorf("create search attribute %s: %w", f.name, err)
	}
	fmt.Printf("search attribute %s (%s) ready\n", f.name, f.kind)
	return nil
}

// quietLogger drops the SDK's logs: each failure is returned and printed once.
type quietLogger struct{}

func (quietLogger) Debug(string, ...any) {}
func (quietLogger) Info(string, ...any)  {}
func (quietLogger) Warn(string, ...any)  {}
func (quietLogger) Error(string, ...any) {}
