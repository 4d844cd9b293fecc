package contract

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestMinimize(t *testing.T) {
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	keep := func(f string) bool { return f == "video_url" || f == "next_token" }
	for _, tc := range []struct {
		op     string
		sparse Sparse
		in     string
		want   string
	}{
		{"video-get", SparseOmit,
			`{"data":{"id":"v1","status":"completed","video_url":"https://x/v.mp4","duration":3.5,"thumbnail_url":"https://x/t.jpg","title":null}}`,
			`{"data":{"id":"v1","status":"completed","video_url":"https://x/v.mp4"}}`},
		{"video-get", SparseNull,
			`{"data":{"id":"v1","status":"completed","video_url":"https://x/v.mp4","duration":3.5,"thumbnail_url":"https://x/t.jpg"}}`,
			`{"data":{"id":"v1","status":"completed","video_url":"https://x/v.mp4","duration":null,"thumbnail_url":null}}`},
		// A kept field that is null stays null (or goes, under omit); it is never invented.
		{"video-get", SparseOmit, `{"data":{"id":"v1","status":"pending","video_url":null}}`, `{"data":{"id":"v1","status":"pending"}}`},
		// In a list, each row is cut down; a bulk row keeps only its status, and the list
		// keeps its next page. has_more is neither nullable nor kept: null leaves it out.
		{"video-statuses-list", SparseNull,
			`{"data":[{"video_id":"v1","status":"completed","item_index":0,"error":{"code":"x"}}],"has_more":true,"next_token":"n2"}`,
			`{"data":[{"video_id":null,"status":"completed","item_index":null,"error":null}],"next_token":"n2"}`},
		// A field the schema does not publish is left for CheckResponse to report.
		{"video-create", SparseOmit, `{"data":{"video_id":"v1","status":"waiting","output_format":"mp4","extra":1}}`,
			`{"data":{"video_id":"v1","status":"waiting","extra":1}}`},
		// Free-form objects (event_data) stay whole.
		{"webhook-events-list", SparseOmit,
			`{"data":[{"event_id":"e","event_type":"avatar_video.success","created_at":"2026-12-01T00:00:00Z","event_data":{"video_id":"v1","url":"u"}}],"has_more":false}`,
			`{"data":[{"event_id":"e","event_type":"avatar_video.success","created_at":"2026-12-01T00:00:00Z","event_data":{"video_id":"v1","url":"u"}}]}`},
	} {
		op, ok := c.Op(tc.op)
		if !ok {
			t.Fatalf("no operation %s", tc.op)
		}
		got, err := op.Minimize([]byte(tc.in), tc.sparse, keep)
		if err != nil {
			t.Fatalf("%s: %v", tc.op, err)
		}
		var g, w any
		if err := json.Unmarshal(got, &g); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(tc.want), &w); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("%s %v:\n got %s\nwant %s", tc.op, tc.sparse, got, tc.want)
		}
		if tc.op != "video-create" {
			if err := op.ValidateResponse(got); err != nil {
				t.Errorf("%s: the minimized answer breaks the schema: %v", tc.op, err)
			}
		}
	}
	op, _ := c.Op("video-get")
	if _, err := op.Minimize([]byte("not json"), SparseOmit, keep); err == nil {
		t.Error("an answer that is not JSON was minimized without an error")
	}
}
