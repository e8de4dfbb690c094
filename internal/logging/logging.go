// Package logging builds the daemon's one slog.Logger: text or JSON to
// stderr, optionally also to a rotated file (timberjack).
package logging

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/DeRuina/timberjack"

	"gatehouse/internal/config"
)

// New returns the logger for cfg and a closer for its file sink. file paths
// are relative to dataDir.
func New(cfg config.Log, dataDir string, stderr io.Writer) (*slog.Logger, io.Closer, error) {
	log, _, closer, err := NewLeveled(cfg, dataDir, stderr)
	return log, closer, err
}

// ParseLevel reads a config level name (debug, info, warn, error).
func ParseLevel(name string) (slog.Level, error) {
	var level slog.Level
	err := level.UnmarshalText([]byte(strings.ToUpper(name)))
	return level, err
}

// NewLeveled is New with the level in a LevelVar the caller may change
// while the daemon runs (SIGHUP reload).
func NewLeveled(cfg config.Log, dataDir string, stderr io.Writer) (*slog.Logger, *slog.LevelVar, io.Closer, error) {
	level, err := ParseLevel(cfg.Level)
	if err != nil {
		return nil, nil, nil, err
	}
	lv := new(slog.LevelVar)
	lv.Set(level)
	opts := &slog.HandlerOptions{Level: lv, ReplaceAttr: redact}
	if cfg.Format == "json" {
		// JSON consumers want numbers: durations in seconds (slog's default
		// is nanoseconds, which nobody reads as such).
		opts.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
			a = redact(groups, a)
			if a.Value.Kind() == slog.KindDuration {
				return slog.Float64(a.Key, a.Value.Duration().Seconds())
			}
			return a
		}
	}
	var w io.Writer = stderr
	var closer io.Closer = io.NopCloser(nil)
	if cfg.File != "" {
		p := cfg.File
		if !filepath.IsAbs(p) {
			p = filepath.Join(dataDir, p)
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
			return nil, nil, nil, err
		}
		tj := &timberjack.Logger{
			Filename:   p,
			MaxSize:    cfg.MaxSizeMB,
			MaxAge:     cfg.MaxAgeDays,
			MaxBackups: cfg.MaxBackups,
		}
		w = io.MultiWriter(stderr, tj)
		if !cfg.Stderr {
			w = tj
		}
		closer = tj
	}
	sink := newBufferedSink(w, BufferSize, FlushInterval)
	closer = multiCloser{sink, closer} // flush first, then close the file
	w = sink
	var h slog.Handler
	if cfg.Format == "json" {
		h = slog.NewJSONHandler(w, opts)
	} else {
		h = slog.NewTextHandler(w, opts)
	}
	return slog.New(h), lv, closer, nil
}

// Secret wraps a value that must never reach a log line; it prints as
// "[redacted]" whatever handler formats it.
type Secret []byte

func (Secret) LogValue() slog.Value { return slog.StringValue("[redacted]") }
func (Secret) String() string       { return "[redacted]" }

// secretKeys are attribute names whose values are always redacted.
var secretKeys = map[string]bool{"key": true, "aes_key": true, "password": true, "secret": true, "private_key": true, "shared_key": true}

func redact(_ []string, a slog.Attr) slog.Attr {
	if secretKeys[strings.ToLower(a.Key)] {
		return slog.String(a.Key, "[redacted]")
	}
	return a
}

// multiCloser closes each in order and returns the first error.
type multiCloser []io.Closer

func (m multiCloser) Close() error {
	var first error
	for _, c := range m {
		if err := c.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
