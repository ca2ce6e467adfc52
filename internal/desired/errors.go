package desired

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalid is matched by every error Parse returns about the file's
// content (an [Errors]).
var ErrInvalid = errors.New("invalid certificates file")

// FieldError is one unknown key or bad value in a file.
type FieldError struct {
	File  string // the file as given
	Line  int    // 1-based; 0 when unknown
	Field string // path of the field, such as certificates[2].key-type; "" for the file as a whole
	Msg   string
}

func (e *FieldError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors are all the problems found in a file, in the order of the file.
type Errors []*FieldError

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Is makes every Errors match [ErrInvalid].
func (es Errors) Is(target error) bool { return target == ErrInvalid }
