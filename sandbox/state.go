package sandbox

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// stateVersion is bumped when the file's shape changes incompatibly.
const stateVersion = 1

// stateFile is what StatePath holds.
type stateFile struct {
	Version     int                   `json:"version"`
	SavedAt     time.Time             `json:"saved_at"`
	Seq         int64                 `json:"seq"`
	Stats       Stats                 `json:"stats"` // Jobs left out: the jobs are saved whole
	Jobs        []*job                `json:"jobs"`
	Endpoints   []*endpoint           `json:"endpoints"`
	Idempotency map[string]*idemEntry `json:"idempotency"`
	Deliveries  []*delivery           `json:"deliveries"`
	LinkKey     string                `json:"link_key,omitempty"` // hex; signs file links
	Events      []*event              `json:"events,omitempty"`   // the event history, oldest first
	EventSeq    int64                 `json:"event_seq,omitempty"`
	// Credits is the account's balance, nil when unlimited; see Config.Credits.
	Credits        *int64 `json:"credits,omitempty"`
	OpeningCredits *int64 `json:"opening_credits,omitempty"`
}

// load reads StatePath, if set and present, and puts unfinished work back on the schedule.
// It runs before the loop starts, so past-due jobs end on the loop's first pass.
func (s *Sandbox) load() error {
	if s.statePath == "" {
		return nil
	}
	raw, err := os.ReadFile(s.statePath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sandbox: load state: %w", err)
	}
	var st stateFile
	if err := json.Unmarshal(raw, &st); err != nil {
		return fmt.Errorf("sandbox: load state %s: %w", s.statePath, err)
	}
	if st.Version != stateVersion {
		return fmt.Errorf("sandbox: load state %s: version %d, want %d", s.statePath, st.Version, stateVersion)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq = st.Seq
	s.stats = st.Stats
	if s.stats.CreatesByCallbackID == nil {
		s.stats.CreatesByCallbackID = map[string]int{}
	}
	if k, err := hex.DecodeString(st.LinkKey); err == nil && len(k) > 0 {
		s.linkKey = k
	}
	now := time.Now()
	for _, j := range st.Jobs {
		s.jobs[j.ID] = j
		// A job holds a concurrency slot until it ends, or, when stuck, until its due time.
		if !j.Done && now.Before(j.DueAt) {
			s.rendering++
		} else {
			j.freed = true
		}
		if !j.Done && (!j.Stuck || now.Before(j.DueAt)) {
			s.scheduleLocked(j.DueAt, itemJob, j.ID)
		}
	}
	for _, e := range st.Endpoints {
		s.endpoints[e.ID] = e
	}
	s.events, s.eventSeq = st.Events, st.EventSeq
	s.credits, s.openingCredits = st.Credits, st.OpeningCredits
	for k, e := range st.Idempotency {
		if now.Sub(e.At) < idempotencyTTL {
			s.idem[k] = e
		}
	}
	for _, d := range st.Deliveries {
		if d.Held {
			// Still waiting for a poll of its job (LateRate); the job lists it in Held.
			d.state = stateHeld
			s.deliveries[d.ID] = d
			continue
		}
		// A restart retries at once: the pause while the sandbox was down is backoff enough.
		d.state = stateWaiting
		if d.NextAt.After(now) {
			d.NextAt = now
		}
		s.deliveries[d.ID] = d
		s.scheduleLocked(d.NextAt, itemDelivery, d.ID)
	}
	return nil
}

// save writes the state atomically: a temporary file in the same folder, then a rename,
// so a crash leaves either the old state or the new one, never half of one.
func (s *Sandbox) save() error {
	if s.statePath == "" {
		return nil
	}
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	raw, err := s.snapshot()
	if err != nil {
		return fmt.Errorf("sandbox: save state: %w", err)
	}
	dir := filepath.Dir(s.statePath)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("sandbox: save state: %w", err)
	}
	tmp, err := os.CreateTemp(dir, filepath.Base(s.statePath)+".tmp*")
	if err != nil {
		return fmt.Errorf("sandbox: save state: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.Write(raw); err != nil {
		tmp.Close()
		return fmt.Errorf("sandbox: save state: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("sandbox: save state: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("sandbox: save state: %w", err)
	}
	// The file holds webhook secrets: owner only.
	if err := os.Chmod(tmp.Name(), 0o600); err != nil {
		return fmt.Errorf("sandbox: save state: %w", err)
	}
	if err := os.Rename(tmp.Name(), s.statePath); err != nil {
		return fmt.Errorf("sandbox: save state: %w", err)
	}
	return nil
}

// snapshot copies the state under the lock and marshals it outside, so a save of thousands
// of jobs does not stall requests. Copies are by value for what changes in place (jobs,
// deliveries); idempotency entries and endpoint event lists are never mutated, only
// replaced. Idempotency keys past their 24 h are pruned here, which keeps the map bounded.
func (s *Sandbox) snapshot() ([]byte, error) {
	s.mu.Lock()
	now := time.Now()
	for k, e := range s.idem {
		if now.Sub(e.At) >= idempotencyTTL {
			delete(s.idem, k)
		}
	}
	st := stateFile{
		Version:     stateVersion,
		SavedAt:     now.UTC(),
		Seq:         s.seq,
		Stats:       s.stats,
		Jobs:        make([]*job, 0, len(s.jobs)),
		Endpoints:   make([]*endpoint, 0, len(s.endpoints)),
		Idempotency: maps.Clone(s.idem),
		Deliveries:  make([]*delivery, 0, len(s.deliveries)),
		LinkKey:     hex.EncodeToString(s.linkKey),
		Events:      slices.Clone(s.events), // events never change once recorded
		EventSeq:    s.eventSeq,
	}
	if s.credits != nil {
		c := *s.credits
		st.Credits, st.OpeningCredits = &c, s.openingCredits // openingCredits is never mutated
	}
	st.Stats.CreatesByCallbackID = maps.Clone(s.stats.CreatesByCallbackID)
	jobs := make([]job, 0, len(s.jobs))
	for _, j := range s.jobs {
		c := *j
		c.Held = slices.Clone(j.Held) // appended to in place
		jobs = append(jobs, c)
	}
	for _, e := range s.endpointsInOrderLocked() {
		c := *e
		st.Endpoints = append(st.Endpoints, &c)
	}
	for _, d := range s.deliveries {
		c := *d
		st.Deliveries = append(st.Deliveries, &c)
	}
	s.mu.Unlock()

	for i := range jobs {
		st.Jobs = append(st.Jobs, &jobs[i])
	}
	slices.SortFunc(st.Jobs, func(a, b *job) int { return a.CreatedAt.Compare(b.CreatedAt) })
	slices.SortFunc(st.Deliveries, func(a, b *delivery) int { return a.NextAt.Compare(b.NextAt) })
	return json.Marshal(st)
}

// endpointsInOrderLocked returns the endpoints in registration order.
func (s *Sandbox) endpointsInOrderLocked() []*endpoint {
	out := make([]*endpoint, 0, len(s.endpoints))
	for _, e := range s.endpoints {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b *endpoint) int {
		switch {
		case a.Seq < b.Seq:
			return -1
		case a.Seq > b.Seq:
			return 1
		}
		return 0
	})
	return out
}
