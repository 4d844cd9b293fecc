package contract

import (
	"reflect"
	"slices"
	"testing"
)

func TestRequestViolations(t *testing.T) {
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, op, body string
		want           []string // each Violation's Error(), in order
	}{
		{"a good avatar body", "video-create", `{"type":"avatar","avatar_id":"a","voice_id":"v","script":"hi"}`, nil},
		{"every problem of an avatar body", "video-create",
			`{"type":"avatar","avatr_id":"a","voice_id":3,"resolution":"8k"}`,
			[]string{"avatar_id: is required", "avatr_id: is not a field HeyGen publishes here",
				"resolution: must be one of \"4k\", \"1080p\", \"720p\", null", "voice_id: got number, want null or string"}},
		{"an unknown video type", "video-create", `{"type":"avatr"}`,
			[]string{`type: type "avatr" is not one of avatar, cinematic_avatar, image, studio`}},
		{"a good studio body", "video-create",
			`{"type":"studio","scenes":[{"type":"avatar_video","input":{"type":"avatar","avatar_id":"a","script":"hi"}}]}`, nil},
		{"a studio scene of no published type", "video-create",
			`{"type":"studio","scenes":[{"type":"avatar","script":"hi"}]}`,
			[]string{"scenes[0].type: must be one of \"avatar_video\", \"image\", \"video\""}},
		{"a studio scene's problems are its own member's", "video-create",
			`{"type":"studio","scenes":[{"type":"avatar_video","input":{"type":"avatar","avatar_id":"a","scrpt":"hi"}},{"type":"image","script":3}]}`,
			[]string{"scenes[0].input.scrpt: is not a field HeyGen publishes here", "scenes[1].script: got number, want null or string"}},
		{"a template without variables", "template-generate", `{"title":"t","varaibles":{}}`,
			[]string{"varaibles: is not a field HeyGen publishes here", "variables: is required"}},
		{"template variables are free-form", "template-generate", `{"variables":{"name":{"anything":1}}}`, nil},
		{"a translation", "video-translate-create",
			`{"video":{"type":"url","url":"https://a/b.mp4"},"output_languages":["French"],"mode":"fast"}`,
			[]string{"mode: must be one of \"speed\", \"precision\""}},
		{"no body where none is taken", "video-get", `{"x":1}`, []string{"VideoGet takes no request body"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op, ok := c.Op(tt.op)
			if !ok {
				t.Fatalf("no operation %s", tt.op)
			}
			var got []string
			for _, v := range op.RequestViolations([]byte(tt.body)) {
				got = append(got, v.Error())
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("violations:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestRequestViolationsListPublishedFields(t *testing.T) {
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	op, _ := c.Op("video-create")
	vs := op.RequestViolations([]byte(`{"type":"avatar","avatar_id":"a","scrpt":"hi"}`))
	if len(vs) != 1 || vs[0].Param != "scrpt" {
		t.Fatalf("violations = %v, want scrpt alone", vs)
	}
	if !slices.Contains(vs[0].Published, "script") || !slices.IsSorted(vs[0].Published) {
		t.Errorf("published fields = %v, want the avatar body's, sorted", vs[0].Published)
	}
}
