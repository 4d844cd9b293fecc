package heygen

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
)

// CreateTemplateVideo calls POST /v3/templates/{template_id}. req.Body carries the
// template's variables, title, caption, dimension and so on, passed through; the client
// sets callback_id, callback_url and the Idempotency-Key as CreateVideo does. HeyGen
// answers with the created video object, so the ID is read from data.id (there is no
// data.video_id). The status of the video is read with GetVideo.
func (c *Client) CreateTemplateVideo(ctx context.Context, templateID string, req CreateVideoRequest) (CreatedVideo, error) {
	if templateID == "" {
		return CreatedVideo{}, errorf("POST /v3/templates/{template_id}", 0, "empty template id")
	}
	return c.create(ctx, "/v3/templates/"+url.PathEscape(templateID), "id", req)
}

// ListVideos calls GET /v3/videos?title= with limit=100 and follows every page
// (has_more and next_token). title is a substring filter; "" lists every video. It exists
// to adopt a job that an ambiguous create made: find it by the tag in its title.
func (c *Client) ListVideos(ctx context.Context, title string) ([]Video, error) {
	const path = "/v3/videos"
	q := url.Values{"limit": {listLimit}}
	if title != "" {
		q.Set("title", title)
	}
	var all []Video
	err := c.eachPage(ctx, path, q, func(data json.RawMessage) error {
		var videos []Video
		if err := decodeList(data, &videos); err != nil {
			return undecodable(opName(http.MethodGet, path), http.StatusOK, "decode data: %v", err)
		}
		for _, v := range videos {
			v.Status = NormaliseStatus(string(v.Status))
			all = append(all, v)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return all, nil
}
