package cli

import (
	"slices"
	"testing"
)

// A hook path need not be UTF-8 (a Latin-1 file name): its bytes are kept,
// not replaced by U+FFFD as splitting by runes did.
func TestSplitCommand_NonUTF8BytesKept(t *testing.T) {
	got, err := splitCommand("/opt/hooks/caf\xe9.sh '\xff x'")
	if err != nil || !slices.Equal(got, []string{"/opt/hooks/caf\xe9.sh", "\xff x"}) {
		t.Errorf("splitCommand = %q, %v", got, err)
	}
}
