package spec

import (
	"regexp"
	"strconv"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// locator finds the line of a field path, such as translate.languages[1], in a spec's
// source: the line of the key for a mapping entry, of the item for a list entry. The
// walk is goccy/go-yaml's YAML path (Path.FilterFile); a path is built with its
// PathBuilder rather than PathString, because a field names keys as the user wrote
// them, unescaped. Anchors and tags stop the walk, as they stop FilterFile: the line is
// then that of the anchored key.
type locator struct {
	file *ast.File
}

// newLocator parses src; a source that does not parse locates every field at line 1.
func newLocator(src []byte) *locator {
	f, err := parser.ParseBytes(src, 0)
	if err != nil {
		return &locator{}
	}
	return &locator{file: f}
}

// segment is one step of a path: a key, or an index when key is empty and index >= 0.
type segment struct {
	key   string
	index int
}

var segmentPattern = regexp.MustCompile(`([^.\[\]]+)|\[(\d+)\]`)

// parsePath splits a field path into its keys and indexes.
func parsePath(path string) []segment {
	var out []segment
	for _, m := range segmentPattern.FindAllStringSubmatch(path, -1) {
		if m[2] != "" {
			i, _ := strconv.Atoi(m[2])
			out = append(out, segment{index: i})
		} else {
			out = append(out, segment{key: m[1], index: -1})
		}
	}
	return out
}

// line returns the line of path, or of its deepest part that exists; 1 when none does.
func (l *locator) line(path string) int {
	if l.file == nil {
		return 1
	}
	segs := parsePath(path)
	for n := len(segs); n > 0; n-- {
		if line, ok := l.find(segs[:n]); ok {
			return line
		}
	}
	return 1
}

// find returns the line of the node at segs, if there is one.
func (l *locator) find(segs []segment) (int, bool) {
	b := (&yaml.PathBuilder{}).Root()
	for _, s := range segs {
		if s.index >= 0 {
			b = b.Index(uint(s.index))
		} else {
			b = b.Child(s.key)
		}
	}
	node, err := b.Build().FilterFile(l.file)
	if err != nil || node == nil || node.GetToken() == nil {
		return 0, false
	}
	tk := node.GetToken()
	if segs[len(segs)-1].index >= 0 {
		return tk.Position.Line, true
	}
	return keyLine(tk), true
}

// keyLine returns the line of the key whose value begins at tk: that of the nearest ':'
// before it. FilterFile returns a key's value, and a block value (a mapping or a list
// under its key) begins on a later line than the key.
func keyLine(tk *token.Token) int {
	for t := tk.Prev; t != nil; t = t.Prev {
		if t.Type == token.MappingValueType {
			return t.Position.Line
		}
	}
	return tk.Position.Line
}
