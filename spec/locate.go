package spec

import (
	"fmt"
	"regexp"
	"strconv"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// locator finds the line of a field path, such as translate.languages[1], in a spec's
// source: the line of the key for a mapping entry, of the item for a list entry.
type locator struct {
	root ast.Node
}

func newLocator(src []byte) *locator {
	f, err := parser.ParseBytes(src, 0)
	if err != nil || len(f.Docs) == 0 {
		return &locator{}
	}
	return &locator{root: f.Docs[0].Body}
}

// segment is one step of a path: a key, or an index when key is empty and index >= 0.
type segment struct {
	key   string
	index int
}

var segmentPattern = regexp.MustCompile(`([^.\[\]]+)|\[(\d+)\]`)

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
	line := 1
	node := l.root
	for _, seg := range parsePath(path) {
		node = unwrap(node)
		var next ast.Node
		var at int
		switch n := node.(type) {
		case *ast.MappingNode:
			next, at = findKey(n.Values, seg)
		case *ast.MappingValueNode:
			next, at = findKey([]*ast.MappingValueNode{n}, seg)
		case *ast.SequenceNode:
			if seg.index >= 0 && seg.index < len(n.Values) {
				next = n.Values[seg.index]
				at = lineOf(next)
			}
		}
		if next == nil {
			return line
		}
		node, line = next, at
	}
	return line
}

// findKey returns the value of key seg among values, and the line of the key.
func findKey(values []*ast.MappingValueNode, seg segment) (ast.Node, int) {
	if seg.index >= 0 {
		return nil, 0
	}
	for _, mv := range values {
		if mv == nil || mv.Key == nil {
			continue
		}
		if keyText(mv.Key) == seg.key {
			return mv.Value, lineOf(mv.Key)
		}
	}
	return nil, 0
}

func keyText(k ast.MapKeyNode) string {
	if s, ok := ast.Node(k).(ast.ScalarNode); ok {
		return fmt.Sprint(s.GetValue())
	}
	if t := k.GetToken(); t != nil {
		return t.Value
	}
	return ""
}

func lineOf(n ast.Node) int {
	if n == nil || n.GetToken() == nil {
		return 1
	}
	return n.GetToken().Position.Line
}

// unwrap looks through tags and anchors to the node they decorate.
func unwrap(n ast.Node) ast.Node {
	for {
		switch t := n.(type) {
		case *ast.TagNode:
			n = t.Value
		case *ast.AnchorNode:
			n = t.Value
		default:
			return n
		}
	}
}
