package spec

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/reelflow/reelflow/workflows"
)

// Batch is a spec run once per row of a CSV file.
type Batch struct {
	// Spec and CSV are the files' base names, as messages name them.
	Spec, CSV string
	// KeyColumn is the column whose slug ends each pipeline's ID.
	KeyColumn string
	// Rows holds every data row, in file order, good and bad.
	Rows []Row
}

// Row is one CSV row: its pipeline, or why it has none.
type Row struct {
	// Line is the row's line in the CSV file (the header is line 1).
	Line int
	// Key is the row's value of the key column.
	Key string
	// Input is the row's pipeline; valid only when Err is nil.
	Input workflows.PipelineInput
	// Err says what is wrong with the row, prefixed with "<csv>:<line>: ". It wraps
	// ErrInvalid.
	Err error
}

// Inputs returns the pipelines of the good rows, in file order.
func (b Batch) Inputs() []workflows.PipelineInput {
	var out []workflows.PipelineInput
	for _, r := range b.Rows {
		if r.Err == nil {
			out = append(out, r.Input)
		}
	}
	return out
}

// Bad returns the rows that produce no pipeline.
func (b Batch) Bad() []Row {
	var out []Row
	for _, r := range b.Rows {
		if r.Err != nil {
			out = append(out, r)
		}
	}
	return out
}

// placeholder matches {{column}}, with optional spaces inside the braces.
var placeholder = regexp.MustCompile(`\{\{\s*([^{}]*?)\s*\}\}`)

// LoadBatch reads the spec at specPath and the CSV file at csvPath (with a header row)
// and makes one pipeline per data row. Every {{column}} placeholder in any string of
// the spec is replaced by the row's value of that column. Each pipeline's ID is the
// spec's id, "-", and the slug of the row's key column (keyColumn, or the first column
// when empty): "campaign" and "ana@example.com" make "campaign-ana-example.com".
//
// A bad row (a wrong number of fields, an empty or repeated key, a value that makes the
// spec invalid) is reported in Batch.Rows with its line number, and the good rows still
// produce pipelines. LoadBatch itself fails, wrapping ErrInvalid, only when the batch as
// a whole cannot work: a spec error that no row's values cause, a placeholder naming no
// column, a missing key column, an unreadable CSV header.
func LoadBatch(specPath, csvPath, keyColumn string) (Batch, error) {
	src, err := os.ReadFile(specPath)
	if err != nil {
		return Batch{}, fmt.Errorf("read spec: %w", err)
	}
	f, err := os.Open(csvPath)
	if err != nil {
		return Batch{}, fmt.Errorf("read rows: %w", err)
	}
	defer f.Close()
	return ParseBatch(filepath.Base(specPath), src, filepath.Base(csvPath), f, keyColumn)
}

// ParseBatch is LoadBatch over a spec's bytes and a CSV reader; the names prefix messages.
func ParseBatch(specName string, src []byte, csvName string, rows io.Reader, keyColumn string) (Batch, error) {
	doc, err := decode(specName, src)
	if err != nil {
		return Batch{}, err
	}
	r := csv.NewReader(rows)
	r.FieldsPerRecord = 0 // every row as long as the header
	header, err := r.Read()
	if err != nil {
		return Batch{}, fmt.Errorf("%w: %s:1: header: %v", ErrInvalid, csvName, csvErrText(err))
	}
	for i, h := range header {
		header[i] = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
	}
	if keyColumn == "" {
		keyColumn = header[0]
	}
	keyIdx := slices.Index(header, keyColumn)
	if keyIdx < 0 {
		return Batch{}, fmt.Errorf("%w: %s:1: no column %q for the key; the columns are %s",
			ErrInvalid, csvName, keyColumn, strings.Join(header, ", "))
	}
	b := Batch{Spec: specName, CSV: csvName, KeyColumn: keyColumn}
	loc := newLocator(src)
	if err := checkPlaceholders(specName, loc, doc, header); err != nil {
		return Batch{}, err
	}
	// The spec as written, placeholders and all: a problem at a field without a
	// placeholder would be every row's problem, so it is the batch's.
	if _, err := validate(specName, src, doc); err != nil {
		var se *Error
		if errors.As(err, &se) {
			var fatal []Problem
			for _, p := range se.Problems {
				if p.Field == "" || !hasPlaceholder(lookup(doc, p.Field)) {
					fatal = append(fatal, p)
				}
			}
			if len(fatal) > 0 {
				return Batch{}, &Error{Problems: fatal}
			}
		}
	}

	ids := map[string]int{} // pipeline ID -> line of its first row
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		var row Row
		bad := func(format string, args ...any) {
			row.Err = fmt.Errorf("%w: %s:%d: %s", ErrInvalid, csvName, row.Line, fmt.Sprintf(format, args...))
			b.Rows = append(b.Rows, row)
		}
		if err != nil {
			var pe *csv.ParseError
			if !errors.As(err, &pe) {
				return b, fmt.Errorf("read rows: %w", err)
			}
			row.Line = pe.StartLine
			if errors.Is(pe.Err, csv.ErrFieldCount) {
				bad("%d fields, but the header has %d", len(rec), len(header))
			} else {
				bad("%v", pe.Err)
			}
			continue
		}
		row.Line, _ = r.FieldPos(0)
		row.Key = strings.TrimSpace(rec[keyIdx])
		slug := keySlug(row.Key)
		if slug == "" {
			bad("%s: empty key; every row needs one", keyColumn)
			continue
		}
		values := make(map[string]string, len(header))
		for i, h := range header {
			values[h] = rec[i]
		}
		filled := fill(doc, values).(map[string]any)
		in, err := validate(specName, src, filled)
		if err != nil {
			var se *Error
			if errors.As(err, &se) {
				msgs := make([]string, len(se.Problems))
				for i, p := range se.Problems {
					msgs[i] = p.String()
				}
				bad("%s", strings.Join(msgs, "; "))
			} else {
				bad("%v", err)
			}
			continue
		}
		in.ID = in.ID + "-" + slug
		if !workflows.ValidPipelineID(in.ID) {
			bad("pipeline id %q is longer than 128 characters", in.ID)
			continue
		}
		if first, dup := ids[in.ID]; dup {
			bad("%s: %q gives pipeline id %s, as line %d does", keyColumn, row.Key, in.ID, first)
			continue
		}
		ids[in.ID] = row.Line
		row.Input = in
		b.Rows = append(b.Rows, row)
	}
	return b, nil
}

// csvErrText is a csv error without its own line prefix; the caller adds the line.
func csvErrText(err error) string {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	if err == io.EOF {
		return "empty file"
	}
	return err.Error()
}

// keySlug turns a key into the end of a pipeline ID: letters, digits, '.', '_' and '-'
// are kept (letters lowercased), every other run becomes one '-'.
func keySlug(key string) string {
	var sb strings.Builder
	dash := false
	for _, r := range strings.ToLower(key) {
		ok := (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r == '.' || r == '_' || r == '-'
		if !ok {
			dash = true
			continue
		}
		if dash && sb.Len() > 0 {
			sb.WriteByte('-')
		}
		dash = false
		sb.WriteRune(r)
	}
	return strings.Trim(sb.String(), "-.")
}

// checkPlaceholders reports placeholders that name no column.
func checkPlaceholders(name string, loc *locator, doc map[string]any, header []string) error {
	var ps []Problem
	walkStrings(doc, "", func(path, s string) {
		for _, m := range placeholder.FindAllStringSubmatch(s, -1) {
			if !slices.Contains(header, m[1]) {
				ps = append(ps, Problem{File: name, Line: loc.line(path), Field: path,
					Msg: fmt.Sprintf("{{%s}} names no column; the columns are %s", m[1], strings.Join(header, ", "))})
			}
		}
	})
	if len(ps) == 0 {
		return nil
	}
	slices.SortStableFunc(ps, func(a, b Problem) int { return a.Line - b.Line })
	return &Error{Problems: ps}
}

// walkStrings calls f for every string value in v, with its path, in a stable order.
func walkStrings(v any, path string, f func(path, s string)) {
	switch t := v.(type) {
	case string:
		f(path, t)
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			p := k
			if path != "" {
				p = path + "." + k
			}
			walkStrings(t[k], p, f)
		}
	case []any:
		for i, e := range t {
			walkStrings(e, fmt.Sprintf("%s[%d]", path, i), f)
		}
	}
}

// fill returns a copy of v with every placeholder replaced by its column's value.
func fill(v any, values map[string]string) any {
	switch t := v.(type) {
	case string:
		return placeholder.ReplaceAllStringFunc(t, func(m string) string {
			return values[placeholder.FindStringSubmatch(m)[1]]
		})
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = fill(e, values)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = fill(e, values)
		}
		return out
	default:
		return v
	}
}

// lookup returns the value at a field path, nil when there is none.
func lookup(doc map[string]any, path string) any {
	var v any = doc
	for _, seg := range parsePath(path) {
		switch t := v.(type) {
		case map[string]any:
			if seg.index >= 0 {
				return nil
			}
			v = t[seg.key]
		case []any:
			if seg.index < 0 || seg.index >= len(t) {
				return nil
			}
			v = t[seg.index]
		default:
			return nil
		}
	}
	return v
}

// hasPlaceholder reports whether any string in v holds a placeholder.
func hasPlaceholder(v any) bool {
	found := false
	walkStrings(v, "", func(_, s string) { found = found || placeholder.MatchString(s) })
	return found
}
