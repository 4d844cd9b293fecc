package spec

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestLocatorLine(t *testing.T) {
	src := "id: x\n" + // 1
		"notify:\n" + // 2
		"  url: https://a/h\n" + // 3
		"translate:\n" + // 4
		"  # the outputs\n" + // 5
		"  languages:\n" + // 6
		"    - French\n" + // 7
		"    - ''\n" + // 8
		"empty:\n" + // 9
		"flow: {a: 1, b: {c: 2}}\n" + // 10
		"legacy_video:\n" + // 11
		"  video_inputs:\n" + // 12
		"    - character: x\n" + // 13
		"      voice: y\n" // 14
	loc := newLocator([]byte(src))
	for path, want := range map[string]int{
		"":                                   1,
		"id":                                 1,
		"notify":                             2, // the key's line, not that of its block
		"notify.url":                         3,
		"notify.secret_env":                  2, // missing: its deepest part that exists
		"translate.languages":                6,
		"translate.languages[1]":             8,
		"translate.languages[7]":             6,
		"translate.languages[1].x":           8,
		"empty":                              9,
		"flow.b":                             10,
		"flow.b.c":                           10,
		"legacy_video.video_inputs[0]":       13,
		"legacy_video.video_inputs[0].voice": 14,
		"nope":                               1,
		"id.deeper":                          1,
	} {
		assert.Equal(t, want, loc.line(path), path)
	}
	assert.Equal(t, 1, newLocator([]byte("a: [\n")).line("a"), "a source that does not parse")
}
