package heygen

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
)

// listLimit is the page size every list asks for: HeyGen's maximum. Its default is 10,
// which would take ten times the calls.
const listLimit = "100"

// page is one page of a v3 list: {"data": [...], "has_more", "next_token"}. has_more is
// not required by the published schemas, so it is a pointer: absent means "look at
// next_token".
type page struct {
	Data      json.RawMessage `json:"data"`
	HasMore   *bool           `json:"has_more"`
	NextToken FlexString      `json:"next_token"`
}

// more returns the token of the next page, or "" when this page is the last.
func (p page) more() string {
	if p.HasMore != nil && !*p.HasMore {
		return ""
	}
	return string(p.NextToken)
}

// eachPage GETs path with the query q and calls fn with the data of every page,
// following next_token (sent back as token) until has_more is false or no token comes.
// A token seen before ends the walk, since following it would loop forever.
func (c *Client) eachPage(ctx context.Context, path string, q url.Values, fn func(data json.RawMessage) error) error {
	seen := map[string]bool{}
	token := ""
	for {
		pq := url.Values{}
		for k, v := range q {
			pq[k] = v
		}
		if token != "" {
			pq.Set("token", token)
		}
		p := path
		if len(pq) > 0 {
			p += "?" + pq.Encode()
		}
		var pg page
		if _, err := c.doRaw(ctx, http.MethodGet, p, nil, "", &pg); err != nil {
			return err
		}
		if err := fn(pg.Data); err != nil {
			return err
		}
		next := pg.more()
		if next == "" || seen[next] {
			return nil
		}
		seen[next] = true
		token = next
	}
}
