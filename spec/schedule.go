package spec

import (
	"math"
	"slices"
	"strings"
	"unicode"

	"github.com/reelflow/reelflow/workflows"
)

// Where the defaults of a Schedule are filled: here. Every PipelineInput that spec
// returns carries a whole Schedule (priority 3, weight 1, the fairness key), so that what
// the scheduler ranks is what `status` shows and the history records. The scheduler's
// own defaults (workflows.Schedule: zero fields) remain only for inputs built elsewhere.
//
// The default fairness key is the spec's id. For a single pipeline that is its ID; for a
// --rows batch, every row shares it (and Schedule.Campaign is the spec's id), so that a
// campaign takes one fair share, not one per row.

// retryKeys are the keys of the retry block.
var retryKeys = []string{"renders"}

// Limits of the scheduling and retry fields.
const (
	// maxRenderRetries bounds retry.renders: every re-render is a new HeyGen job, billed.
	maxRenderRetries = 10
	// maxFairnessKey is the longest fairness key, in characters.
	maxFairnessKey = 128
)

// ValidPriority reports whether p is a priority a spec or `start --priority` may set:
// 1 (most urgent) to 5, Temporal's convention.
func ValidPriority(p int) bool {
	return p >= workflows.PriorityHighest && p <= workflows.PriorityLowest
}

// schedule checks priority, fairness_key, fairness_weight and budget, and fills the
// defaults of the fields not given; id is the spec's id, the default fairness key.
func (c *checker) schedule(doc map[string]any, id string) workflows.Schedule {
	s := workflows.Schedule{Priority: workflows.PriorityDefault, FairnessKey: id, FairnessWeight: 1}
	if v, ok := doc["priority"]; ok {
		if p, isInt := integer(v); isInt && ValidPriority(p) {
			s.Priority = p
		} else {
			c.add("priority", "%s is not a priority: 1 (most urgent) to 5; 3 is the default", quoteValue(v))
		}
	}
	if v, ok := doc["fairness_key"]; ok {
		k, isStr := v.(string)
		switch {
		case !isStr || strings.TrimSpace(k) == "":
			c.add("fairness_key", "%s is not a fairness key: a name, such as a team or a campaign", quoteValue(v))
		case len([]rune(k)) > maxFairnessKey || strings.ContainsFunc(k, unicode.IsControl):
			c.add("fairness_key", "%q must be at most %d characters, without control characters", k, maxFairnessKey)
		default:
			s.FairnessKey = k
		}
	}
	if v, ok := doc["fairness_weight"]; ok {
		if w, isNum := number(v); isNum && w > 0 && !math.IsInf(w, 0) {
			s.FairnessWeight = w
		} else {
			c.add("fairness_weight", "%s is not a weight: a number above 0, the key's share against the others (1 by default)", quoteValue(v))
		}
	}
	if v, ok := doc["budget"]; ok {
		if b, isInt := integer(v); isInt && b >= 1 {
			s.Budget = b
		} else {
			c.add("budget", "%s is not a budget: the number of HeyGen jobs (renders plus translations) the campaign may start, 1 or more", quoteValue(v))
		}
	}
	return s
}

// retry checks the retry block; nil when it is absent.
func (c *checker) retry(doc map[string]any) *workflows.Retry {
	r, ok := c.block(doc, "retry", retryKeys)
	if !ok {
		return nil
	}
	v, present := r["renders"]
	n, isInt := integer(v)
	switch {
	case !present:
		c.add("retry.renders", "required: how many times a failed render (and each failed translation) is created again, 0 to %d", maxRenderRetries)
	case !isInt || n < 0 || n > maxRenderRetries:
		c.add("retry.renders", "%s is not 0 to %d: each re-render is a new HeyGen job, and HeyGen bills it", quoteValue(v), maxRenderRetries)
	}
	if n < 0 || n > maxRenderRetries {
		n = 0
	}
	return &workflows.Retry{Renders: n}
}

// single checks what only a --rows batch may have, for a spec that runs once: a
// {{column}} placeholder would be rendered word for word (and billed), and a budget caps
// a campaign. A problem at a field that holds a placeholder is the placeholder's: it
// replaces any other problem found there.
func (c *checker) single(doc map[string]any) {
	c.ps = slices.DeleteFunc(c.ps, func(p Problem) bool {
		return p.Field != "" && hasPlaceholder(lookup(doc, p.Field))
	})
	walkStrings(doc, "", func(path, s string) {
		ms := placeholder.FindAllString(s, -1)
		switch len(ms) {
		case 0:
		case 1:
			c.add(path, "%s is a placeholder, filled from a CSV column: start this spec with --rows FILE.csv", ms[0])
		default:
			c.add(path, "%s are placeholders, filled from CSV columns: start this spec with --rows FILE.csv", strings.Join(ms, ", "))
		}
	})
	if _, ok := doc["budget"]; ok && !slices.ContainsFunc(c.ps, func(p Problem) bool { return p.Field == "budget" }) {
		c.add("budget", "caps a campaign of many pipelines: start this spec with --rows FILE.csv, or remove budget")
	}
}

// integer reads a whole number, as YAML and JSON decode it.
func integer(v any) (int, bool) {
	switch n := v.(type) {
	case int:
		return n, true
	case int64:
		return int(n), n == int64(int(n))
	case uint64:
		return int(n), n <= math.MaxInt32
	case float64:
		return int(n), n == math.Trunc(n) && math.Abs(n) <= math.MaxInt32
	}
	return 0, false
}

// number reads any number.
func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case uint64:
		return float64(n), true
	case float64:
		return n, !math.IsNaN(n)
	}
	return 0, false
}
