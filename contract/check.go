package contract

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// Violation is a body that breaks a published schema.
type Violation struct {
	// Param is the offending field as HeyGen's error.param names it: "avatar_id",
	// "video.url", "output_languages[0]"; "" when the body as a whole is wrong.
	Param string
	// Message says what is wrong, in one line.
	Message string
	// Published is set only for a field the schema does not publish
	// (RequestViolations): the fields it publishes at that place, sorted.
	Published []string
}

// Error reads like "avatar_id: got number, want string".
func (v *Violation) Error() string {
	if v.Param == "" {
		return v.Message
	}
	return v.Param + ": " + v.Message
}

// violationOf turns a validator error about instance into a Violation at its deepest
// cause: the field a caller has to fix, not the union or object around it.
func violationOf(err error, instance any) error {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return &Violation{Message: err.Error()}
	}
	leaf := pick(leaves(ve, nil), instance)
	loc := leaf.InstanceLocation
	if req, ok := leaf.ErrorKind.(*kind.Required); ok && len(req.Missing) > 0 {
		loc = append(append([]string(nil), loc...), req.Missing[0])
		return &Violation{Param: paramOf(loc), Message: "is required"}
	}
	if enum, ok := leaf.ErrorKind.(*kind.Enum); ok {
		return &Violation{Param: paramOf(loc), Message: "must be one of " + jsonList(enum.Want)}
	}
	p := message.NewPrinter(language.English)
	return &Violation{Param: paramOf(loc), Message: leaf.ErrorKind.LocalizedString(p)}
}

// jsonList writes values as JSON, comma-separated: "4k", "720p", null.
func jsonList(vs []any) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		b, _ := json.Marshal(v)
		parts[i] = string(b)
	}
	return strings.Join(parts, ", ")
}

// leaves collects the causes that have no causes of their own. In a oneOf whose members
// are told apart by a const (a scene's "type"), only the members the value names count:
// the others' complaints are about a shape it never chose. When it names none, the one
// leaf is its discriminator, with the values it may take.
func leaves(ve *jsonschema.ValidationError, out []*jsonschema.ValidationError) []*jsonschema.ValidationError {
	if len(ve.Causes) == 0 {
		return append(out, ve)
	}
	causes := ve.Causes
	if _, isOneOf := ve.ErrorKind.(*kind.OneOf); isOneOf {
		named, wrong := namedMembers(ve)
		if wrong != nil {
			return append(out, wrong)
		}
		if named != nil {
			causes = named
		}
	}
	for _, c := range causes {
		out = leaves(c, out)
	}
	return out
}

// namedMembers splits a oneOf's causes by their discriminator: a const that failed on a
// direct field of the value. named are the members without such a failure, when some
// member has one; wrong is set instead when every member has one.
func namedMembers(ve *jsonschema.ValidationError) (named []*jsonschema.ValidationError, wrong *jsonschema.ValidationError) {
	var (
		want    []any
		mismLoc []string
		got     any
	)
	for _, c := range ve.Causes {
		cst, loc := discriminatorFailure(c, len(ve.InstanceLocation)+1)
		if cst == nil {
			named = append(named, c)
			continue
		}
		want, mismLoc, got = append(want, cst.Want), loc, cst.Got
	}
	switch {
	case want == nil:
		return nil, nil
	case named == nil:
		return nil, &jsonschema.ValidationError{InstanceLocation: mismLoc, ErrorKind: &kind.Enum{Got: got, Want: want}}
	}
	return named, nil
}

// discriminatorFailure finds a const failure at depth (a direct field of the oneOf's
// value) in a member's complaint: the complaint itself, or one of its causes.
func discriminatorFailure(c *jsonschema.ValidationError, depth int) (*kind.Const, []string) {
	for _, e := range append([]*jsonschema.ValidationError{c}, c.Causes...) {
		if k, ok := e.ErrorKind.(*kind.Const); ok && len(e.InstanceLocation) == depth {
			return k, e.InstanceLocation
		}
	}
	return nil, nil
}

// pick chooses the leaf with the longest instance location. Among ties it prefers a
// missing field that the object's own "type" names, HeyGen's way of choosing a union
// member ({"type": "asset_id"} lacks asset_id, not url); else the first.
func pick(all []*jsonschema.ValidationError, instance any) *jsonschema.ValidationError {
	best := all[0]
	for _, l := range all[1:] {
		if len(l.InstanceLocation) > len(best.InstanceLocation) {
			best = l
		}
	}
	for _, l := range all {
		req, ok := l.ErrorKind.(*kind.Required)
		if !ok || len(l.InstanceLocation) != len(best.InstanceLocation) {
			continue
		}
		obj, _ := at(instance, l.InstanceLocation).(map[string]any)
		if t, _ := obj["type"].(string); t != "" && contains(req.Missing, t) {
			return l
		}
	}
	return best
}

// at returns the member of v at loc, nil if there is none.
func at(v any, loc []string) any {
	for _, seg := range loc {
		switch x := v.(type) {
		case map[string]any:
			v = x[seg]
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// paramOf writes an instance location the way HeyGen's error.param does.
func paramOf(loc []string) string {
	var b strings.Builder
	for _, seg := range loc {
		if _, err := strconv.Atoi(seg); err == nil && b.Len() > 0 {
			b.WriteString("[" + seg + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(seg)
	}
	return b.String()
}

// errorSchema is HeyGen's error envelope, as the API reference states it in prose:
// {"error": {"code", "message", "param", "doc_url"}}.
const errorSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "required": ["error"],
  "properties": {
    "error": {
      "type": "object",
      "required": ["code", "message"],
      "properties": {
        "code": {"type": "string", "minLength": 1},
        "message": {"type": "string"},
        "param": {"type": ["string", "null"]},
        "doc_url": {"type": ["string", "null"]}
      }
    }
  }
}`

// CheckError checks an error answer: HeyGen's envelope, and nothing else.
func (c *Contract) CheckError(body []byte) error {
	if err := validate(c.errorEnv, body); err != nil {
		return err
	}
	return unpublished(c.errorDoc, body)
}

// CheckResponse checks a whole 2xx answer: it validates against the published response
// schema (ValidateResponse) and carries no field the schema does not publish. The
// published schemas do not forbid other fields, but HeyGen's answers are what it
// publishes, and a client that reads more is reading what it cannot count on. An object
// published with no properties at all (event_data, a bulk row's error) is free-form.
func (o *Operation) CheckResponse(body []byte) error {
	if err := o.ValidateResponse(body); err != nil {
		return err
	}
	if o.responseDoc == nil {
		return nil
	}
	return unpublished(o.responseDoc, body)
}

// unpublished reports the fields of body that schema does not publish.
func unpublished(schema any, body []byte) error {
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	var extra []string
	walk(schema, v, "", &extra)
	if len(extra) == 0 {
		return nil
	}
	sort.Strings(extra)
	return fmt.Errorf("unpublished fields: %s", strings.Join(extra, ", "))
}

// walk collects into extra the members of v that schema has no property for.
func walk(schema, v any, at string, extra *[]string) {
	s, ok := schema.(map[string]any)
	if !ok {
		return
	}
	for _, union := range []string{"oneOf", "anyOf"} {
		if members, ok := s[union].([]any); ok {
			walkUnion(members, v, at, extra)
			return
		}
	}
	switch v := v.(type) {
	case map[string]any:
		props, _ := s["properties"].(map[string]any)
		if len(props) == 0 {
			return // free-form
		}
		for k, sub := range v {
			p, ok := props[k]
			if !ok {
				*extra = append(*extra, join(at, k))
				continue
			}
			walk(p, sub, join(at, k), extra)
		}
	case []any:
		for i, item := range v {
			walk(s["items"], item, fmt.Sprintf("%s[%d]", at, i), extra)
		}
	}
}

// walkUnion accepts v when some member publishes all of it, else reports the first
// member's complaint.
func walkUnion(members []any, v any, at string, extra *[]string) {
	var first []string
	for i, m := range members {
		var got []string
		walk(m, v, at, &got)
		if len(got) == 0 {
			return
		}
		if i == 0 {
			first = got
		}
	}
	*extra = append(*extra, first...)
}

func join(at, k string) string {
	if at == "" {
		return k
	}
	return at + "." + k
}

// compileError compiles errorSchema; it is Load's, and fails only if the constant is broken.
func compileError(comp *jsonschema.Compiler) (*jsonschema.Schema, any, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader([]byte(errorSchema)))
	if err != nil {
		return nil, nil, err
	}
	if err := comp.AddResource(baseURL+"error.json", doc); err != nil {
		return nil, nil, err
	}
	s, err := comp.Compile(baseURL + "error.json")
	return s, doc, err
}
