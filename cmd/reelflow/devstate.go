package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
)

// devStateFile is the file under --dir in which `reelflow dev` leaves the addresses of
// its parts, for the commands run beside it (webhook list, webhook send, start's UI
// link) to find them with no flags. dev rewrites it at every start.
const devStateFile = "dev.json"

// devWebhookFile is the file under --dir in which the dev stack keeps its webhook
// endpoint and the endpoint's signing secret (devstack writes it; see its endpointFile).
const devWebhookFile = "webhook.json"

// devState is what a `reelflow dev` keeps under --dir for the other commands.
type devState struct {
	// TemporalAddress and Namespace are the embedded Temporal server's.
	TemporalAddress string `json:"temporal_address"`
	Namespace       string `json:"namespace"`
	// UIURL is the Temporal Web UI, "" without one.
	UIURL string `json:"ui_url,omitempty"`
	// SandboxURL is the HeyGen sandbox's base URL, "" when dev talks to real HeyGen.
	SandboxURL string `json:"sandbox_url,omitempty"`
	// WebhookURL is the receiver's /webhooks/heygen, "" when no receiver runs.
	WebhookURL string `json:"webhook_url,omitempty"`

	// secret is webhook.json's, which dev keeps apart and never writes here.
	secret string
}

// writeDevState saves st under dir, readable by its owner only like the rest of dir.
func writeDevState(dir string, st devState) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, devStateFile), append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("save the dev stack's addresses: %w", err)
	}
	return nil
}

// readDevState reads what a `reelflow dev` run with --dir dir left there. It reports
// false, with no error, when dev.json is not there; the secret is read either way.
func readDevState(dir string) (devState, bool, error) {
	var st devState
	var hook struct {
		Secret string `json:"secret"`
	}
	// webhook.json is older than dev.json: a dir without the second still has it.
	if b, err := os.ReadFile(filepath.Join(dir, devWebhookFile)); err == nil && json.Unmarshal(b, &hook) == nil {
		st.secret = hook.Secret
	}
	path := filepath.Join(dir, devStateFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return st, false, nil
	}
	if err != nil {
		return st, false, fmt.Errorf("read the dev stack's addresses: %w", err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, false, fmt.Errorf("read %s: %w", path, err)
	}
	return st, true, nil
}

// uiWorkflowsURL is the Temporal UI's list of workflows matching query, or "" without
// a UI.
func (st devState) uiWorkflowsURL(query string) string {
	if st.UIURL == "" {
		return ""
	}
	return st.UIURL + "/namespaces/" + url.PathEscape(st.Namespace) + "/workflows?query=" + url.QueryEscape(query)
}
