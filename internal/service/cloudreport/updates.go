package cloudreport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"

	"gatehouse/internal/blob"
)

// UpdateSource is where VERS lists and DWNL reads the update files: a
// folder of this daemon (DirUpdates) or the blob store every daemon shares
// (BlobUpdates), so that an update published once is served by all.
type UpdateSource interface {
	// List returns the files with valid update names, sorted by name.
	List(ctx context.Context) ([]updateFile, error)
	// Open returns the file's content and size; a missing file (or one
	// that is not a regular file) is fs.ErrNotExist.
	Open(ctx context.Context, name string) (io.ReadCloser, int64, error)
	Close() error
}

// DirUpdates serves the files of one folder, through os.Root so that even a
// symbolic link cannot lead out of it. The folder is created when missing.
func DirUpdates(dir string) (UpdateSource, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("cloudreport: updates folder: %w", err)
	}
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("cloudreport: updates folder: %w", err)
	}
	return dirUpdates{r}, nil
}

type dirUpdates struct{ root *os.Root }

func (d dirUpdates) List(context.Context) ([]updateFile, error) {
	f, err := d.root.Open(".")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ents, err := f.ReadDir(-1)
	if err != nil {
		return nil, err
	}
	var out []updateFile
	for _, e := range ents {
		if !e.Type().IsRegular() || !ValidUpdateName(e.Name()) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		out = append(out, updateFile{e.Name(), info.Size(), info.ModTime()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

func (d dirUpdates) Open(_ context.Context, name string) (io.ReadCloser, int64, error) {
	f, err := d.root.Open(name)
	if err != nil {
		// A link out of the folder fails here like a missing file.
		return nil, 0, fs.ErrNotExist
	}
	st, err := f.Stat()
	if err == nil && !st.Mode().IsRegular() {
		err = fs.ErrNotExist
	}
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, st.Size(), nil
}

func (d dirUpdates) Close() error { return d.root.Close() }

// UpdatesPrefix is the folder of the update files in the service's blob
// store ("<blob url>/cloudreport/updates/<name>").
const UpdatesPrefix = "updates/"

// BlobUpdates serves the files under UpdatesPrefix of the service's blob
// store: with S3, every daemon sharing the bucket serves the same updates.
// Publish them with `gatehouse admin cloudreport publish`.
func BlobUpdates(b blob.Store) UpdateSource { return blobUpdates{b} }

type blobUpdates struct{ b blob.Store }

func (u blobUpdates) List(ctx context.Context) ([]updateFile, error) {
	infos, err := u.b.List(ctx, UpdatesPrefix)
	if err != nil {
		return nil, err
	}
	var out []updateFile
	for _, in := range infos {
		name := in.Name[len(UpdatesPrefix):]
		if !ValidUpdateName(name) {
			continue // a deeper folder, or a name the wire cannot carry
		}
		out = append(out, updateFile{name, in.Size, in.ModTime})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

func (u blobUpdates) Open(ctx context.Context, name string) (io.ReadCloser, int64, error) {
	if !ValidUpdateName(name) {
		return nil, 0, fs.ErrNotExist
	}
	r, info, err := u.b.Open(ctx, UpdatesPrefix+name)
	if errors.Is(err, blob.ErrNotExist) {
		return nil, 0, fs.ErrNotExist
	}
	if err != nil {
		return nil, 0, err
	}
	return r, info.Size, nil
}

func (u blobUpdates) Close() error { return nil }

// PublishUpdate stores content as the update file name in the blob store,
// visible to every daemon at once when complete (blob Commit).
func PublishUpdate(ctx context.Context, b blob.Store, name string, content io.Reader) (int64, error) {
	if !ValidUpdateName(name) {
		return 0, fmt.Errorf("cloudreport: %q is not a valid update file name", name)
	}
	w, err := b.Create(ctx, UpdatesPrefix+name)
	if err != nil {
		return 0, err
	}
	defer w.Abort()
	n, err := io.Copy(w, content)
	if err != nil {
		return n, err
	}
	return n, w.Commit()
}

// UnpublishUpdate removes the update file name from the blob store.
func UnpublishUpdate(ctx context.Context, b blob.Store, name string) error {
	if !ValidUpdateName(name) {
		return fmt.Errorf("cloudreport: %q is not a valid update file name", name)
	}
	return b.Remove(ctx, UpdatesPrefix+name)
}

// ListUpdates lists the update files of a source (admin tools).
func ListUpdates(ctx context.Context, src UpdateSource) ([]blob.Info, error) {
	files, err := src.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]blob.Info, len(files))
	for i, f := range files {
		out[i] = blob.Info{Name: f.name, Size: f.size, ModTime: f.mod}
	}
	return out, nil
}
