package sandbox

import (
	"bytes"
	"cmp"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/reelflow/reelflow/heygen"
	"go.uber.org/zap"
)

// Request limits, as HeyGen documents them.
const (
	maxBodyBytes      = 1 << 20
	maxScriptChars    = 5000
	maxBulkStatusIDs  = 100
	defaultListLimit  = 10          // every list's page when limit is not given, as HeyGen documents
	maxCinematicIDs   = 3           // avatar_id of a cinematic_avatar body: 1 to 3 IDs
	optionsCheckLimit = time.Second // HeyGen's OPTIONS check on registration
)

// eventTypes are the webhook event types HeyGen lists; subscriptions must name these.
var eventTypes = map[string]bool{
	"avatar_video.success": true, "avatar_video.fail": true,
	"avatar_video_gif.success": true, "avatar_video_gif.fail": true,
	"avatar_video_caption.success": true, "avatar_video_caption.fail": true,
	"video_translate.success": true, "video_translate.fail": true,
	"video_translate.preflight.validation_failed": true, "video_translate.preflight.download_failed": true,
	"personalized_video": true, "batch.finished": true,
	"instant_avatar.success": true, "instant_avatar.fail": true,
	"photo_avatar_generation.success": true, "photo_avatar_generation.fail": true,
	"photo_avatar_train.success": true, "photo_avatar_train.fail": true,
	"photo_avatar_add_motion.success": true, "photo_avatar_add_motion.fail": true,
	"proofread_creation.success": true, "proofread_creation.fail": true,
	"live_avatar.success": true, "live_avatar.fail": true,
	"video_agent.success": true, "video_agent.fail": true,
	"hyperframes_video.success": true, "hyperframes_video.fail": true,
	"ai_clipping.success": true, "ai_clipping.fail": true,
}

// apiError is an answer in the v3 error envelope. RegisterEndpoint returns it as an error.
type apiError struct {
	status     int
	code       string
	message    string
	param      string
	retryAfter time.Duration // sent as Retry-After (seconds) when set
}

// Error reads like "sandbox: 400 invalid_parameter: url must be absolute (param url)".
func (e *apiError) Error() string {
	s := fmt.Sprintf("sandbox: %d %s: %s", e.status, e.code, e.message)
	if e.param != "" {
		s += " (param " + e.param + ")"
	}
	return s
}

func invalid(param, format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, code: "invalid_parameter", message: fmt.Sprintf(format, args...), param: param}
}

func notFound(what string) *apiError {
	return &apiError{status: http.StatusNotFound, code: "not_found", message: what + " not found"}
}

// routes builds the handler. Go's ServeMux patterns are enough for a dozen fixed routes,
// so no router library is pulled in.
func (s *Sandbox) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v3/videos", s.createVideo)
	mux.HandleFunc("GET /v3/videos", s.listVideos)
	mux.HandleFunc("GET /v3/videos/statuses", s.bulkStatuses(videoStatuses))
	mux.HandleFunc("GET /v3/videos/{id}", s.getVideo)
	mux.HandleFunc("POST /v3/templates/{id}", s.createTemplateVideo)
	mux.HandleFunc("POST /v3/video-translations", s.createTranslation)
	mux.HandleFunc("GET /v3/video-translations/statuses", s.bulkStatuses(translationStatuses))
	mux.HandleFunc("GET /v3/video-translations/languages", s.translationLanguages)
	mux.HandleFunc("GET /v3/video-translations/{id}", s.getTranslation)
	mux.HandleFunc("POST /v3/webhooks/endpoints", s.idempotent(s.createEndpoint))
	mux.HandleFunc("GET /v3/webhooks/endpoints", s.listEndpoints)
	mux.HandleFunc("PATCH /v3/webhooks/endpoints/{id}", s.idempotent(s.updateEndpoint))
	mux.HandleFunc("DELETE /v3/webhooks/endpoints/{id}", s.idempotent(s.deleteEndpoint))
	mux.HandleFunc("POST /v3/webhooks/endpoints/{id}/rotate-secret", s.idempotent(s.rotateSecret))
	mux.HandleFunc("GET /v3/webhooks/events", s.listEvents)
	mux.HandleFunc("GET /v3/webhooks/event-types", s.listEventTypes)
	mux.HandleFunc("GET /v3/users/me", s.usersMe)
	mux.HandleFunc("GET /files/{name}", s.serveFile)
	mux.HandleFunc("GET /share/{id}", s.serveShare)
	mux.HandleFunc("GET /_sandbox/stats", s.serveStats)
	mux.HandleFunc("POST /_sandbox/drop-rate", s.setDropRate)
	mux.HandleFunc("GET /_sandbox/faults", s.serveFaults)
	mux.HandleFunc("POST /_sandbox/faults", s.serveFaults)
	mux.HandleFunc("GET /_sandbox/credits", s.serveCredits)
	mux.HandleFunc("POST /_sandbox/credits", s.serveCredits)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &apiError{status: http.StatusNotFound, code: "not_found", message: "no route " + r.Method + " " + r.URL.Path})
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rid := newID()
		w.Header().Set("X-Request-Id", rid)
		w, done := s.checked(w, r)
		defer done()
		w, flush := s.minimized(w, r)
		defer flush()
		if isAPIPath(r.URL.Path) && !s.authorised(r) {
			writeError(w, &apiError{status: http.StatusUnauthorized, code: "unauthorized", message: "missing or invalid X-Api-Key"})
			return
		}
		s.log.Debug("sandbox request", zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.String("request_id", rid))
		s.serveAPI(mux, w, r)
	})
}

// isAPIPath reports whether a path is HeyGen's API (which needs X-Api-Key), not a file.
func isAPIPath(p string) bool {
	return strings.HasPrefix(p, "/v3/") || strings.HasPrefix(p, "/v2/") || strings.HasPrefix(p, "/v1/") // retired, still refused without a key
}

// authorised checks X-Api-Key in constant time; an empty Config.APIKey accepts anything.
func (s *Sandbox) authorised(r *http.Request) bool {
	if s.apiKey == "" {
		return true
	}
	return subtle.ConstantTimeCompare([]byte(r.Header.Get("X-Api-Key")), []byte(s.apiKey)) == 1
}

// baseURL is where file links point: PublicURL, or the host the caller used.
func (s *Sandbox) baseURL(r *http.Request) string {
	if s.publicURL != "" {
		return s.publicURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// createSpec is a validated create body.
type createSpec struct {
	Type, AvatarID, Title, OutputFormat string
	CallbackID, CallbackURL, Script     string
}

// validateCreate checks what HeyGen's API reference states beyond the published schema,
// which readObject has already held the body to: an avatar video speaks a script with a
// voice or plays audio, a cinematic one names 1 to 3 avatars, a script has at most 5000
// characters. AvatarID is the avatar (the first, for a cinematic video) that magic values
// are read from.
func validateCreate(b map[string]any) (createSpec, *apiError) {
	sp := createSpec{Type: str(b, "type"), Title: str(b, "title"), OutputFormat: str(b, "output_format"), Script: str(b, "script")}
	voiceID, audioURL, audioAsset := str(b, "voice_id"), str(b, "audio_url"), str(b, "audio_asset_id")
	if sp.Type == "cinematic_avatar" {
		// The published cinematic body has no callback fields: such a video has none.
		ids, _ := b["avatar_id"].([]any)
		if len(ids) == 0 || len(ids) > maxCinematicIDs {
			return sp, invalid("avatar_id", "avatar_id must list 1 to %d avatars", maxCinematicIDs)
		}
		sp.AvatarID, _ = ids[0].(string)
	} else {
		sp.AvatarID = str(b, "avatar_id")
		var aerr *apiError
		if sp.CallbackID, sp.CallbackURL, aerr = callback(b); aerr != nil {
			return sp, aerr
		}
	}
	if n := utf8.RuneCountInString(sp.Script); n > maxScriptChars {
		return sp, invalid("script", "script is %d characters, at most %d", n, maxScriptChars)
	}
	if sp.Type == "avatar" {
		hasScript := strings.TrimSpace(sp.Script) != ""
		hasAudio := audioURL != "" || audioAsset != ""
		switch {
		case hasScript && hasAudio:
			return sp, invalid("script", "give either script and voice_id, or audio_url or audio_asset_id, not both")
		case !hasScript && !hasAudio:
			return sp, invalid("script", "script and voice_id, or audio_url or audio_asset_id, is required")
		case hasScript && voiceID == "":
			return sp, invalid("voice_id", "voice_id is required with script")
		}
	}
	sp.OutputFormat = cmp.Or(sp.OutputFormat, "mp4")
	return sp, nil
}

// videoDuration is a plausible, deterministic length: speech at 15 characters a second,
// or 5-65 s derived from the ID for audio-driven and non-avatar videos.
func videoDuration(id, script string) float64 {
	if n := utf8.RuneCountInString(script); n > 0 {
		return math.Round(math.Max(1, float64(n)/15)*100) / 100
	}
	h := fnv.New32a()
	h.Write([]byte(id))
	return 5 + float64(h.Sum32()%601)/10
}

// videoView is GET /v3/videos/{id}'s data, and a row of the list.
type videoView struct {
	ID             string  `json:"id"`
	Status         string  `json:"status"`
	Title          string  `json:"title,omitempty"`
	VideoURL       string  `json:"video_url,omitempty"`
	ThumbnailURL   string  `json:"thumbnail_url,omitempty"`
	GIFURL         string  `json:"gif_url,omitempty"`
	SubtitleURL    string  `json:"subtitle_url,omitempty"`
	VideoPageURL   string  `json:"video_page_url,omitempty"`
	Duration       float64 `json:"duration,omitempty"`
	CreatedAt      int64   `json:"created_at"`
	CompletedAt    int64   `json:"completed_at,omitempty"`
	FailureCode    string  `json:"failure_code,omitempty"`
	FailureMessage string  `json:"failure_message,omitempty"`
	FolderID       string  `json:"folder_id,omitempty"`
}

// videoLocked returns the video job id, nil for an unknown ID or a translation.
func (s *Sandbox) videoLocked(id string) *job {
	if j := s.jobs[id]; j != nil && j.kind() != JobKindTranslation {
		return j
	}
	return nil
}

// videoViewLocked is j as the v3 API shows it at now. Like HeyGen's presigned links,
// URLs are minted fresh on every read.
func (s *Sandbox) videoViewLocked(j *job, base string, now time.Time) videoView {
	v := videoView{
		ID:        j.ID,
		Status:    j.status(now),
		Title:     j.Title,
		CreatedAt: j.CreatedAt.Unix(),
		FolderID:  j.FolderID,
	}
	switch v.Status {
	case "completed":
		l := s.linksLocked(base, j, now)
		v.VideoURL, v.ThumbnailURL, v.GIFURL, v.VideoPageURL, v.SubtitleURL = l.video, l.thumbnail, l.gif, l.share, l.srt
		v.Duration = j.Duration
		v.CompletedAt = j.CompletedAt.Unix()
	case "failed":
		v.CompletedAt = j.CompletedAt.Unix()
		v.FailureCode, v.FailureMessage = j.FailureCode, j.FailureMessage
	}
	return v
}

func (s *Sandbox) getVideo(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	base := s.baseURL(r)
	s.mu.Lock()
	s.countReadLocked(&s.stats.StatusCalls)
	j := s.videoLocked(id)
	if j == nil {
		s.mu.Unlock()
		writeError(w, notFound("video "+id))
		return
	}
	now := time.Now()
	// A read past the due time ends the job at once rather than waiting for the loop,
	// so what a caller sees never goes backwards.
	s.observeLocked(j, now)
	v := s.videoViewLocked(j, base, now)
	s.mu.Unlock()
	writeData(w, v)
}

// statusEntry is one row of the bulk status answers.
type statusEntry struct {
	VideoID string       `json:"video_id"`
	Status  string       `json:"status"`
	Error   *statusError `json:"error"` // null unless failed or not_found
}

// statusError is a bulk row's error: HeyGen publishes an object, free in shape.
type statusError struct {
	Code    string `json:"code,omitempty"`
	Message string `json:"message"`
}

// bulkStatus is what differs between the two bulk status endpoints.
type bulkStatus struct {
	param  string // the query parameter that lists the IDs
	what   string // what an unknown ID names, in its not_found error
	calls  func(*Stats) *int
	find   func(s *Sandbox, id string) *job                         // under s.mu
	status func(j *job, now time.Time) (status string, failed bool) // this endpoint's spelling
}

var (
	videoStatuses = bulkStatus{
		param: "video_ids", what: "video",
		calls: func(st *Stats) *int { return &st.BulkStatusCalls },
		find:  (*Sandbox).videoLocked,
		status: func(j *job, now time.Time) (string, bool) {
			st := j.status(now)
			if st == "pending" {
				st = "queued" // this endpoint's spelling
			}
			return st, st == "failed"
		},
	}
	translationStatuses = bulkStatus{
		param: "video_translation_ids", what: "video translation",
		calls: func(st *Stats) *int { return &st.TranslationBulkStatusCalls },
		find:  (*Sandbox).translationLocked,
		status: func(j *job, now time.Time) (string, bool) {
			st := translationStatus(j, now)
			return st, st == "failed"
		},
	}
)

// bulkStatuses answers GET /v3/videos/statuses or /v3/video-translations/statuses: one
// row per ID, in the order asked, not_found for an ID the sandbox does not know. A
// translation's row carries its translation ID as video_id, as HeyGen documents.
func (s *Sandbox) bulkStatuses(b bulkStatus) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.countReadLocked(b.calls(&s.stats))
		s.mu.Unlock()
		ids, aerr := idList(r, b.param)
		if aerr != nil {
			writeError(w, aerr)
			return
		}
		out := make([]statusEntry, 0, len(ids))
		s.mu.Lock()
		now := time.Now()
		for _, id := range ids {
			j := b.find(s, id)
			if j == nil {
				out = append(out, statusEntry{VideoID: id, Status: "not_found", Error: &statusError{Code: "not_found", Message: b.what + " not found"}})
				continue
			}
			s.observeLocked(j, now)
			e := statusEntry{VideoID: id}
			var failed bool
			if e.Status, failed = b.status(j, now); failed {
				e.Error = &statusError{Code: j.FailureCode, Message: j.FailureMessage}
			}
			out = append(out, e)
		}
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, listAnswer(out, false, ""))
	}
}

// idList reads a bulk status call's comma-separated IDs: 1 to 100 of them.
func idList(r *http.Request, param string) ([]string, *apiError) {
	var ids []string
	for _, v := range r.URL.Query()[param] {
		for id := range strings.SplitSeq(v, ",") {
			if id = strings.TrimSpace(id); id != "" {
				ids = append(ids, id)
			}
		}
	}
	switch {
	case len(ids) == 0:
		return nil, invalid(param, "%s is required", param)
	case len(ids) > maxBulkStatusIDs:
		return nil, invalid(param, "%d %s, at most %d", len(ids), param, maxBulkStatusIDs)
	}
	return ids, nil
}

// endpointView is a webhook endpoint as the API shows it. Secret is given only by create
// (and rotate-secret); elsewhere it is null, as HeyGen documents.
type endpointView struct {
	EndpointID string   `json:"endpoint_id"`
	URL        string   `json:"url"`
	Events     []string `json:"events"` // null = all events
	Status     string   `json:"status"`
	CreatedAt  string   `json:"created_at"` // ISO 8601
	Secret     *string  `json:"secret"`
}

func viewOf(e *endpoint, withSecret bool) endpointView {
	v := endpointView{EndpointID: e.ID, URL: e.URL, Events: e.Events, Status: e.Status, CreatedAt: e.CreatedAt.UTC().Format(isoTime)}
	if withSecret {
		secret := e.Secret
		v.Secret = &secret
	}
	return v
}

// RegisterEndpoint registers a webhook endpoint as POST /v3/webhooks/endpoints does, with
// the same checks (including the OPTIONS request), and returns it with its secret. events
// nil or empty means all events.
func (s *Sandbox) RegisterEndpoint(endpointURL string, events []string) (heygen.WebhookEndpoint, error) {
	v, aerr := s.register(context.Background(), endpointURL, events)
	if aerr != nil {
		return heygen.WebhookEndpoint{}, aerr
	}
	// Decoding the wire form keeps this shortcut exactly what a heygen.Client would get.
	var out heygen.WebhookEndpoint
	if err := json.Unmarshal(mustJSON(v), &out); err != nil {
		return heygen.WebhookEndpoint{}, fmt.Errorf("sandbox: decode endpoint: %w", err)
	}
	return out, nil
}

func (s *Sandbox) register(ctx context.Context, rawURL string, events []string) (endpointView, *apiError) {
	if err := checkWebhookURL(rawURL); err != nil {
		return endpointView{}, invalid("url", "url %v", err)
	}
	events, aerr := checkEvents(events)
	if aerr != nil {
		return endpointView{}, aerr
	}
	if aerr := s.checkOptions(ctx, rawURL); aerr != nil {
		return endpointView{}, aerr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return endpointView{}, &apiError{status: http.StatusServiceUnavailable, code: "service_unavailable", message: errClosed.Error()}
	}
	s.seq++
	e := &endpoint{
		ID:        newID(),
		URL:       rawURL,
		Events:    events,
		Status:    "enabled",
		CreatedAt: time.Now(),
		Secret:    newSecret(),
		Seq:       s.seq,
	}
	s.endpoints[e.ID] = e
	s.dirtyLocked()
	s.log.Info("sandbox webhook endpoint registered", zap.String("endpoint_id", e.ID), zap.String("url", e.URL))
	return viewOf(e, true), nil
}

// checkEvents validates a subscription list; empty means all events.
func checkEvents(events []string) ([]string, *apiError) {
	if len(events) == 0 {
		return nil, nil
	}
	out := make([]string, 0, len(events))
	for _, ev := range events {
		if !eventTypes[ev] {
			return nil, invalid("events", "unknown event type %q", ev)
		}
		out = append(out, ev)
	}
	return out, nil
}

// checkOptions is HeyGen's reachability check: OPTIONS must answer 2xx within a second.
// It runs without the lock: a slow receiver must not stall the sandbox.
func (s *Sandbox) checkOptions(ctx context.Context, rawURL string) *apiError {
	ctx, cancel := context.WithTimeout(ctx, optionsCheckLimit)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodOptions, rawURL, nil)
	if err != nil {
		return invalid("url", "url: %v", err)
	}
	req.Header.Set("User-Agent", "reelflow-sandbox")
	resp, err := s.hc.Do(req)
	if err != nil {
		return invalid("url", "url did not answer OPTIONS within %s: %v", optionsCheckLimit, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return invalid("url", "url answered OPTIONS with %d, want 2xx", resp.StatusCode)
	}
	return nil
}

// endpointBody is the body of create and update.
type endpointBody struct {
	URL    *string   `json:"url"`
	Events *[]string `json:"events"`
}

func decodeEndpointBody(w http.ResponseWriter, r *http.Request) (endpointBody, *apiError) {
	var b endpointBody
	obj, aerr := readObject(w, r)
	if aerr != nil {
		return b, aerr
	}
	raw := mustJSON(obj)
	if err := json.Unmarshal(raw, &b); err != nil {
		return b, invalid("", "body: %v", err)
	}
	return b, nil
}

func (s *Sandbox) createEndpoint(w http.ResponseWriter, r *http.Request) {
	b, aerr := decodeEndpointBody(w, r)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	if b.URL == nil || *b.URL == "" {
		writeError(w, invalid("url", "url is required"))
		return
	}
	var events []string
	if b.Events != nil {
		events = *b.Events
	}
	v, aerr := s.register(r.Context(), *b.URL, events)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	writeData(w, v)
}

func (s *Sandbox) listEndpoints(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, aerr := listLimit(q.Get("limit"))
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	var after int64
	if v := q.Get("token"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			writeError(w, invalid("token", "token is not one this API returned"))
			return
		}
		after = n
	}
	s.mu.Lock()
	all := s.endpointsInOrderLocked()
	page := make([]endpointView, 0, limit)
	hasMore := false
	var last int64
	for _, e := range all {
		if e.Seq <= after {
			continue
		}
		if len(page) == limit {
			hasMore = true
			break
		}
		page = append(page, viewOf(e, false))
		last = e.Seq
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, listAnswer(page, hasMore, strconv.FormatInt(last, 10)))
}

func (s *Sandbox) updateEndpoint(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	b, aerr := decodeEndpointBody(w, r)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	s.mu.Lock()
	_, ok := s.endpoints[id]
	s.mu.Unlock()
	if !ok {
		writeError(w, notFound("endpoint "+id))
		return
	}
	var events []string
	if b.Events != nil {
		if events, aerr = checkEvents(*b.Events); aerr != nil {
			writeError(w, aerr)
			return
		}
	}
	if b.URL != nil {
		if err := checkWebhookURL(*b.URL); err != nil {
			writeError(w, invalid("url", "url %v", err))
			return
		}
		if aerr := s.checkOptions(r.Context(), *b.URL); aerr != nil {
			writeError(w, aerr)
			return
		}
	}
	s.mu.Lock()
	e := s.endpoints[id]
	if e == nil { // deleted while the URL was checked
		s.mu.Unlock()
		writeError(w, notFound("endpoint "+id))
		return
	}
	if b.URL != nil {
		e.URL = *b.URL
	}
	if b.Events != nil {
		e.Events = events // replaced, not merged, as HeyGen does
	}
	v := viewOf(e, false)
	s.dirtyLocked()
	s.mu.Unlock()
	writeData(w, v)
}

func (s *Sandbox) deleteEndpoint(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	_, ok := s.endpoints[id]
	delete(s.endpoints, id)
	s.dirtyLocked()
	s.mu.Unlock()
	if !ok {
		writeError(w, notFound("endpoint "+id))
		return
	}
	// HeyGen publishes an empty data object and a null error, nothing more.
	writeJSON(w, http.StatusOK, map[string]any{"data": map[string]any{}, "error": nil})
}

func (s *Sandbox) rotateSecret(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	e := s.endpoints[id]
	if e == nil {
		s.mu.Unlock()
		writeError(w, notFound("endpoint "+id))
		return
	}
	// The old secret stops working at once: deliveries read the secret per attempt.
	e.Secret = newSecret()
	v := map[string]any{"endpoint_id": e.ID, "secret": e.Secret}
	s.dirtyLocked()
	s.mu.Unlock()
	writeData(w, v)
}

func (s *Sandbox) serveFile(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	dot := strings.LastIndexByte(name, '.')
	if dot <= 0 {
		writeError(w, notFound("file "+name))
		return
	}
	id, ext := name[:dot], name[dot+1:]
	now := time.Now()
	if ok, reason := s.checkLink(r, now); !ok {
		// S3 and CloudFront answer an expired presigned link with 403.
		s.mu.Lock()
		s.stats.FileDownloadsRefused++
		s.dirtyLocked()
		s.mu.Unlock()
		writeError(w, &apiError{status: http.StatusForbidden, code: "access_denied", message: reason})
		return
	}
	s.mu.Lock()
	j := s.jobs[id]
	var modTime time.Time
	var data []byte
	var ctype string
	ok := false
	if j != nil {
		s.finishLocked(j, now)
		if j.status(now) == "completed" {
			modTime = j.CompletedAt
			data, ctype, ok = artifact(j, ext)
		}
	}
	if ok && r.Method == http.MethodGet {
		s.stats.FileDownloads++
		s.dirtyLocked()
	}
	s.mu.Unlock()
	if !ok {
		writeError(w, notFound("file "+name))
		return
	}
	w.Header().Set("Content-Type", ctype)
	// ServeContent sets Content-Length and honours Range and HEAD, so resumable
	// downloaders can be tested too.
	http.ServeContent(w, r, name, modTime, bytes.NewReader(data))
}

func (s *Sandbox) serveShare(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	base := s.baseURL(r)
	s.mu.Lock()
	j := s.videoLocked(id)
	ok := false
	var videoURL string
	if j != nil {
		now := time.Now()
		s.finishLocked(j, now)
		ok = j.status(now) == "completed"
		videoURL = s.linksLocked(base, j, now).video
	}
	s.mu.Unlock()
	if !ok {
		writeError(w, notFound("video "+id))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(sharePage(videoURL))
}

func (s *Sandbox) serveStats(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.Stats())
}

func (s *Sandbox) setDropRate(w http.ResponseWriter, r *http.Request) {
	f, err := strconv.ParseFloat(r.URL.Query().Get("value"), 64)
	if err != nil || f < 0 || f > 1 || math.IsNaN(f) {
		writeError(w, invalid("value", "value must be a number in [0,1]"))
		return
	}
	s.SetDropRate(f)
	writeJSON(w, http.StatusOK, map[string]any{"drop_rate": f})
}

// checkHTTPURL accepts absolute http and https URLs only.
func checkHTTPURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("is not a URL")
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("must be an absolute http or https URL")
	}
	return nil
}

// readObject reads a JSON object body of at most maxBodyBytes and, for a published
// operation, holds it to the published request schema.
func readObject(w http.ResponseWriter, r *http.Request) (map[string]any, *apiError) {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &apiError{status: http.StatusRequestEntityTooLarge, code: "payload_too_large", message: fmt.Sprintf("body is larger than %d bytes", maxBodyBytes)}
		}
		return nil, &apiError{status: http.StatusBadRequest, code: "invalid_request", message: "read body: " + err.Error()}
	}
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return nil, &apiError{status: http.StatusBadRequest, code: "invalid_request", message: "body must be a JSON object"}
	}
	if aerr := checkBody(r, raw); aerr != nil {
		return nil, aerr
	}
	return obj, nil
}

func writeData(w http.ResponseWriter, v any) {
	writeJSON(w, http.StatusOK, map[string]any{"data": v})
}

// writeError answers in HeyGen's envelope {"error":{"code","message","param","doc_url"}};
// param and doc_url are null when there is none (the sandbox has no documentation pages).
func writeError(w http.ResponseWriter, e *apiError) {
	body := map[string]any{"code": e.code, "message": e.message, "param": nil, "doc_url": nil}
	if e.param != "" {
		body["param"] = e.param
	}
	setRetryAfter(w, e)
	writeJSON(w, e.status, map[string]any{"error": body})
}

// setRetryAfter writes Retry-After in seconds, with a fraction when below one second
// (HeyGen sends whole seconds; the fraction keeps tests fast).
func setRetryAfter(w http.ResponseWriter, e *apiError) {
	if e.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.FormatFloat(e.retryAfter.Seconds(), 'f', -1, 64))
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	writeRaw(w, status, mustJSON(v))
}

func writeRaw(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
