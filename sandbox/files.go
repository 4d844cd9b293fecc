package sandbox

import (
	"bytes"
	"crypto/sha256"
	"html"
	"net/url"
)

// Sizes of the served files: small enough to be cheap, big enough for a download to take
// several reads.
const (
	videoSize = 64 << 10
	imageSize = 4 << 10
)

// FileBytes returns the exact bytes served at a completed video's video_url. They are a pure
// function of videoID (an MP4 ftyp box, then a SHA-256 chain), so a test can compare a
// download byte for byte without asking the sandbox.
func FileBytes(videoID string) []byte {
	head := []byte{0, 0, 0, 0x18, 'f', 't', 'y', 'p', 'i', 's', 'o', 'm', 0, 0, 2, 0, 'i', 's', 'o', 'm', 'm', 'p', '4', '1'}
	return chain("video", videoID, head, nil, videoSize)
}

// FileBytes returns the exact bytes served at a video's video_url; see the package function
// FileBytes, which it calls.
func (s *Sandbox) FileBytes(videoID string) []byte { return FileBytes(videoID) }

// thumbnailBytes are the bytes at thumbnail_url: JPEG markers around a SHA-256 chain.
func thumbnailBytes(videoID string) []byte {
	return chain("thumbnail", videoID, []byte{0xff, 0xd8, 0xff, 0xe0}, []byte{0xff, 0xd9}, imageSize)
}

// gifBytes are the bytes at gif_url.
func gifBytes(videoID string) []byte {
	return chain("gif", videoID, []byte("GIF89a"), []byte{0x3b}, imageSize)
}

// chain fills size bytes: head, then sha256(kind:id), sha256 of that, ..., then tail.
func chain(kind, videoID string, head, tail []byte, size int) []byte {
	out := make([]byte, 0, size)
	out = append(out, head...)
	sum := sha256.Sum256([]byte("reelflow-sandbox:" + kind + ":" + videoID))
	for len(out) < size-len(tail) {
		n := min(len(sum), size-len(tail)-len(out))
		out = append(out, sum[:n]...)
		sum = sha256.Sum256(sum[:])
	}
	return append(out, tail...)
}

// fileLinks are a job's public URLs.
type fileLinks struct {
	video, thumbnail, gif, share string
}

// links builds a job's URLs under base.
func links(base string, j *job) fileLinks {
	id := url.PathEscape(j.ID)
	return fileLinks{
		video:     base + "/files/" + id + "." + j.OutputFormat,
		thumbnail: base + "/files/" + id + ".jpg",
		gif:       base + "/files/" + id + ".gif",
		share:     base + "/share/" + id,
	}
}

// sharePage is a minimal page at video_page_url / video_share_page_url.
func sharePage(videoURL string) []byte {
	var b bytes.Buffer
	b.WriteString("<!doctype html><title>reelflow sandbox video</title><video controls src=\"")
	b.WriteString(html.EscapeString(videoURL))
	b.WriteString("\"></video>\n")
	return b.Bytes()
}
