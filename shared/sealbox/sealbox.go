// Package sealbox encrypts small secrets at rest (provider tokens) with
// AES-256-GCM under a ring of named keys, so keys can rotate: a value is
// sealed with the newest key and opened with whichever key sealed it.
//
// Every sealed value is bound to additional data (for provider tokens, the
// account and column it belongs to): opening it under other additional
// data fails, so a ciphertext copied to another row is useless.
//
// Sealed format, version 1:
//
//	0x01 | len(key id) (1 byte) | key id | nonce (12 bytes) | ciphertext and tag
//
// The header (version and key id) is authenticated along with the
// additional data.
package sealbox

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// KeySize is the size of an AES-256 key in bytes.
const KeySize = 32

const (
	version   = 1
	nonceSize = 12
	// maxKeyID keeps key ids short: they are stored with every value.
	maxKeyID = 32
)

// ErrOpen is returned by Open for a value that cannot be opened: tampered,
// truncated, sealed under other additional data, or sealed with a key the
// ring does not hold. The reasons are not told apart beyond the key id, so
// that the error says nothing useful to whoever made the value.
var ErrOpen = errors.New("sealbox: cannot open sealed value")

// Key is one named AES-256 key.
type Key struct {
	ID  string
	Key []byte
}

// Box seals and opens values with a ring of keys. It is safe for
// concurrent use.
type Box struct {
	newest string
	aeads  map[string]cipher.AEAD
	ids    []string
}

// New returns a box that seals with keys[0] and opens with any of keys.
// Errors: no keys, a key id that is empty, too long, repeated or not made
// of letters, digits, '-', '_' and '.', or a key that is not 32 bytes.
func New(keys ...Key) (*Box, error) {
	if len(keys) == 0 {
		return nil, errors.New("no keys")
	}
	b := &Box{newest: keys[0].ID, aeads: make(map[string]cipher.AEAD, len(keys))}
	for _, k := range keys {
		if err := checkID(k.ID); err != nil {
			return nil, err
		}
		if _, dup := b.aeads[k.ID]; dup {
			return nil, fmt.Errorf("key id %q appears twice", k.ID)
		}
		if len(k.Key) != KeySize {
			return nil, fmt.Errorf("key %q is %d bytes; it must be %d (AES-256)", k.ID, len(k.Key), KeySize)
		}
		block, err := aes.NewCipher(k.Key)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", k.ID, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", k.ID, err)
		}
		b.aeads[k.ID] = aead
		b.ids = append(b.ids, k.ID)
	}
	return b, nil
}

func checkID(id string) error {
	if id == "" || len(id) > maxKeyID {
		return fmt.Errorf("key id %q must be 1 to %d characters", id, maxKeyID)
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return fmt.Errorf("key id %q may hold only letters, digits, '-', '_' and '.'", id)
		}
	}
	return nil
}

// ParseKeys builds a box from a key ring written as a comma-separated list
// of id:key pairs, each key 32 bytes in standard or URL-safe base64, the
// newest key first:
//
//	k2026b:3q2+7w...=,k2026a:AAECAw...=
//
// New values are sealed with the first key; values sealed with any listed
// key can be opened. To rotate, put a new key first and keep the old ones
// until every value has been sealed again. Errors never contain key
// material.
func ParseKeys(s string) (*Box, error) {
	keys, err := ParseRing(s)
	if err != nil {
		return nil, err
	}
	return New(keys...)
}

// ParseRing reads a key ring written as ParseKeys takes it into its keys,
// newest first, decoded but not checked (ids, sizes: see New). Errors:
// no keys, an entry that is not id:key or a key that is not base64; they
// never contain key material.
func ParseRing(s string) ([]Key, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("no keys")
	}
	var keys []Key
	for i, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		id, enc, ok := strings.Cut(part, ":")
		if !ok || id == "" || enc == "" {
			return nil, fmt.Errorf("entry %d must be id:base64key", i+1)
		}
		key, err := decodeKey(enc)
		if err != nil {
			return nil, fmt.Errorf("key %q is not base64", id)
		}
		keys = append(keys, Key{ID: id, Key: key})
	}
	return keys, nil
}

func decodeKey(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("not base64")
}

// NewKey returns a random key, base64-encoded, for a TOKEN_KEYS entry.
func NewKey() string {
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return base64.StdEncoding.EncodeToString(k)
}

// Newest is the id of the key new values are sealed with.
func (b *Box) Newest() string { return b.newest }

// KeyIDs are the ids of the ring's keys, newest first.
func (b *Box) KeyIDs() []string { return append([]string(nil), b.ids...) }

// Seal encrypts plaintext with the newest key, bound to ad.
func (b *Box) Seal(plaintext, ad []byte) []byte {
	aead := b.aeads[b.newest]
	hdr := header(b.newest)
	out := make([]byte, len(hdr), len(hdr)+nonceSize+len(plaintext)+aead.Overhead())
	copy(out, hdr)
	nonce := out[len(hdr) : len(hdr)+nonceSize]
	out = out[:len(hdr)+nonceSize]
	if _, err := rand.Read(nonce); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return aead.Seal(out, nonce, plaintext, associated(hdr, ad))
}

// Open decrypts a value made by Seal under the same additional data, with
// whichever key of the ring sealed it. Errors: ErrOpen (wrapped, naming
// the key id when the ring lacks it).
func (b *Box) Open(sealed, ad []byte) ([]byte, error) {
	id, rest, ok := split(sealed)
	if !ok {
		return nil, ErrOpen
	}
	aead, ok := b.aeads[id]
	if !ok {
		return nil, fmt.Errorf("%w: sealed with key %q, which is not configured", ErrOpen, id)
	}
	if len(rest) < nonceSize+aead.Overhead() {
		return nil, ErrOpen
	}
	hdr := header(id)
	pt, err := aead.Open(nil, rest[:nonceSize], rest[nonceSize:], associated(hdr, ad))
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}

// KeyID returns the id of the key that sealed a value, so that values
// sealed with an old key can be found and sealed again.
func KeyID(sealed []byte) (string, bool) {
	id, _, ok := split(sealed)
	return id, ok
}

// Stale reports whether sealed was sealed with a key other than the newest.
func (b *Box) Stale(sealed []byte) bool {
	id, ok := KeyID(sealed)
	return !ok || id != b.newest
}

// Prefix returns the bytes every value sealed with the newest key begins
// with (the header). A value that does not begin with them is Stale, so a
// database can find the values to seal again without reading them all.
func (b *Box) Prefix() []byte { return header(b.newest) }

func header(id string) []byte {
	return append([]byte{version, byte(len(id))}, id...)
}

func split(sealed []byte) (id string, rest []byte, ok bool) {
	if len(sealed) < 2 || sealed[0] != version {
		return "", nil, false
	}
	n := int(sealed[1])
	if n == 0 || n > maxKeyID || len(sealed) < 2+n {
		return "", nil, false
	}
	return string(sealed[2 : 2+n]), sealed[2+n:], true
}

// associated is the data GCM authenticates: the header, then the caller's
// additional data, length-prefixed so that the two cannot be confused.
func associated(hdr, ad []byte) []byte {
	var b bytes.Buffer
	b.Grow(len(hdr) + 4 + len(ad))
	b.Write(hdr)
	n := len(ad)
	b.Write([]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
	b.Write(ad)
	return b.Bytes()
}
