package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.temporal.io/sdk/client"

	"github.com/reelflow/reelflow/payload"
)

// payloadKeysEnv holds the payload keys themselves. It has no flag on purpose: a flag's
// value shows in --help (the variable becomes its default) and in the process list.
const payloadKeysEnv = "REELFLOW_PAYLOAD_KEYS"

// payloadFlags say where the payload keys come from (see payloadOptions).
type payloadFlags struct {
	keyFile    string
	compress   bool
	codecURL   string
	codecToken string
}

// bindPayload binds the payload flags on every command, since every command that talks
// to Temporal reads or writes payloads.
func (a *app) bindPayload(fs *pflag.FlagSet, p *payloadFlags) {
	a.env.String(fs, &p.keyFile, "payload-key-file", "REELFLOW_PAYLOAD_KEY_FILE", "",
		"file of payload keys, id:base64key one a line, the first encrypts (default: $"+payloadKeysEnv+", else "+userKeyFileHint()+" if present)")
	a.env.Bool(fs, &p.compress, "payload-compress", "REELFLOW_PAYLOAD_COMPRESS", false, "zlib-compress payloads before encrypting them")
	a.env.String(fs, &p.codecURL, "codec-url", "REELFLOW_CODEC_URL", "", "encode and decode payloads through this codec server instead of holding keys")
	a.env.String(fs, &p.codecToken, "codec-token", "REELFLOW_CODEC_TOKEN", "", "bearer token of --codec-url, or the token `reelflow codec-server` requires")
}

// userKeyFile is where `reelflow dev` serving Temporal at hostPort leaves its keys, so
// that the CLI works against it from any directory; "" when the system has no user
// config directory. The file is per address, so that a process talking to another
// Temporal (a test's server, a cluster) never picks up dev's key.
func userKeyFile(hostPort string) string {
	dir, err := os.UserConfigDir()
	if err != nil {
		return ""
	}
	name := strings.Map(func(r rune) rune {
		if r == ':' || r == '/' || r == '\\' {
			return '_'
		}
		return r
	}, hostPort)
	return filepath.Join(dir, "reelflow", "dev-"+name+".keys")
}

func userKeyFileHint() string {
	if p := userKeyFile("HOST:PORT"); p != "" {
		return p
	}
	return "the user config dir's reelflow/dev-HOST_PORT.keys"
}

// payloadOptions resolves the payload settings, first found wins: $REELFLOW_PAYLOAD_KEYS,
// --payload-key-file, --codec-url, then the key file that `reelflow dev` wrote for the
// Temporal at hostPort. With none, payloads are plaintext. source says which, for logs
// (never a key).
func (p payloadFlags) payloadOptions(hostPort string) (o payload.Options, source string, err error) {
	o.Compress = p.compress
	switch {
	case os.Getenv(payloadKeysEnv) != "":
		o.Keys, err = payload.ParseKeys(os.Getenv(payloadKeysEnv))
		if err == nil && len(o.Keys) == 0 {
			err = errors.New("no key")
		}
		if err != nil {
			return o, "", &exitError{code: 2, err: fmt.Errorf("$%s: %w", payloadKeysEnv, err)}
		}
		return o, "$" + payloadKeysEnv, nil
	case p.keyFile != "":
		if o.Keys, err = payload.LoadKeyFile(p.keyFile); err != nil {
			return o, "", &exitError{code: 2, err: err}
		}
		return o, p.keyFile, nil
	case p.codecURL != "":
		o.Remote, o.RemoteToken = strings.TrimRight(p.codecURL, "/"), p.codecToken
		return o, p.codecURL, nil
	}
	if path := userKeyFile(hostPort); path != "" && hostPort != "" {
		if _, statErr := os.Stat(path); statErr == nil {
			if o.Keys, err = payload.LoadKeyFile(path); err != nil {
				return o, "", err
			}
			return o, path, nil
		}
	}
	return o, "none (plaintext)", nil
}

// applyPayload sets copts' converters from the payload flags. With no key, payloads are
// plaintext, and an encrypted one is refused with the ID of the key it needs.
func (a *app) applyPayload(copts *client.Options) error {
	o, _, err := a.payload.payloadOptions(copts.HostPort)
	if err != nil {
		return err
	}
	return o.ApplyStrict(copts)
}

// withKeyHint adds to an error that a payload could not be decrypted what to do about it.
func withKeyHint(err error) error {
	if !payload.IsMissingKey(err) {
		return err
	}
	return fmt.Errorf("%w\n  to read it, give this process that key: $%s=\"<id>:<base64key>,...\" (the first encrypts, all decrypt), "+
		"or --payload-key-file FILE, or --codec-url of a codec server that holds it", err, payloadKeysEnv)
}

// codecServerCommand serves the Temporal UI's remote codec: /encode and /decode.
func (a *app) codecServerCommand() *cobra.Command {
	var (
		addr, origins, namespaces string
	)
	cmd := &cobra.Command{
		Use:   "codec-server",
		Short: "Serve /encode and /decode for the Temporal UI and CLI, so that people allowed to see payloads see plaintext",
		Long: `codec-server decrypts and encrypts payloads with the payload keys for callers that hold
none: the Temporal Web UI (set its codec endpoint to this server's URL) and the CLI
(--codec-url). It speaks Temporal's remote codec protocol. Give it --codec-token to
require "Authorization: Bearer <token>", and --origins for the UI's origin (CORS).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := a.logger()
			if err != nil {
				return err
			}
			defer func() { _ = log.Sync() }()
			o, source, err := a.payload.payloadOptions("")
			if err != nil {
				return err
			}
			if len(o.Keys) == 0 {
				return &exitError{code: 2, err: fmt.Errorf("codec-server needs the payload keys: set $%s or --payload-key-file", payloadKeysEnv)}
			}
			codecs, err := o.Codecs()
			if err != nil {
				return err
			}
			h := payload.Handler(payload.ServerOptions{Codecs: codecs, Origins: splitList(origins),
				Token: a.payload.codecToken, Namespaces: splitList(namespaces)})
			log.Sugar().Infow("codec server listening", "addr", addr, "keys", o.Keys.IDs(), "from", source, "origins", origins)
			return serveUntilDone(cmd.Context(), httpServer(addr, h))
		},
	}
	fs := cmd.Flags()
	a.env.String(fs, &addr, "addr", "REELFLOW_CODEC_ADDR", "127.0.0.1:8234", "listen address")
	a.env.String(fs, &origins, "origins", "REELFLOW_CODEC_ORIGINS", "http://127.0.0.1:8233,http://localhost:8233", "browser origins allowed to call (the Temporal UI's), comma-separated")
	a.env.String(fs, &namespaces, "namespaces", "REELFLOW_CODEC_NAMESPACES", "", "namespaces served (the X-Namespace header); empty serves any")
	return cmd
}

// devPayload is dev's encryption: the keys given ($REELFLOW_PAYLOAD_KEYS or
// --payload-key-file), else the key under dir, made on the first start. Its keys are
// also put first in the user's key file, so that the CLI, from any directory, encrypts
// what dev's worker can read and reads what it wrote. encrypt=false: plaintext.
func (a *app) devPayload(dir, hostPort string, encrypt bool) (payload.Options, error) {
	if !encrypt {
		return payload.Options{}, nil
	}
	o := payload.Options{Compress: a.payload.compress}
	if os.Getenv(payloadKeysEnv) != "" || a.payload.keyFile != "" {
		given, _, err := a.payload.payloadOptions("")
		if err != nil {
			return o, err
		}
		o.Keys = given.Keys
	} else {
		ks, err := payload.EnsureKeyFile(filepath.Join(dir, "payload.keys"))
		if err != nil {
			return o, err
		}
		o.Keys = ks
	}
	if path := userKeyFile(hostPort); path != "" {
		for i := len(o.Keys) - 1; i >= 0; i-- {
			if err := payload.PutFirst(path, o.Keys[i]); err != nil {
				return o, fmt.Errorf("share dev's payload key with the CLI: %w", err)
			}
		}
	}
	return o, nil
}
