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
	cr, err := newCSVRows(csvName, rows, keyColumn)
	if err != nil {
		return Batch{}, err
	}
	if err := checkBatchSpec(specName, src, doc, cr.header); err != nil {
		return Batch{}, err
	}
	b := Batch{Spec: specName, CSV: csvName, KeyColumn: cr.keyColumn}
	ids := map[string]int{} // pipeline ID -> line of its first row
	for {
		row, values, err := cr.next()
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, fmt.Errorf("read rows: %w", err)
		}
		if row.Err == nil {
			in, problems := fillRow(specName, src, doc, values)
			if problems != "" {
				row = cr.bad(row, "%s", problems)
			} else {
				row = cr.keyed(row, in, ids)
			}
		}
		b.Rows = append(b.Rows, row)
	}
}

// checkBatchSpec fails the batch for what no row's values can mend: a placeholder that
// names no column, or a problem of the spec as written at a field without a
// placeholder, or an unknown key (a value cannot mend its key), which would be every
// row's problem.
func checkBatchSpec(specName string, src []byte, doc map[string]any, header []string) error {
	if err := checkPlaceholders(specName, newLocator(src), doc, header); err != nil {
		return err
	}
	_, err := validate(specName, src, doc)
	var se *Error
	if !errors.As(err, &se) {
		return nil
	}
	var fatal []Problem
	for _, p := range se.Problems {
		if p.Field == "" || !hasPlaceholder(lookup(doc, p.Field)) || strings.HasPrefix(p.Msg, "unknown key") {
			fatal = append(fatal, p)
		}
	}
	if len(fatal) > 0 {
		return &Error{Problems: fatal}
	}
	return nil
}

// fillRow fills the spec's placeholders with one row's values and validates the result.
// problems lists what is wrong with it, "; " apart, and is empty for a good row.
func fillRow(specName string, src []byte, doc map[string]any, values map[string]string) (in workflows.PipelineInput, problems string) {
	in, err := validate(specName, src, fill(doc, values).(map[string]any))
	if err == nil {
		return in, ""
	}
	var se *Error
	if !errors.As(err, &se) {
		return in, err.Error()
	}
	msgs := make([]string, len(se.Problems))
	for i, p := range se.Problems {
		msgs[i] = p.String()
	}
	return in, strings.Join(msgs, "; ")
}

// csvRows reads the CSV file of a batch: its header, then one keyed row at a time.
type csvRows struct {
	name      string
	r         *csv.Reader
	header    []string
	keyColumn string
	keyIdx    int
}

// newCSVRows reads the header and finds the key column (the first when keyColumn is
// empty).
func newCSVRows(name string, rows io.Reader, keyColumn string) (*csvRows, error) {
	r := csv.NewReader(rows)
	r.FieldsPerRecord = 0 // every row as long as the header
	header, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("%w: %s:1: header: %v", ErrInvalid, name, csvErrText(err))
	}
	for i, h := range header {
		header[i] = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
	}
	if keyColumn == "" {
		keyColumn = header[0]
	}
	keyIdx := slices.Index(header, keyColumn)
	if keyIdx < 0 {
		return nil, fmt.Errorf("%w: %s:1: no column %q for the key; the columns are %s",
			ErrInvalid, name, keyColumn, strings.Join(header, ", "))
	}
	return &csvRows{name: name, r: r, header: header, keyColumn: keyColumn, keyIdx: keyIdx}, nil
}

// next returns the next data row with its line and key, and its values by column. A row
// with the wrong number of fields or an empty key comes back with its Err set. The
// error is io.EOF after the last row, or one that ends the file's reading.
func (c *csvRows) next() (Row, map[string]string, error) {
	rec, err := c.r.Read()
	if err == io.EOF {
		return Row{}, nil, err
	}
	if err != nil {
		var pe *csv.ParseError
		if !errors.As(err, &pe) {
			return Row{}, nil, err
		}
		row := Row{Line: pe.StartLine}
		if errors.Is(pe.Err, csv.ErrFieldCount) {
			return c.bad(row, "%d fields, but the header has %d", len(rec), len(c.header)), nil, nil
		}
		return c.bad(row, "%v", pe.Err), nil, nil
	}
	var row Row
	row.Line, _ = c.r.FieldPos(0)
	row.Key = strings.TrimSpace(rec[c.keyIdx])
	if keySlug(row.Key) == "" {
		return c.bad(row, "%s: empty key; every row needs one", c.keyColumn), nil, nil
	}
	values := make(map[string]string, len(c.header))
	for i, h := range c.header {
		values[h] = rec[i]
	}
	return row, values, nil
}

// keyed gives a good row its pipeline, whose ID ends in the slug of the row's key, and
// refuses an ID that is too long or that an earlier row (its line in ids) already has.
// The pipeline belongs to the campaign named by the spec's id; its fairness key, unless
// the spec sets one, is that id too (validate filled it in before the ID got its suffix).
func (c *csvRows) keyed(row Row, in workflows.PipelineInput, ids map[string]int) Row {
	in.Schedule.Campaign = in.ID
	in.ID = in.ID + "-" + keySlug(row.Key)
	if !workflows.ValidPipelineID(in.ID) {
		return c.bad(row, "pipeline id %q is longer than 128 characters", in.ID)
	}
	if first, dup := ids[in.ID]; dup {
		return c.bad(row, "%s: %q gives pipeline id %s, as line %d does", c.keyColumn, row.Key, in.ID, first)
	}
	ids[in.ID] = row.Line
	row.Input = in
	return row
}

// bad sets row.Err, prefixed with the file's name and the row's line.
func (c *csvRows) bad(row Row, format string, args ...any) Row {
	row.Err = fmt.Errorf("%w: %s:%d: %s", ErrInvalid, c.name, row.Line, fmt.Sprintf(format, args...))
	return row
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
