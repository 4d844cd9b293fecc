package contract

import (
	"errors"
	"testing"
)

func TestLoadCompilesEveryOperation(t *testing.T) {
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if got := len(c.Operations()); got != 21 {
		t.Fatalf("operations = %d, want the 21 published files", got)
	}
	for _, tc := range []struct{ method, path, want string }{
		{"GET", "/v3/videos/statuses", "VideoStatusesList"},
		{"GET", "/v3/videos/v_1", "VideoGet"},
		{"POST", "/v3/templates/t_1", "TemplateGenerate"},
		{"POST", "/v3/webhooks/endpoints/e_1/rotate-secret", "WebhookEndpointsRotateSecret"},
		{"GET", "/v3/video-translations/languages", "VideoTranslateLanguagesList"},
	} {
		op, _, ok := c.Match(tc.method, tc.path)
		if !ok || op.Name != tc.want {
			t.Errorf("Match(%s %s) = %v, want %s", tc.method, tc.path, op, tc.want)
		}
	}
	if _, _, ok := c.Match("GET", "/v2/nothing"); ok {
		t.Error("an unpublished path matched")
	}
}

func TestValidateRequest(t *testing.T) {
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	op, _ := c.Op("video-create")
	if err := op.ValidateRequest([]byte(`{"type":"avatar","avatar_id":"a","script":"hi","voice_id":"v"}`)); err != nil {
		t.Errorf("a published avatar body was refused: %v", err)
	}
	if err := op.ValidateRequest([]byte(`{"type":"avatar","avatar_id":7}`)); err == nil {
		t.Error("an avatar_id of the wrong type was accepted")
	}
	if err := op.ValidateRequest([]byte(`not json`)); err == nil {
		t.Error("a body that is not JSON was accepted")
	}
}

func TestViolationNamesTheField(t *testing.T) {
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		op, body, param string
	}{
		{"video-create", `{"avatar_id":"a"}`, "type"},
		{"video-create", `{"type":"hologram"}`, "type"},
		{"video-create", `{"type":"avatar"}`, "avatar_id"},
		{"video-create", `{"type":"avatar","avatar_id":"a","resolution":"8k"}`, "resolution"},
		{"video-create", `{"type":"cinematic_avatar","avatar_id":["a"]}`, "prompt"},
		{"video-create", `{"type":"cinematic_avatar","avatar_id":"a","prompt":"p"}`, "avatar_id"},
		{"template-generate", `{}`, "variables"},
		{"video-translate-create", `{"video":{"type":"asset_id"},"output_languages":["French"]}`, "video.asset_id"},
		{"video-translate-create", `{"video":{"type":"url","url":"u"},"output_languages":["French",3]}`, "output_languages[1]"},
		{"webhook-endpoints-create", `{"url":"u","events":["nope"]}`, "events[0]"},
		{"video-create", `[]`, ""},
	} {
		op, _ := c.Op(tc.op)
		err := op.ValidateRequest([]byte(tc.body))
		var v *Violation
		if !errors.As(err, &v) {
			t.Errorf("%s %s: got %v, want a Violation", tc.op, tc.body, err)
			continue
		}
		if v.Param != tc.param {
			t.Errorf("%s %s: param %q, want %q (%v)", tc.op, tc.body, v.Param, tc.param, v)
		}
	}
}

func TestCheckResponseAndCheckError(t *testing.T) {
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	get, _ := c.Op("video-get")
	events, _ := c.Op("webhook-events-list")
	for _, tc := range []struct {
		op   *Operation
		body string
		ok   bool
	}{
		{get, `{"data":{"id":"v","status":"pending"}}`, true},
		{get, `{"data":{"id":"v","status":"pending","video_url":null}}`, true},
		{get, `{"data":{"id":"v","status":"pending","callback_id":"c"}}`, false},
		{get, `{"data":{"id":"v","status":"pending"},"request_id":"r"}`, false},
		{get, `{"data":{"status":"pending"}}`, false},
		{events, `{"data":[{"event_id":"e","event_type":"t","event_data":{"anything":1},"created_at":"2026-01-01T00:00:00Z"}],"has_more":false,"next_token":null}`, true},
		{events, `{"data":[{"event_id":"e","event_type":"t","event_data":{},"created_at":"x","extra":1}]}`, false},
	} {
		if err := tc.op.CheckResponse([]byte(tc.body)); (err == nil) != tc.ok {
			t.Errorf("%s %s: %v, want ok=%v", tc.op.Name, tc.body, err, tc.ok)
		}
	}
	for _, tc := range []struct {
		body string
		ok   bool
	}{
		{`{"error":{"code":"not_found","message":"m","param":null,"doc_url":null}}`, true},
		{`{"error":{"code":"invalid_parameter","message":"m","param":"limit","doc_url":"https://x"}}`, true},
		{`{"error":{"code":"x","message":"m","detail":"d"}}`, false},
		{`{"error":{"message":"m"}}`, false},
		{`{"error":{"code":"x","message":"m"},"data":null}`, false},
		{`{"code":400,"message":"m"}`, false},
	} {
		if err := c.CheckError([]byte(tc.body)); (err == nil) != tc.ok {
			t.Errorf("error %s: %v, want ok=%v", tc.body, err, tc.ok)
		}
	}
}
