package heygen

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reelflow/reelflow/contract"
)

// The contract tests hold the client to HeyGen's published schemas (the copies in
// contract/schemas, see the README there): every body the client builds is
// validated against the request schema, and the client must read every answer built
// from the response schema alone, with only the required fields (every nullable one
// null) and with every field.

// loadContract compiles the published schemas once for the whole test binary.
var loadContract = sync.OnceValues(contract.Load)

// mustLoad returns the compiled contract.
func mustLoad(t *testing.T) *contract.Contract {
	t.Helper()
	c, err := loadContract()
	require.NoError(t, err)
	return c
}

// op returns the published operation name ("video-create" or "VideoCreate").
func op(t *testing.T, name string) *contract.Operation {
	t.Helper()
	o, ok := mustLoad(t).Op(name)
	require.True(t, ok, "no published operation %s", name)
	return o
}

// mustPublished fails the test unless body is a published answer of the operation, so
// that every fixture the tests serve is proven to be HeyGen's shape.
func mustPublished(t *testing.T, name, body string) string {
	t.Helper()
	require.NoError(t, op(t, name).ValidateResponse([]byte(body)), "fixture for %s is not published shape:\n%s", name, body)
	return body
}

// rawSchemas reads the published file of operation name.
func rawSchemas(t *testing.T, name string) (request, response map[string]any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "contract", "schemas", name+".json"))
	require.NoError(t, err)
	var f struct {
		Request  map[string]any `json:"request_schema"`
		Response map[string]any `json:"response_schema"`
	}
	require.NoError(t, json.Unmarshal(b, &f))
	return f.Request, f.Response
}

// shape says which answer instance() builds.
type shape string

const (
	minimal shape = "minimal" // required fields only, every nullable field null
	full    shape = "full"    // every field, none null
)

// instance builds a value of schema s, for a property called name, from the schema alone.
// Strings are "<name>-value" (an ISO time for *_at), so a test can tell which field a
// decoded value came from. Arrays get one item. An object that publishes no properties
// (error, event_data) gets, in the full shape, the fields HeyGen's prose gives it.
func instance(s map[string]any, name string, sh shape) any {
	if v, ok := s["const"]; ok {
		return v
	}
	if alts, ok := s["oneOf"].([]any); ok {
		for _, a := range alts {
			alt := a.(map[string]any)
			if alt["type"] == "null" {
				if sh == minimal {
					return nil
				}
				continue
			}
			return instance(alt, name, sh)
		}
	}
	types := typesOf(s)
	if sh == minimal && slices.Contains(types, "null") {
		return nil
	}
	if enum, ok := s["enum"].([]any); ok {
		for _, e := range enum {
			if e != nil {
				return e
			}
		}
	}
	switch nonNull(types) {
	case "object":
		return object(s, name, sh)
	case "array":
		items, _ := s["items"].(map[string]any)
		return []any{instance(items, name, sh)}
	case "string":
		switch {
		case name == "status":
			return "waiting" // the initial status of a create, published in prose
		case strings.HasSuffix(name, "_at"):
			return "2026-12-01T00:00:00Z"
		}
		return name + "-value"
	case "integer":
		return 1764547200
	case "number":
		return 12.5
	case "boolean":
		return true
	}
	return nil
}

// object builds an object of schema s; see instance.
func object(s map[string]any, name string, sh shape) map[string]any {
	props, _ := s["properties"].(map[string]any)
	out := map[string]any{}
	if len(props) == 0 && sh == full {
		switch name {
		case "error":
			return map[string]any{"code": "error-code", "message": "error-message", "param": nil, "doc_url": nil}
		case "event_data":
			return map[string]any{"video_id": "video_id-value", "callback_id": "callback_id-value", "url": "url-value"}
		}
	}
	required := map[string]bool{}
	for _, r := range asSlice(s["required"]) {
		required[r.(string)] = true
	}
	for k, v := range props {
		if sh == full || required[k] || (name == "" && k == "data") {
			out[k] = instance(v.(map[string]any), k, sh)
		}
	}
	return out
}

func typesOf(s map[string]any) []string {
	switch t := s["type"].(type) {
	case string:
		return []string{t}
	case []any:
		out := make([]string, 0, len(t))
		for _, x := range t {
			out = append(out, x.(string))
		}
		return out
	}
	return nil
}

func nonNull(types []string) string {
	for _, t := range types {
		if t != "null" {
			return t
		}
	}
	return ""
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

// answer builds the published answer of operation name in shape sh, and proves it
// published by validating it.
func answer(t *testing.T, name string, sh shape) string {
	t.Helper()
	_, resp := rawSchemas(t, name)
	b, err := json.Marshal(instance(resp, "", sh))
	require.NoError(t, err)
	return mustPublished(t, name, string(b))
}

func TestInstanceBuilderFollowsTheSchema(t *testing.T) {
	// The builder itself must be able to fail: a minimal video has only id and status.
	var v struct {
		Data map[string]any `json:"data"`
	}
	require.NoError(t, json.Unmarshal([]byte(answer(t, "video-get", minimal)), &v))
	keys := make([]string, 0, len(v.Data))
	for k := range v.Data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	assert.Equal(t, []string{"id", "status"}, keys)
	require.NoError(t, json.Unmarshal([]byte(answer(t, "video-get", full)), &v))
	assert.Equal(t, "video_url-value", v.Data["video_url"])
	assert.Error(t, op(t, "video-get").ValidateResponse([]byte(`{"data":{"id":"x"}}`)), "status is required")
}

// decodeCase is one published operation the client reads, and what it must get from it.
type decodeCase struct {
	name  string
	check func(t *testing.T, c *Client, sh shape)
}

func decodeCases() []decodeCase {
	return append(append(videoDecodeCases(), webhookDecodeCases()...), accountDecodeCases()...)
}

// videoDecodeCases are the video, template and translation operations.
func videoDecodeCases() []decodeCase {
	ctx := context.Background()
	return []decodeCase{
		{"video-create", func(t *testing.T, c *Client, _ shape) {
			v, err := c.CreateVideo(ctx, CreateVideoRequest{Body: map[string]any{"type": "avatar", "avatar_id": "a"}})
			require.NoError(t, err)
			assert.Equal(t, "video_id-value", v.VideoID)
			assert.Equal(t, StatusPending, v.Status)
		}},
		{"template-generate", func(t *testing.T, c *Client, _ shape) {
			v, err := c.CreateTemplateVideo(ctx, "tpl", CreateVideoRequest{Body: map[string]any{"variables": map[string]any{}}})
			require.NoError(t, err)
			assert.Equal(t, "id-value", v.VideoID, "data.id, the created video object")
			assert.Equal(t, StatusPending, v.Status)
		}},
		{"video-get", func(t *testing.T, c *Client, sh shape) {
			v, err := c.GetVideo(ctx, "id-value")
			require.NoError(t, err)
			assert.Equal(t, "id-value", v.ID)
			assert.Equal(t, StatusPending, v.Status)
			if sh == full {
				assert.Equal(t, "video_url-value", v.VideoURL)
				assert.Equal(t, "thumbnail_url-value", v.ThumbnailURL)
				assert.Equal(t, "failure_message-value", v.FailureMessage)
				assert.Equal(t, 12.5, v.Duration)
			}
		}},
		{"video-list", func(t *testing.T, c *Client, _ shape) {
			vs, err := c.ListVideos(ctx, "t")
			require.NoError(t, err)
			require.NotEmpty(t, vs)
			assert.Equal(t, "id-value", vs[0].ID)
			assert.Equal(t, StatusPending, vs[0].Status)
		}},
		{"video-statuses-list", func(t *testing.T, c *Client, sh shape) {
			rows, err := c.VideoStatuses(ctx, []string{"video_id-value"})
			require.NoError(t, err)
			checkRows(t, rows, sh)
		}},
		{"video-translate-create", func(t *testing.T, c *Client, _ shape) {
			ids, err := c.CreateTranslation(ctx, CreateTranslationRequest{Body: map[string]any{}})
			require.NoError(t, err)
			assert.Equal(t, []string{"video_translation_ids-value"}, ids)
		}},
		{"video-translate-get", func(t *testing.T, c *Client, sh shape) {
			tr, err := c.GetTranslation(ctx, "id-value")
			require.NoError(t, err)
			assert.Equal(t, "id-value", tr.ID)
			assert.Equal(t, StatusPending, tr.Status)
			if sh == full {
				assert.Equal(t, "video_url-value", tr.VideoURL)
				assert.Equal(t, "failure_message-value", tr.FailureMessage)
				assert.Equal(t, "callback_id-value", tr.CallbackID)
			}
		}},
		{"video-translate-statuses-list", func(t *testing.T, c *Client, sh shape) {
			rows, err := c.TranslationStatuses(ctx, []string{"video_id-value"})
			require.NoError(t, err)
			checkRows(t, rows, sh)
		}},
		{"video-translate-languages-list", func(t *testing.T, c *Client, _ shape) {
			langs, err := c.TranslationLanguages(ctx)
			require.NoError(t, err)
			assert.Equal(t, []string{"languages-value"}, langs)
		}},
	}
}

// webhookDecodeCases are the webhook endpoint and event operations.
func webhookDecodeCases() []decodeCase {
	ctx := context.Background()
	return []decodeCase{
		{"webhook-endpoints-create", func(t *testing.T, c *Client, sh shape) {
			ep, err := c.CreateWebhookEndpoint(ctx, "https://x.test/h", nil)
			require.NoError(t, err)
			checkEndpoint(t, ep, sh)
		}},
		{"webhook-endpoints-update", func(t *testing.T, c *Client, sh shape) {
			u := "https://x.test/h"
			ep, err := c.UpdateWebhookEndpoint(ctx, "endpoint_id-value", WebhookEndpointUpdate{URL: &u})
			require.NoError(t, err)
			checkEndpoint(t, ep, sh)
		}},
		{"webhook-endpoints-list", func(t *testing.T, c *Client, sh shape) {
			eps, err := c.ListWebhookEndpoints(ctx)
			require.NoError(t, err)
			require.NotEmpty(t, eps)
			checkEndpoint(t, eps[0], sh)
		}},
		{"webhook-endpoints-rotate-secret", func(t *testing.T, c *Client, _ shape) {
			ep, err := c.RotateWebhookSecret(ctx, "endpoint_id-value")
			require.NoError(t, err)
			assert.Equal(t, "endpoint_id-value", ep.ID)
			assert.Equal(t, "secret-value", ep.Secret)
		}},
		{"webhook-endpoints-delete", func(t *testing.T, c *Client, _ shape) {
			require.NoError(t, c.DeleteWebhookEndpoint(ctx, "endpoint_id-value"))
		}},
		{"webhook-events-list", func(t *testing.T, c *Client, sh shape) {
			evs, err := c.ListWebhookEvents(ctx, ListWebhookEventsRequest{})
			require.NoError(t, err)
			require.NotEmpty(t, evs)
			assert.Equal(t, "event_id-value", evs[0].ID)
			assert.Equal(t, "event_type-value", evs[0].Type)
			tm, ok := evs[0].Time()
			assert.True(t, ok)
			assert.Equal(t, 2026, tm.Year())
			ev, err := evs[0].Event()
			require.NoError(t, err)
			if sh == full {
				assert.Equal(t, "callback_id-value", ev.CallbackID)
				assert.Equal(t, "video_id-value", ev.JobID)
			}
		}},
	}
}

// checkRows checks the rows of a bulk status answer. A minimal row has only a status: its
// video_id is null, and the client must still read it.
func checkRows(t *testing.T, rows []StatusEntry, sh shape) {
	t.Helper()
	require.NotEmpty(t, rows)
	assert.Equal(t, StatusPending, rows[0].Status)
	if sh == full {
		assert.Equal(t, "video_id-value", rows[0].VideoID)
		assert.Equal(t, "error-code: error-message", rows[0].Error, "error is an object")
	} else {
		assert.Empty(t, rows[0].VideoID)
		assert.Empty(t, rows[0].Error)
	}
}

// checkEndpoint checks an endpoint: created_at is an ISO string, and the secret is null
// in the minimal answer.
func checkEndpoint(t *testing.T, ep WebhookEndpoint, sh shape) {
	t.Helper()
	assert.Equal(t, "endpoint_id-value", ep.ID)
	assert.Equal(t, "url-value", ep.URL)
	assert.Equal(t, "2026-12-01T00:00:00Z", string(ep.CreatedAt))
	if sh == full {
		assert.Equal(t, "secret-value", ep.Secret)
		assert.Equal(t, []string{"events-value"}, ep.Events)
	} else {
		assert.Empty(t, ep.Secret)
	}
}

func TestClientReadsPublishedAnswers(t *testing.T) {
	for _, dc := range decodeCases() {
		for _, sh := range []shape{minimal, full} {
			t.Run(dc.name+"/"+string(sh), func(t *testing.T) {
				first, last := answer(t, dc.name, sh), answer(t, dc.name, minimal)
				f, c := newFake(t, func(w http.ResponseWriter, r *http.Request, _ int) {
					// A full list page leads on with next_token; the page it leads to is
					// minimal, with no token, so the walk ends.
					if r.URL.Query().Get("token") != "" {
						reply(w, 200, last)
						return
					}
					reply(w, 200, first)
				})
				dc.check(t, c, sh)
				o := op(t, dc.name)
				for _, r := range f.requests() {
					got, _, ok := mustLoad(t).Match(r.Method, r.Path)
					require.True(t, ok, "%s %s is not a published operation", r.Method, r.Path)
					assert.Equal(t, o.Name, got.Name)
				}
			})
		}
	}
}

// TestEveryPublishedStatusMaps walks every status enum of every published answer, and
// the statuses HeyGen's prose adds (a create's waiting, a bulk row's queued and
// not_found), and requires each to map to one of reelflow's states.
func TestEveryPublishedStatusMaps(t *testing.T) {
	known := []Status{StatusPending, StatusProcessing, StatusCompleted, StatusFailed, StatusNotFound}
	want := map[string]Status{
		"waiting": StatusPending, "queued": StatusPending, "pending": StatusPending,
		"processing": StatusProcessing, "running": StatusProcessing,
		"completed": StatusCompleted, "failed": StatusFailed, "not_found": StatusNotFound,
	}
	for s, st := range want {
		assert.Equal(t, st, NormaliseStatus(s), s)
	}
	names, err := filepath.Glob(filepath.Join("..", "contract", "schemas", "*.json"))
	require.NoError(t, err)
	seen := map[string]bool{}
	for _, n := range names {
		_, resp := rawSchemas(t, strings.TrimSuffix(filepath.Base(n), ".json"))
		collectStatuses(resp, "", seen)
	}
	require.NotEmpty(t, seen)
	for s := range seen {
		assert.Contains(t, known, NormaliseStatus(s), "published status %q", s)
		_, ok := want[s]
		assert.True(t, ok, "published status %q is missing from this test's table", s)
	}
}

func collectStatuses(v any, name string, seen map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		if name == "status" {
			for _, e := range asSlice(x["enum"]) {
				if s, ok := e.(string); ok {
					seen[s] = true
				}
			}
		}
		if props, ok := x["properties"].(map[string]any); ok {
			for k, p := range props {
				collectStatuses(p, k, seen)
			}
		}
		for _, k := range []string{"items", "oneOf"} {
			collectStatuses(x[k], name, seen)
		}
	case []any:
		for _, e := range x {
			collectStatuses(e, name, seen)
		}
	}
}
