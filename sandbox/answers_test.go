package sandbox

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reelflow/reelflow/heygen"
)

func TestParseAnswers(t *testing.T) {
	for in, want := range map[string]Answers{"": AnswersFull, "full": AnswersFull, "null": AnswersNull, "omit": AnswersOmit} {
		got, err := ParseAnswers(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got)
	}
	_, err := ParseAnswers("some")
	require.ErrorContains(t, err, `answers "some": want full, null or omit`)
	_, err = New(Config{Answers: "some"})
	require.Error(t, err)
}

// getRaw reads path from the sandbox as HeyGen's client would, and returns its data.
func getRaw(t *testing.T, e *env, path string) map[string]any {
	t.Helper()
	resp, err := e.srv.Client().Get(e.srv.URL + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
	require.Equal(t, strconv.Itoa(len(b)), resp.Header.Get("Content-Length"), "the length is the cut answer's")
	var v struct {
		Data map[string]any `json:"data"`
	}
	require.NoError(t, json.Unmarshal(b, &v), string(b))
	return v.Data
}

func TestMinimalAnswers(t *testing.T) {
	ctx := context.Background()
	for _, answers := range []Answers{AnswersNull, AnswersOmit} {
		t.Run(string(answers), func(t *testing.T) {
			e := newEnv(t, Config{Answers: answers})
			cv, err := e.client.CreateVideo(ctx, heygen.CreateVideoRequest{Body: avatarBody("a1"), CallbackID: "min-1"})
			require.NoError(t, err)
			require.Eventually(t, func() bool { return e.sb.Stats().Jobs[cv.VideoID] == "completed" }, 10*time.Second, 5*time.Millisecond)

			data := getRaw(t, e, "/v3/videos/"+cv.VideoID)
			assert.Equal(t, cv.VideoID, data["id"])
			assert.Equal(t, "completed", data["status"])
			assert.NotEmpty(t, data["video_url"], "a payload field stays")
			thumb, present := data["thumbnail_url"]
			if answers == AnswersOmit {
				assert.False(t, present, "omit leaves optional fields out: %v", data)
				assert.Len(t, data, 3, "id, status, video_url: %v", data)
			} else {
				assert.True(t, present && thumb == nil, "null nulls optional fields: %v", data)
			}
			// The client still reads it.
			v, err := e.client.GetVideo(ctx, cv.VideoID)
			require.NoError(t, err)
			assert.Equal(t, heygen.StatusCompleted, v.Status)
			assert.NotEmpty(t, v.VideoURL)
			assert.Empty(t, v.ThumbnailURL)
		})
	}
}

// A hang-up (AmbiguousCreateRate) goes through the minimal answers' buffer: the client
// gets no answer at all, not an empty one.
func TestMinimalAnswersHangUp(t *testing.T) {
	e := newEnv(t, Config{Answers: AnswersOmit, Faults: Faults{AmbiguousCreateRate: 1}})
	_, err := e.client.CreateVideo(context.Background(), heygen.CreateVideoRequest{Body: avatarBody("a1"), CallbackID: "min-hang"})
	require.Error(t, err)
	assert.Equal(t, heygen.KindRetryable, heygen.KindOf(err))
	assert.Equal(t, 1, e.sb.Stats().Creates)
}
