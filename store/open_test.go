package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestOpen_ReopenKeepsData(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, nil)
	path := db.Path()
	c := fullCert("a.example")
	mustPut(t, db, c)
	acct := &Account{Directory: "https://127.0.0.1/dir", Email: "e@example.com", KeyPEM: []byte("k")}
	if err := db.PutAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	// No file handle stays open: another holder gets the exclusive lock at once.
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 10 * time.Millisecond})
	if err != nil {
		t.Fatalf("store file still locked after operations: %v", err)
	}
	if err := bdb.Close(); err != nil {
		t.Fatal(err)
	}

	db2, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := db2.Get(ctx, "a.example")
	if err != nil || !reflect.DeepEqual(got, c) {
		t.Fatalf("after reopen Get = %+v, %v; want %+v", got, err, c)
	}
	if a, err := db2.GetAccount(ctx, acct.Directory, acct.Email); err != nil || !reflect.DeepEqual(a, acct) {
		t.Fatalf("after reopen GetAccount = %+v, %v", a, err)
	}
	if g, _ := db2.Generation(ctx); g != 2 {
		t.Fatalf("after reopen generation = %d, want 2", g)
	}
}

func TestOpen_GarbageFileUntouched(t *testing.T) {
	big := make([]byte, 64<<10)
	if _, err := rand.Read(big); err != nil {
		t.Fatal(err)
	}
	cases := map[string][]byte{
		"text":   []byte("this is my shopping list, not a database\n"),
		"random": big,
		"zeros":  make([]byte, 16<<10),
	}
	for name, content := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "certctl.db")
			if err := os.WriteFile(path, content, 0o644); err != nil {
				t.Fatal(err)
			}
			before, _ := os.Stat(path)
			_, err := Open(path, &Options{LockTimeout: time.Second})
			if !errors.Is(err, ErrNotStore) {
				t.Fatalf("Open = %v, want ErrNotStore", err)
			}
			after, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(after, content) {
				t.Fatal("Open changed the bytes of a file that is not a store")
			}
			st, _ := os.Stat(path)
			if st.Mode() != before.Mode() || !st.ModTime().Equal(before.ModTime()) {
				t.Fatalf("Open changed mode or mtime: %v %v -> %v %v", before.Mode(), before.ModTime(), st.Mode(), st.ModTime())
			}
			if _, err := os.Stat(path + ".locks"); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("Open created %s.locks", path)
			}
		})
	}
}

func TestOpen_OtherBoltDatabaseRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "other.db")
	bdb, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = bdb.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("widgets"))
		if err != nil {
			return err
		}
		return b.Put([]byte("k"), []byte("v"))
	})
	if err2 := bdb.Close(); err != nil || err2 != nil {
		t.Fatal(err, err2)
	}
	before, _ := os.ReadFile(path)
	if _, err := Open(path, nil); !errors.Is(err, ErrNotStore) {
		t.Fatalf("Open of another application's bbolt file = %v, want ErrNotStore", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Fatal("Open changed another application's bbolt file")
	}
}

func TestOpen_MissingDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nope")
	path := filepath.Join(dir, "certctl.db")
	_, err := Open(path, nil)
	if !errors.Is(err, ErrStoreDir) {
		t.Fatalf("Open = %v, want ErrStoreDir", err)
	}
	if want := "store " + path + ": directory " + dir + " does not exist"; err.Error() != want {
		t.Fatalf("error = %q, want %q", err, want)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("Open created the missing directory")
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(filepath.Join(file, "certctl.db"), nil); !errors.Is(err, ErrStoreDir) {
		t.Fatalf("Open under a regular file = %v, want ErrStoreDir", err)
	}
}

func TestOpen_ReadOnlyDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ro")
	if err := os.Mkdir(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(dir, 0o700) })
	probe := filepath.Join(dir, "probe")
	if f, err := os.Create(probe); err == nil {
		_ = f.Close()
		_ = os.Remove(probe)
		t.Skip("this user can write to a 0500 directory (root or a capability): the check cannot fail here")
	}
	_, err := Open(filepath.Join(dir, "certctl.db"), nil)
	if !errors.Is(err, ErrStoreDir) || !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("Open in a read-only directory = %v, want ErrStoreDir and fs.ErrPermission", err)
	}
}

func TestOpen_FileMode0600(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no POSIX modes on Windows: the store's access control list is internal/winacl's")
	}
	ctx := context.Background()
	db := openTest(t, nil)
	path := db.Path()
	mode := func(p string) fs.FileMode {
		t.Helper()
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return st.Mode().Perm()
	}
	if m := mode(path); m != 0o600 {
		t.Fatalf("new store mode %v, want 0600", m)
	}
	unlock, err := db.Lock(ctx, "a.example")
	if err != nil {
		t.Fatal(err)
	}
	unlock()
	if m := mode(path + ".locks"); m != 0o700 {
		t.Errorf("lock directory mode %v, want 0700", m)
	}
	if m := mode(filepath.Join(path+".locks", "a.example.lock")); m != 0o600 {
		t.Errorf("lock file mode %v, want 0600", m)
	}
	if _, err := db.Generation(ctx); err != nil {
		t.Fatal(err)
	}
	if m := mode(filepath.Join(path+".locks", turnstileName)); m != 0o600 {
		t.Errorf("turnstile file mode %v, want 0600", m)
	}

	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path, nil); err != nil {
		t.Fatal(err)
	}
	if m := mode(path); m != 0o600 {
		t.Fatalf("existing 0644 store left at %v, want narrowed to 0600", m)
	}
}

// setSchema overwrites the stored schema version.
func setSchema(t *testing.T, path string, v uint64) {
	t.Helper()
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	err = bdb.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keySchema, binary.BigEndian.AppendUint64(nil, v))
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestOpen_SchemaTooNew(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, nil)
	path := db.Path()
	setSchema(t, path, SchemaVersion+1)
	before, _ := os.ReadFile(path)
	_, err := Open(path, nil)
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("Open = %v, want ErrSchemaTooNew", err)
	}
	if !strings.Contains(err.Error(), "schema version 2") {
		t.Errorf("error %q does not give the schema version", err)
	}
	// A DB opened before the upgrade refuses to read or write too.
	if _, err := db.List(ctx); !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("List on upgraded store = %v, want ErrSchemaTooNew", err)
	}
	if err := db.Put(ctx, &Certificate{Name: "a"}); !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("Put on upgraded store = %v, want ErrSchemaTooNew", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Fatal("a store with a newer schema was modified")
	}
}

func TestOpen_ReadOnlyOption(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "certctl.db")
	if _, err := Open(path, &Options{ReadOnly: true}); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("read-only Open of a missing store = %v, want fs.ErrNotExist", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("read-only Open created the store")
	}
	rw, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, rw, &Certificate{Name: "a"})
	ro, err := Open(path, &Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ro.Get(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := ro.Put(ctx, &Certificate{Name: "b"}); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("Put on read-only store = %v, want ErrReadOnly", err)
	}
	if err := ro.Delete(ctx, "a"); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("Delete on read-only store = %v, want ErrReadOnly", err)
	}
}

func TestOpen_EmptyFileInitialized(t *testing.T) {
	path := filepath.Join(t.TempDir(), "certctl.db")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := Open(path, nil)
	if err != nil {
		t.Fatalf("Open of an empty file = %v", err)
	}
	mustPut(t, db, &Certificate{Name: "a"})
}
