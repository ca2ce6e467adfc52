package store

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestDB_Get_BusyWhenFileLocked(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, &Options{LockTimeout: 150 * time.Millisecond})
	path := db.Path()
	mustPut(t, db, &Certificate{Name: "a"})
	holder, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.Get(ctx, "a")
	if !errors.Is(err, ErrBusy) {
		t.Fatalf("Get while another holder has the file = %v, want ErrBusy", err)
	}
	if !strings.Contains(err.Error(), "store busy: another process holds it") {
		t.Errorf("error %q lacks the busy message", err)
	}
	if err := db.Put(ctx, &Certificate{Name: "b"}); !errors.Is(err, ErrBusy) {
		t.Fatalf("Put while locked = %v, want ErrBusy", err)
	}
	if _, err := Open(path, &Options{LockTimeout: 50 * time.Millisecond}); !errors.Is(err, ErrBusy) {
		t.Fatalf("Open while locked = %v, want ErrBusy", err)
	}
	if err := holder.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Get(ctx, "a"); err != nil {
		t.Fatalf("Get after the holder closed = %v", err)
	}
	if _, err := db.Get(ctx, "b"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the busy Put wrote anyway: %v", err)
	}
}

func TestDB_Get_CanceledContext(t *testing.T) {
	db := openTest(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := db.Get(ctx, "a"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Get with canceled ctx = %v, want context.Canceled", err)
	}
	if err := db.Put(ctx, &Certificate{Name: "a"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Put with canceled ctx = %v, want context.Canceled", err)
	}
}

func TestDB_Put_DoesNotRecreateRemovedFile(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, nil)
	if err := os.Remove(db.Path()); err != nil {
		t.Fatal(err)
	}
	if err := db.Put(ctx, &Certificate{Name: "a"}); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Put after the file was removed = %v, want fs.ErrNotExist", err)
	}
	if _, err := os.Stat(db.Path()); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("Put recreated the removed store file")
	}
}
