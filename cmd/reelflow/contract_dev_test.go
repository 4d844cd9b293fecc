package main

import (
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reelflow/reelflow/heygen"
	"github.com/reelflow/reelflow/sandbox"
)

// TestDevAgainstPublishedContract is issue 10's acceptance run, as a new user makes it:
// `reelflow dev --heygen-api-key K --heygen-base-url URL --public-receiver-url W` against a
// server that gives only what HeyGen's published contract requires (the sandbox with
// minimal answers: every optional field null, or left out), signing its webhooks one way
// or the other. The examples welcome, template and translate must each finish, every
// step by webhook, with one create per callback_id and every answer held to the contract.
func TestDevAgainstPublishedContract(t *testing.T) {
	if !devstackIncluded {
		t.Skip("built with -tags nodev")
	}
	for _, tc := range []struct {
		answers sandbox.Answers
		scheme  heygen.SigningScheme
	}{
		{sandbox.AnswersNull, heygen.SchemeHex},
		{sandbox.AnswersOmit, heygen.SchemeStandard},
	} {
		t.Run(string(tc.answers)+"-"+string(tc.scheme), func(t *testing.T) {
			devAgainstPublished(t, tc.answers, tc.scheme)
		})
	}
}

// publishedServer serves a sandbox that answers as answers says and reports every
// answer that breaks the contract into violations.
type publishedServer struct {
	sb  *sandbox.Sandbox
	url string

	mu         sync.Mutex
	violations []string
}

func startPublishedServer(t *testing.T, apiKey string, answers sandbox.Answers, scheme heygen.SigningScheme) *publishedServer {
	t.Helper()
	ps := &publishedServer{}
	sb, err := sandbox.New(sandbox.Config{
		APIKey: apiKey, Answers: answers, SigningScheme: scheme, RenderTime: 300 * time.Millisecond,
		CheckContract: func(v sandbox.ContractViolation) {
			ps.mu.Lock()
			defer ps.mu.Unlock()
			ps.violations = append(ps.violations, v.String())
		},
	})
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: sb.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		_ = srv.Shutdown(context.Background())
		_ = sb.Close()
	})
	ps.sb, ps.url = sb, "http://"+ln.Addr().String()
	return ps
}

func (ps *publishedServer) Violations() []string {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return append([]string(nil), ps.violations...)
}

// startDev runs `reelflow dev` with args until its banner, which must contain want, is
// printed, and returns the function that interrupts it and waits for it to stop.
func startDev(t *testing.T, ctx context.Context, args []string, want string) (stop func()) {
	t.Helper()
	devCtx, cancel := context.WithCancel(ctx)
	var out syncBuffer
	done := make(chan error, 1)
	go func() { done <- run(devCtx, args, &out, &out) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err, out.String())
		case <-time.After(time.Minute):
			t.Error("dev did not stop after the interrupt")
		}
	}
	if !assert.Eventually(t, func() bool { return strings.Contains(out.String(), "reelflow dev is up") }, 2*time.Minute, 20*time.Millisecond, out.String()) {
		stop()
		t.FailNow()
	}
	require.Contains(t, out.String(), want)
	return stop
}

// exampleSpec copies an example into dir with its deliveries, if any, sent to out.
func exampleSpec(t *testing.T, dir, name, out string) string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("..", "..", "examples", name+".yaml"))
	require.NoError(t, err)
	p := filepath.Join(dir, name+".yaml")
	require.NoError(t, os.WriteFile(p, []byte(strings.ReplaceAll(string(src), "file://./out", "file://"+out)), 0o644))
	return p
}

func devAgainstPublished(t *testing.T, answers sandbox.Answers, scheme heygen.SigningScheme) {
	isolateKeys(t)
	const apiKey = "published-contract-key"
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	ps := startPublishedServer(t, apiKey, answers, scheme)

	tmp := t.TempDir()
	temporalPort, receiverPort := freePort(t), freePort(t)
	hook := "http://127.0.0.1:" + receiverPort + "/webhooks/heygen"
	devArgs := []string{"dev", "--dir", filepath.Join(tmp, "state"), "--temporal-port", temporalPort, "--ui-port", "-1",
		"--addr", "127.0.0.1:" + receiverPort, "--log-level", "warn",
		"--heygen-api-key", apiKey, "--heygen-base-url", ps.url, "--public-receiver-url", hook}
	stopDev := startDev(t, ctx, devArgs, "webhooks to "+hook)
	defer func() { stopDev() }()

	addr := "--address=127.0.0.1:" + temporalPort
	out := filepath.Join(tmp, "out")
	for _, ex := range []struct {
		name, id string
		steps    int
	}{
		{"welcome", "welcome-42", 1},
		{"template", "template-demo", 1},
		{"translate", "translate-demo", 3},
	} {
		got, err := runCLI(t, ctx, "start", exampleSpec(t, tmp, ex.name, out), "--wait", addr)
		require.NoError(t, err, "%s:\n%s", ex.name, got)
		require.Contains(t, got, "pipeline "+ex.id+" completed")
		got, err = runCLI(t, ctx, "status", ex.id, addr)
		require.NoError(t, err, got)
		byWebhook := regexp.MustCompile(`(?m)^\S+\s+done\s+\S+\s+webhook\s`).FindAllString(got, -1)
		assert.Len(t, byWebhook, ex.steps, "every step of %s finishes by webhook:\n%s", ex.name, got)
	}

	// Started again on the same --dir, dev reuses the endpoint it registered, and its
	// saved secret still verifies HeyGen's deliveries.
	stopDev()
	stopDev = startDev(t, ctx, devArgs, "webhooks to "+hook)
	eps, err := heygen.NewClient(ps.url, apiKey, nil).ListWebhookEndpoints(ctx)
	require.NoError(t, err)
	require.Len(t, eps, 1, "one endpoint, registered once")
	again := filepath.Join(tmp, "again.yaml")
	require.NoError(t, os.WriteFile(again, []byte("id: after-restart\nvideo: {type: avatar, avatar_id: a1, voice_id: v1, script: Again.}\n"), 0o644))
	got, err := runCLI(t, ctx, "start", again, "--wait", addr)
	require.NoError(t, err, got)
	require.Regexp(t, `(?m)^render\s+done\s+\S+\s+webhook\s`, got)

	stats := ps.sb.Stats()
	delete(stats.JobsByCallbackID, "after-restart/render")
	require.Len(t, stats.JobsByCallbackID, 5, "a render, a template and 3 translations")
	for cb, j := range stats.JobsByCallbackID {
		assert.Equal(t, 1, j.Creates, "creates for callback_id %q", cb)
		assert.Positive(t, j.WebhooksAcked, "the receiver acknowledged the delivery for %q", cb)
	}
	assert.Positive(t, ps.sb.ContractChecked(), "the answers were held to the contract")
	assert.Empty(t, ps.Violations(), "answers that break HeyGen's published contract")
	assertMinimal(t, ps, apiKey, answers)

	// welcome, the template and the translations delivered their videos; the
	// template's thumbnail, which a minimal server does not give, is left out rather
	// than failing the step.
	var files []string
	require.NoError(t, filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return err
	}))
	var videos, thumbnails int
	for _, f := range files {
		switch {
		case strings.HasSuffix(f, ".mp4"):
			videos++
		case strings.HasSuffix(f, ".jpg"):
			thumbnails++
		}
	}
	assert.Equal(t, 5, videos, "delivered: %v", files)
	assert.Zero(t, thumbnails, "delivered: %v", files)
}

// assertMinimal reads a finished video as the run's client did, and proves the answers
// were cut down to the contract: the optional duration is null or absent, and the
// payload field video_url is there.
func assertMinimal(t *testing.T, ps *publishedServer, apiKey string, answers sandbox.Answers) {
	t.Helper()
	var videoID string
	for _, j := range ps.sb.Stats().JobsByCallbackID {
		if j.Kind == sandbox.JobKindVideo && j.Status == "completed" {
			videoID = j.VideoID
		}
	}
	require.NotEmpty(t, videoID, "a completed video: %v", ps.sb.Stats().JobsByCallbackID)
	req, err := http.NewRequest(http.MethodGet, ps.url+"/v3/videos/"+videoID, nil)
	require.NoError(t, err)
	req.Header.Set("X-Api-Key", apiKey)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
	var v struct {
		Data map[string]any `json:"data"`
	}
	require.NoError(t, json.Unmarshal(b, &v), string(b))
	assert.NotEmpty(t, v.Data["video_url"], string(b))
	d, present := v.Data["duration"]
	if answers == sandbox.AnswersOmit {
		assert.False(t, present, "omit leaves duration out: %s", b)
	} else {
		assert.True(t, present && d == nil, "null gives duration as null: %s", b)
	}
}
