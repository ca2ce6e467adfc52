package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// Finding 6 of the security review: a store with damaged pages gives an
// error, never a panic, and is not written to.
func TestCorrupt_DamagedPagesGiveAnError(t *testing.T) {
	const pageSize = 4096
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		damage func(data []byte, rng *rand.Rand, mid int)
	}{
		{"every data page random", func(data []byte, rng *rand.Rand, _ int) {
			for i := 2 * pageSize; i < len(data); i++ {
				data[i] = byte(rng.UintN(256))
			}
		}},
		{"page headers scrambled", func(data []byte, rng *rand.Rand, _ int) {
			for off := 2 * pageSize; off < len(data); off += pageSize {
				for i := range 16 {
					data[off+i] = byte(rng.UintN(256))
				}
			}
		}},
		{"one page in the middle", func(data []byte, rng *rand.Rand, mid int) {
			off := mid * pageSize
			for i := range pageSize {
				data[off+i] = byte(rng.UintN(256))
			}
		}},
	} {
		for seed := range uint64(5) {
			t.Run(fmt.Sprintf("%s/%d", tc.name, seed), func(t *testing.T) {
				db := openTest(t, nil)
				for i := range 30 {
					if err := db.Put(ctx, fullCert(fmt.Sprintf("c%02d.example", i))); err != nil {
						t.Fatal(err)
					}
				}
				data, err := os.ReadFile(db.Path())
				if err != nil {
					t.Fatal(err)
				}
				tc.damage(data, rand.New(rand.NewPCG(seed, 1)), usedPageNearMiddle(t, db.Path()))
				if err := os.WriteFile(db.Path(), data, 0o600); err != nil {
					t.Fatal(err)
				}

				// Each operation either works or fails with a clear error;
				// none panics (a panic fails the test).
				var errs []error
				db2, err := Open(db.Path(), nil)
				errs = append(errs, err)
				if err == nil {
					_, err = db2.List(ctx)
					errs = append(errs, err)
					_, err = db2.Get(ctx, "c15.example")
					errs = append(errs, err)
					_, err = db2.LoadActive(ctx, []string{"c01.example", "c29.example"})
					errs = append(errs, err)
					err = db2.Put(ctx, fullCert("new.example"))
					errs = append(errs, err)
				}
				failed := 0
				for _, err := range errs {
					if err == nil {
						continue
					}
					failed++
					if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrNotStore) && !errors.Is(err, ErrNotFound) {
						t.Errorf("error not classified as a damaged store: %v", err)
					}
				}
				if failed == 0 {
					t.Fatal("every operation on a damaged store succeeded")
				}
			})
		}
	}
}

// usedPageNearMiddle returns the id of the branch or leaf page in use that
// is nearest the middle of the bbolt file at path: a page freed by an
// earlier write holds stale data that no read looks at.
func usedPageNearMiddle(t *testing.T, path string) int {
	t.Helper()
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, PreLoadFreelist: true})
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	best := -1
	err = bdb.View(func(tx *bolt.Tx) error {
		n := int(tx.Size() / int64(bdb.Info().PageSize))
		for id := 2; id < n; id++ {
			p, err := tx.Page(id)
			if err != nil {
				return err
			}
			if p != nil && (p.Type == "leaf" || p.Type == "branch") && (best < 0 || abs(id-n/2) < abs(best-n/2)) {
				best = id
			}
		}
		return nil
	})
	if err != nil || best < 0 {
		t.Fatalf("no page in use found: %v", err)
	}
	return best
}

func abs(x int) int { return max(x, -x) }
