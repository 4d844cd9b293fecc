package devstack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	serverlog "go.temporal.io/server/common/log"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// TemporalConfig describes the embedded Temporal server.
type TemporalConfig struct {
	// DBPath is the SQLite file that keeps the server's state across restarts. Empty
	// means an in-memory database, for tests that need no restart.
	DBPath string
	// Host is the address every service binds; default 127.0.0.1.
	Host string
	// Port is the frontend's gRPC port; 0 picks a free one.
	Port int
	// Namespace is created at start, with reelflow's search attributes; default "default".
	Namespace string
	// SearchAttributes are registered as keywords in Namespace.
	SearchAttributes []string
	// Logger receives the server's warnings and errors; nil discards them.
	Logger *zap.Logger
	// LogFile, when set, receives them instead of Logger, appended as JSON lines. They
	// concern Temporal's internals, not the user's pipelines: "GetHistory page size is
	// larger than threshold", for one, comes each time the Web UI opens a workflow.
	LogFile string
}

// Temporal is a Temporal server running inside this process.
type Temporal struct {
	srv       temporal.Server
	addr      string
	namespace string
	logLevel  zap.AtomicLevel
	logFile   *os.File // nil unless TemporalConfig.LogFile is set
}

// transferPollRPS lifts the server's internal queue polling from its default of 20/s,
// which puts a ~47 ms floor under every signal-to-workflow hop with one shard
// (MEASUREMENTS.md: p50 9.8 ms at 1000).
const transferPollRPS = 1000

// StartTemporal starts a Temporal server with SQLite persistence and waits until its
// frontend answers. The database is created on first use and reused after that, so a
// restarted dev stack resumes every workflow that was in flight.
func StartTemporal(ctx context.Context, cfg TemporalConfig) (t *Temporal, err error) {
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	if cfg.Namespace == "" {
		cfg.Namespace = "default"
	}
	started := &Temporal{namespace: cfg.Namespace}
	t = started
	defer func() {
		if err != nil {
			// started, not t: a failed start returns a nil t.
			started.closeLog()
		}
	}()
	logger, err := t.serverLogger(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.DBPath != "" {
		if err := os.MkdirAll(filepath.Dir(cfg.DBPath), 0o755); err != nil {
			return nil, fmt.Errorf("temporal state dir: %w", err)
		}
	}
	ports, err := servicePorts(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.Port == 0 {
		cfg.Port = ports[7]
	}
	t.addr = net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))
	if err := portFree(t.addr); err != nil {
		return nil, fmt.Errorf("temporal frontend %s: %w", t.addr, err)
	}
	sqlCfg, err := prepareDB(cfg)
	if err != nil {
		return nil, err
	}
	dyn := dynamicconfig.StaticClient{
		dynamicconfig.TransferProcessorMaxPollRPS.Key():             []dynamicconfig.ConstrainedValue{{Value: transferPollRPS}},
		dynamicconfig.ForceSearchAttributesCacheRefreshOnRead.Key(): []dynamicconfig.ConstrainedValue{{Value: true}},
		// Task priority (PriorityKey) is honoured by v1.32's default matcher; fairness
		// keys and weights only with this on (matching.enableFairness, off by default).
		dynamicconfig.MatchingEnableFairness.Key(): []dynamicconfig.ConstrainedValue{{Value: true}},
	}
	t.srv, err = temporal.NewServer(
		temporal.WithConfig(serverConfig(cfg, t.addr, ports, sqlCfg)),
		temporal.ForServices(temporal.DefaultServices),
		temporal.WithLogger(serverlog.NewZapLogger(logger)),
		temporal.WithDynamicConfigClient(dyn),
	)
	if err != nil {
		return nil, fmt.Errorf("temporal server: %w", err)
	}
	if err := t.srv.Start(); err != nil {
		return nil, fmt.Errorf("start temporal server: %w", err)
	}
	if err := t.ensureSearchAttributes(ctx, cfg.SearchAttributes); err != nil {
		_ = t.srv.Stop()
		return nil, err
	}
	t.logLevel.SetLevel(zapcore.WarnLevel)
	return t, nil
}

// serverLogger returns the server's logger: cfg.LogFile's, opened here, or cfg.Logger.
// It starts silent; StartTemporal lets warnings through once the frontend answers.
func (t *Temporal) serverLogger(cfg TemporalConfig) (*zap.Logger, error) {
	logger := cfg.Logger
	if cfg.LogFile != "" {
		if err := os.MkdirAll(filepath.Dir(cfg.LogFile), 0o755); err != nil {
			return nil, fmt.Errorf("temporal log dir: %w", err)
		}
		f, err := os.OpenFile(cfg.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("temporal log: %w", err)
		}
		t.logFile = f
		enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
		logger = zap.New(zapcore.NewCore(enc, zapcore.Lock(f), zapcore.DebugLevel)).Named("temporal")
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	// The server logs at info for every shard and membership change; only its
	// warnings help a reelflow user, and none at all while it shuts down.
	// While it starts, its services also report each other as not ready yet: silent
	// until the frontend answers, since a failed start is returned as an error anyway.
	t.logLevel = zap.NewAtomicLevelAt(zapcore.FatalLevel)
	return logger.WithOptions(zap.IncreaseLevel(t.logLevel)), nil
}

// closeLog closes the log file, if there is one.
func (t *Temporal) closeLog() {
	if t.logFile != nil {
		_ = t.logFile.Close()
		t.logFile = nil
	}
}

// prepareDB returns the server's SQLite settings: cfg.DBPath, given the schema on first
// use, or a shared in-memory database; and creates cfg.Namespace in it.
func prepareDB(cfg TemporalConfig) (*config.SQL, error) {
	sqlCfg := &config.SQL{
		PluginName:   sqliteplugin.PluginName,
		DatabaseName: cfg.DBPath,
		// WAL with synchronous=normal survives a process crash and lifts the signal
		// rate about 4.7x over the default pragmas, which sync every write.
		ConnectAttributes: map[string]string{"mode": "rwc", "journal_mode": "wal", "synchronous": "normal"},
	}
	if cfg.DBPath == "" {
		sqlCfg.DatabaseName = fmt.Sprintf("reelflow-%d", cfg.Port)
		sqlCfg.ConnectAttributes = map[string]string{"mode": "memory", "cache": "shared"}
	} else {
		if _, err := os.Stat(cfg.DBPath); errors.Is(err, os.ErrNotExist) {
			if err := sqliteschema.SetupSchema(sqlCfg); err != nil {
				return nil, fmt.Errorf("create temporal schema in %s: %w", cfg.DBPath, err)
			}
		}
	}

	sas := make(map[string]enumspb.IndexedValueType, len(cfg.SearchAttributes))
	for _, name := range cfg.SearchAttributes {
		sas[name] = enumspb.INDEXED_VALUE_TYPE_KEYWORD
	}
	ns, err := sqliteschema.NewNamespaceConfig(clusterName, cfg.Namespace, false, sas)
	if err != nil {
		return nil, fmt.Errorf("namespace %s: %w", cfg.Namespace, err)
	}
	// CreateNamespaces is a no-op for a namespace that exists already; the search
	// attributes of an older database are added through the operator service later.
	if err := sqliteschema.CreateNamespaces(sqlCfg, ns); err != nil {
		return nil, fmt.Errorf("create namespace %s: %w", cfg.Namespace, err)
	}
	return sqlCfg, nil
}

// clusterName names the one cluster of the embedded server.
const clusterName = "active"

// serverConfig is the static configuration of a one-shard server whose frontend
// listens on addr and whose other services take ports (see servicePorts).
func serverConfig(cfg TemporalConfig, addr string, ports []int, sqlCfg *config.SQL) *config.Config {
	service := func(grpc, membership int) config.Service {
		return config.Service{RPC: config.RPC{GRPCPort: grpc, MembershipPort: membership, BindOnIP: cfg.Host}}
	}
	return &config.Config{
		Global: config.Global{
			Membership: config.Membership{MaxJoinDuration: 30 * time.Second, BroadcastAddress: cfg.Host},
		},
		Persistence: config.Persistence{
			DefaultStore:     sqliteplugin.PluginName,
			VisibilityStore:  sqliteplugin.PluginName,
			NumHistoryShards: 1,
			DataStores:       map[string]config.DataStore{sqliteplugin.PluginName: {SQL: sqlCfg}},
		},
		ClusterMetadata: &cluster.Config{
			FailoverVersionIncrement: 10,
			MasterClusterName:        clusterName,
			CurrentClusterName:       clusterName,
			ClusterInformation: map[string]cluster.ClusterInformation{
				clusterName: {Enabled: true, InitialFailoverVersion: 1, RPCAddress: addr},
			},
		},
		DCRedirectionPolicy: config.DCRedirectionPolicy{Policy: "noop"},
		Services: map[string]config.Service{
			"frontend": service(cfg.Port, ports[0]),
			"history":  service(ports[1], ports[2]),
			"matching": service(ports[3], ports[4]),
			"worker":   service(ports[5], ports[6]),
		},
		Archival: config.Archival{
			History:    config.HistoryArchival{State: "disabled"},
			Visibility: config.VisibilityArchival{State: "disabled"},
		},
		NamespaceDefaults: config.NamespaceDefaults{Archival: config.ArchivalNamespaceDefaults{
			History:    config.HistoryArchivalNamespaceDefaults{State: "disabled"},
			Visibility: config.VisibilityArchivalNamespaceDefaults{State: "disabled"},
		}},
		PublicClient: config.PublicClient{HostPort: addr},
	}
}

// Address is the frontend's host:port.
func (t *Temporal) Address() string { return t.addr }

// Namespace is the namespace the server was started with.
func (t *Temporal) Namespace() string { return t.namespace }

// Stop stops the server. Workflows stay in the database and resume on the next start.
// Its services report each other's departure as errors while they stop, which is noise.
func (t *Temporal) Stop() error {
	t.logLevel.SetLevel(zapcore.FatalLevel)
	defer t.closeLog()
	return t.srv.Stop()
}

// ensureSearchAttributes waits for the frontend, then adds any of names the namespace
// lacks, so that a database made by an older reelflow gains new attributes.
func (t *Temporal) ensureSearchAttributes(ctx context.Context, names []string) error {
	c, err := dialWithRetry(ctx, client.Options{HostPort: t.addr, Namespace: t.namespace, Logger: sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	if err != nil {
		return err
	}
	defer c.Close()
	if len(names) == 0 {
		return nil
	}
	op := c.OperatorService()
	list, err := op.ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: t.namespace})
	if err != nil {
		return fmt.Errorf("list search attributes: %w", err)
	}
	missing := map[string]enumspb.IndexedValueType{}
	for _, name := range names {
		if _, ok := list.GetCustomAttributes()[name]; !ok {
			missing[name] = enumspb.INDEXED_VALUE_TYPE_KEYWORD
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if _, err := op.AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace: t.namespace, SearchAttributes: missing,
	}); err != nil {
		return fmt.Errorf("add search attributes: %w", err)
	}
	return nil
}

// dialWithRetry dials until the frontend answers its health check or ctx ends; the
// server's Start returns before the frontend has joined its membership ring.
func dialWithRetry(ctx context.Context, opts client.Options) (client.Client, error) {
	deadline, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var lastErr error
	for {
		c, err := client.DialContext(deadline, opts)
		if err == nil {
			if _, err = c.CheckHealth(deadline, &client.CheckHealthRequest{}); err == nil {
				return c, nil
			}
			c.Close()
		}
		lastErr = err
		select {
		case <-deadline.Done():
			return nil, fmt.Errorf("temporal frontend %s did not answer: %w", opts.HostPort, lastErr)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// servicePorts returns eight ports: the frontend's membership port, the gRPC and
// membership ports of the history, matching and worker services, and a frontend port for
// when none is configured. With a database file they are kept beside it and reused: the
// cluster membership table remembers each service's address, and a restarted server on
// new ports waits about 50 s for the old entries to expire before workflows move again.
func servicePorts(cfg TemporalConfig) ([]int, error) {
	const n = 8
	var path string
	if cfg.DBPath != "" {
		path = cfg.DBPath + ".ports"
		if b, err := os.ReadFile(path); err == nil {
			var saved []int
			if json.Unmarshal(b, &saved) == nil && len(saved) == n && allFree(cfg.Host, saved[:7]) {
				return saved, nil
			}
		}
	}
	ports, err := freePorts(cfg.Host, n)
	if err != nil {
		return nil, err
	}
	if path != "" {
		b, _ := json.Marshal(ports)
		if err := os.WriteFile(path, b, 0o644); err != nil {
			return nil, fmt.Errorf("save temporal ports: %w", err)
		}
	}
	return ports, nil
}

// allFree reports whether every port can be bound on host now.
func allFree(host string, ports []int) bool {
	for _, p := range ports {
		if portFree(net.JoinHostPort(host, strconv.Itoa(p))) != nil {
			return false
		}
	}
	return true
}

// freePorts asks the kernel for n distinct free ports on host.
func freePorts(host string, n int) ([]int, error) {
	ports := make([]int, 0, n)
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// portFree reports an error when addr cannot be bound, so the user learns which port
// is taken before a server fails deep inside its start-up.
func portFree(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("port in use (is another reelflow dev running?): %w", err)
	}
	return l.Close()
}
