package activities

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/reelflow/reelflow/heygen"
)

// The record keeps at most maxEntries, dropping the oldest, and drops what expired.
func TestFinishedReadsBounds(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	f := newFinishedReads(func() time.Time { return now })
	f.maxEntries = 3
	done := PollJobResult{Status: heygen.StatusCompleted, VideoURL: "https://cdn/v.mp4"}
	for i := range 5 {
		f.put(KindVideo, fmt.Sprint("v", i), done)
	}
	assert.Len(t, f.byKey, 3)
	assert.Len(t, f.order, 3)
	_, ok := f.get(KindVideo, "v1")
	assert.False(t, ok, "the oldest went first")
	_, ok = f.get(KindVideo, "v4")
	assert.True(t, ok)
	_, ok = f.get(KindTranslation, "v4")
	assert.False(t, ok, "a translation is not the video of the same ID")

	now = now.Add(finishedTTL)
	f.put(KindVideo, "late", done)
	assert.Len(t, f.byKey, 1, "the expired entries are dropped at the next put")
	assert.Equal(t, []string{"video/late"}, f.order)
}
