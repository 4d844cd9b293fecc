// Package spec reads pipeline specs (YAML or JSON) into workflows.PipelineInput and
// validates them before anything starts. Errors name the file, the line and the field,
// for example "launch-q3.yaml:7: timeouts.deadline: invalid duration".
package spec

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/reelflow/reelflow/workflows"
)

// ErrInvalid marks every validation failure; the CLI exits 2 on it.
var ErrInvalid = errors.New("invalid spec")

// Spec is a pipeline spec as written by a user.
type Spec struct {
	ID       string         `yaml:"id"`
	Title    string         `yaml:"title"`
	Video    map[string]any `yaml:"video"`
	Timeouts *Timeouts      `yaml:"timeouts"`
}

// Timeouts are durations such as "15m" or "24h".
type Timeouts struct {
	PushWindow  string `yaml:"push_window"`
	Deadline    string `yaml:"deadline"`
	PollInitial string `yaml:"poll_initial"`
	PollMax     string `yaml:"poll_max"`
}

// Load reads and validates the spec at path. YAML is a superset of JSON, so one parser
// reads both.
func Load(path string) (workflows.PipelineInput, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return workflows.PipelineInput{}, fmt.Errorf("read spec: %w", err)
	}
	return Parse(filepath.Base(path), b)
}

// Parse validates a spec; name prefixes error messages.
func Parse(name string, b []byte) (workflows.PipelineInput, error) {
	var s Spec
	if err := yaml.UnmarshalWithOptions(b, &s, yaml.DisallowUnknownField()); err != nil {
		msg := yaml.FormatError(err, false, false)
		if m := yamlPos.FindStringSubmatch(msg); m != nil {
			return workflows.PipelineInput{}, fmt.Errorf("%w: %s:%s: %s", ErrInvalid, name, m[1], m[2])
		}
		return workflows.PipelineInput{}, fmt.Errorf("%w: %s: %s", ErrInvalid, name, msg)
	}
	fail := func(field, format string, args ...any) (workflows.PipelineInput, error) {
		line := lineOf(b, field)
		return workflows.PipelineInput{}, fmt.Errorf("%w: %s:%d: %s: %s", ErrInvalid, name, line, field, fmt.Sprintf(format, args...))
	}
	if !workflows.ValidPipelineID(s.ID) {
		return fail("id", "%q must match [A-Za-z0-9._-]{1,128}", s.ID)
	}
	if len(s.Video) == 0 {
		return fail("video", "a video block (a v3 POST /v3/videos body) is required")
	}
	if _, ok := s.Video["type"].(string); !ok {
		return fail("video.type", "required, for example avatar")
	}
	in := workflows.PipelineInput{ID: s.ID, Title: s.Title, Video: s.Video}
	if s.Timeouts != nil {
		for _, f := range []struct {
			field string
			val   string
			dst   *time.Duration
		}{
			{"timeouts.push_window", s.Timeouts.PushWindow, &in.Timeouts.PushWindow},
			{"timeouts.deadline", s.Timeouts.Deadline, &in.Timeouts.Deadline},
			{"timeouts.poll_initial", s.Timeouts.PollInitial, &in.Timeouts.PollInitial},
			{"timeouts.poll_max", s.Timeouts.PollMax, &in.Timeouts.PollMax},
		} {
			if f.val == "" {
				continue
			}
			d, err := time.ParseDuration(f.val)
			if err != nil || d <= 0 {
				return fail(f.field, "%q is not a positive duration such as 15m or 24h", f.val)
			}
			*f.dst = d
		}
	}
	return in, nil
}

// yamlPos reads the "[line:col] message" form of the YAML parser's errors.
var yamlPos = regexp.MustCompile(`^\[(\d+):\d+\] (.*)$`)

// lineOf finds the line of a dotted field path in the source. A missing field is
// reported at its nearest parent that exists, and at line 1 if none does.
func lineOf(src []byte, field string) int {
	for field != "" {
		if p, err := yaml.PathString("$." + field); err == nil {
			if node, err := p.ReadNode(bytes.NewReader(src)); err == nil && node != nil && node.GetToken() != nil {
				return node.GetToken().Position.Line
			}
		}
		i := strings.LastIndexByte(field, '.')
		if i < 0 {
			break
		}
		field = field[:i]
	}
	return 1
}
