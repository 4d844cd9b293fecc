package sandbox

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// maxListPage is the largest page of every list.
const maxListPage = 100

// countReadLocked counts a status read, single or bulk, under its own counter and as a poll;
// reads are ground truth, so they are saved with the rest of the state.
func (s *Sandbox) countReadLocked(counter *int) {
	*counter++
	s.stats.Polls++
	s.dirtyLocked()
}

// translationView is GET /v3/video-translations/{id}'s data.
type translationView struct {
	ID             string  `json:"id"`
	Status         string  `json:"status"`
	OutputLanguage string  `json:"output_language"`
	Title          string  `json:"title,omitempty"`
	VideoURL       string  `json:"video_url,omitempty"`
	AudioURL       string  `json:"audio_url,omitempty"`
	SRTCaptionURL  string  `json:"srt_caption_url,omitempty"`
	VTTCaptionURL  string  `json:"vtt_caption_url,omitempty"`
	FailureMessage string  `json:"failure_message,omitempty"`
	CallbackID     string  `json:"callback_id,omitempty"`
	Duration       float64 `json:"duration,omitempty"`
	CreatedAt      int64   `json:"created_at"`
	AudioOnly      bool    `json:"translate_audio_only"`
}

// translationLocked returns the translation job id, nil for an unknown ID or a video.
func (s *Sandbox) translationLocked(id string) *job {
	if j := s.jobs[id]; j != nil && j.kind() == JobKindTranslation {
		return j
	}
	return nil
}

// translationStatus is a translation's status in its API's spelling.
func translationStatus(j *job, now time.Time) string {
	st := j.status(now)
	if st == "processing" {
		return "running"
	}
	return st
}

func (s *Sandbox) getTranslation(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	base := s.baseURL(r)
	s.mu.Lock()
	s.countReadLocked(&s.stats.TranslationStatusCalls)
	j := s.translationLocked(id)
	if j == nil {
		s.mu.Unlock()
		writeError(w, notFound("video translation "+id))
		return
	}
	now := time.Now()
	s.observeLocked(j, now)
	v := translationView{
		ID: j.ID, Status: translationStatus(j, now), OutputLanguage: j.Language, Title: j.Title,
		CallbackID: j.CallbackID, CreatedAt: j.CreatedAt.Unix(), AudioOnly: j.AudioOnly,
	}
	switch v.Status {
	case "completed":
		l := s.linksLocked(base, j, now)
		v.VideoURL, v.AudioURL, v.SRTCaptionURL, v.VTTCaptionURL = l.video, l.audio, l.srt, l.vtt
		v.Duration = j.Duration
	case "failed":
		v.FailureMessage = j.FailureMessage
	}
	s.mu.Unlock()
	writeData(w, v)
}

func (s *Sandbox) translationLanguages(w http.ResponseWriter, _ *http.Request) {
	writeData(w, map[string]any{"languages": TranslationLanguages()})
}

// listVideos is GET /v3/videos?title=&folder_id=&limit=&token=: videos of every
// generation, newest first, title matched as a case-insensitive substring, 10 to a page
// unless limit (at most 100) says otherwise. The token is
// the position of the last row ("<unix nanos>.<id>"), so pages stay stable while jobs
// are created.
func (s *Sandbox) listVideos(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, aerr := listLimit(q.Get("limit"))
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	var afterNanos int64
	var afterID string
	token := q.Get("token")
	if token != "" {
		ns, id, ok := strings.Cut(token, ".")
		n, err := strconv.ParseInt(ns, 10, 64)
		if !ok || err != nil || id == "" {
			writeError(w, invalid("token", "token is not one this API returned"))
			return
		}
		afterNanos, afterID = n, id
	}
	title := strings.ToLower(q.Get("title"))
	folder := q.Get("folder_id")
	base := s.baseURL(r)

	s.mu.Lock()
	s.stats.ListCalls++
	s.dirtyLocked()
	var match []*job
	for _, j := range s.jobs {
		if j.kind() == JobKindTranslation || (folder != "" && j.FolderID != folder) ||
			(title != "" && !strings.Contains(strings.ToLower(j.Title), title)) {
			continue
		}
		match = append(match, j)
	}
	// Newest first; the ID breaks ties.
	slices.SortFunc(match, func(a, b *job) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	page := make([]videoView, 0, min(limit, len(match)))
	hasMore := false
	next := ""
	now := time.Now()
	for _, j := range match {
		if token != "" {
			n := j.CreatedAt.UnixNano()
			if n > afterNanos || (n == afterNanos && j.ID >= afterID) {
				continue // at or before the last row of the previous page
			}
		}
		if len(page) == limit {
			hasMore = true
			break
		}
		s.finishLocked(j, now)
		page = append(page, s.videoViewLocked(j, base, now))
		next = strconv.FormatInt(j.CreatedAt.UnixNano(), 10) + "." + j.ID
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, listAnswer(page, hasMore, next))
}
