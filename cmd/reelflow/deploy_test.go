package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/reelflow/reelflow/workflows"
)

// The checks below stand in for `docker compose config` and `docker build`, which need
// a Docker engine this project's machines do not have.

// envconfigVars are the TEMPORAL_* variables that go.temporal.io/sdk/contrib/envconfig
// reads for the binary's client (clientOptions), besides the ones bound to flags.
var envconfigVars = []string{
	"TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_PROFILE", "TEMPORAL_CONFIG_FILE",
	"TEMPORAL_API_KEY", "TEMPORAL_TLS", "TEMPORAL_TLS_CLIENT_CERT_PATH", "TEMPORAL_TLS_CLIENT_CERT_DATA",
	"TEMPORAL_TLS_CLIENT_KEY_PATH", "TEMPORAL_TLS_CLIENT_KEY_DATA", "TEMPORAL_TLS_SERVER_CA_CERT_PATH",
	"TEMPORAL_TLS_SERVER_CA_CERT_DATA", "TEMPORAL_TLS_SERVER_NAME", "TEMPORAL_TLS_DISABLE_HOST_VERIFICATION",
	"TEMPORAL_CODEC_ENDPOINT", "TEMPORAL_CODEC_AUTH", "TEMPORAL_CLIENT_AUTHORITY",
}

// nonFlagEnv are the variables a command reads that no flag binds: the payload keys (no
// flag, so that keys never show in --help or ps) and OpenTelemetry's (tracer).
var nonFlagEnv = map[string][]string{
	"worker":       {payloadKeysEnv, "OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL"},
	"receiver":     {payloadKeysEnv, "OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL"},
	"codec-server": {payloadKeysEnv},
}

// composeFile is the part of the Compose specification that docker-compose.yml uses;
// it is parsed strictly, so that a misspelt key fails the tests.
type composeFile struct {
	Name      string                    `yaml:"name"`
	Extension map[string]any            `yaml:"x-reelflow"`
	Services  map[string]composeService `yaml:"services"`
	Volumes   map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image       string            `yaml:"image"`
	Build       *composeBuild     `yaml:"build"`
	Command     []string          `yaml:"command"`
	Entrypoint  []string          `yaml:"entrypoint"`
	Environment map[string]string `yaml:"environment"`
	Ports       []string          `yaml:"ports"`
	Volumes     []string          `yaml:"volumes"`
	Profiles    []string          `yaml:"profiles"`
	Restart     string            `yaml:"restart"`
	DependsOn   map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
	Healthcheck *struct {
		Test        []string `yaml:"test"`
		Interval    string   `yaml:"interval"`
		Timeout     string   `yaml:"timeout"`
		Retries     int      `yaml:"retries"`
		StartPeriod string   `yaml:"start_period"`
	} `yaml:"healthcheck"`
	StopGracePeriod string `yaml:"stop_grace_period"`
}

type composeBuild struct {
	Context    string            `yaml:"context"`
	Dockerfile string            `yaml:"dockerfile"`
	Args       map[string]string `yaml:"args"`
}

// oneShot reports whether the service runs once and exits, like a setup job.
func (s composeService) oneShot() bool { return s.Restart == "no" }

func repoFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", name))
	require.NoError(t, err)
	return string(b)
}

func loadCompose(t *testing.T) (composeFile, string) {
	t.Helper()
	src := repoFile(t, "docker-compose.yml")
	var f composeFile
	require.NoError(t, yaml.UnmarshalWithOptions([]byte(src), &f, yaml.Strict()), "docker-compose.yml")
	require.NotEmpty(t, f.Services)
	return f, src
}

// commandEnv lists the environment variables each subcommand of the binary reads: the
// "[$VAR]" that envFlags appends to the usage of every flag it binds, on the command's
// own and inherited flags. Subcommands are keyed by their path, e.g. "webhook send".
func commandEnv(t *testing.T) map[string]map[string]*pflag.Flag {
	t.Helper()
	a := &app{out: &strings.Builder{}, errOut: &strings.Builder{}, env: newEnvFlags()}
	root := a.rootCommand()
	usageVar := regexp.MustCompile(`\[\$([A-Z0-9_]+)\]$`)
	out := map[string]map[string]*pflag.Flag{}
	var walk func(cmd *cobra.Command)
	walk = func(cmd *cobra.Command) {
		vars := map[string]*pflag.Flag{}
		visit := func(f *pflag.Flag) {
			if m := usageVar.FindStringSubmatch(f.Usage); m != nil {
				vars[m[1]] = f
			}
		}
		cmd.Flags().VisitAll(visit)
		cmd.InheritedFlags().VisitAll(visit)
		root.PersistentFlags().VisitAll(visit)
		out[strings.TrimPrefix(cmd.CommandPath(), root.Name()+" ")] = vars
		for _, sub := range cmd.Commands() {
			walk(sub)
		}
	}
	for _, cmd := range root.Commands() {
		walk(cmd)
	}
	// Every variable a flag reads is listed by some command.
	for _, v := range a.env.Vars() {
		found := false
		for _, vars := range out {
			if vars[v] != nil {
				found = true
			}
		}
		require.True(t, found, "$%s belongs to no command", v)
	}
	return out
}

// reelflowServices are the compose services that run the reelflow image.
func reelflowServices(f composeFile) map[string]composeService {
	out := map[string]composeService{}
	for name, s := range f.Services {
		if s.Build != nil {
			out[name] = s
		}
	}
	return out
}

var imageTag = regexp.MustCompile(`^[a-z0-9./_-]+(:[A-Za-z0-9._-]+)?(@sha256:[0-9a-f]{64})?$`)

// pinned reports whether an image reference names a fixed tag or a digest.
func pinned(ref string) bool {
	if !imageTag.MatchString(ref) {
		return false
	}
	if strings.Contains(ref, "@sha256:") {
		return true
	}
	i := strings.LastIndex(ref, ":")
	if i < 0 || strings.Contains(ref[i:], "/") {
		return false
	}
	tag := ref[i+1:]
	return tag != "latest" && tag != "" && strings.ContainsAny(tag, "0123456789") || tag == "nonroot"
}

func TestPinned(t *testing.T) {
	for ref, want := range map[string]bool{
		"postgres:16.9-bookworm": true, "temporalio/server:1.32.1": true, "postgres": false,
		"postgres:latest": false, "temporalio/ui:${TAG}": false, "gcr.io/distroless/static-debian12:nonroot": true,
		"localhost:5000/img": false, "img@sha256:" + strings.Repeat("a", 64): true,
	} {
		assert.Equal(t, want, pinned(ref), ref)
	}
}

// moduleVersion reads a required module's version from go.mod.
func moduleVersion(t *testing.T, module string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(module) + `\s+v(\S+)`).FindStringSubmatch(repoFile(t, "go.mod"))
	require.NotNil(t, m, module)
	return m[1]
}

func TestComposeImagesPinned(t *testing.T) {
	f, _ := loadCompose(t)
	for name, s := range f.Services {
		if s.Build != nil {
			assert.Equal(t, ".", s.Build.Context, "%s builds the Dockerfile at the top", name)
			continue
		}
		assert.True(t, pinned(s.Image), "%s: image %q is not pinned to a tag or digest", name, s.Image)
	}
	// The server and UI images are the versions the Go module pins for the dev stack:
	// one Temporal version everywhere, upgraded together.
	server := "temporalio/server:" + moduleVersion(t, "go.temporal.io/server")
	assert.Equal(t, server, f.Services["temporal"].Image)
	assert.Equal(t, "temporalio/admin-tools:"+moduleVersion(t, "go.temporal.io/server"), f.Services["temporal-schema"].Image)
	assert.Equal(t, f.Services["temporal-schema"].Image, f.Services["temporal-setup"].Image)
	assert.Equal(t, "temporalio/ui:"+moduleVersion(t, "github.com/temporalio/ui-server/v2"), f.Services["temporal-ui"].Image)

	// One image for every reelflow command.
	images := map[string]bool{}
	for _, s := range reelflowServices(f) {
		images[s.Image] = true
	}
	assert.Len(t, images, 1, "the reelflow services share one image")
}

func TestComposeReelflowServices(t *testing.T) {
	f, _ := loadCompose(t)
	vars := commandEnv(t)
	services := reelflowServices(f)
	require.ElementsMatch(t, []string{"worker", "receiver", "sandbox", "codec-server"}, slices.Collect(mapKeys(services)))
	for name, s := range services {
		require.NotEmpty(t, s.Command, name)
		cmdVars, ok := vars[s.Command[0]]
		require.True(t, ok, "%s runs %q, which is no reelflow command", name, s.Command[0])
		for k := range s.Environment {
			ok := cmdVars[k] != nil || (strings.HasPrefix(k, "TEMPORAL_") && slices.Contains(envconfigVars, k)) ||
				slices.Contains(nonFlagEnv[s.Command[0]], k)
			assert.True(t, ok, "%s: `reelflow %s` does not read $%s", name, s.Command[0], k)
		}
		if s.Command[0] != "sandbox" && s.Command[0] != "codec-server" {
			assert.Equal(t, "temporal:7233", s.Environment["TEMPORAL_ADDRESS"], name)
		}
	}
	assert.Equal(t, []string{"sandbox"}, services["sandbox"].Profiles, "the sandbox is optional")
	assert.Empty(t, services["worker"].Profiles)
	assert.Empty(t, services["receiver"].Profiles)
	assert.Empty(t, services["codec-server"].Profiles, "the UI needs the codec server to show payloads")

	// The worker's stop grace period outlasts its stop timeout, so that docker's
	// SIGKILL does not cut running activities short.
	w := services["worker"]
	stopTimeout, err := time.ParseDuration(w.Environment["REELFLOW_STOP_TIMEOUT"])
	require.NoError(t, err)
	grace, err := time.ParseDuration(w.StopGracePeriod)
	require.NoError(t, err)
	assert.Greater(t, grace, stopTimeout)
}

// TestComposePorts checks that the published ports are the binary's defaults: what the
// README says, and what `reelflow start` and a browser expect.
func TestComposePorts(t *testing.T) {
	f, _ := loadCompose(t)
	vars := commandEnv(t)
	defaultPort := func(command, env string) string {
		fl := vars[command][env]
		require.NotNil(t, fl, "%s %s", command, env)
		_, port, ok := strings.Cut(fl.DefValue, ":")
		require.True(t, ok, fl.DefValue)
		return port
	}
	for _, tc := range []struct {
		service, command, env, hostPort string
	}{
		{"receiver", "receiver", "REELFLOW_RECEIVER_ADDR", "8080"},
		{"sandbox", "sandbox", "REELFLOW_SANDBOX_ADDR", "8090"},
		{"worker", "worker", "REELFLOW_METRICS_ADDR", "9090"},
		{"codec-server", "codec-server", "REELFLOW_CODEC_ADDR", "8234"},
	} {
		s := f.Services[tc.service]
		port := defaultPort(tc.command, tc.env)
		assert.Equal(t, tc.hostPort, port, "default of $%s", tc.env)
		// Inside the container it listens on every interface, on the default port.
		assert.Equal(t, "0.0.0.0:"+port, s.Environment[tc.env], tc.service)
		require.Len(t, s.Ports, 1, tc.service)
		host, container := splitPort(t, s.Ports[0])
		assert.Equal(t, port, container, tc.service)
		assert.True(t, strings.HasPrefix(host, port), "%s: host port %s", tc.service, host)
		// Its healthcheck asks that port.
		require.NotNil(t, s.Healthcheck, tc.service)
		assert.Equal(t, []string{"CMD", "/reelflow", "health"}, s.Healthcheck.Test[:3], tc.service)
		assert.Contains(t, s.Healthcheck.Test[3], "http://127.0.0.1:"+port+"/", tc.service)
	}
	ui := f.Services["temporal-ui"]
	require.Len(t, ui.Ports, 1)
	host, container := splitPort(t, ui.Ports[0])
	assert.Equal(t, "8233", host, "the UI where `reelflow dev` has it")
	assert.Equal(t, "8080", container, "temporalio/ui listens on 8080")
	host, container = splitPort(t, f.Services["temporal"].Ports[0])
	assert.Equal(t, "7233", host)
	assert.Equal(t, "7233", container)
	assert.Contains(t, f.Services["temporal"].Ports[0], "127.0.0.1:", "the frontend is not published beyond the host")
	assert.Contains(t, ui.Ports[0], "127.0.0.1:", "the UI has no login: host only")
}

// splitPort splits "[ip:]host:container" into host and container ports.
func splitPort(t *testing.T, spec string) (host, container string) {
	t.Helper()
	parts := strings.Split(spec, ":")
	require.GreaterOrEqual(t, len(parts), 2, spec)
	return parts[len(parts)-2], parts[len(parts)-1]
}

func TestComposeHealthAndOrder(t *testing.T) {
	f, _ := loadCompose(t)
	for name, s := range f.Services {
		if !s.oneShot() {
			require.NotNil(t, s.Healthcheck, "%s runs for long and needs a healthcheck", name)
			assert.NotEmpty(t, s.Healthcheck.Test, name)
			for _, d := range []string{s.Healthcheck.Interval, s.Healthcheck.Timeout} {
				_, err := time.ParseDuration(d)
				assert.NoError(t, err, "%s healthcheck", name)
			}
			assert.Positive(t, s.Healthcheck.Retries, name)
			assert.Equal(t, "unless-stopped", s.Restart, name)
		}
		for dep, d := range s.DependsOn {
			target, ok := f.Services[dep]
			require.True(t, ok, "%s depends on unknown %s", name, dep)
			switch d.Condition {
			case "service_healthy":
				assert.NotNil(t, target.Healthcheck, "%s waits for %s to be healthy, which has no healthcheck", name, dep)
			case "service_completed_successfully":
				assert.True(t, target.oneShot(), "%s waits for %s to complete, which does not run once", name, dep)
			default:
				t.Errorf("%s depends on %s without a condition", name, dep)
			}
			assert.Empty(t, target.Profiles, "%s depends on %s, which a profile can leave out", name, dep)
		}
	}
	// The order: database, schema, server, namespace and search attributes, then reelflow.
	assert.Contains(t, f.Services["temporal-schema"].DependsOn, "postgresql")
	assert.Contains(t, f.Services["temporal"].DependsOn, "temporal-schema")
	assert.Contains(t, f.Services["temporal-setup"].DependsOn, "temporal")
	for _, name := range []string{"worker", "receiver"} {
		assert.Equal(t, "service_completed_successfully", f.Services[name].DependsOn["temporal-setup"].Condition, name)
	}
}

func TestComposeVolumesAndSecrets(t *testing.T) {
	f, src := loadCompose(t)
	for name, s := range f.Services {
		for _, v := range s.Volumes {
			source, _, _ := strings.Cut(v, ":")
			if strings.HasPrefix(source, ".") || strings.HasPrefix(source, "/") {
				_, err := os.Stat(filepath.Join("..", "..", source))
				assert.NoError(t, err, "%s mounts %s", name, source)
				continue
			}
			assert.Contains(t, f.Volumes, source, "%s: volume %s is not a declared named volume", name, source)
		}
		for k, v := range s.Environment {
			if regexp.MustCompile(`PASSWORD|PWD|SECRET|API_KEY|TOKEN|PAYLOAD_KEYS`).MatchString(k) {
				assert.Regexp(t, `^\$\{[A-Z0-9_]+(:?[-?][^}]*)?\}$`, v, "%s: $%s must come from .env, not the file", name, k)
			}
		}
	}
	assert.Contains(t, f.Services["postgresql"].Volumes[0], "postgres-data:", "the database survives `docker compose down`")

	// .env.example documents every variable the compose file interpolates, and only those.
	example := repoFile(t, ".env.example")
	used := map[string]bool{}
	for _, m := range regexp.MustCompile(`\$\{([A-Z0-9_]+)`).FindAllStringSubmatch(src, -1) {
		used[m[1]] = true
	}
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^([A-Z0-9_]+)=`).FindAllStringSubmatch(example, -1) {
		documented[m[1]] = true
	}
	for v := range used {
		assert.True(t, documented[v], ".env.example does not document $%s", v)
	}
	for v := range documented {
		assert.True(t, used[v], ".env.example documents $%s, which docker-compose.yml does not use", v)
	}
	dockerignore := repoFile(t, ".dockerignore")
	for _, p := range []string{".env", ".git"} {
		assert.Regexp(t, `(?m)^`+regexp.QuoteMeta(p)+`$`, dockerignore, "the build context leaves out %s", p)
	}
}

// TestComposeSearchAttributes checks that the setup job registers exactly the search
// attributes the workflows upsert.
func TestComposeSearchAttributes(t *testing.T) {
	f, _ := loadCompose(t)
	setup := f.Services["temporal-setup"]
	require.Equal(t, []string{"/bin/sh", "/deploy/setup.sh"}, setup.Entrypoint)
	require.Contains(t, setup.Volumes, "./deploy/temporal:/deploy:ro")
	script := repoFile(t, "deploy/temporal/setup.sh")
	var names []string
	for _, m := range regexp.MustCompile(`temporal operator search-attribute create .*--name (\S+) --type (\S+)`).FindAllStringSubmatch(script, -1) {
		assert.Equal(t, "Keyword", m[2], m[1])
		names = append(names, m[1])
	}
	assert.ElementsMatch(t, workflows.SearchAttributes(), names)
	assert.Equal(t, "temporal:7233", setup.Environment["TEMPORAL_ADDRESS"])

	schema := f.Services["temporal-schema"]
	require.Equal(t, []string{"/bin/sh", "/deploy/schema.sh"}, schema.Entrypoint)
	assert.Contains(t, repoFile(t, "deploy/temporal/schema.sh"), "temporal-sql-tool")

	// The server gets the documented PostgreSQL settings and a dynamic config file that
	// exists in the mounted directory.
	srv := f.Services["temporal"]
	assert.Equal(t, "postgres12", srv.Environment["DB"])
	assert.Equal(t, "postgresql", srv.Environment["POSTGRES_SEEDS"])
	dyn := srv.Environment["DYNAMIC_CONFIG_FILE_PATH"]
	require.True(t, strings.HasPrefix(dyn, "/etc/temporal/config/dynamicconfig/"), dyn)
	_, err := os.Stat(filepath.Join("..", "..", "deploy", "temporal", "dynamicconfig", filepath.Base(dyn)))
	require.NoError(t, err)
	var dc map[string][]map[string]any
	require.NoError(t, yaml.Unmarshal([]byte(repoFile(t, "deploy/temporal/dynamicconfig/"+filepath.Base(dyn))), &dc))
	for k, v := range dc {
		assert.NotEmpty(t, v, k)
	}
}

// dockerfileInstructions joins continuation lines and drops comments.
func dockerfileInstructions(src string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(src, "\n") {
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if strings.HasSuffix(trimmed, "\\") {
			cur.WriteString(strings.TrimSuffix(trimmed, "\\") + " ")
			continue
		}
		cur.WriteString(trimmed)
		out = append(out, cur.String())
		cur.Reset()
	}
	return out
}

func TestDockerfile(t *testing.T) {
	ins := dockerfileInstructions(repoFile(t, "Dockerfile"))
	var froms, users, entrypoints, runs []string
	for _, in := range ins {
		word, rest, _ := strings.Cut(in, " ")
		switch strings.ToUpper(word) {
		case "FROM":
			froms = append(froms, strings.Fields(rest)[0])
		case "USER":
			users = append(users, rest)
		case "ENTRYPOINT":
			entrypoints = append(entrypoints, rest)
		case "RUN":
			runs = append(runs, rest)
		}
	}
	require.Len(t, froms, 2, "multi-stage: a builder and the runtime")
	for _, from := range froms {
		assert.True(t, pinned(from), "FROM %s is not pinned", from)
	}
	assert.True(t, strings.HasPrefix(froms[0], "golang:"+goVersion(t)), "the builder is the Go of go.mod (%s): %s", goVersion(t), froms[0])
	assert.True(t, strings.HasPrefix(froms[1], "gcr.io/distroless/static"), "the runtime is distroless static, with CA certificates: %s", froms[1])

	require.NotEmpty(t, users)
	user := users[len(users)-1]
	uid, _, _ := strings.Cut(user, ":")
	assert.NotContains(t, []string{"root", "0"}, uid, "runs as non-root")
	if n, err := strconv.Atoi(uid); err == nil {
		assert.NotZero(t, n)
	}

	require.Len(t, entrypoints, 1)
	assert.Equal(t, `["/reelflow"]`, entrypoints[0], "the entrypoint is the binary, for every command")

	build := ""
	for _, r := range runs {
		if strings.Contains(r, "go build") {
			build = r
		}
	}
	require.NotEmpty(t, build, "a RUN with go build")
	for _, want := range []string{"CGO_ENABLED=0", "-tags nodev", "-trimpath", "-X main.version=", "./cmd/reelflow", "-o /out/reelflow"} {
		assert.Contains(t, build, want)
	}
	assert.Contains(t, ins, "COPY --from=build /out/reelflow /reelflow")
}

// goVersion is the Go release go.mod names.
func goVersion(t *testing.T) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^go (\S+)`).FindStringSubmatch(repoFile(t, "go.mod"))
	require.NotNil(t, m)
	return m[1]
}

// TestProductionDocs checks that docs/production.md covers what the compose stack and the
// worker need.
func TestProductionDocs(t *testing.T) {
	doc := repoFile(t, "docs/production.md")
	for _, want := range []string{
		"`REELFLOW_METRICS_ADDR`", "`REELFLOW_DEPLOYMENT_NAME`", "`REELFLOW_BUILD_ID`",
		"`reelflow_jobs_total`", "`reelflow_polls_total`", "`reelflow_job_wait_seconds`",
		"cp .env.example .env", "docker compose --profile sandbox up", "GetVersion",
	} {
		assert.Contains(t, doc, want)
	}
}

func mapKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// blockingHeyGen serves the sandbox, but holds every create until release is closed,
// so that a test can stop a worker while an activity runs.
type blockingHeyGen struct {
	next    http.Handler
	arrived chan struct{} // closed when the first create is held
	release chan struct{}
	once    sync.Once

	mu        sync.Mutex
	abandoned int // creates whose caller gave up while held
	answered  int
}

func newBlockingHeyGen(next http.Handler) *blockingHeyGen {
	return &blockingHeyGen{next: next, arrived: make(chan struct{}), release: make(chan struct{})}
}

func (b *blockingHeyGen) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost && r.URL.Path == "/v3/videos" {
		b.once.Do(func() { close(b.arrived) })
		select {
		case <-b.release:
		case <-r.Context().Done():
			b.mu.Lock()
			b.abandoned++
			b.mu.Unlock()
			return
		}
		b.mu.Lock()
		b.answered++
		b.mu.Unlock()
	}
	b.next.ServeHTTP(w, r)
}

func (b *blockingHeyGen) counts() (answered, abandoned int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.answered, b.abandoned
}

// TestWorkerGracefulShutdown sends SIGTERM to a worker while its create activity waits
// on HeyGen: the worker stops polling, lets the activity finish, and exits 0. A second
// worker, whose activity never finishes, exits 0 once --stop-timeout has passed.
func TestWorkerGracefulShutdown(t *testing.T) {
	bin := reelflowBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tmp := startTestTemporal(t, "default")
	sb, _ := startTestSandbox(t, 100*time.Millisecond)
	c := dialTest(t, tmp)

	start := func(t *testing.T, id string, stopTimeout string) (*proc, *blockingHeyGen) {
		hg := newBlockingHeyGen(sb.Handler())
		srv := httptest.NewServer(hg)
		t.Cleanup(srv.Close)
		w := startProc(t, "worker", bin, map[string]string{
			"TEMPORAL_ADDRESS": tmp.Address(), "HEYGEN_API_KEY": "any", "HEYGEN_BASE_URL": srv.URL,
			"REELFLOW_STOP_TIMEOUT": stopTimeout, "REELFLOW_METRICS_ADDR": "",
		}, "worker")
		_, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: workflows.TaskQueue}, workflows.Pipeline,
			workflows.PipelineInput{ID: id, Video: map[string]any{"type": "avatar", "avatar_id": "a", "voice_id": "v", "script": "hi"}})
		require.NoError(t, err)
		select {
		case <-hg.arrived:
		case <-ctx.Done():
			t.Fatal("the create never reached HeyGen")
		}
		return w, hg
	}

	t.Run("running activity finishes", func(t *testing.T) {
		w, hg := start(t, "shutdown-1", "30s")
		require.NoError(t, w.cmd.Process.Signal(syscall.SIGTERM))
		eventually(t, 10*time.Second, "the worker to begin stopping", func() bool {
			return strings.Contains(w.out.String(), "stopping")
		})
		require.True(t, w.running(), "the worker waits for its running activity")
		close(hg.release)
		require.Zero(t, w.exitCode(t, 20*time.Second), w.out.String())
		answered, abandoned := hg.counts()
		assert.Equal(t, 1, answered)
		assert.Zero(t, abandoned, "the create was not cut off")
		// The activity's completion reached Temporal: the Job has its HeyGen job ID.
		eventually(t, 10*time.Second, "CreateJob completed in the Job's history", func() bool {
			return historyHas(ctx, c, workflows.JobWorkflowID("shutdown-1", workflows.StepRender), enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED)
		})
	})

	t.Run("stop timeout bounds the wait", func(t *testing.T) {
		w, hg := start(t, "shutdown-2", "1s")
		defer close(hg.release)
		begin := time.Now()
		require.Zero(t, w.stop(t, 15*time.Second), w.out.String())
		assert.GreaterOrEqual(t, time.Since(begin), time.Second, "it waited for the stop timeout")
	})
}

// historyHas reports whether a workflow's history has an event of type et.
func historyHas(ctx context.Context, c client.Client, id string, et enumspb.EventType) bool {
	it := c.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return false
		}
		if ev.GetEventType() == et {
			return true
		}
	}
	return false
}

// pollers lists the identities polling reelflow's task queue for workflow tasks.
func pollers(ctx context.Context, c client.Client, namespace string) []string {
	resp, err := c.WorkflowService().DescribeTaskQueue(ctx, &workflowservice.DescribeTaskQueueRequest{
		Namespace: namespace,
		TaskQueue: &taskqueue.TaskQueue{Name: workflows.TaskQueue},
	})
	if err != nil {
		return nil
	}
	var ids []string
	for _, p := range resp.GetPollers() {
		ids = append(ids, p.GetIdentity())
	}
	return ids
}

// TestWorkerTemporalEnvConventions runs `reelflow worker` configured only the way
// Temporal's own tools are, as for Temporal Cloud or any cluster: the address,
// namespace and API key from TEMPORAL_* variables, or from a temporal.toml profile. The
// in-process server ignores the API key; TLS is turned off because it has none.
func TestWorkerTemporalEnvConventions(t *testing.T) {
	bin := reelflowBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tmp := startTestTemporal(t, "reelflow-prod")
	c := dialTest(t, tmp)
	dir := t.TempDir()
	toml := filepath.Join(dir, "temporal.toml")
	require.NoError(t, os.WriteFile(toml, []byte(fmt.Sprintf(`[profile.prod]
address = %q
namespace = %q
api_key = "test-api-key"

[profile.prod.tls]
disabled = true
`, tmp.Address(), tmp.Namespace())), 0o600))

	tests := []struct {
		name string
		env  map[string]string
	}{
		{"environment", map[string]string{
			"TEMPORAL_ADDRESS": tmp.Address(), "TEMPORAL_NAMESPACE": tmp.Namespace(),
			"TEMPORAL_API_KEY": "test-api-key", "TEMPORAL_TLS": "false",
		}},
		{"temporal.toml profile", map[string]string{"TEMPORAL_CONFIG_FILE": toml, "TEMPORAL_PROFILE": "prod"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"HEYGEN_API_KEY": "any", "HEYGEN_BASE_URL": "http://127.0.0.1:1", "REELFLOW_METRICS_ADDR": ""}
			for k, v := range tc.env {
				env[k] = v
			}
			w := startProc(t, "worker", bin, env, "worker")
			identity := strconv.Itoa(w.cmd.Process.Pid) + "@"
			eventually(t, 30*time.Second, "the worker polling namespace "+tmp.Namespace(), func() bool {
				return slices.ContainsFunc(pollers(ctx, c, tmp.Namespace()), func(id string) bool { return strings.HasPrefix(id, identity) })
			})
			require.Contains(t, w.out.String(), tmp.Namespace())
			require.Zero(t, w.stop(t, 35*time.Second))
		})
	}
}

// TestWorkerVersioning runs a worker as build v1 of the Worker Deployment "reelflow",
// makes that version current (`temporal worker deployment set-current-version`), and
// checks that a pipeline runs on it with the AutoUpgrade behaviour.
func TestWorkerVersioning(t *testing.T) {
	bin := reelflowBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tmp := startTestTemporal(t, "default")
	_, sandboxURL := startTestSandbox(t, 100*time.Millisecond)
	c := dialTest(t, tmp)
	w := startProc(t, "worker", bin, map[string]string{
		"TEMPORAL_ADDRESS": tmp.Address(), "HEYGEN_API_KEY": "any", "HEYGEN_BASE_URL": sandboxURL,
		"REELFLOW_METRICS_ADDR": "", "REELFLOW_DEPLOYMENT_NAME": "reelflow", "REELFLOW_BUILD_ID": "v1",
	}, "worker")

	// The version exists once the worker has polled; until it is current, new
	// workflows would wait for an unversioned worker.
	h := c.WorkerDeploymentClient().GetHandle("reelflow")
	eventually(t, 30*time.Second, "version v1 to become current", func() bool {
		_, err := h.SetCurrentVersion(ctx, client.WorkerDeploymentSetCurrentVersionOptions{BuildID: "v1"})
		return err == nil
	})

	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "versioned-1", TaskQueue: workflows.TaskQueue}, workflows.Pipeline,
		workflows.PipelineInput{ID: "versioned-1", Video: map[string]any{"type": "avatar", "avatar_id": "a", "voice_id": "v", "script": "hi"},
			Timeouts: workflows.Timeouts{PushWindow: time.Second, PollInitial: 200 * time.Millisecond, PollMax: time.Second}})
	require.NoError(t, err)
	require.NoError(t, run.Get(ctx, nil), w.out.String())

	for _, id := range []string{"versioned-1", workflows.JobWorkflowID("versioned-1", workflows.StepRender)} {
		desc, err := c.DescribeWorkflowExecution(ctx, id, "")
		require.NoError(t, err)
		vi := desc.GetWorkflowExecutionInfo().GetVersioningInfo()
		require.NotNil(t, vi, id)
		assert.Equal(t, enumspb.VERSIONING_BEHAVIOR_AUTO_UPGRADE, vi.GetBehavior(), id)
		assert.Equal(t, "reelflow", vi.GetDeploymentVersion().GetDeploymentName(), id)
		assert.Equal(t, "v1", vi.GetDeploymentVersion().GetBuildId(), id)
	}
	require.Zero(t, w.stop(t, 35*time.Second))
}

// TestWorkerFlags covers the worker's usage errors that need no server.
func TestWorkerFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		msg  string
	}{
		{"build ID without a name", []string{"worker", "--heygen-api-key", "k", "--build-id", "v1"}, "deployment name"},
		{"name without a build ID, dev version", []string{"worker", "--heygen-api-key", "k", "--deployment-name", "reelflow"}, "build ID"},
		{"metrics port taken", []string{"worker", "--heygen-api-key", "k", "--metrics-addr", "256.0.0.1:1"}, "--metrics-addr"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runCLI(t, context.Background(), tc.args...)
			require.Equal(t, 2, exitCode(err), "%v\n%s", err, out)
			require.Contains(t, err.Error(), tc.msg)
		})
	}
}

// TestHealthCommand covers `reelflow health`, the containers' healthcheck.
func TestHealthCommand(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer ok.Close()
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) }))
	defer bad.Close()
	out, err := runCLI(t, context.Background(), "health", ok.URL)
	require.NoError(t, err, out)
	_, err = runCLI(t, context.Background(), "health", bad.URL)
	require.Equal(t, 1, exitCode(err))
	require.Contains(t, err.Error(), "503")
	_, err = runCLI(t, context.Background(), "health", "http://127.0.0.1:1/healthz")
	require.Equal(t, 1, exitCode(err))
}
