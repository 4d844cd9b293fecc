package sandbox

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"
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

// fileLinks are a job's public URLs; "" where the job has no such file.
type fileLinks struct {
	video, thumbnail, gif, share, srt, vtt, audio string
}

// linksLocked builds a job's URLs under base, each signed to expire LinkTTL after now.
func (s *Sandbox) linksLocked(base string, j *job, now time.Time) fileLinks {
	id := url.PathEscape(j.ID)
	f := func(ext string) string { return base + s.signLocked("/files/"+id+"."+ext, now) }
	l := fileLinks{srt: f("srt"), vtt: f("vtt")}
	if j.kind() == JobKindTranslation {
		if j.AudioOnly {
			l.audio = f("mp3")
		} else {
			l.video = f("mp4")
		}
		return l
	}
	l.video, l.thumbnail, l.gif = f(j.OutputFormat), f("jpg"), f("gif")
	l.share = base + "/share/" + id
	return l
}

// signLocked returns path with ?expires=<unix ms>&sig=<hex> when links expire, and path
// alone when they do not.
func (s *Sandbox) signLocked(path string, now time.Time) string {
	if s.linkTTL <= 0 {
		return path
	}
	exp := strconv.FormatInt(now.Add(s.linkTTL).UnixMilli(), 10)
	return path + "?expires=" + exp + "&sig=" + s.linkSig(path, exp)
}

// linkSig is the signature of a link: HMAC-SHA256 of path and expiry, 16 bytes in hex.
func (s *Sandbox) linkSig(path, exp string) string {
	m := hmac.New(sha256.New, s.linkKey)
	m.Write([]byte(path + "\n" + exp))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// checkLink says whether a file request may be served: a link with an expiry must carry
// a valid signature and be unexpired; a bare link is valid only while links never expire.
func (s *Sandbox) checkLink(r *http.Request, now time.Time) (ok bool, reason string) {
	q := r.URL.Query()
	exp, sig := q.Get("expires"), q.Get("sig")
	s.mu.Lock()
	ttl := s.linkTTL
	s.mu.Unlock()
	if exp == "" && sig == "" {
		if ttl > 0 {
			return false, "link is not signed"
		}
		return true, ""
	}
	if !hmac.Equal([]byte(sig), []byte(s.linkSig(r.URL.Path, exp))) {
		return false, "link signature does not match"
	}
	ms, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || now.UnixMilli() >= ms {
		return false, "link expired"
	}
	return true, ""
}

// artifact returns the bytes and content type of a job's file ext, if the job offers
// one. The bytes are a pure function of the job ID and ext.
func artifact(j *job, ext string) ([]byte, string, bool) {
	switch {
	case ext == "srt":
		return srtBytes(j.ID), "application/x-subrip", true
	case ext == "vtt":
		return vttBytes(j.ID), "text/vtt; charset=utf-8", true
	case j.kind() == JobKindTranslation && ext == "mp4" && !j.AudioOnly:
		return FileBytes(j.ID), "video/mp4", true
	case j.kind() == JobKindTranslation && ext == "mp3" && j.AudioOnly:
		return audioBytes(j.ID), "audio/mpeg", true
	case j.kind() == JobKindTranslation:
		return nil, "", false
	case ext == j.OutputFormat:
		return FileBytes(j.ID), "video/" + j.OutputFormat, true
	case ext == "jpg":
		return thumbnailBytes(j.ID), "image/jpeg", true
	case ext == "gif":
		return gifBytes(j.ID), "image/gif", true
	}
	return nil, "", false
}

// ArtifactBytes returns the exact bytes the file host serves for a link (a full URL from
// any answer or webhook, or just its path /files/{id}.{ext}), whatever its expiry, and
// false when no completed job offers that file. Tests compare downloads against it.
func (s *Sandbox) ArtifactBytes(link string) ([]byte, bool) {
	u, err := url.Parse(link)
	if err != nil {
		return nil, false
	}
	dir, name := path.Split(u.Path)
	dot := strings.LastIndexByte(name, '.')
	if dir != "/files/" || dot <= 0 {
		return nil, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	j := s.jobs[name[:dot]]
	if j == nil {
		return nil, false
	}
	s.finishLocked(j, time.Now())
	if j.status(time.Now()) != "completed" {
		return nil, false
	}
	b, _, ok := artifact(j, name[dot+1:])
	return b, ok
}

// captionCues are the cues of every caption file: start and end in milliseconds.
func captionCues() [3][2]int { return [3][2]int{{0, 2500}, {2500, 5000}, {5000, 7500}} }

// srtBytes is a SubRip caption file whose text names the job.
func srtBytes(id string) []byte {
	var b bytes.Buffer
	for i, c := range captionCues() {
		fmt.Fprintf(&b, "%d\n%s --> %s\nreelflow sandbox caption %d for %s\n\n", i+1, cueTime(c[0], ","), cueTime(c[1], ","), i+1, id)
	}
	return b.Bytes()
}

// vttBytes is the WebVTT twin of srtBytes.
func vttBytes(id string) []byte {
	var b bytes.Buffer
	b.WriteString("WEBVTT\n\n")
	for i, c := range captionCues() {
		fmt.Fprintf(&b, "%s --> %s\nreelflow sandbox caption %d for %s\n\n", cueTime(c[0], "."), cueTime(c[1], "."), i+1, id)
	}
	return b.Bytes()
}

func cueTime(ms int, sep string) string {
	return fmt.Sprintf("%02d:%02d:%02d%s%03d", ms/3600000, ms/60000%60, ms/1000%60, sep, ms%1000)
}

// audioBytes are the bytes at a translation's audio_url: an ID3 tag, then a SHA-256 chain.
func audioBytes(id string) []byte {
	return chain("audio", id, []byte("ID3"), nil, 4*imageSize)
}

// sharePage is a minimal page at video_page_url / video_share_page_url.
func sharePage(videoURL string) []byte {
	var b bytes.Buffer
	b.WriteString("<!doctype html><title>reelflow sandbox video</title><video controls src=\"")
	b.WriteString(html.EscapeString(videoURL))
	b.WriteString("\"></video>\n")
	return b.Bytes()
}
