package spec

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reelflow/reelflow/workflows"
)

func TestParseScheduleAndRetry(t *testing.T) {
	const head = "id: p1\nvideo: {type: avatar, avatar_id: a}\n"
	tests := []struct {
		name      string
		src       string
		wantSched workflows.Schedule
		wantRetry *workflows.Retry
	}{
		{"defaults", head, defaultSchedule("p1"), nil},
		{"priority 1", head + "priority: 1\n", workflows.Schedule{Priority: 1, FairnessKey: "p1", FairnessWeight: 1}, nil},
		{"priority 5", head + "priority: 5\n", workflows.Schedule{Priority: 5, FairnessKey: "p1", FairnessWeight: 1}, nil},
		{"key and integer weight", head + "fairness_key: team a\nfairness_weight: 3\n",
			workflows.Schedule{Priority: 3, FairnessKey: "team a", FairnessWeight: 3}, nil},
		{"fractional weight", head + "fairness_weight: 0.5\n", workflows.Schedule{Priority: 3, FairnessKey: "p1", FairnessWeight: 0.5}, nil},
		{"no re-render", head + "retry: {renders: 0}\n", defaultSchedule("p1"), &workflows.Retry{Renders: 0}},
		{"ten re-renders", head + "retry:\n  renders: 10\n", defaultSchedule("p1"), &workflows.Retry{Renders: 10}},
		{"studio video", "id: p1\nvideo:\n  type: studio\n  scenes:\n    - {type: avatar_video, input: {type: avatar, avatar_id: a, script: Hi}}\n", defaultSchedule("p1"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, err := Parse("s.yaml", []byte(tt.src))
			require.NoError(t, err)
			assert.Equal(t, tt.wantSched, in.Schedule)
			assert.Equal(t, tt.wantRetry, in.Retry)
		})
	}
}

func TestParseScheduleAndRetryBad(t *testing.T) {
	const head = "id: p1\nvideo: {type: avatar, avatar_id: a}\n" // lines 1-2
	tests := []struct {
		name string
		src  string
		want string // the whole message after "invalid spec: "
	}{
		{"priority 0", head + "priority: 0\n", "s.yaml:3: priority: 0 is not a priority: 1 (most urgent) to 5; 3 is the default"},
		{"priority 6", head + "priority: 6\n", "s.yaml:3: priority: 6 is not a priority: 1 (most urgent) to 5; 3 is the default"},
		{"priority negative", head + "priority: -1\n", "s.yaml:3: priority: -1 is not a priority: 1 (most urgent) to 5; 3 is the default"},
		{"priority a word", head + "priority: high\n", `s.yaml:3: priority: "high" is not a priority: 1 (most urgent) to 5; 3 is the default`},
		{"priority fractional", head + "priority: 2.5\n", "s.yaml:3: priority: 2.5 is not a priority: 1 (most urgent) to 5; 3 is the default"},
		{"empty fairness key", head + "fairness_key: ' '\n", `s.yaml:3: fairness_key: " " is not a fairness key: a name, such as a team or a campaign`},
		{"null fairness key", head + "fairness_key:\n", "s.yaml:3: fairness_key: null is not a fairness key: a name, such as a team or a campaign"},
		{"long fairness key", head + "fairness_key: " + strings.Repeat("k", 129) + "\n",
			`s.yaml:3: fairness_key: "` + strings.Repeat("k", 129) + `" must be at most 128 characters, without control characters`},
		{"zero weight", head + "fairness_weight: 0\n", "s.yaml:3: fairness_weight: 0 is not a weight: a number above 0, the key's share against the others (1 by default)"},
		{"negative weight", head + "fairness_weight: -2\n", "s.yaml:3: fairness_weight: -2 is not a weight: a number above 0, the key's share against the others (1 by default)"},
		{"weight a word", head + "fairness_weight: heavy\n", `s.yaml:3: fairness_weight: "heavy" is not a weight: a number above 0, the key's share against the others (1 by default)`},
		{"budget 0", head + "budget: 0\n", "s.yaml:3: budget: 0 is not a budget: the number of HeyGen jobs (renders plus translations) the campaign may start, 1 or more"},
		{"retry without renders", head + "retry: {}\n", "s.yaml:3: retry.renders: required: how many times a failed render (and each failed translation) is created again, 0 to 10"},
		{"negative renders", head + "retry:\n  renders: -1\n", "s.yaml:4: retry.renders: -1 is not 0 to 10: each re-render is a new HeyGen job, and HeyGen bills it"},
		{"too many renders", head + "retry:\n  renders: 11\n", "s.yaml:4: retry.renders: 11 is not 0 to 10: each re-render is a new HeyGen job, and HeyGen bills it"},
		{"renders a word", head + "retry: {renders: twice}\n", `s.yaml:3: retry.renders: "twice" is not 0 to 10: each re-render is a new HeyGen job, and HeyGen bills it`},
		{"retry typo", head + "retry:\n  render: 2\n", "s.yaml:4: retry.render: unknown key; did you mean renders?"},
		{"retry not a mapping", head + "retry: 2\n", "s.yaml:3: retry: must be a mapping"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("s.yaml", []byte(tt.src))
			require.ErrorIs(t, err, ErrInvalid)
			assert.Equal(t, "invalid spec: "+tt.want, err.Error())
		})
	}
}

// TestParseRefusesBatchSpecs: a spec with placeholders, or a budget, started without
// --rows is refused at file:line, and the message says to start it with --rows.
func TestParseRefusesBatchSpecs(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want string // the whole message after "invalid spec: "
	}{
		{"one placeholder", "id: c\nvideo:\n  type: avatar\n  avatar_id: a\n  script: Hi {{name}}!\n",
			"s.yaml:5: video.script: {{name}} is a placeholder, filled from a CSV column: start this spec with --rows FILE.csv"},
		{"two in one field, one in a list", "id: c\ntitle: '{{ name }} at {{company}}'\nsource: {url: 'https://a/b.mp4'}\ntranslate:\n  languages:\n    - French\n    - '{{language}}'\n",
			"s.yaml:2: title: {{ name }}, {{company}} are placeholders, filled from CSV columns: start this spec with --rows FILE.csv\n" +
				"s.yaml:7: translate.languages[1]: {{language}} is a placeholder, filled from a CSV column: start this spec with --rows FILE.csv"},
		{"the placeholder's problem replaces the field's own", "id: c\nvideo: {type: avatar, avatar_id: a}\ntranslate: {languages: [French], mode: '{{mode}}'}\n",
			"s.yaml:3: translate.mode: {{mode}} is a placeholder, filled from a CSV column: start this spec with --rows FILE.csv"},
		{"other problems stay", "id: c\nvideo: {type: avatar, avatar_id: '{{avatar}}'}\nfail_fast: maybe\n",
			"s.yaml:2: video.avatar_id: {{avatar}} is a placeholder, filled from a CSV column: start this spec with --rows FILE.csv\n" +
				"s.yaml:3: fail_fast: must be true or false"},
		{"a placeholder in the id", "id: 'c-{{region}}'\nvideo: {type: avatar, avatar_id: a}\n",
			"s.yaml:1: id: {{region}} is a placeholder, filled from a CSV column: start this spec with --rows FILE.csv"},
		{"a budget", "id: c\nvideo: {type: avatar, avatar_id: a}\nbudget: 40\n",
			"s.yaml:3: budget: caps a campaign of many pipelines: start this spec with --rows FILE.csv, or remove budget"},
		{"a bad budget is reported once", "id: c\nvideo: {type: avatar, avatar_id: a}\nbudget: -1\n",
			"s.yaml:3: budget: -1 is not a budget: the number of HeyGen jobs (renders plus translations) the campaign may start, 1 or more"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("s.yaml", []byte(tt.src))
			require.ErrorIs(t, err, ErrInvalid)
			assert.Equal(t, "invalid spec: "+tt.want, err.Error())
		})
	}
}

func TestBatchSchedule(t *testing.T) {
	const csv = "email,name,company,language,team\n" +
		"ana@example.com,Ana,Acme,French,sales\n" +
		"ben@example.com,Ben,Globex,German,support\n"
	tests := []struct {
		name  string
		extra string                // appended to the campaign spec
		want  [2]workflows.Schedule // of the two rows
		retry *workflows.Retry      // of every row
	}{
		{"defaults: the spec's id is campaign and fairness key", "",
			[2]workflows.Schedule{
				{Priority: 3, FairnessKey: "camp", FairnessWeight: 1, Campaign: "camp"},
				{Priority: 3, FairnessKey: "camp", FairnessWeight: 1, Campaign: "camp"},
			}, nil},
		{"every field, for every row", "priority: 2\nfairness_key: q3\nfairness_weight: 2\nbudget: 3\nretry: {renders: 1}\n",
			[2]workflows.Schedule{
				{Priority: 2, FairnessKey: "q3", FairnessWeight: 2, Campaign: "camp", Budget: 3},
				{Priority: 2, FairnessKey: "q3", FairnessWeight: 2, Campaign: "camp", Budget: 3},
			}, &workflows.Retry{Renders: 1}},
		{"a fairness key from a column", "fairness_key: '{{team}}'\n",
			[2]workflows.Schedule{
				{Priority: 3, FairnessKey: "sales", FairnessWeight: 1, Campaign: "camp"},
				{Priority: 3, FairnessKey: "support", FairnessWeight: 1, Campaign: "camp"},
			}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := ParseBatch("campaign.yaml", []byte(campaign+tt.extra), "contacts.csv", strings.NewReader(csv), "")
			require.NoError(t, err)
			in := b.Inputs()
			require.Len(t, in, 2)
			assert.Equal(t, []string{"camp-ana-example.com", "camp-ben-example.com"}, []string{in[0].ID, in[1].ID})
			for i := range in {
				assert.Equal(t, tt.want[i], in[i].Schedule, "row %d", i)
				assert.Equal(t, tt.retry, in[i].Retry, "row %d", i)
			}
		})
	}
}

func TestBatchScheduleErrorsAreFatal(t *testing.T) {
	_, err := ParseBatch("campaign.yaml", []byte(campaign+"priority: 9\n"), "contacts.csv",
		strings.NewReader("email,name,company,language\na@x,A,C,French\n"), "")
	require.ErrorIs(t, err, ErrInvalid)
	assert.Equal(t, "invalid spec: campaign.yaml:10: priority: 9 is not a priority: 1 (most urgent) to 5; 3 is the default", err.Error())
}

func TestValidPriority(t *testing.T) {
	for p, want := range map[int]bool{0: false, 1: true, 3: true, 5: true, 6: false, -1: false} {
		assert.Equal(t, want, ValidPriority(p), p)
	}
}
