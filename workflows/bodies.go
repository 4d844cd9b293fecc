package workflows

// TranslationBody is the POST /v3/video-translations body of a pipeline's translation
// into lang, of the video at videoURL: one language per request, so that each
// translation has its own callback_id (which the Job sets, with callback_url). spec
// checks the same body against HeyGen's published schema before a pipeline starts.
func TranslationBody(in PipelineInput, lang, videoURL string) map[string]any {
	body := map[string]any{
		"video":            map[string]any{"type": "url", "url": videoURL},
		"output_languages": []any{lang},
	}
	if in.Title != "" {
		body["title"] = in.Title + " (" + lang + ")"
	}
	if t := in.Translate; t != nil && t.Mode != "" {
		body["mode"] = t.Mode
	}
	if t := in.Translate; t != nil && t.Captions {
		body["enable_caption"] = true
	}
	return body
}
