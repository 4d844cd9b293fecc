package sandbox

import (
	"context"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/reelflow/reelflow/heygen"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// historyRow is a row of GET /v3/webhooks/events.
type historyRow struct {
	ID, Type, Created string
	Data              map[string]any
}

func history(t *testing.T, e *env, query url.Values) []historyRow {
	t.Helper()
	path := "/v3/webhooks/events"
	if len(query) > 0 {
		path += "?" + query.Encode()
	}
	var rows []historyRow
	for range 20 {
		_, _, out := getJSON(t, e, path)
		for _, r := range out["data"].([]any) {
			m := r.(map[string]any)
			rows = append(rows, historyRow{ID: m["event_id"].(string), Type: m["event_type"].(string), Created: m["created_at"].(string), Data: m["event_data"].(map[string]any)})
		}
		if out["has_more"] != true {
			return rows
		}
		q := url.Values{}
		for k, v := range query {
			q[k] = v
		}
		q.Set("token", out["next_token"].(string))
		path = "/v3/webhooks/events?" + q.Encode()
	}
	t.Fatal("the history never ends")
	return nil
}

func TestEventHistory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	e := newEnv(t, Config{StatePath: path})
	rc := newReceiver(t)
	registerHTTP(t, e, rc, nil)
	ctx := context.Background()
	var ids []string
	for _, avatar := range []string{"a1", "a2", MagicAvatarFail} {
		cv, err := e.client.CreateVideo(ctx, heygen.CreateVideoRequest{Body: avatarBody(avatar), CallbackID: "h-" + avatar})
		require.NoError(t, err)
		ids = append(ids, cv.VideoID)
	}
	tr, err := e.client.CreateTranslation(ctx, heygen.CreateTranslationRequest{Body: translationBody("French"), CallbackID: "h-tr"})
	require.NoError(t, err)
	eventually(t, func() bool { return rc.count() == 4 }, "four deliveries")

	// Every event, newest first, in pages; each with its ID, type, data and ISO time.
	all := history(t, e, url.Values{"limit": {"3"}})
	require.Len(t, all, 4)
	seen := map[string]bool{}
	for i, r := range all {
		assert.NotEmpty(t, r.ID)
		seen[r.ID] = true
		at, err := time.Parse(time.RFC3339, r.Created)
		require.NoError(t, err)
		if i > 0 {
			prev, _ := time.Parse(time.RFC3339, all[i-1].Created)
			assert.False(t, at.After(prev), "newest first")
		}
	}
	assert.Len(t, seen, 4)

	// The data is what the receiver got.
	byType := history(t, e, url.Values{"event_type": {heygen.EventAvatarVideoFail}})
	require.Len(t, byType, 1)
	assert.Equal(t, ids[2], byType[0].Data["video_id"])
	assert.Equal(t, "h-"+MagicAvatarFail, byType[0].Data["callback_id"])
	byEntity := history(t, e, url.Values{"entity_id": {tr[0]}})
	require.Len(t, byEntity, 1)
	assert.Equal(t, heygen.EventVideoTranslateSuccess, byEntity[0].Type)
	assert.Equal(t, tr[0], byEntity[0].Data["video_translate_id"])
	assert.Empty(t, history(t, e, url.Values{"entity_id": {"nope"}}))

	// A dropped delivery is still in the history: it is what heals a receiver outage.
	e.sb.SetDropRate(1)
	lost, err := e.client.CreateVideo(ctx, heygen.CreateVideoRequest{Body: avatarBody("a1")})
	require.NoError(t, err)
	eventually(t, func() bool { return len(history(t, e, url.Values{"entity_id": {lost.VideoID}})) == 1 }, "a lost event in the history")
	assert.Equal(t, 4, rc.count())

	// The history survives a restart, with its IDs.
	require.NoError(t, e.sb.Close())
	e2 := newEnv(t, Config{StatePath: path})
	again := history(t, e2, nil)
	require.Len(t, again, 5)
	assert.Equal(t, all[0].ID, again[1].ID)
}

func TestEventHistoryKeepsOneEventPerJobAndIsBounded(t *testing.T) {
	e := newEnv(t, Config{Faults: Faults{DuplicateRate: 1}})
	rc := newReceiver(t)
	registerHTTP(t, e, rc, nil)
	_, err := e.client.CreateVideo(context.Background(), heygen.CreateVideoRequest{Body: avatarBody("a1")})
	require.NoError(t, err)
	eventually(t, func() bool { return rc.count() == 2 }, "two copies")
	rows := history(t, e, nil)
	require.Len(t, rows, 1, "one event, however many copies")

	e.sb.mu.Lock()
	defer e.sb.mu.Unlock()
	for range maxEvents + 5 {
		e.sb.recordEventLocked("avatar_video.success", []byte(`{"event_type":"avatar_video.success","event_data":{}}`), "x", time.Now())
	}
	assert.Len(t, e.sb.events, maxEvents)
	assert.Equal(t, int64(maxEvents+6), e.sb.events[len(e.sb.events)-1].Seq)
}

func TestEventTypesList(t *testing.T) {
	e := newEnv(t, Config{})
	_, _, out := getJSON(t, e, "/v3/webhooks/event-types")
	rows := out["data"].([]any)
	assert.Len(t, rows, len(eventTypes))
	found := false
	for _, r := range rows {
		m := r.(map[string]any)
		assert.NotEmpty(t, m["description"])
		found = found || m["event_type"] == heygen.EventAvatarVideoSuccess
	}
	assert.True(t, found)
}
