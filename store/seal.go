package store

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/certctl/certctl/internal/winacl"
)

// Private keys sealed at rest.
//
// With a store key ([Options.SealKey]) every private key is written sealed
// with AES-256-GCM (its key derived from the store key with HKDF-SHA256),
// its record named in the associated data, so that a sealed key copied
// into another record (or another version of the same one) does not open.
// The nonce is synthetic: an HMAC-SHA256, under another derived key, of
// the associated data and the plaintext. Sealing the same key in the same
// place therefore gives the same bytes, so rewriting a record (a renewal
// attempt, a reseal run again) leaves its keys as they were; two different
// values share a nonce only with the odds of a 96-bit collision. A sealed key is
// stored, instead of the plaintext key_pem, as key_sealed:
//
//	"csk" 0x01 | key id (8 bytes) | nonce (12 bytes) | ciphertext and tag
//
// The key id is the first 8 bytes of SHA-256("certctl store key id\x00" ||
// key): it tells a wrong key ([ErrWrongKey]) from a damaged value
// ([ErrSealDamaged]) without revealing anything about the key. Everything
// else in a record stays readable, so listing needs no key.

// SealKeySize is the size in bytes of a store key.
const SealKeySize = 32

// sealMagic starts every sealed value: a recognizable prefix and the
// format version.
var sealMagic = []byte{'c', 's', 'k', 1}

const (
	sealIDSize     = 8
	sealHeaderSize = 4 + sealIDSize
)

// sealKeyID is the identifier of a store key stored with what it seals.
type sealKeyID [sealIDSize]byte

// sealKey is one store key, ready to seal and open.
type sealKey struct {
	id       sealKeyID
	aead     cipher.AEAD
	nonceKey []byte
}

// sealer seals private keys with the write key (nil: keys are written in
// plaintext) and opens those sealed with any of its keys.
type sealer struct {
	write *sealKey
	keys  []*sealKey // write first, if any
}

// keyID returns the identifier of key.
func keyID(key []byte) sealKeyID {
	h := sha256.New()
	h.Write([]byte("certctl store key id\x00"))
	h.Write(key)
	var id sealKeyID
	copy(id[:], h.Sum(nil))
	return id
}

// newSealKey prepares key, which must be [SealKeySize] bytes.
func newSealKey(key []byte) (*sealKey, error) {
	if len(key) != SealKeySize {
		return nil, fmt.Errorf("store key: %d bytes, want %d", len(key), SealKeySize)
	}
	encKey, err := hkdf.Key(sha256.New, key, nil, "certctl store seal v1: aes-256-gcm", 32)
	if err != nil {
		return nil, fmt.Errorf("store key: %w", err)
	}
	nonceKey, err := hkdf.Key(sha256.New, key, nil, "certctl store seal v1: nonce", 32)
	if err != nil {
		return nil, fmt.Errorf("store key: %w", err)
	}
	blk, err := aes.NewCipher(encKey)
	if err != nil {
		return nil, fmt.Errorf("store key: %w", err)
	}
	aead, err := cipher.NewGCM(blk)
	if err != nil {
		return nil, fmt.Errorf("store key: %w", err)
	}
	return &sealKey{id: keyID(key), aead: aead, nonceKey: nonceKey}, nil
}

// newSealer builds the sealer of opts; nil when no key is given.
func newSealer(opts *Options) (*sealer, error) {
	if opts == nil || (opts.SealKey == nil && len(opts.UnsealKeys) == 0) {
		return nil, nil
	}
	s := new(sealer)
	if opts.SealKey != nil {
		k, err := newSealKey(opts.SealKey)
		if err != nil {
			return nil, err
		}
		s.write = k
		s.keys = append(s.keys, k)
	}
	for _, key := range opts.UnsealKeys {
		k, err := newSealKey(key)
		if err != nil {
			return nil, err
		}
		s.keys = append(s.keys, k)
	}
	return s, nil
}

// certAAD is the associated data of the key of version seq of the
// certificate called name.
func certAAD(name string, seq int) []byte {
	return []byte("certctl cert\x00" + name + "\x00" + strconv.Itoa(seq))
}

// accountAAD is the associated data of the key of an account.
func accountAAD(directory, email string) []byte {
	return []byte("certctl account\x00" + directory + "\x00" + email)
}

// seal seals plaintext with the write key.
func (s *sealer) seal(plaintext, aad []byte) []byte {
	k := s.write
	out := make([]byte, sealHeaderSize+k.aead.NonceSize(), sealHeaderSize+k.aead.NonceSize()+len(plaintext)+k.aead.Overhead())
	copy(out, sealMagic)
	copy(out[len(sealMagic):], k.id[:])
	nonce := out[sealHeaderSize:]
	m := hmac.New(sha256.New, k.nonceKey)
	m.Write(aad)
	m.Write([]byte{0})
	m.Write(plaintext)
	copy(nonce, m.Sum(nil))
	return k.aead.Seal(out, nonce, plaintext, sealAAD(out[:sealHeaderSize], aad))
}

// sealAAD binds the header (format and key id) with the record's data.
func sealAAD(header, aad []byte) []byte {
	return append(bytes.Clone(header), aad...)
}

// open opens a sealed value. The error wraps [ErrSealed] when s has no
// key, [ErrWrongKey] when none of its keys sealed it and [ErrSealDamaged]
// when the value is malformed or does not authenticate (damaged, or moved
// from another record).
func (s *sealer) open(sealed, aad []byte) ([]byte, error) {
	if len(sealed) < sealHeaderSize || !bytes.Equal(sealed[:len(sealMagic)], sealMagic) {
		return nil, fmt.Errorf("not a sealed key of a known format: %w", ErrSealDamaged)
	}
	if s == nil || len(s.keys) == 0 {
		return nil, ErrSealed
	}
	var id sealKeyID
	copy(id[:], sealed[len(sealMagic):sealHeaderSize])
	for _, k := range s.keys {
		if k.id != id {
			continue
		}
		ns := k.aead.NonceSize()
		if len(sealed) < sealHeaderSize+ns+k.aead.Overhead() {
			return nil, fmt.Errorf("truncated: %w", ErrSealDamaged)
		}
		pt, err := k.aead.Open(nil, sealed[sealHeaderSize:sealHeaderSize+ns], sealed[sealHeaderSize+ns:], sealAAD(sealed[:sealHeaderSize], aad))
		if err != nil {
			return nil, ErrSealDamaged
		}
		return pt, nil
	}
	return nil, fmt.Errorf("%w (it was sealed by the key with id %s)", ErrWrongKey, hex.EncodeToString(id[:]))
}

// storedKey is the stored form of a private key: the key_pem and
// key_sealed to write for a key whose plaintext is plain (nil when it was
// not opened) and whose sealed form as read is sealed.
func (s *sealer) storedKey(plain, sealed, aad []byte) (keyPEM, keySealed []byte) {
	switch {
	case plain == nil:
		// Not opened (no key, a wrong key): keep it as it is.
		return nil, sealed
	case s == nil || s.write == nil:
		return plain, nil
	}
	return nil, s.seal(plain, aad)
}

// openKey opens a stored key for a record read: it returns the key_pem
// and key_sealed of the record as read (plaintext when opened; nil and the
// sealed form when not) and why it was not opened.
func (s *sealer) openKey(keyPEM, keySealed, aad []byte) (plain, sealed []byte, err error) {
	if keySealed == nil {
		return keyPEM, nil, nil
	}
	pt, err := s.open(keySealed, aad)
	if err != nil {
		return nil, keySealed, err
	}
	return pt, nil, nil
}

// Key returns the version's private key in PEM. When the key is sealed
// and this version was read without the store key that sealed it, the
// error wraps [ErrSealed], [ErrWrongKey] or [ErrSealDamaged]; when the store
// holds no key for it (a certificate ordered with a CSR), [ErrNoKey].
func (v *Version) Key() ([]byte, error) {
	if v.KeyPEM != nil {
		return v.KeyPEM, nil
	}
	if v.SealedKey == nil {
		return nil, fmt.Errorf("version %d: %w", v.Seq, ErrNoKey)
	}
	return nil, fmt.Errorf("version %d: private key: %w", v.Seq, sealError(v.keyErr))
}

// KeySealed reports whether the version's private key is sealed and was
// not opened: KeyPEM is nil and SealedKey holds it.
func (v *Version) KeySealed() bool { return v.KeyPEM == nil && v.SealedKey != nil }

// Key returns the account's private key in PEM, or an error as
// [Version.Key] does.
func (a *Account) Key() ([]byte, error) {
	if a.KeyPEM != nil || a.SealedKey == nil {
		return a.KeyPEM, nil
	}
	return nil, fmt.Errorf("%s: private key: %w", accountSubject(a.Directory, a.Email), sealError(a.keyErr))
}

// KeySealed reports whether the account's private key is sealed and was
// not opened.
func (a *Account) KeySealed() bool { return a.KeyPEM == nil && a.SealedKey != nil }

// sealError is why a key was not opened; ErrSealed when not known (a
// record built by hand).
func sealError(err error) error {
	if err == nil {
		return ErrSealed
	}
	return err
}

// ReadSealKeyFile reads a store key from path: 32 bytes, raw or written
// as 64 hex digits or as standard base64 (44 characters), with optional
// surrounding white space, as [GenerateSealKeyFile] writes it. A file
// that other users can read or write (a mode granting anything to
// "other"; on Windows, an access control list granting anyone but SYSTEM,
// Administrators and this user read or write access) is refused with
// [ErrUnsafePath], as is a symbolic link.
func ReadSealKeyFile(path string) ([]byte, error) {
	f, err := openNoFollow(path, os.O_RDONLY)
	if err != nil {
		return nil, fmt.Errorf("store key %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("store key %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("store key %s: not a regular file: %w", path, ErrUnsafePath)
	}
	if runtime.GOOS == "windows" {
		// No modes: the access control list must keep others out.
		if err := winacl.CheckSecret(path); err != nil {
			return nil, fmt.Errorf("store key %s: %v; make a new key (certctl store keygen writes a private one, then certctl store rekey): %w",
				path, err, ErrUnsafePath)
		}
	} else if perm := fi.Mode().Perm(); perm&0o007 != 0 {
		return nil, fmt.Errorf("store key %s: mode %04o lets other users read it; chmod 600 it and make a new key (certctl store keygen, then certctl store rekey): %w",
			path, perm, ErrUnsafePath)
	}
	buf := make([]byte, 257)
	n, err := f.Read(buf)
	if err != nil && n == 0 {
		return nil, fmt.Errorf("store key %s: empty: %w", path, ErrBadSealKey)
	}
	return parseSealKey(path, buf[:n])
}

// parseSealKey decodes the contents of a key file.
func parseSealKey(path string, b []byte) ([]byte, error) {
	if len(b) == SealKeySize {
		return bytes.Clone(b), nil
	}
	s := strings.TrimSpace(string(b))
	if k, err := hex.DecodeString(s); err == nil && len(k) == SealKeySize {
		return k, nil
	}
	if k, err := base64.StdEncoding.DecodeString(s); err == nil && len(k) == SealKeySize {
		return k, nil
	}
	return nil, fmt.Errorf("store key %s: want 32 bytes, raw, as 64 hex digits or in base64: %w", path, ErrBadSealKey)
}

// GenerateSealKeyFile writes a new random store key to path in base64,
// creating the file with mode 0600. An existing file is never replaced:
// the error wraps fs.ErrExist.
func GenerateSealKeyFile(path string) error {
	key := make([]byte, SealKeySize)
	_, _ = rand.Read(key) // never fails (crypto/rand)
	// O_EXCL: never through a link, never over an existing file.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("store key %s: %w", path, err)
	}
	err = winacl.Restrict(path) // Windows: before the key is in it
	if err == nil {
		_, err = f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n")
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return fmt.Errorf("store key %s: writing: %w", path, err)
	}
	return nil
}

// The seal mark: while a store is sealed, its meta data holds the id of
// the store key that sealed it (set by [Reseal] with a SealKey, removed
// by one without). Writes check it, so that a process without the key
// cannot put a private key in plaintext into a sealed store, nor one
// with another key seal keys the store key does not open.

// checkWrite refuses a write to a store whose seal mark is mark (nil:
// not sealed) of a record that holds plaintext keys (plain) or is written
// with another key.
func (s *sealer) checkWrite(mark []byte, plain bool) error {
	if mark == nil {
		return nil
	}
	if s == nil || s.write == nil {
		if plain {
			return fmt.Errorf("refusing to write a private key in plaintext to a sealed store: %w", ErrSealed)
		}
		return nil
	}
	if !bytes.Equal(mark, s.write.id[:]) {
		return fmt.Errorf("%w (the store is sealed by the key with id %s)", ErrWrongKey, hex.EncodeToString(mark))
	}
	return nil
}

// certHasPlainKey reports whether a version of c holds a key in
// plaintext.
func certHasPlainKey(c *Certificate) bool {
	for _, v := range c.Versions {
		if v.KeyPEM != nil {
			return true
		}
	}
	return false
}

// mark is the seal mark that s sets: its write key's id, nil for none.
func (s *sealer) mark() []byte {
	if s == nil || s.write == nil {
		return nil
	}
	return bytes.Clone(s.write.id[:])
}

// Shared values ([Shared]) are sealed too when the store has a key: the
// session ticket keys of a fleet are secrets. A sealed shared value is
// stored as 0x00 followed by a sealed value, the shared key named in the
// associated data; no plaintext value starts with a zero byte (they are
// JSON or text), so values written before sealing still read.

// sharedAAD is the associated data of the shared value at key.
func sharedAAD(key string) []byte { return []byte("certctl shared\x00" + key) }

// sealShared is the stored form of a shared value.
func (s *sealer) sealShared(key string, value []byte) []byte {
	if s == nil || s.write == nil {
		return value
	}
	return append([]byte{0}, s.seal(value, sharedAAD(key))...)
}

// openShared is the value of a stored shared value; an error wraps
// [ErrSealed], [ErrWrongKey] or [ErrSealDamaged].
func (s *sealer) openShared(key string, stored []byte) ([]byte, error) {
	if len(stored) == 0 || stored[0] != 0 {
		return stored, nil
	}
	return s.open(stored[1:], sharedAAD(key))
}

// SealKeyCredential is the name of the systemd credential
// (LoadCredential=certctl-store-key:/etc/certctl/store.key) that holds the
// store key.
const SealKeyCredential = "certctl-store-key"

// SealKeyFromEnv reads the store key the way certctl does when no
// --store-key-file is given: from the file named by CERTCTL_STORE_KEY_FILE,
// else from the systemd credential [SealKeyCredential] in
// $CREDENTIALS_DIRECTORY when it exists. It returns nil when neither is
// set. getenv is os.Getenv, or a stand-in in tests.
func SealKeyFromEnv(getenv func(string) string) ([]byte, error) {
	if f := getenv("CERTCTL_STORE_KEY_FILE"); f != "" {
		return ReadSealKeyFile(f)
	}
	if dir := getenv("CREDENTIALS_DIRECTORY"); dir != "" {
		p := filepath.Join(dir, SealKeyCredential)
		if _, err := os.Lstat(p); err == nil {
			return ReadSealKeyFile(p)
		}
	}
	return nil, nil
}
