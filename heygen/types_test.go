package heygen

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFlexString(t *testing.T) {
	tests := []struct {
		in      string
		want    FlexString
		wantErr bool
	}{
		{`"abc"`, "abc", false},
		{`""`, "", false},
		{`"a\"b\u00e9"`, `a"bé`, false},
		{`123`, "123", false},
		{`-4`, "-4", false},
		{`1.50`, "1.50", false},
		{`1e3`, "1e3", false},
		{`12345678901234567890123`, "12345678901234567890123", false},
		{`true`, "true", false},
		{`false`, "false", false},
		{`null`, "", false},
		{` 7 `, "7", false},
		{`{}`, "", true},
		{`[1]`, "", true},
		{`"unterminated`, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			f := FlexString("preset")
			err := f.UnmarshalJSON([]byte(tt.in))
			if tt.wantErr {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, f)
		})
	}

	// Inside a struct, through encoding/json, and out again as a string.
	var v struct {
		A FlexString `json:"a"`
		B FlexString `json:"b"`
		C FlexString `json:"c"`
	}
	require.NoError(t, json.Unmarshal([]byte(`{"a":400,"b":"rate_limit_exceeded","c":null}`), &v))
	assert.Equal(t, FlexString("400"), v.A)
	assert.Equal(t, FlexString("rate_limit_exceeded"), v.B)
	assert.Equal(t, FlexString(""), v.C)
	out, err := json.Marshal(v)
	require.NoError(t, err)
	assert.JSONEq(t, `{"a":"400","b":"rate_limit_exceeded","c":""}`, string(out))
	assert.Error(t, json.Unmarshal([]byte(`{"a":{"x":1}}`), &v))
}

func TestNormaliseStatus(t *testing.T) {
	tests := []struct {
		in   string
		want Status
	}{
		{"waiting", StatusPending},
		{"queued", StatusPending},
		{"pending", StatusPending},
		{"processing", StatusProcessing},
		{"running", StatusProcessing},
		{"completed", StatusCompleted},
		{"success", StatusCompleted},
		{"succeeded", StatusCompleted},
		{"failed", StatusFailed},
		{"fail", StatusFailed},
		{"error", StatusFailed},
		{"not_found", StatusNotFound},
		{"Completed", StatusCompleted},
		{" PROCESSING\n", StatusProcessing},
		{"", ""},
		{"draft", "draft"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got := NormaliseStatus(tt.in)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, got, NormaliseStatus(string(got)), "idempotent")
		})
	}
}

func TestStatusTerminal(t *testing.T) {
	tests := []struct {
		s    Status
		want bool
	}{
		{StatusPending, false},
		{StatusProcessing, false},
		{StatusCompleted, true},
		{StatusFailed, true},
		// not_found is not an answer about the job: a v2 video may be unknown to v3.
		{StatusNotFound, false},
		{"", false},
		{"draft", false},
	}
	for _, tt := range tests {
		t.Run(string(tt.s), func(t *testing.T) {
			assert.Equal(t, tt.want, tt.s.Terminal())
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		in   string
		want time.Duration
	}{
		{"empty", "", 0},
		{"blank", "   ", 0},
		{"zero", "0", 0},
		{"seconds", "30", 30 * time.Second},
		{"padded", " 30 ", 30 * time.Second},
		{"leading zeros", "007", 7 * time.Second},
		{"fraction tolerated", "1.5", 1500 * time.Millisecond},
		{"negative", "-5", 0},
		{"plus sign", "+5", 0},
		{"exponent", "1e3", 0},
		{"hex float", "0x1p4", 0},
		{"inf", "Inf", 0},
		{"nan", "NaN", 0},
		{"two dots", "1.2.3", 0},
		{"just a dot", ".", 0},
		{"garbage", "soon", 0},
		{"unit suffix", "30s", 0},
		{"huge seconds capped", "99999999999999999999999", maxRetryAfter},
		{"over a day capped", "86401", maxRetryAfter},
		{"http date", now.Add(2 * time.Minute).Format(http.TimeFormat), 2 * time.Minute},
		{"rfc850 date", now.Add(time.Hour).Format("Monday, 02-Jan-06 15:04:05 GMT"), time.Hour},
		{"asctime date", now.Add(10 * time.Second).Format(time.ANSIC), 10 * time.Second},
		{"date in the past", now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{"date now", now.Format(http.TimeFormat), 0},
		{"date far ahead capped", now.Add(1000 * time.Hour).Format(http.TimeFormat), maxRetryAfter},
		{"iso date is not http date", now.Add(time.Minute).Format(time.RFC3339), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parseRetryAfter(tt.in, now)
			assert.Equal(t, tt.want, got)
			assert.GreaterOrEqual(t, got, time.Duration(0))
		})
	}
}

func TestStatusEntryDecode(t *testing.T) {
	tests := []struct {
		in   string
		want StatusEntry
	}{
		{`{"video_id":"a","status":"completed"}`, StatusEntry{VideoID: "a", Status: "completed"}},
		{`{"video_id":"a","status":"failed","error":"boom"}`, StatusEntry{VideoID: "a", Status: "failed", Error: "boom"}},
		{`{"video_id":"a","status":"failed","error":{"code":"E","message":"m"}}`, StatusEntry{VideoID: "a", Status: "failed", Error: "E: m"}},
		{`{"video_id":"a","status":"queued","error":null}`, StatusEntry{VideoID: "a", Status: "queued"}},
		{`{"video_id":7,"status":null}`, StatusEntry{VideoID: "7"}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var got StatusEntry
			require.NoError(t, json.Unmarshal([]byte(tt.in), &got))
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestVideoRoundTrip(t *testing.T) {
	// Video is stored in workflow results: its own JSON must read back the same.
	v := Video{ID: "v1", Status: StatusCompleted, VideoURL: "u", Duration: 1.25, CreatedAt: 1714550400, CompletedAt: 1714550500, FailureCode: "E", CallbackID: "Job:1", FolderID: "f"}
	b, err := json.Marshal(v)
	require.NoError(t, err)
	var back Video
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, v, back)
	assert.Error(t, json.Unmarshal([]byte(`[]`), &back))
}
