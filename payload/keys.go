package payload

import (
	"bufio"
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// KeySize is the length of an AES-256 key in bytes.
const KeySize = 32

// keyIDPattern bounds key IDs: they are stored in every payload's metadata and shown in
// errors, so they are short, printable and carry no separator of the key list.
var keyIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// Key is one named AES-256 key.
type Key struct {
	ID   string
	aead cipher.AEAD
	raw  []byte
}

// NewKey returns the key id for the 32 bytes of raw.
func NewKey(id string, raw []byte) (Key, error) {
	if !keyIDPattern.MatchString(id) {
		return Key{}, fmt.Errorf("key ID %q: want 1-64 of A-Z a-z 0-9 . _ -", id)
	}
	if len(raw) != KeySize {
		return Key{}, fmt.Errorf("key %q: %d bytes, want %d (AES-256)", id, len(raw), KeySize)
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return Key{}, fmt.Errorf("key %q: %w", id, err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return Key{}, fmt.Errorf("key %q: %w", id, err)
	}
	return Key{ID: id, aead: aead, raw: bytes.Clone(raw)}, nil
}

// GenerateKey returns a new random key; an empty id becomes "k-" and 8 random hex digits.
func GenerateKey(id string) (Key, error) {
	raw := make([]byte, KeySize)
	if _, err := rand.Read(raw); err != nil {
		return Key{}, fmt.Errorf("generate key: %w", err)
	}
	if id == "" {
		// Its own random bytes: an ID is public and must not reveal any of the key.
		tag := make([]byte, 4)
		if _, err := rand.Read(tag); err != nil {
			return Key{}, fmt.Errorf("generate key: %w", err)
		}
		id = "k-" + hex.EncodeToString(tag)
	}
	return NewKey(id, raw)
}

// String is the key in the list form "id:base64key". It holds the secret: never log it.
func (k Key) String() string { return k.ID + ":" + base64.StdEncoding.EncodeToString(k.raw) }

// Keys is a key ring: the first key encrypts, every key decrypts.
type Keys []Key

// IDs lists the key IDs in order.
func (ks Keys) IDs() []string {
	ids := make([]string, len(ks))
	for i, k := range ks {
		ids[i] = k.ID
	}
	return ids
}

func (ks Keys) find(id string) (Key, bool) {
	for _, k := range ks {
		if k.ID == id {
			return k, true
		}
	}
	return Key{}, false
}

// ParseKeys reads a key list: entries "id:base64key" separated by commas or new lines,
// blank lines and lines starting with # ignored. The key is standard base64 of 32
// bytes, padded or not. IDs must be unique.
func ParseKeys(s string) (Keys, error) {
	var ks Keys
	sc := bufio.NewScanner(strings.NewReader(s))
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		for entry := range strings.SplitSeq(text, ",") {
			entry = strings.TrimSpace(entry)
			if entry == "" {
				continue
			}
			k, err := parseEntry(entry)
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", line, err)
			}
			if _, dup := ks.find(k.ID); dup {
				return nil, fmt.Errorf("line %d: key ID %q listed twice", line, k.ID)
			}
			ks = append(ks, k)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return ks, nil
}

func parseEntry(entry string) (Key, error) {
	id, b64, ok := strings.Cut(entry, ":")
	if !ok {
		return Key{}, errors.New("want id:base64key")
	}
	id = strings.TrimSpace(id)
	b64 = strings.TrimRight(strings.TrimSpace(b64), "=")
	raw, err := base64.RawStdEncoding.DecodeString(b64)
	if err != nil {
		// Never echo the value: it is a secret, even when malformed.
		return Key{}, fmt.Errorf("key %q: not base64", id)
	}
	return NewKey(id, raw)
}

// LoadKeyFile reads a key list (ParseKeys) from path. The file holds secrets, so one
// that others may read is refused.
func LoadKeyFile(path string) (Keys, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("payload key file: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("payload key file %s: mode %v lets others read it; chmod 600 it", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("payload key file: %w", err)
	}
	ks, err := ParseKeys(string(b))
	if err != nil {
		return nil, fmt.Errorf("payload key file %s: %w", path, err)
	}
	if len(ks) == 0 {
		return nil, fmt.Errorf("payload key file %s: no key", path)
	}
	return ks, nil
}

// WriteKeyFile writes ks to path with mode 0600, creating its directory (0700), through
// a temporary file renamed into place so that a reader never sees half a file.
func WriteKeyFile(path string, ks Keys) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("payload key file: %w", err)
	}
	var b strings.Builder
	b.WriteString("# reelflow payload keys: id:base64key, the first encrypts, every one decrypts. Secret.\n")
	for _, k := range ks {
		b.WriteString(k.String() + "\n")
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".payload-keys-*")
	if err != nil {
		return fmt.Errorf("payload key file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(b.String()); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("payload key file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("payload key file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("payload key file: %w", err)
	}
	return nil
}

// EnsureKeyFile returns the keys in path, first writing a new random key there if the
// file does not exist.
func EnsureKeyFile(path string) (Keys, error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		k, err := GenerateKey("")
		if err != nil {
			return nil, err
		}
		if err := WriteKeyFile(path, Keys{k}); err != nil {
			return nil, err
		}
	}
	return LoadKeyFile(path)
}

// PutFirst makes k the first key of the key file at path (creating it), keeping the
// file's other keys after it, so that they still decrypt.
func PutFirst(path string, k Key) error {
	ks := Keys{k}
	if _, err := os.Stat(path); err == nil {
		old, err := LoadKeyFile(path)
		if err != nil {
			return err
		}
		for _, o := range old {
			if o.ID != k.ID {
				ks = append(ks, o)
			}
		}
	}
	return WriteKeyFile(path, ks)
}
