package main

import (
	"encoding/json"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The compose services of issue 19: the codec server for the UI, and the tracing and
// monitoring profiles. Like deploy_test.go, these stand in for `docker compose config`.

// hostPort is the host port a service publishes for container port ctr.
func hostPort(t *testing.T, s composeService, ctr string) string {
	t.Helper()
	for _, p := range s.Ports {
		if host, c := splitPort(t, p); c == ctr {
			assert.True(t, strings.HasPrefix(p, "127.0.0.1:"), "%s is published on the host only", p)
			return host
		}
	}
	t.Fatalf("no published port for container port %s in %v", ctr, s.Ports)
	return ""
}

// mount returns the host source that a service mounts at target, "" if none.
func mount(s composeService, target string) string {
	for _, v := range s.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 && parts[1] == target {
			return parts[0]
		}
	}
	return ""
}

// TestComposeEncryption: the worker, the receiver and the codec server share one key list
// from .env, which must be set; the UI decodes through the codec server's host address,
// and the codec server answers the UI's origins and namespace only.
func TestComposeEncryption(t *testing.T) {
	f, _ := loadCompose(t)
	keys := f.Services["worker"].Environment[payloadKeysEnv]
	assert.Regexp(t, `^\$\{`+payloadKeysEnv+`:\?[^}]+\}$`, keys, "the keys are required, with no default")
	for _, name := range []string{"receiver", "codec-server"} {
		assert.Equal(t, keys, f.Services[name].Environment[payloadKeysEnv], "%s has the worker's keys", name)
	}

	ui, codec := f.Services["temporal-ui"], f.Services["codec-server"]
	codecPort := hostPort(t, codec, "8234")
	assert.Equal(t, "http://127.0.0.1:"+codecPort, ui.Environment["TEMPORAL_CODEC_ENDPOINT"],
		"the browser reaches the codec server at its host address")
	uiPort := hostPort(t, ui, "8080")
	origins := strings.Split(codec.Environment["REELFLOW_CODEC_ORIGINS"], ",")
	assert.ElementsMatch(t, []string{"http://127.0.0.1:" + uiPort, "http://localhost:" + uiPort}, origins,
		"CORS for the UI's origins, and only those")
	assert.Equal(t, ui.Environment["TEMPORAL_DEFAULT_NAMESPACE"], codec.Environment["REELFLOW_CODEC_NAMESPACES"])
	assert.Empty(t, codec.Environment["REELFLOW_CODEC_TOKEN"], "the UI has no SSO token to pass; host-only instead")
}

// TestComposeTracing: --profile tracing runs Jaeger, and the worker and receiver export to
// its OTLP/HTTP port once .env says otlp; with no .env setting they export nothing.
func TestComposeTracing(t *testing.T) {
	f, _ := loadCompose(t)
	jaeger := f.Services["jaeger"]
	assert.Equal(t, []string{"tracing"}, jaeger.Profiles)
	assert.True(t, strings.HasPrefix(jaeger.Image, "jaegertracing/all-in-one:"), jaeger.Image)
	hostPort(t, jaeger, "16686")
	for _, name := range []string{"worker", "receiver"} {
		env := f.Services[name].Environment
		assert.Equal(t, "${OTEL_TRACES_EXPORTER:-none}", env["OTEL_TRACES_EXPORTER"], "%s: off unless .env turns it on", name)
		def, ok := strings.CutPrefix(env["OTEL_EXPORTER_OTLP_ENDPOINT"], "${OTEL_EXPORTER_OTLP_ENDPOINT:-")
		require.True(t, ok, "%s: OTEL_EXPORTER_OTLP_ENDPOINT from .env", name)
		u, err := url.Parse(strings.TrimSuffix(def, "}"))
		require.NoError(t, err)
		assert.Equal(t, "jaeger:4318", u.Host, "%s exports to Jaeger's OTLP/HTTP port", name)
		assert.NotContains(t, f.Services[name].DependsOn, "jaeger", "tracing stays optional")
	}
}

// TestComposeMonitoring: --profile monitoring runs Prometheus, which scrapes the receiver
// and every worker where they serve /metrics, and Grafana, provisioned with a data
// source that is that Prometheus and with the dashboard where its provider looks.
func TestComposeMonitoring(t *testing.T) {
	f, _ := loadCompose(t)
	prom, graf := f.Services["prometheus"], f.Services["grafana"]
	assert.Equal(t, []string{"monitoring"}, prom.Profiles)
	assert.Equal(t, []string{"monitoring"}, graf.Profiles)
	hostPort(t, prom, "9090")
	hostPort(t, graf, "3000")

	// Prometheus' targets are the services' metrics ports inside the network.
	require.Equal(t, "./deploy/prometheus/prometheus.yml", mount(prom, "/etc/prometheus/prometheus.yml"))
	var pc struct {
		Global        map[string]any `yaml:"global"`
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			MetricsPath   string `yaml:"metrics_path"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
			DNSSDConfigs []struct {
				Names []string `yaml:"names"`
				Type  string   `yaml:"type"`
				Port  int      `yaml:"port"`
			} `yaml:"dns_sd_configs"`
		} `yaml:"scrape_configs"`
	}
	require.NoError(t, yaml.UnmarshalWithOptions([]byte(repoFile(t, "deploy/prometheus/prometheus.yml")), &pc, yaml.Strict()))
	var targets []string
	for _, sc := range pc.ScrapeConfigs {
		assert.Contains(t, []string{"", "/metrics"}, sc.MetricsPath, sc.JobName)
		for _, st := range sc.StaticConfigs {
			targets = append(targets, st.Targets...)
		}
		for _, d := range sc.DNSSDConfigs {
			for _, n := range d.Names {
				targets = append(targets, n+":"+strconv.Itoa(d.Port))
			}
		}
	}
	_, receiverPort, _ := strings.Cut(f.Services["receiver"].Environment["REELFLOW_RECEIVER_ADDR"], ":")
	_, workerPort, _ := strings.Cut(f.Services["worker"].Environment["REELFLOW_METRICS_ADDR"], ":")
	assert.ElementsMatch(t, []string{"receiver:" + receiverPort, "worker:" + workerPort}, targets)

	// Grafana: provisioning mounted where Grafana reads it, the dashboard where the
	// provider points, and the data source the dashboard's panels name.
	require.Equal(t, "./deploy/grafana/provisioning", mount(graf, "/etc/grafana/provisioning"))
	var providers struct {
		Providers []struct {
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(repoFile(t, "deploy/grafana/provisioning/dashboards/reelflow.yml")), &providers))
	require.Len(t, providers.Providers, 1)
	dir := providers.Providers[0].Options.Path
	assert.Equal(t, "./deploy/grafana/reelflow.json", mount(graf, path.Join(dir, "reelflow.json")), "the dashboard is in the provider's path")

	var ds struct {
		Datasources []struct {
			UID  string `yaml:"uid"`
			Type string `yaml:"type"`
			URL  string `yaml:"url"`
		} `yaml:"datasources"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(repoFile(t, "deploy/grafana/provisioning/datasources/prometheus.yml")), &ds))
	require.Len(t, ds.Datasources, 1)
	assert.Equal(t, "prometheus", ds.Datasources[0].Type)
	assert.Equal(t, "http://prometheus:9090", ds.Datasources[0].URL, "Prometheus' container port, by its service name")
	uids := dashboardDatasources(t, []byte(repoFile(t, "deploy/grafana/reelflow.json")))
	require.NotEmpty(t, uids)
	for _, uid := range uids {
		assert.Equal(t, ds.Datasources[0].UID, uid, "the dashboard queries the provisioned data source")
	}
	assert.Regexp(t, `^\$\{GRAFANA_ADMIN_PASSWORD:\?`, graf.Environment["GF_SECURITY_ADMIN_PASSWORD"])

	// Every profile is one of the three the README documents.
	var profiles []string
	for _, s := range f.Services {
		profiles = append(profiles, s.Profiles...)
	}
	slices.Sort(profiles)
	assert.Equal(t, []string{"monitoring", "sandbox", "tracing"}, slices.Compact(profiles))
}

// dashboardDatasources lists the data source UIDs a Grafana dashboard's panels and
// targets name.
func dashboardDatasources(t *testing.T, b []byte) []string {
	t.Helper()
	var d struct {
		Panels []struct {
			Datasource *struct {
				UID string `json:"uid"`
			} `json:"datasource"`
			Targets []struct {
				Datasource *struct {
					UID string `json:"uid"`
				} `json:"datasource"`
			} `json:"targets"`
		} `json:"panels"`
	}
	require.NoError(t, json.Unmarshal(b, &d))
	var out []string
	for _, p := range d.Panels {
		if p.Datasource != nil {
			out = append(out, p.Datasource.UID)
		}
		for _, tg := range p.Targets {
			if tg.Datasource != nil {
				out = append(out, tg.Datasource.UID)
			}
		}
	}
	return out
}
