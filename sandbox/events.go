package sandbox

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// maxEvents bounds the event history; the oldest events go first. HeyGen keeps its
// history for a while, not for ever, and a benchmark of many thousand jobs must not grow
// the state file without end.
const maxEvents = 20000

// isoTime is how HeyGen writes a created_at that is a string: ISO 8601, in UTC, to the
// millisecond.
const isoTime = "2006-01-02T15:04:05.000Z07:00"

// event is one webhook event the sandbox sent, as GET /v3/webhooks/events lists it.
type event struct {
	Seq       int64           `json:"seq"` // orders the history and its page tokens
	ID        string          `json:"event_id"`
	Type      string          `json:"event_type"`
	Data      json.RawMessage `json:"event_data"`
	EntityID  string          `json:"entity_id"` // the video or translation ID
	CreatedAt time.Time       `json:"created_at"`
}

// eventView is a row of GET /v3/webhooks/events.
type eventView struct {
	ID        string          `json:"event_id"`
	Type      string          `json:"event_type"`
	Data      json.RawMessage `json:"event_data"`
	CreatedAt string          `json:"created_at"`
}

// recordEventLocked keeps an event a job sends in the history and returns its ID. An
// event is kept once, however many endpoints it goes to and whether or not a fault drops
// a delivery: the history is what HeyGen sent, which is what heals a receiver outage.
func (s *Sandbox) recordEventLocked(eventType string, body []byte, entityID string, now time.Time) string {
	var b struct {
		EventData json.RawMessage `json:"event_data"`
	}
	_ = json.Unmarshal(body, &b) // body is our own eventBody
	s.eventSeq++
	e := &event{Seq: s.eventSeq, ID: "evt_" + newID(), Type: eventType, Data: b.EventData, EntityID: entityID, CreatedAt: now}
	s.events = append(s.events, e)
	if over := len(s.events) - maxEvents; over > 0 {
		s.events = slices.Delete(s.events, 0, over)
	}
	return e.ID
}

// listEvents is GET /v3/webhooks/events?event_type=&entity_id=&limit=&token=: newest
// first, pages of 10 by default and 100 at most. The token is the Seq of the last row
// given, so pages stay stable while events arrive.
func (s *Sandbox) listEvents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, aerr := listLimit(q.Get("limit"))
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	before := int64(-1)
	if v := q.Get("token"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			writeError(w, invalid("token", "token is not one this API returned"))
			return
		}
		before = n
	}
	typ, entity := q.Get("event_type"), q.Get("entity_id")
	s.mu.Lock()
	page := make([]eventView, 0, limit)
	hasMore := false
	var last int64
	for i := len(s.events) - 1; i >= 0; i-- {
		e := s.events[i]
		if (before >= 0 && e.Seq >= before) || (typ != "" && e.Type != typ) || (entity != "" && e.EntityID != entity) {
			continue
		}
		if len(page) == limit {
			hasMore = true
			break
		}
		page = append(page, eventView{ID: e.ID, Type: e.Type, Data: e.Data, CreatedAt: e.CreatedAt.UTC().Format(isoTime)})
		last = e.Seq
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, listAnswer(page, hasMore, strconv.FormatInt(last, 10)))
}

// listLimit reads a list's limit: HeyGen's default of 10, at most 100.
func listLimit(v string) (int, *apiError) {
	if v == "" {
		return defaultListLimit, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxListPage {
		return 0, invalid("limit", "limit must be 1 to %d", maxListPage)
	}
	return n, nil
}

// listAnswer is a page of a list: data, has_more and, when there is more, next_token.
func listAnswer(data any, hasMore bool, next string) map[string]any {
	resp := map[string]any{"data": data, "has_more": hasMore, "next_token": nil}
	if hasMore {
		resp["next_token"] = next
	}
	return resp
}

// eventTypeDescription describes an event type the sandbox sends; the others are
// listed as HeyGen's.
func eventTypeDescription(t string) string {
	switch t {
	case "avatar_video.success":
		return "A video finished rendering."
	case "avatar_video.fail":
		return "A video failed to render."
	case "video_translate.success":
		return "A video translation finished."
	case "video_translate.fail":
		return "A video translation failed."
	}
	return "HeyGen event " + t + " (the sandbox never sends it)."
}

// listEventTypes is GET /v3/webhooks/event-types: every type an endpoint can subscribe to.
func (s *Sandbox) listEventTypes(w http.ResponseWriter, _ *http.Request) {
	names := make([]string, 0, len(eventTypes))
	for t := range eventTypes {
		names = append(names, t)
	}
	slices.Sort(names)
	rows := make([]map[string]string, 0, len(names))
	for _, t := range names {
		rows = append(rows, map[string]string{"event_type": t, "description": eventTypeDescription(t)})
	}
	writeJSON(w, http.StatusOK, listAnswer(rows, false, ""))
}
