// Package blob stores file contents. The embedded default is a local folder
// (Local); every store makes a file visible only once it is complete: a
// Writer is invisible until Commit, and Abort (or a crash) leaves nothing.
package blob

import (
	"context"
	"errors"
	"io"
	"strings"
	"time"
)

// ErrNotExist is returned (wrapped) for a name that has no committed blob.
var ErrNotExist = errors.New("blob: no such blob")

// ErrBadName is returned for a name that could leave the store or is not
// a plain relative path.
var ErrBadName = errors.New("blob: invalid name")

// Info describes a committed blob.
type Info struct {
	Name    string
	Size    int64
	ModTime time.Time
}

// Writer receives a blob's contents. Nothing is visible under the name until
// Commit returns nil; Abort discards what was written. Calling Abort after
// Commit is a no-op, so `defer w.Abort()` is the idiom.
type Writer interface {
	io.Writer
	Commit() error
	Abort() error
}

// Store is a flat namespace of slash-separated names ("client/file.txt").
type Store interface {
	Create(ctx context.Context, name string) (Writer, error)
	Open(ctx context.Context, name string) (io.ReadCloser, Info, error)
	Stat(ctx context.Context, name string) (Info, error)
	Remove(ctx context.Context, name string) error
	// List returns the committed blobs whose names start with prefix,
	// sorted by name. A prefix ending in "/" lists one folder.
	List(ctx context.Context, prefix string) ([]Info, error)
	Close() error
}

// ValidName reports whether name is a plain relative slash-separated path:
// no empty, "." or ".." component, no leading slash, no backslash, no NUL or
// other control character, at most 1024 bytes, no component starting with
// ".tmp-" (reserved for in-progress writes).
func ValidName(name string) bool {
	if name == "" || len(name) > 1024 || strings.HasPrefix(name, "/") || strings.ContainsRune(name, '\\') {
		return false
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	for _, part := range strings.Split(name, "/") {
		if part == "" || part == "." || part == ".." || strings.HasPrefix(part, tmpPrefix) {
			return false
		}
	}
	return true
}

const tmpPrefix = ".tmp-"
