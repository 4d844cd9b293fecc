package contract

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
)

// RequestViolations checks a request body against the published request schema, as
// ValidateRequest does, but reports every problem rather than the first: each violation
// of the schema at its deepest cause, and each field the schema does not publish. HeyGen
// publishes its request schemas without forbidding other fields, so an unpublished field
// is not refused by the schema; it is reported because HeyGen does nothing with it, and
// it is most often a typo ("avatr_id") whose real field then goes missing. Such a
// Violation has Published set: the fields the schema publishes at that place.
//
// The violations are ordered by field; nil means the body is good.
func (o *Operation) RequestViolations(body []byte) []*Violation {
	if o.request == nil {
		if err := o.ValidateRequest(body); err != nil {
			return []*Violation{asViolation(err)}
		}
		return nil
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return []*Violation{{Message: "body is not JSON"}}
	}
	out := o.schemaViolations(v)
	if o.requestDoc != nil {
		unpublishedFields(o.requestDoc, v, "", &out)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Param < out[j].Param })
	return out
}

// schemaViolations is one Violation per cause of the schema's complaint, at the cause's
// deepest field.
func (o *Operation) schemaViolations(v any) []*Violation {
	s := o.request
	if o.variants != nil {
		var err error
		if s, err = o.variant(v); err != nil {
			return []*Violation{asViolation(err)}
		}
	}
	err := s.Validate(v)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return []*Violation{{Message: err.Error()}}
	}
	causes := ve.Causes
	if _, wrapper := ve.ErrorKind.(*kind.Schema); !wrapper || len(causes) == 0 {
		causes = []*jsonschema.ValidationError{ve}
	}
	var out []*Violation
	seen := map[string]bool{}
	for _, c := range causes {
		viol := asViolation(violationOf(c, v))
		if !seen[viol.Error()] {
			seen[viol.Error()] = true
			out = append(out, viol)
		}
	}
	return out
}

func asViolation(err error) *Violation {
	var viol *Violation
	if errors.As(err, &viol) {
		return viol
	}
	return &Violation{Message: err.Error()}
}

// unpublishedFields appends a Violation for each member of v that schema publishes no
// property for. An object published with no properties is free-form. In a union
// (oneOf, anyOf) the member v names by a const property (its "type", an
// "engine_type") is the one that counts; among members that name none, the one that
// publishes most of v.
func unpublishedFields(schema, v any, at string, out *[]*Violation) {
	s, ok := schema.(map[string]any)
	if !ok {
		return
	}
	for _, union := range []string{"oneOf", "anyOf"} {
		if members, ok := s[union].([]any); ok {
			if m := requestMember(members, v, at); m != nil {
				unpublishedFields(m, v, at, out)
			}
			return
		}
	}
	switch v := v.(type) {
	case map[string]any:
		props, _ := s["properties"].(map[string]any)
		if len(props) == 0 {
			return
		}
		published := make([]string, 0, len(props))
		for k := range props {
			published = append(published, k)
		}
		sort.Strings(published)
		for _, k := range sortedKeys(v) {
			if p, ok := props[k]; ok {
				unpublishedFields(p, v[k], join(at, k), out)
				continue
			}
			*out = append(*out, &Violation{Param: join(at, k), Message: "is not a field HeyGen publishes here", Published: published})
		}
	case []any:
		for i, item := range v {
			unpublishedFields(s["items"], item, fmt.Sprintf("%s[%d]", at, i), out)
		}
	}
}

// requestMember picks the union member that v is checked against; nil when v names a
// member by a const that no member has (the schema's own violation says so).
func requestMember(members []any, v any, at string) any {
	var named, rest []any
	discriminated := false
	for _, m := range members {
		switch matchConsts(m, v) {
		case constMatch:
			named = append(named, m)
			discriminated = true
		case constMismatch:
			discriminated = true
		case constNone:
			rest = append(rest, m)
		}
	}
	if len(named) > 0 {
		return named[0]
	}
	if discriminated && len(rest) == 0 {
		return nil
	}
	var best any
	bestN := -1
	for _, m := range rest {
		var got []*Violation
		unpublishedFields(m, v, at, &got)
		if bestN < 0 || len(got) < bestN {
			best, bestN = m, len(got)
		}
	}
	return best
}

// How a union member's const properties meet an object.
const (
	constNone     = iota // the member has no const property, or v is not an object
	constMatch           // every const property has its value in v
	constMismatch        // some const property has another value, or none, in v
)

func matchConsts(member, v any) int {
	m, _ := member.(map[string]any)
	props, _ := m["properties"].(map[string]any)
	obj, isObj := v.(map[string]any)
	result := constNone
	for k, p := range props {
		c, hasConst := p.(map[string]any)["const"]
		if !hasConst {
			continue
		}
		if !isObj || obj[k] != c {
			return constMismatch
		}
		result = constMatch
	}
	return result
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
