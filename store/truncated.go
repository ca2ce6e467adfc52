package store

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
)

// boltMagic marks a bbolt meta page.
const boltMagic = 0xED0CDAED

// checkLength refuses a bbolt file shorter than its meta pages say it is
// (a truncated copy, a full disk): bbolt maps the pages they name past the
// end of the file, and reading one kills the process with SIGBUS, which no
// recover catches. A file whose meta pages are not bbolt's is left for
// bbolt to refuse.
func checkLength(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return nil // bbolt reports it
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil
	}
	// A meta page: a 16-byte page header, then magic, version, page size,
	// flags, the root bucket (16 bytes), the freelist page, the high-water
	// page id and the transaction id, in the machine's byte order.
	var need int64
	meta := func(off int64) (pageSize int64, ok bool) {
		var b [72]byte
		if _, err := f.ReadAt(b[:], off); err != nil && err != io.EOF {
			return 0, false
		}
		if binary.NativeEndian.Uint32(b[16:]) != boltMagic {
			return 0, false
		}
		pageSize = int64(binary.NativeEndian.Uint32(b[24:]))
		pgid := binary.NativeEndian.Uint64(b[56:])
		if pageSize < 512 || pageSize > 1<<20 || pgid > 1<<40 {
			return 0, false
		}
		need = max(need, int64(pgid)*pageSize)
		return pageSize, true
	}
	if ps, ok := meta(0); ok {
		meta(ps)
	}
	if fi.Size() < need {
		return fmt.Errorf("store %s: %w: truncated (%d bytes, its pages need %d); restore it from a backup",
			path, ErrCorrupt, fi.Size(), need)
	}
	return nil
}
