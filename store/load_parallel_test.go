package store

import (
	"errors"
	"fmt"
	"reflect"
	"sync/atomic"
	"testing"
)

// TestParallel_EveryItemOnceAndErrors checks parallel: every index runs
// exactly once when nothing fails, on one goroutine or several, and a
// failure is returned.
func TestParallel_EveryItemOnceAndErrors(t *testing.T) {
	for _, n := range []int{0, 1, minPerDecoder, 10 * minPerDecoder} {
		seen := make([]atomic.Int32, n)
		if err := parallel(n, func(i int) error { seen[i].Add(1); return nil }); err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		for i := range seen {
			if c := seen[i].Load(); c != 1 {
				t.Fatalf("n=%d: item %d ran %d times, want once", n, i, c)
			}
		}
	}
	boom := errors.New("boom")
	n := 10 * minPerDecoder
	err := parallel(n, func(i int) error {
		if i == n/2 {
			return fmt.Errorf("item %d: %w", i, boom)
		}
		return nil
	})
	if !errors.Is(err, boom) {
		t.Fatalf("parallel with a failing item: %v, want boom", err)
	}
}

// TestDecodeActive_MatchesDecodeCert checks LoadActive's partial decoding
// against the full one: the same ActivePEM, or the same error, for records
// with several versions, sealed keys opened, left sealed or sealed with
// another key, no active version, and a chain check mark.
func TestDecodeActive_MatchesDecodeCert(t *testing.T) {
	key, other := newSealKeyBytes(t), newSealKeyBytes(t)
	sealWith := func(k []byte) *sealer {
		s, err := newSealer(&Options{SealKey: k})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	marked := fullCert("marked.example")
	marked.chainChecked = chainSum(marked.ActiveVersion().Fullchain())
	none := fullCert("none.example")
	none.Active = 0
	for _, tc := range []struct {
		name        string
		write, read *sealer
		c           *Certificate
	}{
		{"plain", nil, nil, fullCert("plain.example")},
		{"marked", nil, nil, marked},
		{"no-active", nil, nil, none},
		{"sealed-opened", sealWith(key), sealWith(key), fullCert("sealed.example")},
		{"sealed-no-key", sealWith(key), nil, fullCert("sealed.example")},
		{"sealed-other-key", sealWith(key), sealWith(other), fullCert("sealed.example")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, err := marshalCert(tc.write, tc.c)
			if err != nil {
				t.Fatal(err)
			}
			var want ActivePEM
			var wantOK bool
			full, wantErr := decodeCert(tc.read, tc.c.Name, data, 7)
			if wantErr == nil {
				if v := full.ActiveVersion(); v != nil {
					want, wantErr = activePEM(full, v)
					wantOK = wantErr == nil
				}
			}
			got, ok, err := decodeActive(tc.read, tc.c.Name, data, 7)
			if !reflect.DeepEqual(got, want) || ok != wantOK || fmt.Sprint(err) != fmt.Sprint(wantErr) {
				t.Fatalf("decodeActive = %+v, %v, %v\nwant %+v, %v, %v", got, ok, err, want, wantOK, wantErr)
			}
		})
	}
}
