// Package spec reads pipeline specs (YAML or JSON) into workflows.PipelineInput and
// validates them before anything starts. Errors name the file, the line and the field,
// for example "launch-q3.yaml:7: translate.languages[1]: empty language", and wrap
// ErrInvalid. LoadBatch fills a spec's {{column}} placeholders from each row of a CSV
// file, one pipeline per row.
//
// A spec has exactly one video source: video (a v3 POST /v3/videos body), template (a
// POST /v3/templates/{id} call) or source (an existing video's URL, to translate). A
// spec with legacy_video (HeyGen's v2 POST /v2/video/generate, retired on 2026-11-01) is
// refused with the v3 studio form to use instead. HeyGen bodies are passed through as
// written; reelflow sets only callback_id (and callback_url). Each is checked against
// HeyGen's published request schema (bodies.go), and so is each translation's body as
// the Pipeline builds it. Every other block has a fixed set of keys, and an unknown key
// is an error, so that typos do not pass silently.
//
// A spec that runs once (Load, Parse) gets a whole workflows.Schedule, defaults filled
// (schedule.go); a --rows batch (LoadBatch) also names the spec's id as each row's
// campaign. A spec with {{column}} placeholders or a budget runs only as a batch.
package spec

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/reelflow/reelflow/workflows"
)

// ErrInvalid marks every validation failure; the CLI exits 2 on it.
var ErrInvalid = errors.New("invalid spec")

// Spec documents the shape of a spec file, as a user writes it. Parse does not decode
// into it: it reads a generic tree, so that every problem can name its field and line,
// and checks it against the key lists below (topKeys and the rest), which must match
// these fields.
type Spec struct {
	ID        string         `yaml:"id"`
	Title     string         `yaml:"title"`
	Video     map[string]any `yaml:"video"`
	Template  map[string]any `yaml:"template"` // id, variables, title ...
	Source    *Source        `yaml:"source"`
	Translate *Translate     `yaml:"translate"`
	Deliver   *Deliver       `yaml:"deliver"`
	Notify    *Notify        `yaml:"notify"`
	Timeouts  *Timeouts      `yaml:"timeouts"`
	FailFast  bool           `yaml:"fail_fast"`
	// Priority, FairnessKey, FairnessWeight and Budget rank the pipeline's HeyGen jobs at
	// the account scheduler (schedule.go); Retry is its re-render budget.
	Priority       int     `yaml:"priority"`
	FairnessKey    string  `yaml:"fairness_key"`
	FairnessWeight float64 `yaml:"fairness_weight"`
	Budget         int     `yaml:"budget"`
	Retry          *Retry  `yaml:"retry"`
}

// Retry is how many times a failed render, and each failed translation, is created
// again as a new (billed) HeyGen job.
type Retry struct {
	Renders int `yaml:"renders"`
}

// Source is an existing video to translate.
type Source struct {
	URL string `yaml:"url"`
}

// Translate lists the output languages: HeyGen's names, such as "Spanish (Spain)".
type Translate struct {
	Languages []string `yaml:"languages"`
	Mode      string   `yaml:"mode"` // speed or precision
	Captions  bool     `yaml:"captions"`
}

// Deliver names a gocloud.dev/blob bucket URL.
type Deliver struct {
	To string `yaml:"to"`
}

// Notify names the endpoint and the worker's environment variable with its secret.
type Notify struct {
	URL       string `yaml:"url"`
	SecretEnv string `yaml:"secret_env"`
}

// Timeouts are durations such as "15m" or "24h".
type Timeouts struct {
	PushWindow  string `yaml:"push_window"`
	Deadline    string `yaml:"deadline"`
	PollInitial string `yaml:"poll_initial"`
	PollMax     string `yaml:"poll_max"`
}

// Problem is one thing wrong with a spec, at a line of its file.
type Problem struct {
	File  string
	Line  int
	Field string // a path such as translate.languages[1]; empty for the whole file
	Msg   string
}

// String reads like "launch-q3.yaml:7: translate.languages[1]: empty language".
func (p Problem) String() string {
	if p.Field == "" {
		return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Msg)
	}
	return fmt.Sprintf("%s:%d: %s: %s", p.File, p.Line, p.Field, p.Msg)
}

// Error lists every problem of a spec, in the order of the file. It matches ErrInvalid
// with errors.Is.
type Error struct {
	Problems []Problem
}

// Error is "invalid spec: " followed by one line per problem.
func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return ErrInvalid.Error() + ": " + strings.Join(lines, "\n")
}

// Is makes errors.Is(err, ErrInvalid) hold.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

// Load reads and validates the spec at path. YAML is a superset of JSON, so one parser
// reads both.
func Load(path string) (workflows.PipelineInput, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return workflows.PipelineInput{}, fmt.Errorf("read spec: %w", err)
	}
	return Parse(filepath.Base(path), b)
}

// Parse validates a spec that runs once, as one pipeline; name prefixes error messages.
// A spec meant for a CSV batch (with {{column}} placeholders, or a budget) is refused
// here, with a problem that says to start it with --rows: see ParseBatch.
func Parse(name string, b []byte) (workflows.PipelineInput, error) {
	doc, err := decode(name, b)
	if err != nil {
		return workflows.PipelineInput{}, err
	}
	c := newChecker(name, b)
	in := c.spec(doc)
	c.single(doc)
	return c.result(in)
}

// decode reads the file into a generic tree. Syntax errors keep the parser's line.
func decode(name string, b []byte) (map[string]any, error) {
	var doc any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		msg := yaml.FormatError(err, false, false)
		if m := yamlPos.FindStringSubmatch(msg); m != nil {
			return nil, fmt.Errorf("%w: %s:%s: %s", ErrInvalid, name, m[1], m[2])
		}
		return nil, fmt.Errorf("%w: %s: %s", ErrInvalid, name, msg)
	}
	m, ok := doc.(map[string]any)
	if !ok {
		return nil, &Error{Problems: []Problem{{File: name, Line: 1, Msg: "a spec is a mapping with id, title, video ..."}}}
	}
	return m, nil
}

// yamlPos reads the "[line:col] message" form of the YAML parser's errors.
var yamlPos = regexp.MustCompile(`^\[(\d+):\d+\] (.*)$`)

// Keys of each block with a fixed set of keys.
var (
	topKeys = []string{"id", "title", "video", "template", "source",
		"translate", "deliver", "notify", "timeouts", "fail_fast",
		"priority", "fairness_key", "fairness_weight", "budget", "retry"}
	sourceKeys    = []string{"url"}
	translateKeys = []string{"languages", "mode", "captions"}
	deliverKeys   = []string{"to"}
	notifyKeys    = []string{"url", "secret_env"}
	timeoutKeys   = []string{"push_window", "deadline", "poll_initial", "poll_max", "sweep"}
	videoSources  = []string{"video", "template", "source"}
)

// Limits and patterns of values.
var (
	envNamePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	bucketSchemes  = []string{"file", "s3", "gs", "azblob"}
	translateModes = []string{"speed", "precision"}
)

// checker collects problems with their lines.
type checker struct {
	name      string
	loc       *locator
	ps        []Problem
	suggested map[string]bool // fields an unknown key was taken for a typo of
}

func (c *checker) add(field, format string, args ...any) {
	if c.suggested[field] && strings.HasPrefix(format, "required") {
		return // "did you mean" already said it
	}
	c.ps = append(c.ps, Problem{File: c.name, Line: c.loc.line(field), Field: field, Msg: fmt.Sprintf(format, args...)})
}

// block returns m[key] as a mapping whose keys are all in allowed; nil when absent.
func (c *checker) block(m map[string]any, key string, allowed []string) (map[string]any, bool) {
	v, present := m[key]
	if !present {
		return nil, false
	}
	b, ok := v.(map[string]any)
	if !ok {
		c.add(key, "must be a mapping")
		return nil, false
	}
	if allowed != nil {
		c.unknownKeys(key+".", b, allowed)
	}
	return b, true
}

// unknownKeys reports every key of m not in allowed, in sorted order.
func (c *checker) unknownKeys(prefix string, m map[string]any, allowed []string) {
	var bad []string
	for k := range m {
		if !slices.Contains(allowed, k) {
			bad = append(bad, k)
		}
	}
	sort.Strings(bad)
	for _, k := range bad {
		if s := closest(k, allowed); s != "" {
			c.add(prefix+k, "unknown key; did you mean %s?", s)
			c.suggested[prefix+s] = true
		} else {
			c.add(prefix+k, "unknown key; the keys here are %s", strings.Join(allowed, ", "))
		}
	}
}

// str reads an optional string field.
func (c *checker) str(m map[string]any, key, field string) (string, bool) {
	v, ok := m[key]
	if !ok || v == nil {
		return "", false
	}
	s, isStr := v.(string)
	if !isStr {
		c.add(field, "must be a string")
		return "", false
	}
	return s, true
}

// boolean reads an optional true/false field.
func (c *checker) boolean(m map[string]any, key, field string) bool {
	v, ok := m[key]
	if !ok || v == nil {
		return false
	}
	b, isBool := v.(bool)
	if !isBool {
		c.add(field, "must be true or false")
	}
	return b
}

// validate checks the tree of a spec and turns it into a PipelineInput.
func validate(name string, src []byte, doc map[string]any) (workflows.PipelineInput, error) {
	c := newChecker(name, src)
	return c.result(c.spec(doc))
}

func newChecker(name string, src []byte) *checker {
	return &checker{name: name, loc: newLocator(src), suggested: map[string]bool{}}
}

// result returns in, or every problem found, in the order of the file.
func (c *checker) result(in workflows.PipelineInput) (workflows.PipelineInput, error) {
	if len(c.ps) > 0 {
		sort.SliceStable(c.ps, func(i, j int) bool { return c.ps[i].Line < c.ps[j].Line })
		return workflows.PipelineInput{}, &Error{Problems: c.ps}
	}
	return in, nil
}

// spec checks the tree of a spec and turns it into a PipelineInput: one checker per
// block, each adding its problems to c.
func (c *checker) spec(doc map[string]any) workflows.PipelineInput {
	c.unknownKeys("", withoutRetired(doc), topKeys)
	in := workflows.PipelineInput{ID: c.id(doc)}
	in.Title, _ = c.str(doc, "title", "title")
	if _, ok := doc[retiredLegacyVideo]; ok {
		c.legacyVideo()
	} else {
		c.oneVideoSource(doc)
	}
	if v, ok := c.block(doc, "video", nil); ok {
		in.Video = c.video(v)
	}
	if t, ok := c.block(doc, "template", nil); ok {
		in.Template = c.template(t)
	}
	if s, ok := c.block(doc, "source", sourceKeys); ok {
		_, translated := doc["translate"]
		in.Source = c.source(s, translated)
	}
	if t, ok := c.block(doc, "translate", translateKeys); ok {
		in.Translate = c.translate(t)
	}
	if d, ok := c.block(doc, "deliver", deliverKeys); ok {
		in.Deliver = c.deliver(d)
	}
	if n, ok := c.block(doc, "notify", notifyKeys); ok {
		in.Notify = c.notify(n)
	}
	if t, ok := c.block(doc, "timeouts", timeoutKeys); ok {
		in.Timeouts = c.timeouts(t)
	}
	in.FailFast = c.boolean(doc, "fail_fast", "fail_fast")
	in.Schedule = c.schedule(doc, in.ID)
	in.Retry = c.retry(doc)
	c.bodies(in)
	return in
}

// id checks the pipeline's ID.
func (c *checker) id(doc map[string]any) string {
	id, _ := c.str(doc, "id", "id")
	switch {
	case id == "" && doc["id"] == nil:
		c.add("id", "required: the pipeline's ID, [A-Za-z0-9._-]{1,128}")
	case !workflows.ValidPipelineID(id):
		if _, isStr := doc["id"].(string); isStr {
			c.add("id", "%q must match [A-Za-z0-9._-]{1,128}", id)
		}
	}
	return id
}

// oneVideoSource checks that exactly one video source is given.
func (c *checker) oneVideoSource(doc map[string]any) {
	var given []string
	for _, k := range videoSources {
		if _, ok := doc[k]; ok {
			given = append(given, k)
		}
	}
	switch {
	case len(given) == 0:
		c.add("", "one video source is required: video, template or source")
	case len(given) > 1:
		for _, k := range given[1:] {
			c.add(k, "only one video source is allowed, and %s is given too", given[0])
		}
	}
}

// video checks the video block, a v3 POST /v3/videos body.
func (c *checker) video(v map[string]any) map[string]any {
	if len(v) == 0 {
		c.add("video", "a video block (a v3 POST /v3/videos body) is required")
	} else if _, isStr := v["type"].(string); !isStr {
		c.add("video.type", "required, for example avatar")
	}
	c.reserved("video", v)
	return v
}

// template checks the template block: its id, and the body of the call without it.
func (c *checker) template(t map[string]any) *workflows.TemplateSource {
	tid, _ := c.str(t, "id", "template.id")
	if tid == "" && (t["id"] == nil || t["id"] == "") {
		c.add("template.id", "required: the template's ID")
	}
	c.reserved("template", t)
	body := make(map[string]any, len(t))
	for k, v := range t {
		if k != "id" {
			body[k] = v
		}
	}
	return &workflows.TemplateSource{ID: tid, Body: body}
}

// retiredLegacyVideo is the key of the v2 body that reelflow took before HeyGen retired
// POST /v2/video/generate.
const retiredLegacyVideo = "legacy_video"

// withoutRetired is doc without its legacy_video key, which legacyVideo reports.
func withoutRetired(doc map[string]any) map[string]any {
	if _, ok := doc[retiredLegacyVideo]; !ok {
		return doc
	}
	out := make(map[string]any, len(doc))
	for k, v := range doc {
		if k != retiredLegacyVideo {
			out[k] = v
		}
	}
	return out
}

// legacyVideo refuses the legacy_video block with one clear message (rather than
// "unknown key" plus "a video source is required"): the endpoint is gone, and this is
// the v3 form that replaces it.
func (c *checker) legacyVideo() {
	c.add(retiredLegacyVideo, "HeyGen retired POST /v2/video/generate (its v1 and v2 endpoints reached end of life "+
		"on 2026-11-01); write the scenes as a v3 studio video instead: "+
		"video: {type: studio, scenes: [{type: avatar_video, input: {type: avatar, avatar_id: ..., voice_id: ..., script: ...}}, ...]} "+
		"(each video_inputs entry becomes one scene; see examples/studio.yaml)")
}

// source checks the source block; a source video is only ever translated.
func (c *checker) source(s map[string]any, translated bool) *workflows.VideoSource {
	u, _ := c.str(s, "url", "source.url")
	if u == "" {
		c.add("source.url", "required: the URL of the video to translate")
	} else if !HTTPURL(u) {
		c.add("source.url", "%q is not an http(s) URL", u)
	}
	if !translated {
		c.add("source", "a source video is only translated, so translate is required")
	}
	return &workflows.VideoSource{URL: u}
}

// deliver checks the deliver block's bucket URL.
func (c *checker) deliver(d map[string]any) *workflows.Deliver {
	to, _ := c.str(d, "to", "deliver.to")
	if to == "" {
		c.add("deliver.to", "required: a bucket URL such as file://./out or s3://bucket")
	} else if u, err := url.Parse(to); err != nil || !slices.Contains(bucketSchemes, u.Scheme) {
		c.add("deliver.to", "%q is not a bucket URL; use file://, s3://, gs:// or azblob://", to)
	}
	return &workflows.Deliver{To: to}
}

// notify checks the notify block: an endpoint, and the name (never the value) of the
// environment variable that holds its secret.
func (c *checker) notify(n map[string]any) *workflows.Notify {
	u, _ := c.str(n, "url", "notify.url")
	if u == "" {
		c.add("notify.url", "required: the URL that receives the signed summary")
	} else if !HTTPURL(u) {
		c.add("notify.url", "%q is not an http(s) URL", u)
	}
	env, _ := c.str(n, "secret_env", "notify.secret_env")
	switch {
	case env == "":
		c.add("notify.secret_env", "required: the environment variable, on the worker, that holds the whsec_ secret")
	case strings.HasPrefix(env, "whsec_"):
		c.add("notify.secret_env", "names an environment variable; never put the secret itself in a spec")
	case !envNamePattern.MatchString(env):
		c.add("notify.secret_env", "%q is not an environment variable name", env)
	}
	return &workflows.Notify{URL: u, SecretEnv: env}
}

// timeouts checks the timeouts block: every key given is a positive duration, and
// together they agree (timeoutsAgree).
func (c *checker) timeouts(t map[string]any) workflows.Timeouts {
	var out workflows.Timeouts
	set := map[string]bool{}
	bad := false
	for _, f := range []struct {
		key string
		dst *time.Duration
	}{
		{"push_window", &out.PushWindow},
		{"deadline", &out.Deadline},
		{"poll_initial", &out.PollInitial},
		{"poll_max", &out.PollMax},
		{"sweep", &out.Sweep},
	} {
		v, present := t[f.key]
		if !present {
			continue
		}
		s, isStr := v.(string)
		d, err := time.ParseDuration(s)
		if !isStr || err != nil || d <= 0 {
			c.add("timeouts."+f.key, "%s is not a positive duration such as 15m or 24h", quoteValue(v))
			bad = true
			continue
		}
		*f.dst, set[f.key] = d, true
	}
	if !bad {
		c.timeoutsAgree(out, set)
	}
	return out
}

// translate checks the translate block.
func (c *checker) translate(t map[string]any) *workflows.Translate {
	out := &workflows.Translate{}
	raw, present := t["languages"]
	list, isList := raw.([]any)
	switch {
	case !present || raw == nil:
		c.add("translate.languages", "required: a list of languages such as \"Spanish (Spain)\"")
	case !isList:
		c.add("translate.languages", "must be a list of languages such as [\"Spanish (Spain)\", French]")
	case len(list) == 0:
		c.add("translate.languages", "empty: name at least one language")
	}
	seen := map[string]int{}
	for i, v := range list {
		field := fmt.Sprintf("translate.languages[%d]", i)
		s, isStr := v.(string)
		s = strings.TrimSpace(s)
		switch {
		case !isStr:
			c.add(field, "must be a language name")
		case s == "":
			c.add(field, "empty language")
		default:
			slug := workflows.LanguageSlug(s)
			if j, dup := seen[slug]; dup {
				c.add(field, "%q repeats translate.languages[%d] (both are step %s)", s, j, workflows.TranslateStep(s))
				continue
			}
			seen[slug] = i
			out.Languages = append(out.Languages, s)
		}
	}
	if mode, ok := c.str(t, "mode", "translate.mode"); ok && !slices.Contains(translateModes, mode) {
		c.add("translate.mode", "%q is not speed or precision", mode)
	} else {
		out.Mode = mode
	}
	out.Captions = c.boolean(t, "captions", "translate.captions")
	return out
}

// reserved reports the body keys reelflow sets itself.
func (c *checker) reserved(block string, body map[string]any) {
	for _, k := range []string{"callback_id", "callback_url"} {
		if _, ok := body[k]; ok {
			c.add(block+"."+k, "reelflow sets %s itself; remove it", k)
		}
	}
}

// HTTPURL reports whether s is an absolute http or https URL with a host.
func HTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// quoteValue shows a value in a message: strings quoted, null as null (not Go's
// "<nil>"), the rest as written.
func quoteValue(v any) string {
	if s, ok := v.(string); ok {
		return fmt.Sprintf("%q", s)
	}
	if v == nil {
		return "null"
	}
	return fmt.Sprint(v)
}

// closest suggests the allowed key nearest to k, when it is a likely typo.
func closest(k string, allowed []string) string {
	best, bestD := "", 3 // at most two edits away
	for _, a := range allowed {
		if d := editDistance(k, a); d < bestD {
			best, bestD = a, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of two short strings.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
