package contract

import (
	"encoding/json"
	"fmt"
	"slices"
)

// Sparse says how Minimize treats a field that the schema publishes but does not require.
type Sparse int

const (
	// SparseNull sets every such field to null where the schema allows null, and leaves
	// it out where it does not.
	SparseNull Sparse = iota + 1
	// SparseOmit leaves every such field out.
	SparseOmit
)

// Minimize cuts a 2xx answer down to what the published response schema requires: the
// answer of a server that implements the contract and nothing more. Every required field
// stays. A field that is not required stays only when keep names it and it is not null;
// any other is nulled or left out, as sparse says. Objects published with no properties
// (event_data, a bulk row's error) are free-form and stay whole. An operation with no
// published answer, or a body that is not JSON, comes back as it was.
func (o *Operation) Minimize(body []byte, sparse Sparse, keep func(field string) bool) ([]byte, error) {
	if o.responseDoc == nil {
		return body, nil
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return body, fmt.Errorf("%s: answer is not JSON: %w", o.Name, err)
	}
	m := minimizer{sparse: sparse, keep: keep}
	// The envelope's data is the answer itself, though the schemas leave it optional.
	if env, ok := v.(map[string]any); ok {
		if data, ok := env["data"]; ok {
			doc, _ := o.responseDoc.(map[string]any)
			props, _ := doc["properties"].(map[string]any)
			out := m.object(doc, env)
			out["data"] = m.value(props["data"], data)
			return json.Marshal(out)
		}
	}
	return json.Marshal(m.value(o.responseDoc, v))
}

type minimizer struct {
	sparse Sparse
	keep   func(string) bool
}

// value minimizes v against schema.
func (m minimizer) value(schema, v any) any {
	s, ok := schema.(map[string]any)
	if !ok {
		return v
	}
	for _, union := range []string{"oneOf", "anyOf"} {
		if members, ok := s[union].([]any); ok {
			return m.value(memberFor(members, v), v)
		}
	}
	switch v := v.(type) {
	case map[string]any:
		return m.object(s, v)
	case []any:
		out := make([]any, len(v))
		for i, item := range v {
			out[i] = m.value(s["items"], item)
		}
		return out
	}
	return v
}

// object minimizes the members of v that s publishes. Members s does not publish are
// left as they are: CheckResponse reports them.
func (m minimizer) object(s, v map[string]any) map[string]any {
	props, _ := s["properties"].(map[string]any)
	if len(props) == 0 {
		return v // free-form
	}
	required := map[string]bool{}
	for _, r := range asList(s["required"]) {
		if name, ok := r.(string); ok {
			required[name] = true
		}
	}
	out := make(map[string]any, len(v))
	for k, sub := range v {
		p, published := props[k]
		switch {
		case !published || required[k] || (sub != nil && m.keep != nil && m.keep(k)):
			out[k] = m.value(p, sub)
		case m.sparse == SparseNull && allowsNull(p):
			out[k] = nil
		}
	}
	return out
}

// memberFor picks the union member that publishes every field of v, else the first.
func memberFor(members []any, v any) any {
	for _, mem := range members {
		var extra []string
		walk(mem, v, "", &extra)
		if len(extra) == 0 {
			return mem
		}
	}
	if len(members) > 0 {
		return members[0]
	}
	return nil
}

// allowsNull reports whether schema accepts null: a "type" that lists it, or a union
// member of type null.
func allowsNull(schema any) bool {
	s, ok := schema.(map[string]any)
	if !ok {
		return false
	}
	switch t := s["type"].(type) {
	case string:
		if t == "null" {
			return true
		}
	case []any:
		if slices.Contains(t, any("null")) {
			return true
		}
	}
	for _, union := range []string{"oneOf", "anyOf"} {
		for _, mem := range asList(s[union]) {
			if allowsNull(mem) {
				return true
			}
		}
	}
	return false
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}
