package payload

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/encoding/protojson"
)

func chmod(path string, mode os.FileMode) error { return os.Chmod(path, mode) }

func TestCodecServer(t *testing.T) {
	a := testKey(t, "a", 1)
	codecs, err := Options{Keys: Keys{a}}.Codecs()
	require.NoError(t, err)
	srv := httptest.NewServer(Handler(ServerOptions{Codecs: codecs, Origins: []string{"http://ui.test"}, Token: "tok", Namespaces: []string{"default"}}))
	defer srv.Close()

	sealed, err := dataConverter(t, Options{Keys: Keys{a}}).ToPayload(alice)
	require.NoError(t, err)
	body, err := protojson.Marshal(&commonpb.Payloads{Payloads: []*commonpb.Payload{sealed}})
	require.NoError(t, err)

	post := func(path, token, ns string, body string) (*http.Response, string) {
		req, err := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", "http://ui.test")
		req.Header.Set("X-Namespace", ns)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}

	resp, out := post("/decode", "tok", "default", string(body))
	require.Equal(t, http.StatusOK, resp.StatusCode, out)
	require.Equal(t, "http://ui.test", resp.Header.Get("Access-Control-Allow-Origin"))
	var got commonpb.Payloads
	require.NoError(t, protojson.Unmarshal([]byte(out), &got))
	require.Len(t, got.Payloads, 1)
	var c contact
	require.NoError(t, converter.GetDefaultDataConverter().FromPayload(got.Payloads[0], &c))
	require.Equal(t, alice, c, "/decode returns the plaintext")

	resp, out = post("/codec/encode", "tok", "default", out)
	require.Equal(t, http.StatusOK, resp.StatusCode, out)
	require.NotContains(t, out, "alice", "/encode returns ciphertext")

	resp, _ = post("/decode", "", "default", string(body))
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	resp, _ = post("/decode", "wrong", "default", string(body))
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	resp, _ = post("/decode", "tok", "other", string(body))
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	resp, _ = post("/decode", "tok", "default", "{not json")
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)

	onlyB, err := Options{Keys: Keys{testKey(t, "b", 2)}}.Codecs()
	require.NoError(t, err)
	srvB := httptest.NewServer(Handler(ServerOptions{Codecs: onlyB}))
	defer srvB.Close()
	respB, err := http.Post(srvB.URL+"/decode", "application/json", strings.NewReader(string(body)))
	require.NoError(t, err)
	bB, _ := io.ReadAll(respB.Body)
	respB.Body.Close()
	require.Equal(t, http.StatusBadRequest, respB.StatusCode)
	require.Contains(t, string(bB), `key ID "a"`, "the error names the missing key")

	req, err := http.NewRequest(http.MethodOptions, srv.URL+"/decode", nil)
	require.NoError(t, err)
	req.Header.Set("Origin", "http://ui.test")
	req.Header.Set("Access-Control-Request-Method", "POST")
	pre, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	pre.Body.Close()
	require.Equal(t, http.StatusNoContent, pre.StatusCode, "a preflight needs no token")
	require.Contains(t, pre.Header.Get("Access-Control-Allow-Headers"), "X-Namespace")

	req.Header.Set("Origin", "http://evil.test")
	pre, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	pre.Body.Close()
	require.Empty(t, pre.Header.Get("Access-Control-Allow-Origin"), "another origin gets no CORS grant")
}

func TestRemoteCodecThroughServer(t *testing.T) {
	a := testKey(t, "a", 1)
	codecs, err := Options{Keys: Keys{a}}.Codecs()
	require.NoError(t, err)
	srv := httptest.NewServer(Handler(ServerOptions{Codecs: codecs, Token: "tok"}))
	defer srv.Close()
	remote := dataConverter(t, Options{Remote: srv.URL, RemoteToken: "tok"})
	local := dataConverter(t, Options{Keys: Keys{a}})
	p, err := remote.ToPayload(alice)
	require.NoError(t, err)
	var c contact
	require.NoError(t, local.FromPayload(p, &c), "the remote codec encrypts with the server's key")
	require.Equal(t, alice, c)
	p, err = local.ToPayload(alice)
	require.NoError(t, err)
	c = contact{}
	require.NoError(t, remote.FromPayload(p, &c))
	require.Equal(t, alice, c)
	b, _ := json.Marshal(c)
	require.Contains(t, string(b), "alice@example.com")
}
