package cloudreport

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"gatehouse/internal/netsvc"
	"io"
	"io/fs"
	"strconv"
	"time"
)

// updateFile is one entry of the updates folder.
type updateFile struct {
	name string
	size int64
	mod  time.Time
}

func (s *Server) listUpdates(ctx context.Context) ([]updateFile, error) {
	if s.updates == nil {
		return nil, nil
	}
	out, err := s.updates.List(ctx)
	if err != nil {
		return nil, err
	}
	if len(out) > maxListed {
		out = out[:maxListed]
	}
	return out, nil
}

// encryptReply answers f, counted as status; an encryption failure is the
// fail reply, a server_error.
func (ss *session) encryptReply(f Fields, fail failure, status netsvc.Status) ([]byte, netsvc.Status, bool) {
	out, err := ss.codec.Encrypt(f.Format())
	if err != nil {
		return errorReply(ss.s.dialect, fail, ""), netsvc.StatusServerError, false
	}
	return dataReply(ss.s.dialect, out), status, false
}

func (ss *session) handleVers(ctx context.Context) ([]byte, netsvc.Status, bool) {
	s := ss.s
	if ss.clientID == "" && s.registration == Known {
		return errorReply(s.dialect, failNotAuth, ""), netsvc.StatusRefused, false
	}
	files, err := ss.s.listUpdates(ctx)
	if err != nil {
		ss.c.Log().Error("VERS: cannot list updates", "err", err)
		return errorReply(s.dialect, failVers, ""), netsvc.StatusServerError, false
	}
	// The seed's three lines first, then the folder's listing.
	f := Fields{
		{"TT", "Test"},
		{"VER", s.cfg.UpdateVersion},
		{"BUILD", strconv.Itoa(s.cfg.UpdateBuild)},
		{"DATE", s.cfg.Now().In(s.loc).Format("2006-01-02")},
		{"C", strconv.Itoa(len(files))},
	}
	for i, u := range files {
		n := strconv.Itoa(i + 1)
		f = append(f,
			Field{"F" + n, u.name},
			Field{"S" + n, strconv.FormatInt(u.size, 10)},
			Field{"D" + n, u.mod.In(s.loc).Format("2006-01-02 15:04:05")})
	}
	return ss.encryptReply(f, failVers, netsvc.StatusOK)
}

var noFiles = Fields{{"TT", "Test"}, {"STATUS", "NOFILES"}, {"MESSAGE", "No files available for download"}}

func (ss *session) handleDwnl(ctx context.Context, r Request) ([]byte, netsvc.Status, bool) {
	s := ss.s
	if ss.clientID == "" && s.registration == Known {
		return errorReply(s.dialect, failNotAuth, ""), netsvc.StatusRefused, false
	}
	files, err := ss.s.listUpdates(ctx)
	if err != nil {
		ss.c.Log().Error("DWNL: cannot list updates", "err", err)
		return errorReply(s.dialect, failDwnl, ""), netsvc.StatusServerError, false
	}
	name, ok := r.Param("F")
	if !ok {
		if len(files) == 0 {
			return ss.encryptReply(noFiles, failDwnl, netsvc.StatusOK)
		}
		return ss.encryptReply(Fields{{"TT", "Test"}, {"STATUS", "ERROR"}, {"MESSAGE", "Missing F parameter"}}, failDwnl, netsvc.StatusClientError)
	}
	// The wire name is checked before it comes near the filesystem, and
	// os.Root keeps even a symlink inside the folder.
	if !ValidUpdateName(name) {
		ss.c.Log().Info("DWNL refused: invalid file name", "name", fmt.Sprintf("%q", shortArg(name)))
		return errorReply(s.dialect, failBadName, ""), netsvc.StatusClientError, false
	}
	if len(files) == 0 {
		// The named file does not exist.
		return ss.encryptReply(noFiles, failDwnl, netsvc.StatusClientError)
	}
	// The slot is held until the reply is written, so a slow reader
	// counts against it too.
	select {
	case ss.s.dlSem <- struct{}{}:
		ss.afterWrite = func() { <-ss.s.dlSem }
	case <-ss.drain:
		// Shutdown came first: the server cannot serve it now.
		return errorReply(s.dialect, failDwnl, ""), netsvc.StatusServerError, false
	}
	f, size, sum, err := ss.s.openUpdate(ctx, name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return ss.encryptReply(Fields{{"TT", "Test"}, {"STATUS", "NOTFOUND"}, {"F", name}, {"MESSAGE", "File not found"}}, failDwnl, netsvc.StatusClientError)
	case errors.Is(err, errTooLarge):
		return ss.encryptReply(Fields{{"TT", "Test"}, {"STATUS", "TOOLARGE"}, {"F", name}, {"MESSAGE", "File too large"}}, failDwnl, netsvc.StatusRefused)
	case err != nil:
		ss.c.Log().Error("DWNL: cannot read update", "name", name, "err", err)
		return errorReply(s.dialect, failDwnl, ""), netsvc.StatusServerError, false
	}
	ss.c.Log().Info("DWNL", "client", ss.clientID, "name", name, "size", size)
	head := Fields{
		{"TT", "Test"}, {"STATUS", "OK"}, {"F", name},
		{"SIZE", strconv.FormatInt(size, 10)},
		{"SHA256", hex.EncodeToString(sum)},
		{"FILE", ""},
	}.Format()
	ss.send = func() error {
		defer f.Close()
		err := ss.streamFile(head, f, size, sum)
		if err != nil {
			ss.c.Log().Info("DWNL not completed; closing the connection", "name", name, "err", err)
		}
		return err
	}
	return nil, netsvc.StatusOK, false
}

var (
	errTooLarge      = errors.New("cloudreport: update too large")
	errUpdateChanged = errors.New("cloudreport: update file changed while it was sent")
)

// openUpdate reads an update file once for its size and SHA-256 (the reply
// names them before the content) and opens it again for sending;
// streamFile checks the second read against both.
func (s *Server) openUpdate(ctx context.Context, name string) (io.ReadCloser, int64, []byte, error) {
	f, size, err := s.updates.Open(ctx, name)
	if err != nil {
		return nil, 0, nil, err
	}
	if size > s.cfg.MaxDownload {
		f.Close()
		return nil, 0, nil, errTooLarge
	}
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(f, s.cfg.MaxDownload+1))
	f.Close()
	if err == nil && n > s.cfg.MaxDownload {
		err = errTooLarge
	}
	if err != nil {
		return nil, 0, nil, err
	}
	f, _, err = s.updates.Open(ctx, name)
	if err != nil {
		return nil, 0, nil, err
	}
	return f, n, h.Sum(nil), nil
}

// downloadChunk is the size of each write of a DWNL reply.
const downloadChunk = 32 << 10

// streamFile writes the DWNL reply: the data reply's prefix, then the
// encrypted payload (head, then the file in base64) as it is produced, in
// writes of downloadChunk bytes, then CRLF. The file is read a second time
// and checked against size and sum; if it changed since openUpdate, the
// reply is cut short (the client sees a broken reply, never a file that
// does not match its SHA256).
func (ss *session) streamFile(head []byte, f io.Reader, size int64, sum []byte) error {
	ss.s.dlActive.Add(1)
	defer ss.s.dlActive.Add(-1)
	// The reply moves under netsvc's progressive minimum rate
	// (download_min_rate after rate_grace): a client that stops reading is
	// cut as soon as it falls behind, and its slot is freed.
	if ss.s.cfg.DownloadMinRate >= 0 {
		ss.c.StartTransferRate(ss.s.cfg.DownloadMinRate)
		defer ss.c.EndTransfer()
	}
	bw := bufio.NewWriterSize(ss.c, downloadChunk)
	bw.WriteString(dataReplyPrefix(ss.s.dialect))
	enc := ss.codec.EncryptWriter(bw)
	if _, err := enc.Write(head); err != nil {
		return err
	}
	b64 := base64.NewEncoder(base64.StdEncoding, enc)
	h := sha256.New()
	n, err := io.Copy(b64, io.TeeReader(updateReader{io.LimitReader(f, size+1)}, h))
	if err != nil {
		return err
	}
	if n != size || !bytes.Equal(h.Sum(nil), sum) {
		return errUpdateChanged
	}
	if err := b64.Close(); err != nil {
		return err
	}
	if err := enc.Close(); err != nil {
		return err
	}
	bw.WriteString("\r\n")
	return bw.Flush()
}

// updateReadError is a failure to read the update file while it is
// streamed (not a write to the client).
type updateReadError struct{ err error }

func (e *updateReadError) Error() string { return "cloudreport: reading update: " + e.err.Error() }
func (e *updateReadError) Unwrap() error { return e.err }

// updateReader tags the update file's read errors as updateReadError.
type updateReader struct{ r io.Reader }

func (u updateReader) Read(p []byte) (int, error) {
	n, err := u.r.Read(p)
	if err != nil && err != io.EOF {
		err = &updateReadError{err}
	}
	return n, err
}
