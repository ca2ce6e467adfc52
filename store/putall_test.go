package store

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"
)

// TestDB_PutAll_WritesEveryRecordInOneGeneration checks that PutAll stores
// every record (indexed as due, with its revision set) in one write, and
// that a batch with one stale revision writes nothing.
func TestDB_PutAll_WritesEveryRecordInOneGeneration(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, &Options{Now: fixedClock(t0)})
	mustPut(t, db, &Certificate{Name: "existing.example"})
	gen0, err := db.Generation(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var batch []*Certificate
	for i, name := range []string{"b.example", "a.example", "c.example"} {
		c := fullCert(name)
		c.Renewal.Next = t0.Add(time.Duration(i) * time.Hour)
		batch = append(batch, c)
	}
	if err := db.PutAll(ctx, batch); err != nil {
		t.Fatal(err)
	}
	gen, err := db.Generation(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if gen != gen0+1 {
		t.Fatalf("generation %d after PutAll, want %d (one write)", gen, gen0+1)
	}
	for _, c := range batch {
		if c.Revision != gen || !c.Updated.Equal(t0) {
			t.Errorf("%s: Revision %d, Updated %v after PutAll; want %d, %v", c.Name, c.Revision, c.Updated, gen, t0)
		}
		got, err := db.Get(ctx, c.Name)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, c) {
			t.Errorf("%s: read back\n%+v\nwant\n%+v", c.Name, got, c)
		}
	}
	due, err := db.Due(ctx, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(due), []string{"b.example", "a.example"}; !slices.Equal(got, want) {
		t.Fatalf("Due = %v, want %v", got, want)
	}

	// One stale revision: nothing of the batch is written.
	batch[0].Renewal.Reason = "changed"
	stale := &Certificate{Name: "existing.example"} // revision 0, but it exists
	fresh := &Certificate{Name: "fresh.example"}
	err = db.PutAll(ctx, []*Certificate{batch[0], fresh, stale})
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("PutAll with a stale revision: %v, want ErrConflict", err)
	}
	if _, err := db.Get(ctx, "fresh.example"); !errors.Is(err, ErrNotFound) {
		t.Errorf("fresh.example after a failed PutAll: %v, want ErrNotFound", err)
	}
	if got, _ := db.Get(ctx, batch[0].Name); got.Renewal.Reason == "changed" {
		t.Error("a failed PutAll changed b.example")
	}
	if g, _ := db.Generation(ctx); g != gen {
		t.Errorf("generation %d after a failed PutAll, want %d", g, gen)
	}
	if err := db.PutAll(ctx, []*Certificate{fresh, {Name: "fresh.example"}}); !errors.Is(err, ErrInvalidRecord) {
		t.Errorf("PutAll naming a certificate twice: %v, want ErrInvalidRecord", err)
	}
}
