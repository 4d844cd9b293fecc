package devstack

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/reelflow/reelflow/workflows"
)

// notification is one delivery to the user's endpoint, verified the Standard Webhooks
// way by this test's own code, not by reelflow's signer.
type notification struct {
	id      string
	payload workflows.NotifyPayload
}

// standardWebhooksServer verifies each POST against key and records it.
func standardWebhooksServer(t *testing.T, key []byte) (*httptest.Server, func() []notification) {
	var (
		mu   sync.Mutex
		seen []notification
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "read", http.StatusBadRequest)
			return
		}
		id, ts := r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp")
		if _, err := strconv.ParseInt(ts, 10, 64); err != nil || id == "" {
			http.Error(w, "missing headers", http.StatusBadRequest)
			return
		}
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(id + "." + ts + "."))
		mac.Write(body)
		want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
		if r.Header.Get("webhook-signature") != want {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var p workflows.NotifyPayload
		if err := json.Unmarshal(body, &p); err != nil {
			http.Error(w, "bad json", http.StatusBadRequest)
			return
		}
		mu.Lock()
		seen = append(seen, notification{id: id, payload: p})
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []notification {
		mu.Lock()
		defer mu.Unlock()
		return append([]notification(nil), seen...)
	}
}

// TestPipelineRenderTranslateDeliverNotify runs issue 3's whole pipeline: a render, three
// translations in parallel, every output delivered to a file:// bucket, and a signed
// notification.
func TestPipelineRenderTranslateDeliverNotify(t *testing.T) {
	key := []byte("a test signing key of 32 bytes!!")
	t.Setenv("REELFLOW_E2E_NOTIFY_SECRET", "whsec_"+base64.StdEncoding.EncodeToString(key))
	hook, notifications := standardWebhooksServer(t, key)
	st := startStack(t, Config{})
	out := t.TempDir()

	in := welcome("e2e-multi")
	in.Translate = &workflows.Translate{Languages: []string{"Spanish (Spain)", "French", "German"}, Captions: true}
	in.Deliver = &workflows.Deliver{To: "file://" + out}
	in.Notify = &workflows.Notify{URL: hook.URL, SecretEnv: "REELFLOW_E2E_NOTIFY_SECRET"}
	res, err := runPipeline(t, st, in)
	require.NoError(t, err)

	steps := map[string]workflows.JobStatus{}
	for _, s := range res.Steps {
		steps[s.Step] = s
	}
	for _, step := range []string{"render", workflows.TranslateStep("Spanish (Spain)"), workflows.TranslateStep("French"), workflows.TranslateStep("German")} {
		s, ok := steps[step]
		require.True(t, ok, "no step %s in %+v", step, res.Steps)
		require.Equal(t, workflows.StateDone, s.State, step)
		require.NotEmpty(t, s.Delivered, "%s delivered nothing", step)
		for _, d := range s.Delivered {
			got, err := os.ReadFile(filepath.Join(out, filepath.FromSlash(d.Key)))
			require.NoError(t, err, d.Key)
			sum := sha256.Sum256(got)
			require.Equal(t, hex.EncodeToString(sum[:]), d.SHA256, d.Key)
			require.EqualValues(t, len(got), d.Size, d.Key)
		}
		// One HeyGen job per step: no render or translation paid for twice.
		require.Equal(t, 1, st.Sandbox.Stats().CreatesByCallbackID[workflows.JobWorkflowID(in.ID, step)], step)
	}
	// The video the sandbox served is byte for byte the one delivered.
	renderVideo := steps["render"].Delivered[0]
	served, ok := st.Sandbox.ArtifactBytes(steps["render"].VideoURL)
	require.True(t, ok)
	got, err := os.ReadFile(filepath.Join(out, filepath.FromSlash(renderVideo.Key)))
	require.NoError(t, err)
	require.Equal(t, sha256.Sum256(served), sha256.Sum256(got))

	require.Eventually(t, func() bool { return len(notifications()) >= 1 }, 30*time.Second, 20*time.Millisecond)
	n := notifications()[0]
	require.Equal(t, workflows.NotifyTypeCompleted, n.payload.Type)
	require.Equal(t, in.ID, n.payload.Data.ID)
}
