package sandbox

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/reelflow/reelflow/contract"
)

// Answers says how much of each answer the sandbox gives. HeyGen publishes most fields of
// its answers as optional and nullable, so a server can keep to the contract and still
// leave out most of what the sandbox sends by default. The two minimal shapes play such a
// server, so that reelflow is shown to finish its work on what the contract promises and
// on nothing more.
type Answers string

const (
	// AnswersFull gives every published field the sandbox has a value for.
	AnswersFull Answers = "full"
	// AnswersNull gives the required fields, the payload fields (see payloadFields) when
	// they have a value, and null for every other nullable field.
	AnswersNull Answers = "null"
	// AnswersOmit gives the required fields and the payload fields, and leaves every
	// other field out.
	AnswersOmit Answers = "omit"
)

// ParseAnswers reads an Answers name; "" is AnswersFull.
func ParseAnswers(s string) (Answers, error) {
	switch a := Answers(s); a {
	case "", AnswersFull:
		return AnswersFull, nil
	case AnswersNull, AnswersOmit:
		return a, nil
	}
	return "", fmt.Errorf("answers %q: want %s, %s or %s", s, AnswersFull, AnswersNull, AnswersOmit)
}

// payloadFields are the optional fields a minimal server still fills when it has them:
// without them there is nothing to deliver (video_url), no reason for a failure
// (failure_code, failure_message), no way to verify a webhook (an endpoint's secret,
// which HeyGen shows once, at create and rotate), and no next page (next_token). Every
// other optional field (duration, thumbnail_url, captions, created_at, title, a bulk
// row's video_id ...) is one that reelflow must do without.
//
// The balance fields of GET /v3/users/me are its payload too: the call exists to read them.
var payloadFields = map[string]bool{
	"video_url": true, "failure_code": true, "failure_message": true, "secret": true, "next_token": true,
	"billing_type": true, "wallet": true, "remaining_balance": true, "subscription": true, "credits": true,
	"premium_credits": true, "add_on_credits": true, "remaining": true, "usage_based": true,
	"remaining_credits": true, "spending_cap_usd": true, "spending_current_usd": true,
}

// minimized buffers a /v3 answer when the sandbox gives minimal answers, and returns the
// writer to serve into and the flush that cuts a 2xx answer down (contract.Minimize) and
// sends it. Error answers and routes HeyGen does not publish go out as they are.
func (s *Sandbox) minimized(w http.ResponseWriter, r *http.Request) (http.ResponseWriter, func()) {
	if s.answers == AnswersFull || !strings.HasPrefix(r.URL.Path, "/v3/") {
		return w, func() {}
	}
	op, _, ok := s.contract.Match(r.Method, r.URL.Path)
	if !ok {
		return w, func() {}
	}
	sparse := contract.SparseNull
	if s.answers == AnswersOmit {
		sparse = contract.SparseOmit
	}
	buf := &recorder{ResponseWriter: w, hold: true}
	return buf, func() {
		if buf.hijacked {
			return
		}
		body := buf.body.Bytes()
		if buf.code == 0 {
			buf.code = http.StatusOK
		}
		if buf.code >= 200 && buf.code <= 299 {
			cut, err := op.Minimize(body, sparse, func(f string) bool { return payloadFields[f] })
			if err != nil {
				s.log.Warn("sandbox: answer not minimized", zap.String("path", r.URL.Path), zap.Error(err))
			}
			body = cut
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(buf.code)
		_, _ = w.Write(body)
	}
}
