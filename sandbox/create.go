package sandbox

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"
)

// jobSpec is one job a validated create body asks for.
type jobSpec struct {
	Kind, Type, AvatarID, TemplateID, Title, FolderID, OutputFormat string
	CallbackID, CallbackURL, Script, Language, SourceURL            string
	AudioOnly, Fail, Stuck                                          bool
	FailureCode, FailureMessage                                     string
	// id and duration are set by sizeLocked just before the jobs are made.
	id       string
	duration float64
}

// createRoute is what differs between the create endpoints.
type createRoute struct {
	// answer is the success body, built under the lock when the jobs are made: a replay
	// gives this snapshot, not the jobs' state at the time of the replay.
	answer func(jobs []*job, now time.Time) any
	parse  func(map[string]any) ([]jobSpec, *apiError)
}

func (s *Sandbox) createVideo(w http.ResponseWriter, r *http.Request) {
	s.handleCreate(w, r, createRoute{
		parse: func(b map[string]any) ([]jobSpec, *apiError) {
			sp, aerr := validateCreate(b)
			if aerr != nil {
				return nil, aerr
			}
			js := jobSpec{
				Kind: JobKindVideo, Type: sp.Type, AvatarID: sp.AvatarID, Title: sp.Title,
				OutputFormat: sp.OutputFormat, CallbackID: sp.CallbackID, CallbackURL: sp.CallbackURL, Script: sp.Script,
			}
			magicAvatar(&js, sp.AvatarID)
			return []jobSpec{js}, nil
		},
		answer: func(jobs []*job, _ time.Time) any {
			// "waiting" is the initial status HeyGen's create answers with.
			return map[string]any{"data": map[string]any{"video_id": jobs[0].ID, "status": "waiting", "output_format": jobs[0].OutputFormat}}
		},
	})
}

func (s *Sandbox) createTemplateVideo(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	base := s.baseURL(r)
	s.handleCreate(w, r, createRoute{
		parse: func(b map[string]any) ([]jobSpec, *apiError) { return validateTemplate(id, b) },
		answer: func(jobs []*job, now time.Time) any {
			// HeyGen answers with the created video object, as of the create.
			return map[string]any{"data": s.videoViewLocked(jobs[0], base, now)}
		},
	})
}

func (s *Sandbox) createTranslation(w http.ResponseWriter, r *http.Request) {
	s.handleCreate(w, r, createRoute{
		parse: validateTranslation,
		answer: func(jobs []*job, _ time.Time) any {
			ids := make([]string, len(jobs))
			for i, j := range jobs {
				ids[i] = j.ID
			}
			return map[string]any{"data": map[string]any{"video_translation_ids": ids}}
		},
	})
}

// handleCreate is every create route: count, check the key and the body, refuse by fault
// or in-flight key, create or replay, then answer or (AmbiguousCreateRate) hang up.
func (s *Sandbox) handleCreate(w http.ResponseWriter, r *http.Request, rt createRoute) {
	s.mu.Lock()
	s.stats.CreateRequests++
	s.dirtyLocked()
	s.mu.Unlock()

	key := r.Header.Get("Idempotency-Key")
	if aerr := checkIdemKey(key); aerr != nil {
		writeError(w, aerr)
		return
	}
	body, aerr := readObject(w, r)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	specs, aerr := rt.parse(body)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	idemKey := ""
	if key != "" {
		idemKey = idemScope(r) + key
	}
	res := s.createJobs(rt, specs, idemKey, s.baseURL(r))
	switch {
	case res.err != nil:
		writeError(w, res.err)
	case res.ambiguous:
		hangUp(w)
	default:
		if res.replayed {
			w.Header().Set("Idempotent-Replayed", "true")
		}
		writeRaw(w, cmp.Or(res.status, http.StatusOK), res.body)
	}
}

// createResult is the outcome of createJobs.
type createResult struct {
	status    int // of body; 0 is 200
	body      []byte
	replayed  bool
	ambiguous bool // the job exists (or existed), but the caller gets no answer
	err       *apiError
}

// createJobs creates the jobs of one create call, or replays the answer remembered under
// idemKey (scope and key; "" for none). A key not yet answered is marked in flight while
// the create is processed, so that an overlapping repeat gets 409 request_in_progress, as
// HeyGen documents; once the answer is remembered, a repeat replays it instead. The replay
// check and the create share one critical section, so two requests with the same key
// cannot both create.
func (s *Sandbox) createJobs(rt createRoute, specs []jobSpec, idemKey, base string) createResult {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return createResult{err: &apiError{status: http.StatusServiceUnavailable, code: "service_unavailable", message: errClosed.Error()}}
	}
	claimed := false
	if idemKey != "" && !s.answeredLocked(idemKey, time.Now()) {
		if s.inflight[idemKey] {
			s.stats.IdempotencyConflicts++
			s.mu.Unlock()
			return createResult{err: errInProgress()}
		}
		s.inflight[idemKey] = true
		claimed = true
	}
	hook := s.hookCreated
	s.mu.Unlock()
	if claimed && hook != nil {
		hook() // the create is being processed: the key is in flight
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if claimed {
		delete(s.inflight, idemKey)
	}
	return s.createOrReplayLocked(rt, specs, idemKey, base)
}

// answeredLocked reports whether idemKey has an answer to replay.
func (s *Sandbox) answeredLocked(idemKey string, now time.Time) bool {
	e := s.idem[idemKey]
	return e != nil && now.Sub(e.At) < idempotencyTTL
}

// createOrReplayLocked rolls the create faults, then replays or creates.
func (s *Sandbox) createOrReplayLocked(rt createRoute, specs []jobSpec, idemKey, base string) createResult {
	f := s.faults
	if s.roll(f.RateLimitRate) {
		s.stats.RateLimited++
		return createResult{err: &apiError{status: http.StatusTooManyRequests, code: "rate_limit_exceeded", message: "too many requests (sandbox fault)", retryAfter: s.retryAfterLocked()}}
	}
	if s.roll(f.ServerErrorRate) {
		s.stats.ServerErrors++
		return createResult{err: &apiError{status: http.StatusInternalServerError, code: "internal_error", message: "internal error (sandbox fault)"}}
	}
	ambiguous := s.roll(f.AmbiguousCreateRate)
	if ambiguous {
		s.stats.AmbiguousCreates++
	}
	now := time.Now()
	if idemKey != "" && s.answeredLocked(idemKey, now) {
		return s.replayLocked(idemKey, ambiguous)
	}
	if limit := s.concurrencyLimitLocked(); limit > 0 && s.rendering >= limit {
		s.stats.RateLimited++
		s.stats.ConcurrencyLimited++
		// Creates that 429 are not remembered under their key, so a retry goes through.
		return createResult{err: &apiError{
			status: http.StatusTooManyRequests, code: "rate_limit_exceeded", retryAfter: s.retryAfterLocked(),
			message: fmt.Sprintf("%d jobs in flight, the plan allows %d", s.rendering, limit),
		}}
	}
	specs = s.sizeLocked(specs)
	if res, refused := s.chargeLocked(specs, idemKey, now); refused {
		// A refusal made nothing; an ambiguous one is remembered and cut off all the same.
		res.ambiguous = ambiguous
		return res
	}
	jobs := make([]*job, 0, len(specs))
	for _, sp := range specs {
		j := s.newJobLocked(sp, base, now)
		j.IdempotencyKey = idemKey[strings.IndexByte(idemKey, 0)+1:] // without its route's scope
		if len(jobs) > 0 {
			j.Batch = jobs[0].ID
		}
		jobs = append(jobs, j)
	}
	jobs[0].Batch = jobs[0].ID
	body := mustJSON(rt.answer(jobs, now))
	if idemKey != "" {
		s.idem[idemKey] = &idemEntry{At: now, Status: http.StatusOK, Body: body}
	}
	s.dirtyLocked()
	return createResult{body: body, ambiguous: ambiguous}
}

// rendersOfLocked counts the jobs made so far for callback_id.
func (s *Sandbox) rendersOfLocked(callbackID string) int {
	n := 0
	for _, j := range s.jobs {
		if j.CallbackID == callbackID {
			n++
		}
	}
	return n
}

// newJobLocked makes and schedules one job, deciding its render faults.
func (s *Sandbox) newJobLocked(sp jobSpec, base string, now time.Time) *job {
	j := &job{
		ID:             cmp.Or(sp.id, newID()),
		Kind:           sp.Kind,
		Type:           sp.Type,
		AvatarID:       sp.AvatarID,
		TemplateID:     sp.TemplateID,
		Language:       sp.Language,
		SourceURL:      sp.SourceURL,
		AudioOnly:      sp.AudioOnly,
		Title:          sp.Title,
		FolderID:       sp.FolderID,
		OutputFormat:   cmp.Or(sp.OutputFormat, "mp4"),
		CallbackID:     sp.CallbackID,
		CallbackURL:    sp.CallbackURL,
		BaseURL:        base,
		CreatedAt:      now,
		ProcessingAt:   now.Add(s.renderTime / 4),
		DueAt:          now.Add(s.renderTime + s.renderTailLocked()),
		Fail:           sp.Fail,
		Stuck:          sp.Stuck,
		FailureCode:    sp.FailureCode,
		FailureMessage: sp.FailureMessage,
	}
	if !j.Fail && !j.Stuck {
		switch {
		case s.faults.FailFirst > 0 && j.CallbackID != "" && s.rendersOfLocked(j.CallbackID) < s.faults.FailFirst:
			j.Fail = true
			j.FailureCode = FailureCodeRenderFailed
			j.FailureMessage = "render failed (sandbox fault fail_first)"
		case s.roll(s.faults.StuckRate):
			j.Stuck = true
		case s.roll(s.faults.FailRate):
			j.Fail = true
			j.FailureCode = FailureCodeRenderFailed
			j.FailureMessage = "render failed (sandbox fault)"
		}
	}
	if j.Stuck {
		s.stats.RendersStuck++
	}
	j.Duration = sp.duration
	if j.Duration <= 0 {
		j.Duration = videoDuration(j.ID, sp.Script)
	}
	s.jobs[j.ID] = j
	s.rendering++
	// Stuck jobs are scheduled too: at their due time they give their slot back.
	s.scheduleLocked(j.DueAt, itemJob, j.ID)
	s.stats.Creates++
	s.stats.CreatesByCallbackID[j.CallbackID]++
	s.log.Debug("sandbox job created", zap.String("job_id", j.ID), zap.String("kind", j.Kind), zap.String("callback_id", j.CallbackID))
	return j
}

// magicAvatar applies the magic avatar IDs to a spec.
func magicAvatar(sp *jobSpec, avatarID string) {
	switch avatarID {
	case MagicAvatarFail:
		sp.Fail = true
		sp.FailureCode = FailureCodeAvatarUnavailable
		sp.FailureMessage = fmt.Sprintf("avatar %q is unavailable (sandbox magic value)", avatarID)
	case MagicAvatarStuck:
		sp.Stuck = true
	}
}

// hangUp closes the connection without an answer: the ambiguous create. A writer that
// cannot be hijacked (HTTP/2) is aborted instead, which resets the stream.
func hangUp(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

// str reads a string member of a body that readObject has held to the published request
// schema, which has checked the member's type: "" when it is absent or null.
func str(b map[string]any, name string) string {
	s, _ := b[name].(string)
	return s
}

// callback reads callback_id and callback_url, and holds the URL to what the schema
// cannot say: an absolute http(s) URL.
func callback(b map[string]any) (id, url string, aerr *apiError) {
	id, url = str(b, "callback_id"), str(b, "callback_url")
	if url != "" {
		if err := checkHTTPURL(url); err != nil {
			return "", "", invalid("callback_url", "callback_url %v", err)
		}
	}
	return id, url, nil
}

// validateTemplate checks POST /v3/templates/{id} beyond its published schema, which
// readObject has held the body to: the path's template ID, the callback URL. The sandbox
// knows no templates: any ID renders, except the magic ones.
func validateTemplate(id string, b map[string]any) ([]jobSpec, *apiError) {
	if strings.TrimSpace(id) == "" {
		return nil, invalid("template_id", "template_id is required")
	}
	if id == MagicTemplateMissing {
		return nil, notFound("template " + id)
	}
	sp := jobSpec{Kind: JobKindTemplate, TemplateID: id, Type: "template", Title: str(b, "title"), FolderID: str(b, "folder_id")}
	var aerr *apiError
	if sp.CallbackID, sp.CallbackURL, aerr = callback(b); aerr != nil {
		return nil, aerr
	}
	switch id {
	case MagicTemplateFail:
		sp.Fail = true
		sp.FailureCode = FailureCodeRenderFailed
		sp.FailureMessage = fmt.Sprintf("template %q failed to render (sandbox magic value)", id)
	case MagicTemplateStuck:
		sp.Stuck = true
	}
	return []jobSpec{sp}, nil
}

// TranslationLanguages returns the output languages GET /v3/video-translations/languages
// lists, in its order. MagicLanguageFail is accepted too, though not listed.
func TranslationLanguages() []string {
	return []string{
		"English", "Spanish (Spain)", "Spanish (Mexico)", "French", "German", "Italian",
		"Portuguese (Brazil)", "Portuguese (Portugal)", "Dutch", "Polish", "Swedish", "Turkish",
		"Russian", "Ukrainian", "Arabic", "Hindi", "Indonesian", "Vietnamese", "Thai",
		"Japanese", "Korean", "Chinese (Mandarin, Simplified)", "Chinese (Cantonese, Traditional)",
	}
}

// validateTranslation checks POST /v3/video-translations beyond its published schema,
// which readObject has held the body to (types, the required video and
// output_languages, mode's values): the video's type and its URL, at least one output
// language, each supported and named once, the callback URL. It makes one job per
// output language, all sharing the body's callback_id.
func validateTranslation(b map[string]any) ([]jobSpec, *apiError) {
	base := jobSpec{Kind: JobKindTranslation, Type: "translation", Title: str(b, "title"), FolderID: str(b, "folder_id")}
	base.AudioOnly, _ = b["translate_audio_only"].(bool)
	var aerr *apiError
	if base.CallbackID, base.CallbackURL, aerr = callback(b); aerr != nil {
		return nil, aerr
	}
	video, _ := b["video"].(map[string]any)
	switch u, asset := str(video, "url"), str(video, "asset_id"); str(video, "type") {
	case "url":
		if u == "" {
			return nil, invalid("video.url", "video.url is required")
		}
		if err := checkHTTPURL(u); err != nil {
			return nil, invalid("video.url", "video.url %v", err)
		}
		base.SourceURL = u
	case "asset_id":
		if asset == "" {
			return nil, invalid("video.asset_id", "video.url or video.asset_id is required")
		}
		base.SourceURL = "asset:" + asset
	default:
		return nil, invalid("video.type", "video.type must be url or asset_id")
	}
	langs, _ := b["output_languages"].([]any)
	if len(langs) == 0 {
		return nil, invalid("output_languages", "output_languages is required: at least one language")
	}
	known := TranslationLanguages()
	var specs []jobSpec
	seen := map[string]bool{}
	for i, l := range langs {
		name, _ := l.(string)
		param := fmt.Sprintf("output_languages[%d]", i)
		switch {
		case strings.TrimSpace(name) == "":
			return nil, invalid(param, "%s must be a language name", param)
		case seen[name]:
			return nil, invalid(param, "%s: %q appears twice", param, name)
		case name != MagicLanguageFail && !slices.Contains(known, name):
			return nil, invalid(param, "%s: unsupported language %q; see GET /v3/video-translations/languages", param, name)
		}
		seen[name] = true
		sp := base
		sp.Language = name
		if name == MagicLanguageFail {
			sp.Fail = true
			sp.FailureMessage = fmt.Sprintf("output language %q could not be synthesised (sandbox magic value)", name)
		}
		specs = append(specs, sp)
	}
	return specs, nil
}
