package spec

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/reelflow/reelflow/contract"
	"github.com/reelflow/reelflow/workflows"
)

// published is HeyGen's contract, compiled on first use and only read after: compiling
// every schema takes a tenth of a second or more, and a batch checks each row.
var published = sync.OnceValues(contract.Load)

// The operations whose request schemas a spec's bodies are checked against.
const (
	opVideo       = "video-create"
	opTemplate    = "template-generate"
	opTranslation = "video-translate-create"
)

// renderURL stands in, in a translation's body, for the render's video link, which
// HeyGen gives only when the render is done.
const renderURL = "https://render.invalid/video.mp4"

// bodies checks each HeyGen body the pipeline will send against HeyGen's published
// request schema: the video body and the template call's body as written, and each
// translation's body as the Pipeline builds it (workflows.TranslationBody). A problem
// is reported at the spec's field it comes from; one the spec's own checks already
// reported there is not repeated.
func (c *checker) bodies(in workflows.PipelineInput) {
	ct, err := published()
	if err != nil {
		c.add("", "HeyGen's published contract does not load: %v", err) // embedded: a broken build
		return
	}
	if in.Video != nil {
		c.body(ct, opVideo, in.Video, func(p string) string { return join("video", p) })
	}
	if in.Template != nil {
		c.body(ct, opTemplate, in.Template.Body, func(p string) string { return join("template", p) })
	}
	if in.Translate == nil {
		return
	}
	video := renderURL
	if in.Source != nil && HTTPURL(in.Source.URL) {
		video = in.Source.URL
	}
	for i, lang := range in.Translate.Languages {
		c.body(ct, opTranslation, workflows.TranslationBody(in, lang, video), func(p string) string { return translationField(p, i) })
	}
}

// body checks one body against op's request schema; field maps a body's field (as
// HeyGen's error.param names it) to the spec's.
func (c *checker) body(ct *contract.Contract, opName string, body map[string]any, field func(string) string) {
	op, ok := ct.Op(opName)
	if !ok {
		c.add("", "HeyGen's published contract has no %s", opName) // embedded: a broken build
		return
	}
	if c.reported(field("")) {
		return // the block as a whole is wrong already
	}
	what := "HeyGen's " + op.Method + " " + op.Path
	b, err := json.Marshal(body)
	if err != nil {
		c.add(field(""), "cannot be sent to %s: %v", what, err)
		return
	}
	vs := op.RequestViolations(b)
	// Unknown fields first, so that a typo's "did you mean" stands for the field it
	// leaves missing.
	slices.SortStableFunc(vs, func(a, b *contract.Violation) int {
		return boolRank(a.Published == nil) - boolRank(b.Published == nil)
	})
	for _, v := range vs {
		f := field(v.Param)
		switch {
		case c.reported(f):
		case v.Published != nil:
			c.unknownBodyKey(f, what, v.Published)
		case v.Message == "is required":
			c.add(f, "required by %s", what)
		default:
			c.add(f, "%s (%s)", v.Message, what)
		}
	}
}

// unknownBodyKey reports a field that HeyGen does not publish, with the likely field it
// was meant to be.
func (c *checker) unknownBodyKey(field, what string, published []string) {
	key := field[strings.LastIndex(field, ".")+1:]
	parent := strings.TrimSuffix(field, key)
	if s := closest(key, published); s != "" {
		c.add(field, "unknown key; did you mean %s? (%s)", s, what)
		c.suggested[parent+s] = true
		return
	}
	c.add(field, "unknown key; %s takes %s", what, strings.Join(published, ", "))
}

// reported reports whether a problem at field was already added.
func (c *checker) reported(field string) bool {
	return slices.ContainsFunc(c.ps, func(p Problem) bool { return p.Field == field })
}

// translationField maps a field of the translation into the i-th language to the spec's
// field it comes from.
func translationField(p string, i int) string {
	switch {
	case strings.HasPrefix(p, "output_languages"):
		return fmt.Sprintf("translate.languages[%d]", i)
	case p == "mode":
		return "translate.mode"
	case p == "enable_caption":
		return "translate.captions"
	case p == "title":
		return "title"
	case strings.HasPrefix(p, "video"):
		return "source.url"
	}
	return "translate"
}

func join(prefix, p string) string {
	if p == "" {
		return prefix
	}
	return prefix + "." + p
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}
