package acme

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	legolog "github.com/go-acme/lego/v4/log"
)

// lego logs through one process-wide logger; certctl routes it to the
// *slog.Logger most recently given to this package, at debug level, and
// discards it otherwise, so the library never prints on its own.
var (
	legoLogOnce sync.Once
	legoSlog    atomic.Pointer[slog.Logger]
)

func installLegoLogger(l *slog.Logger) {
	if l != nil {
		legoSlog.Store(l)
	}
	legoLogOnce.Do(func() { legolog.Logger = legoAdapter{} })
}

type legoAdapter struct{}

func (legoAdapter) emit(level slog.Level, msg string) {
	l := legoSlog.Load()
	if l == nil {
		return
	}
	l.Log(context.Background(), level, strings.TrimSpace(msg), "source", "lego")
}

func (a legoAdapter) Fatal(args ...any)   { a.emit(slog.LevelError, fmt.Sprint(args...)) }
func (a legoAdapter) Fatalln(args ...any) { a.emit(slog.LevelError, fmt.Sprintln(args...)) }
func (a legoAdapter) Fatalf(format string, args ...any) {
	a.emit(slog.LevelError, fmt.Sprintf(format, args...))
}
func (a legoAdapter) Print(args ...any)   { a.emit(slog.LevelDebug, fmt.Sprint(args...)) }
func (a legoAdapter) Println(args ...any) { a.emit(slog.LevelDebug, fmt.Sprintln(args...)) }
func (a legoAdapter) Printf(format string, args ...any) {
	a.emit(slog.LevelDebug, fmt.Sprintf(format, args...))
}
