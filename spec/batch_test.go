package spec

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const campaign = `id: camp
title: "Hello {{ name }}"
video:
  type: avatar
  avatar_id: a1
  script: "Hi {{name}}, from {{company}}!"
translate:
  languages: ["{{language}}"]
deliver: {to: "file://./out"}
`

func TestBatchFillsPlaceholders(t *testing.T) {
	csv := "email,name,company,language\n" +
		"ana@example.com,Ana,Acme,Spanish (Spain)\n" +
		"\"ben@example.com\",\"Ben, Jr.\",Globex,French\n"
	b, err := ParseBatch("campaign.yaml", []byte(campaign), "contacts.csv", strings.NewReader(csv), "")
	require.NoError(t, err)
	require.Empty(t, b.Bad())
	in := b.Inputs()
	require.Len(t, in, 2)
	assert.Equal(t, "email", b.KeyColumn, "the first column by default")

	assert.Equal(t, "camp-ana-example.com", in[0].ID)
	assert.Equal(t, "Hello Ana", in[0].Title)
	assert.Equal(t, "Hi Ana, from Acme!", in[0].Video["script"])
	assert.Equal(t, []string{"Spanish (Spain)"}, in[0].Translate.Languages)
	assert.Equal(t, "a1", in[0].Video["avatar_id"], "strings without placeholders stay")

	assert.Equal(t, "camp-ben-example.com", in[1].ID)
	assert.Equal(t, "Hi Ben, Jr., from Globex!", in[1].Video["script"])
	assert.Equal(t, 3, b.Rows[1].Line)
}

func TestBatchBadRowsReportedGoodRowsKept(t *testing.T) {
	csv := "name,email,company,language\n" + // line 1
		"Ana,ana@example.com,Acme,French\n" + // 2: good
		"Ben,,Globex,French\n" + // 3: empty key
		"Cleo,cleo@example.com,Initech\n" + // 4: a field short
		"Dan,dan@example.com,Hooli,\n" + // 5: empty language
		"Ana again,ANA@example.com,Acme,German\n" + // 6: same ID as line 2
		"Eve,eve@example.com,Stark,German\n" // 7: good
	b, err := ParseBatch("campaign.yaml", []byte(campaign), "contacts.csv", strings.NewReader(csv), "email")
	require.NoError(t, err)

	var ids []string
	for _, in := range b.Inputs() {
		ids = append(ids, in.ID)
	}
	assert.Equal(t, []string{"camp-ana-example.com", "camp-eve-example.com"}, ids)

	var msgs []string
	for _, r := range b.Bad() {
		assert.True(t, errors.Is(r.Err, ErrInvalid))
		msgs = append(msgs, r.Err.Error())
	}
	assert.Equal(t, []string{
		"invalid spec: contacts.csv:3: email: empty key; every row needs one",
		"invalid spec: contacts.csv:4: 3 fields, but the header has 4",
		"invalid spec: contacts.csv:5: campaign.yaml:8: translate.languages[0]: empty language",
		`invalid spec: contacts.csv:6: email: "ANA@example.com" gives pipeline id camp-ana-example.com, as line 2 does`,
	}, msgs)
}

func TestBatchFatalErrors(t *testing.T) {
	tests := []struct {
		name, spec, csv, key, want string
	}{
		{"unknown column", campaign, "email,name,company\na@x,A,C\n", "",
			"invalid spec: campaign.yaml:8: translate.languages[0]: {{language}} names no column; the columns are email, name, company"},
		{"no key column", campaign, "email,name,company,language\n", "mail",
			`invalid spec: contacts.csv:1: no column "mail" for the key; the columns are email, name, company, language`},
		{"a spec error no row can fix", campaign + "colour: red\n", "email,name,company,language\na@x,A,C,French\n", "",
			"invalid spec: campaign.yaml:10: colour: unknown key; the keys here are id, title, video, template, source, translate, deliver, notify, timeouts, fail_fast, priority, fairness_key, fairness_weight, budget, retry"},
		{"empty csv", campaign, "", "", "invalid spec: contacts.csv:1: header: empty file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseBatch("campaign.yaml", []byte(tt.spec), "contacts.csv", strings.NewReader(tt.csv), tt.key)
			require.Error(t, err)
			assert.True(t, errors.Is(err, ErrInvalid))
			assert.Equal(t, tt.want, err.Error())
		})
	}
}

func TestKeySlug(t *testing.T) {
	for in, want := range map[string]string{
		"ana@example.com": "ana-example.com",
		"Ana Lopez":       "ana-lopez",
		"  42 ":           "42",
		"@@@":             "",
		"a__b--c":         "a__b--c",
		"Ana López":       "ana-l-pez",
		"-.x.-":           "x",
	} {
		assert.Equal(t, want, keySlug(in), in)
	}
}
