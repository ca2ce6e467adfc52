package acmetest

import (
	"bytes"
	"context"
	"io"
	"log"
	"log/slog"
)

// discardLogger is the *slog.Logger used when Options.Logger is nil.
var discardLogger = slog.New(slog.DiscardHandler)

// slogWriter turns the lines Pebble writes to its *log.Logger into debug
// records of a *slog.Logger.
type slogWriter struct {
	logger *slog.Logger
	source string
}

// Write logs p (one log.Logger message) at debug level.
func (w slogWriter) Write(p []byte) (int, error) {
	msg := string(bytes.TrimRight(p, "\r\n"))
	w.logger.Debug(msg, slog.String("component", w.source))
	return len(p), nil
}

// stdLogger returns a *log.Logger for a library (Pebble, net/http) that feeds
// logger at debug level, or discards everything when logger does not log
// debug records: Pebble is chatty and formatting its lines costs time.
func stdLogger(logger *slog.Logger, source string) *log.Logger {
	if !logger.Enabled(context.Background(), slog.LevelDebug) {
		return log.New(io.Discard, "", 0)
	}
	return log.New(slogWriter{logger: logger, source: source}, "", 0)
}
