package contract

import "testing"

func TestLoadCompilesEveryOperation(t *testing.T) {
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if got := len(c.Operations()); got != 20 {
		t.Fatalf("operations = %d, want the 20 published files", got)
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
