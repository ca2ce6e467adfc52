package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
)

// A store file cut short (a truncated copy, a full disk) gives ErrCorrupt
// and is left as it is. bbolt maps the missing pages and used to kill the
// process with SIGBUS, which no recover catches.
func TestCorrupt_TruncatedFileGivesAnError(t *testing.T) {
	for _, n := range []int{1, 30} {
		t.Run(fmt.Sprint(n), func(t *testing.T) { truncatedStore(t, n) })
	}
}

func truncatedStore(t *testing.T, records int) {
	ctx := context.Background()
	db := openTest(t, nil)
	for i := range records {
		if err := db.Put(ctx, fullCert(fmt.Sprintf("c%02d.example", i))); err != nil {
			t.Fatal(err)
		}
	}
	full, err := os.ReadFile(db.Path())
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{2*4096 + 1, 3*4096 + 100, 5 * 4096} { // well below the pages in use {
		cut := full[:size]
		if err := os.WriteFile(db.Path(), cut, 0o600); err != nil {
			t.Fatal(err)
		}
		db2, err := Open(db.Path(), nil)
		if err == nil {
			_, err = db2.List(ctx)
		}
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("cut to %d of %d bytes: Open = %v, want ErrCorrupt", size, len(full), err)
		}
		if got, _ := os.ReadFile(db.Path()); !bytes.Equal(got, cut) {
			t.Errorf("cut to %d bytes: the file was changed", size)
		}
	}
}
