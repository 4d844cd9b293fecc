// Package local holds the tests of deploy/local/cluster.sh, which runs
// docker-compose.yml's topology without Docker. drift_test.go runs in `go test ./...`;
// the cluster test and benchmarks need the build tag `cluster` (see cluster_test.go).
package local

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reelflow/reelflow/payload"
)

// composeServices are compose's services with the environment the script mirrors.
type composeServices struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Environment map[string]string `yaml:"environment"`
		Volumes     []string          `yaml:"volumes"`
	} `yaml:"services"`
}

// differsByDesign are the variables whose values the script sets otherwise, and why.
var differsByDesign = map[string]string{
	"DB_PORT": "host port", "POSTGRES_SEEDS": "host", "SQL_HOST": "host", "SQL_PORT": "host port",
	"TEMPORAL_ADDRESS": "host port", "BIND_ON_IP": "loopback, as compose publishes on 127.0.0.1",
	"REELFLOW_METRICS_ADDR": "one port per worker", "REELFLOW_RECEIVER_ADDR": "one port per receiver",
	"REELFLOW_SANDBOX_ADDR": "host port", "HEYGEN_BASE_URL": "the sandbox, as compose's sandbox profile",
	"DYNAMIC_CONFIG_FILE_PATH": "the same file, by its host path (checked below)",
	"REELFLOW_SANDBOX_STATE":   "a file in the state directory",
	"POSTGRES_PASSWORD":        "secret", "POSTGRES_PWD": "secret", "SQL_PASSWORD": "secret",
	"HEYGEN_API_KEY": "secret", "HEYGEN_WEBHOOK_SECRETS": "secret", "REELFLOW_PAYLOAD_KEYS": "secret (payload.keys)",
	"OTEL_EXPORTER_OTLP_ENDPOINT": "no Jaeger here: a collector on loopback, if any",
	"TEMPORAL_CODEC_ENDPOINT":     "the codec server's host port", "REELFLOW_CODEC_ADDR": "host port",
	"REELFLOW_CODEC_ORIGINS": "the UI's host port",
}

// onlyInScript are variables compose needs not set: every container has its own ports
// and the schema files at the admin-tools image's path.
var onlyInScript = regexp.MustCompile(`^((FRONTEND|HISTORY|MATCHING|WORKER|INTERNAL_FRONTEND)_(GRPC|HTTP|MEMBERSHIP)_PORT|TEMPORAL_SCHEMA_DIR)$`)

// scriptServices maps compose's services to the names `cluster.sh env` takes.
var scriptServices = map[string]string{
	"postgresql": "postgresql", "temporal-schema": "temporal-schema", "temporal": "temporal",
	"temporal-setup": "temporal-setup", "temporal-ui": "ui", "worker": "worker1",
	"receiver": "receiver1", "sandbox": "sandbox", "codec-server": "codec",
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	return root
}

// script runs cluster.sh with args, in an environment free of the settings it reads.
func script(t *testing.T, args ...string) map[string]string {
	t.Helper()
	return scriptIn(t, t.TempDir(), args...)
}

// scriptIn is script with the state directory dir.
func scriptIn(t *testing.T, dir string, args ...string) map[string]string {
	t.Helper()
	cmd := exec.Command("bash", append([]string{filepath.Join(repoRoot(t), "deploy/local/cluster.sh")}, args...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "REELFLOW_") && !strings.HasPrefix(kv, "TEMPORAL_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "REELFLOW_CLUSTER_DIR="+dir)
	out, err := cmd.Output()
	require.NoError(t, err, "cluster.sh %v", args)
	vars := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		k, v, ok := strings.Cut(line, "=")
		require.True(t, ok, "cluster.sh %v printed %q", args, line)
		vars[k] = v
	}
	return vars
}

func loadCompose(t *testing.T) composeServices {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "docker-compose.yml"))
	require.NoError(t, err)
	var c composeServices
	require.NoError(t, yaml.Unmarshal(b, &c))
	return c
}

// composeValue resolves ${VAR:-default} to its default; ok is false for ${VAR:?...},
// a value the user must set.
func composeValue(v string) (string, bool) {
	if m := regexp.MustCompile(`^\$\{\w+:-(.*)\}$`).FindStringSubmatch(v); m != nil {
		return m[1], true
	}
	return v, !strings.Contains(v, "${")
}

func TestScriptEnvironmentMatchesCompose(t *testing.T) {
	compose := loadCompose(t)
	for svc, name := range scriptServices {
		t.Run(svc, func(t *testing.T) {
			want := compose.Services[svc].Environment
			got := script(t, "env", name)
			for k, cv := range want {
				sv, ok := got[k]
				if !assert.True(t, ok, "compose sets %s for %s; cluster.sh does not", k, svc) {
					continue
				}
				if _, skip := differsByDesign[k]; skip {
					continue
				}
				if v, ok := composeValue(cv); ok {
					assert.Equal(t, v, sv, "%s of %s", k, svc)
				}
			}
			for k := range got {
				_, inCompose := want[k]
				assert.True(t, inCompose || onlyInScript.MatchString(k), "cluster.sh sets %s for %s; compose does not", k, svc)
			}
		})
	}
}

// goModVersion reads a module's version from go.mod.
func goModVersion(t *testing.T, module string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "go.mod"))
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(module) + `\s+v(\S+)`).FindSubmatch(b)
	require.NotNil(t, m, "%s in go.mod", module)
	return string(m[1])
}

func TestScriptVersionsMatchCompose(t *testing.T) {
	compose := loadCompose(t)
	v := script(t, "versions")
	image := func(svc string) string {
		_, tag, _ := strings.Cut(compose.Services[svc].Image, ":")
		return tag
	}
	assert.Equal(t, goModVersion(t, "go.temporal.io/server"), v["TEMPORAL_VERSION"], "go.mod's server and cluster.sh")
	for _, svc := range []string{"temporal", "temporal-schema", "temporal-setup"} {
		assert.Equal(t, v["TEMPORAL_VERSION"], image(svc), "image of %s", svc)
	}
	assert.Equal(t, goModVersion(t, "github.com/temporalio/ui-server/v2"), v["UI_VERSION"], "go.mod's ui-server and cluster.sh")
	assert.Equal(t, v["UI_VERSION"], image("temporal-ui"), "image of temporal-ui")
	major, _, _ := strings.Cut(image("postgresql"), ".")
	major, _, _ = strings.Cut(major, "-")
	assert.Equal(t, v["PG_MAJOR"], major, "PostgreSQL major version")
}

func TestScriptUsesComposeFiles(t *testing.T) {
	root := repoRoot(t)
	compose := loadCompose(t)
	tmp := compose.Services["temporal"]
	assert.Equal(t, "4", tmp.Environment["NUM_HISTORY_SHARDS"], "the issue's shard count")
	// The dynamic config: the file compose mounts is the file the script points at.
	var hostDir string
	for _, vol := range tmp.Volumes {
		host, ctr, _ := strings.Cut(strings.TrimSuffix(vol, ":ro"), ":")
		if strings.HasPrefix(tmp.Environment["DYNAMIC_CONFIG_FILE_PATH"], ctr+"/") {
			hostDir = filepath.Join(root, host, strings.TrimPrefix(tmp.Environment["DYNAMIC_CONFIG_FILE_PATH"], ctr+"/"))
		}
	}
	require.NotEmpty(t, hostDir, "compose mounts the dynamic config file")
	assert.Equal(t, hostDir, script(t, "env", "temporal")["DYNAMIC_CONFIG_FILE_PATH"])
	assert.FileExists(t, hostDir)
	// The one-shot jobs run the same files, unchanged.
	b, err := os.ReadFile(filepath.Join(root, "deploy/local/cluster.sh"))
	require.NoError(t, err)
	for svc, file := range map[string]string{"temporal-schema": "schema.sh", "temporal-setup": "setup.sh"} {
		assert.Contains(t, compose.Services[svc].Volumes, "./deploy/temporal:/deploy:ro")
		assert.Contains(t, string(b), `"$ROOT/deploy/temporal/`+file+`"`, "cluster.sh runs %s", file)
	}
}

// TestScriptPayloadKeys: the script makes one key on first use, private to its owner, and
// gives the same list to the workers, the receivers and the codec server, every time.
func TestScriptPayloadKeys(t *testing.T) {
	dir := t.TempDir()
	keys := scriptIn(t, dir, "env", "worker1")["REELFLOW_PAYLOAD_KEYS"]
	ks, err := payload.ParseKeys(keys)
	require.NoError(t, err)
	require.Len(t, ks, 1)
	fi, err := os.Stat(filepath.Join(dir, "payload.keys"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	for _, name := range []string{"worker2", "receiver1", "receiver2", "codec"} {
		assert.Equal(t, keys, scriptIn(t, dir, "env", name)["REELFLOW_PAYLOAD_KEYS"], name)
	}
	assert.NotEqual(t, keys, script(t, "env", "worker1")["REELFLOW_PAYLOAD_KEYS"], "another cluster, another key")
	// The UI decodes through the codec server, which answers the UI's origin.
	ports := script(t, "env", "codec")
	ui := script(t, "env", "ui")
	_, codecPort, _ := strings.Cut(ports["REELFLOW_CODEC_ADDR"], ":")
	assert.Equal(t, "http://127.0.0.1:"+codecPort, ui["TEMPORAL_CODEC_ENDPOINT"])
	assert.Contains(t, strings.Split(ports["REELFLOW_CODEC_ORIGINS"], ","), "http://127.0.0.1:27311", "the UI's origin (port base 27300)")
}
