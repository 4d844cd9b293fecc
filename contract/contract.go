// Package contract holds HeyGen's published API contract: the request and response JSON
// Schemas of every v3 operation reelflow uses (schemas/, copied from HeyGen's OpenAPI; see
// schemas/README.md), compiled with a draft 2020-12 validator.
//
// The sandbox validates every request body against it, the contract tests hold the
// heygen client and the sandbox's answers to it, and spec checks each HeyGen body a spec
// passes through before anything starts. It never changes a schema: HeyGen's published
// definitions win over the sandbox and the client wherever they disagree.
//
// It is a leaf package of its own, not part of heygen (which stays stdlib only) nor of
// sandbox (whose HTTP fake spec must not depend on): it imports only the JSON Schema
// validator and golang.org/x/text.
package contract

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

//go:embed schemas/*.json
var schemaFiles embed.FS

// baseURL names the compiled schemas; it is never fetched.
const baseURL = "https://reelflow.invalid/contract/"

// Param is a query or path parameter of an operation, as published.
type Param struct {
	Name     string   `json:"name"`
	In       string   `json:"in"` // "query" or "path"
	Type     string   `json:"type"`
	Required bool     `json:"required"`
	Default  string   `json:"default,omitempty"`
	Min      *int     `json:"min,omitempty"`
	Max      *int     `json:"max,omitempty"`
	Enum     []string `json:"enum,omitempty"`
}

// Operation is one published HeyGen operation.
type Operation struct {
	// Name is HeyGen's operation ID, e.g. "VideoCreate".
	Name string
	// File is the schema file's base name without .json, e.g. "video-create".
	File string
	// Method and Path are the HTTP method and the path template, e.g. "/v3/videos/{video_id}".
	Method string
	Path   string
	// Params are the query and path parameters.
	Params []Param

	request  *jsonschema.Schema // nil for an operation without a body
	response *jsonschema.Schema
	// variants are the members of a request body's oneOf, by the const of their "type"
	// property, so that a violation names the field of the member the body chose rather
	// than every member's complaint.
	variants map[string]*jsonschema.Schema
	// responseDoc is the response schema as parsed JSON, walked for unpublished fields.
	responseDoc any
	// requestDoc is the request schema as parsed JSON, walked for unpublished fields.
	requestDoc any
}

// HasRequestBody reports whether the operation takes a JSON body.
func (o *Operation) HasRequestBody() bool { return o.request != nil }

// Param returns the named parameter.
func (o *Operation) Param(name string) (Param, bool) {
	for _, p := range o.Params {
		if p.Name == name {
			return p, true
		}
	}
	return Param{}, false
}

// ValidateRequest checks a request body against the published request schema. An
// operation without a body accepts only an empty one. A body that breaks the schema gets
// a *Violation naming the offending field.
func (o *Operation) ValidateRequest(body []byte) error {
	if o.request == nil {
		if len(bytes.TrimSpace(body)) == 0 {
			return nil
		}
		return &Violation{Message: o.Name + " takes no request body"}
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return &Violation{Message: "body is not JSON"}
	}
	s := o.request
	if o.variants != nil {
		if s, err = o.variant(v); err != nil {
			return err
		}
	}
	if err := s.Validate(v); err != nil {
		return violationOf(err, v)
	}
	return nil
}

// variant picks the oneOf member a body names in its "type".
func (o *Operation) variant(v any) (*jsonschema.Schema, error) {
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, &Violation{Message: "body must be a JSON object"}
	}
	names := make([]string, 0, len(o.variants))
	for name := range o.variants {
		names = append(names, name)
	}
	sort.Strings(names)
	t, ok := obj["type"].(string)
	if !ok {
		return nil, &Violation{Param: "type", Message: "type is required: one of " + strings.Join(names, ", ")}
	}
	s := o.variants[t]
	if s == nil {
		return nil, &Violation{Param: "type", Message: fmt.Sprintf("type %q is not one of %s", t, strings.Join(names, ", "))}
	}
	return s, nil
}

// HasResponseSchema reports whether HeyGen publishes the operation's answer. Some
// operations (a batch create, for one) publish none.
func (o *Operation) HasResponseSchema() bool { return o.response != nil }

// ValidateResponse checks a whole 2xx answer (HeyGen's {"data": ...} envelope included)
// against the published response schema. Where none is published it checks only that the
// answer is JSON.
func (o *Operation) ValidateResponse(body []byte) error {
	if o.response == nil {
		if !json.Valid(body) {
			return fmt.Errorf("%s: answer is not JSON", o.Name)
		}
		return nil
	}
	return validate(o.response, body)
}

func validate(s *jsonschema.Schema, body []byte) error {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	return s.Validate(v)
}

// Contract is the set of published operations.
type Contract struct {
	ops      []*Operation
	errorEnv *jsonschema.Schema // HeyGen's error envelope
	errorDoc any
}

// Load compiles every embedded schema. It fails only when the embedded files are broken.
func Load() (*Contract, error) {
	names, err := fs.Glob(schemaFiles, "schemas/*.json")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	c := &Contract{}
	comp := jsonschema.NewCompiler()
	comp.DefaultDraft(jsonschema.Draft2020)
	for _, name := range names {
		op, err := loadOperation(comp, name)
		if err != nil {
			return nil, fmt.Errorf("contract %s: %w", name, err)
		}
		c.ops = append(c.ops, op)
	}
	if c.errorEnv, c.errorDoc, err = compileError(comp); err != nil {
		return nil, fmt.Errorf("contract error envelope: %w", err)
	}
	return c, nil
}

// file is the layout of one schema file.
type file struct {
	Method         string          `json:"method"`
	Operation      string          `json:"operation"`
	Path           string          `json:"path"`
	Params         []Param         `json:"params"`
	RequestSchema  json.RawMessage `json:"request_schema"`
	ResponseSchema json.RawMessage `json:"response_schema"`
}

func loadOperation(comp *jsonschema.Compiler, name string) (*Operation, error) {
	raw, err := schemaFiles.ReadFile(name)
	if err != nil {
		return nil, err
	}
	var f file
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, err
	}
	base := strings.TrimSuffix(path.Base(name), ".json")
	op := &Operation{Name: f.Operation, File: base, Method: f.Method, Path: f.Path, Params: f.Params}
	if present(f.ResponseSchema) {
		if op.response, err = compile(comp, base+"/response", f.ResponseSchema); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(f.ResponseSchema, &op.responseDoc); err != nil {
			return nil, err
		}
	}
	if present(f.RequestSchema) {
		if op.request, err = compile(comp, base+"/request", f.RequestSchema); err != nil {
			return nil, err
		}
		if op.variants, err = compileVariants(comp, base+"/request", f.RequestSchema); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(f.RequestSchema, &op.requestDoc); err != nil {
			return nil, err
		}
	}
	return op, nil
}

// compileVariants compiles each member of a top-level oneOf whose members all carry a
// const "type", keyed by that const; nil when the schema has no such oneOf.
func compileVariants(comp *jsonschema.Compiler, id string, raw json.RawMessage) (map[string]*jsonschema.Schema, error) {
	var doc struct {
		OneOf []struct {
			Properties struct {
				Type struct {
					Const string `json:"const"`
				} `json:"type"`
			} `json:"properties"`
		} `json:"oneOf"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil || len(doc.OneOf) == 0 {
		return nil, nil //nolint:nilerr // not a discriminated union
	}
	out := map[string]*jsonschema.Schema{}
	for i, m := range doc.OneOf {
		if m.Properties.Type.Const == "" {
			return nil, nil
		}
		s, err := comp.Compile(fmt.Sprintf("%s%s.json#/oneOf/%d", baseURL, id, i))
		if err != nil {
			return nil, err
		}
		out[m.Properties.Type.Const] = s
	}
	return out, nil
}

func present(raw json.RawMessage) bool { return len(raw) > 0 && string(raw) != "null" }

func compile(comp *jsonschema.Compiler, id string, raw json.RawMessage) (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	url := baseURL + id + ".json"
	if err := comp.AddResource(url, doc); err != nil {
		return nil, err
	}
	return comp.Compile(url)
}

// Operations returns every operation, ordered by file name.
func (c *Contract) Operations() []*Operation { return c.ops }

// Op returns the operation with HeyGen's operation ID name (e.g. "VideoCreate") or the
// file name (e.g. "video-create").
func (c *Contract) Op(name string) (*Operation, bool) {
	for _, op := range c.ops {
		if op.Name == name || op.File == name {
			return op, true
		}
	}
	return nil, false
}

// Match returns the operation whose method and path template match a request, with the
// values of its path parameters. A literal segment wins over a parameter, so
// /v3/videos/statuses is VideoStatusesList, not VideoGet.
func (c *Contract) Match(method, urlPath string) (*Operation, map[string]string, bool) {
	segs := strings.Split(strings.Trim(urlPath, "/"), "/")
	var (
		best       *Operation
		bestParams map[string]string
		bestScore  = -1
	)
	for _, op := range c.ops {
		if op.Method != method {
			continue
		}
		params, score, ok := matchPath(op.Path, segs)
		if ok && score > bestScore {
			best, bestParams, bestScore = op, params, score
		}
	}
	return best, bestParams, best != nil
}

// matchPath matches a path template against path segments; score counts literal matches.
func matchPath(tmpl string, segs []string) (map[string]string, int, bool) {
	parts := strings.Split(strings.Trim(tmpl, "/"), "/")
	if len(parts) != len(segs) {
		return nil, 0, false
	}
	params := map[string]string{}
	score := 0
	for i, p := range parts {
		if strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}") {
			if segs[i] == "" {
				return nil, 0, false
			}
			params[p[1:len(p)-1]] = segs[i]
			continue
		}
		if p != segs[i] {
			return nil, 0, false
		}
		score++
	}
	return params, score, true
}
