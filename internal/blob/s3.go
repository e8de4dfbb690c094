package blob

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/s3utils"
)

// Environment variables read by S3OptionsFromEnv. Credentials come only from
// the environment so they never appear in a config file or in -check-config
// output.
const (
	EnvS3Endpoint  = "GATEHOUSE_S3_ENDPOINT"
	EnvS3AccessKey = "GATEHOUSE_S3_ACCESS_KEY"
	EnvS3SecretKey = "GATEHOUSE_S3_SECRET_KEY"
	EnvS3Region    = "GATEHOUSE_S3_REGION"
	EnvS3Insecure  = "GATEHOUSE_S3_INSECURE"
)

const (
	// S3MinPartSize is S3's smallest allowed non-final multipart part.
	S3MinPartSize = 5 << 20
	// S3DefaultPartSize bounds the memory one Writer holds.
	S3DefaultPartSize = 16 << 20
	// s3MaxPartSize keeps a single buffered part well below S3's 5 GiB
	// limit; nobody needs a Writer to pin more memory than this.
	s3MaxPartSize = 512 << 20
	// s3MaxParts is S3's limit on parts per upload; with the default part
	// size that is ~156 GiB per blob.
	s3MaxParts = 10000
	// s3MaxList bounds what List accumulates in memory.
	s3MaxList = 1 << 22
	// s3CleanupTimeout bounds best-effort aborts that run after the caller's
	// context may already be cancelled.
	s3CleanupTimeout = 30 * time.Second
	// S3DefaultRequestTimeout allows a 16 MiB part at ~30 KB/s.
	S3DefaultRequestTimeout = 10 * time.Minute
	// S3DefaultSweepAge is how old an unfinished multipart upload must be
	// before OpenS3 aborts it. Generous, because other daemons sharing the
	// bucket may be in the middle of a slow upload.
	S3DefaultSweepAge = 24 * time.Hour
)

// S3Options locate and authenticate an S3-compatible endpoint.
type S3Options struct {
	// Endpoint is host[:port], optionally with an http:// or https:// scheme
	// (which then decides Insecure). Empty means s3.amazonaws.com.
	Endpoint string
	// AccessKey and SecretKey; both empty means anonymous requests.
	AccessKey string
	SecretKey string
	// Region; empty lets the client discover the bucket's region.
	Region string
	// Insecure selects plain http.
	Insecure bool
	// PartSize is how much a Writer buffers before sending a part (0 means
	// S3DefaultPartSize; at least S3MinPartSize).
	PartSize int64
	// SweepAge: OpenS3 aborts unfinished multipart uploads under the prefix
	// initiated longer ago than this (0 means S3DefaultSweepAge, negative
	// disables the sweep). Errors of the sweep are ignored.
	SweepAge time.Duration
	// RequestTimeout bounds each request of a Writer (one part, the
	// complete, the single PUT); 0 means S3DefaultRequestTimeout.
	RequestTimeout time.Duration
	// MaxRetries is the attempts per request (0 means minio-go's
	// default, 10). A Writer's requests apply it themselves (send).
	MaxRetries int
	// Transport overrides the HTTP transport (nil means the client's default).
	Transport http.RoundTripper
}

// S3OptionsFromEnv reads the GATEHOUSE_S3_* variables.
func S3OptionsFromEnv() S3Options {
	ins, _ := strconv.ParseBool(os.Getenv(EnvS3Insecure))
	return S3Options{
		Endpoint:  os.Getenv(EnvS3Endpoint),
		AccessKey: os.Getenv(EnvS3AccessKey),
		SecretKey: os.Getenv(EnvS3SecretKey),
		Region:    os.Getenv(EnvS3Region),
		Insecure:  ins,
	}
}

// S3 stores blobs as objects "<prefix><name>" in one bucket. A Writer
// buffers at most one part in memory; the object becomes visible only when
// Commit completes the multipart upload (or, for a blob smaller than one
// part, sends it in one PUT of its real size), which is the S3 counterpart
// of Local's atomic rename.
type S3 struct {
	client     *minio.Client
	core       *minio.Core
	bucket     string
	prefix     string // "" or ends in "/"
	partSize   int64
	reqTimeout time.Duration
	attempts   int // per request that carries a Writer's buffer (send)
}

// ParseS3URL splits "s3://bucket/prefix" into the bucket and a key prefix
// that is empty or ends in "/".
func ParseS3URL(raw string) (bucket, prefix string, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", "", fmt.Errorf("blob: s3 url: %w", err)
	}
	if u.Scheme != "s3" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return "", "", fmt.Errorf("blob: s3 url %q: want s3://bucket/prefix", raw)
	}
	bucket = u.Host
	if err := s3utils.CheckValidBucketNameStrict(bucket); err != nil {
		return "", "", fmt.Errorf("blob: s3 url %q: bucket: %w", raw, err)
	}
	p := strings.Trim(u.Path, "/")
	if p != "" {
		if !ValidName(p) {
			return "", "", fmt.Errorf("%w: s3 url prefix %q", ErrBadName, p)
		}
		p += "/"
	}
	return bucket, p, nil
}

// OpenS3 connects to the bucket named by rawURL ("s3://bucket/prefix") and
// checks that it exists; it does not create buckets.
func OpenS3(ctx context.Context, rawURL string, opts S3Options) (*S3, error) {
	bucket, prefix, err := ParseS3URL(rawURL)
	if err != nil {
		return nil, err
	}
	part := opts.PartSize
	switch {
	case part == 0:
		part = S3DefaultPartSize
	case part < S3MinPartSize || part > s3MaxPartSize:
		return nil, fmt.Errorf("blob: s3 part size %d outside [%d, %d]", part, S3MinPartSize, s3MaxPartSize)
	}
	endpoint, secure := opts.Endpoint, !opts.Insecure
	switch {
	case endpoint == "":
		endpoint = "s3.amazonaws.com"
	case strings.HasPrefix(endpoint, "http://"):
		endpoint, secure = strings.TrimPrefix(endpoint, "http://"), false
	case strings.HasPrefix(endpoint, "https://"):
		endpoint, secure = strings.TrimPrefix(endpoint, "https://"), true
	}
	endpoint = strings.TrimSuffix(endpoint, "/")
	mo := &minio.Options{
		Creds:      credentials.NewStaticV4(opts.AccessKey, opts.SecretKey, ""),
		Secure:     secure,
		Region:     opts.Region,
		Transport:  opts.Transport,
		MaxRetries: opts.MaxRetries,
	}
	core, err := minio.NewCore(endpoint, mo)
	if err != nil {
		return nil, fmt.Errorf("blob: s3 endpoint %q: %w", endpoint, err)
	}
	ok, err := core.BucketExists(ctx, bucket)
	if err != nil {
		return nil, fmt.Errorf("blob: s3 bucket %q at %s: %w", bucket, endpoint, err)
	}
	if !ok {
		return nil, fmt.Errorf("blob: s3 bucket %q does not exist at %s", bucket, endpoint)
	}
	s := &S3{client: core.Client, core: core, bucket: bucket, prefix: prefix, partSize: part,
		reqTimeout: opts.RequestTimeout, attempts: opts.MaxRetries}
	if s.reqTimeout <= 0 {
		s.reqTimeout = S3DefaultRequestTimeout
	}
	if s.attempts <= 0 {
		s.attempts = minio.MaxRetry
	}
	if opts.SweepAge >= 0 {
		age := opts.SweepAge
		if age == 0 {
			age = S3DefaultSweepAge
		}
		// Best effort: a key without ListMultipartUploads permission must not
		// keep the daemon from starting; the bucket lifecycle rule in
		// docs/storage.md is the primary cleanup.
		sctx, cancel := context.WithTimeout(ctx, s3CleanupTimeout)
		s.SweepUploads(sctx, time.Now().Add(-age))
		cancel()
	}
	return s, nil
}

// Bucket and Prefix name where the store keeps its objects.
func (s *S3) Bucket() string { return s.bucket }
func (s *S3) Prefix() string { return s.prefix }

// PartSize is the per-Writer memory bound.
func (s *S3) PartSize() int64 { return s.partSize }

func (s *S3) Close() error { return nil }

func (s *S3) key(name string) (string, error) {
	if !ValidName(name) {
		return "", fmt.Errorf("%w: %q", ErrBadName, name)
	}
	return s.prefix + name, nil
}

// mapS3Err turns S3's "no such key" into ErrNotExist and wraps the rest.
func mapS3Err(name string, err error) error {
	if err == nil {
		return nil
	}
	var er minio.ErrorResponse
	if errors.As(err, &er) && (er.Code == minio.NoSuchKey || er.Code == "NotFound") {
		return fmt.Errorf("%w: %s", ErrNotExist, name)
	}
	return fmt.Errorf("blob: s3: %w", err)
}

func (s *S3) Create(ctx context.Context, name string) (Writer, error) {
	key, err := s.key(name)
	if err != nil {
		return nil, err
	}
	// Detached from cancellation on purpose: a daemon that starts shutting
	// down still lets the current request finish (as Local does, which
	// ignores ctx), so an upload in flight must not fail because the
	// connection's context ended. Each request gets its own deadline instead.
	return &s3Writer{s: s, ctx: context.WithoutCancel(ctx), key: key, name: name}, nil
}

func (s *S3) Open(ctx context.Context, name string) (io.ReadCloser, Info, error) {
	key, err := s.key(name)
	if err != nil {
		return nil, Info{}, err
	}
	rc, oi, _, err := s.core.GetObject(ctx, s.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, Info{}, mapS3Err(name, err)
	}
	return rc, Info{Name: name, Size: oi.Size, ModTime: oi.LastModified}, nil
}

func (s *S3) Stat(ctx context.Context, name string) (Info, error) {
	key, err := s.key(name)
	if err != nil {
		return Info{}, err
	}
	oi, err := s.client.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return Info{}, mapS3Err(name, err)
	}
	return Info{Name: name, Size: oi.Size, ModTime: oi.LastModified}, nil
}

// Remove reports ErrNotExist for a missing blob like Local does; S3's
// DELETE alone would succeed silently.
func (s *S3) Remove(ctx context.Context, name string) error {
	key, err := s.key(name)
	if err != nil {
		return err
	}
	if _, err := s.client.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{}); err != nil {
		return mapS3Err(name, err)
	}
	return mapS3Err(name, s.client.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{}))
}

// List skips keys that are not valid blob names (folder markers, objects
// written by other tools), so everything it returns can be opened.
func (s *S3) List(ctx context.Context, prefix string) ([]Info, error) {
	if err := checkListPrefix(prefix); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the lister goroutine when we return early
	var out []Info
	for oi := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.prefix + prefix, Recursive: true}) {
		if oi.Err != nil {
			return nil, fmt.Errorf("blob: s3 list: %w", oi.Err)
		}
		name, ok := strings.CutPrefix(oi.Key, s.prefix)
		if !ok || !ValidName(name) || !strings.HasPrefix(name, prefix) {
			continue
		}
		if len(out) >= s3MaxList {
			return nil, fmt.Errorf("blob: s3 list %q: more than %d blobs", prefix, s3MaxList)
		}
		out = append(out, Info{Name: name, Size: oi.Size, ModTime: oi.LastModified})
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("blob: s3 list: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// checkListPrefix applies Local's rule: the folder part of a prefix must be
// a valid name, and no prefix may carry control characters or backslashes.
func checkListPrefix(prefix string) error {
	if strings.ContainsRune(prefix, '\\') || strings.HasPrefix(prefix, "/") || len(prefix) > 1024 {
		return fmt.Errorf("%w: %q", ErrBadName, prefix)
	}
	for _, r := range prefix {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%w: %q", ErrBadName, prefix)
		}
	}
	if i := strings.LastIndex(prefix, "/"); i > 0 && !ValidName(prefix[:i]) {
		return fmt.Errorf("%w: %q", ErrBadName, prefix)
	}
	return nil
}

// SweepUploads aborts unfinished multipart uploads under the store's prefix
// that were initiated before cutoff, returning how many it aborted. Parts of
// such uploads are invisible but billed until aborted.
func (s *S3) SweepUploads(ctx context.Context, cutoff time.Time) (int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	n := 0
	var firstErr error
	for u := range s.client.ListIncompleteUploads(ctx, s.bucket, s.prefix, true) {
		if u.Err != nil {
			return n, fmt.Errorf("blob: s3 list uploads: %w", u.Err)
		}
		if !u.Initiated.Before(cutoff) {
			continue
		}
		if err := s.core.AbortMultipartUpload(ctx, s.bucket, u.Key, u.UploadID); err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("blob: s3 abort upload of %s: %w", u.Key, err)
			}
			continue
		}
		n++
	}
	return n, firstErr
}

var errWriterDone = errors.New("blob: writer already finished")

const (
	// s3ChunkSize is the unit a Writer's part buffer grows by once a blob
	// outgrows s3FirstChunk: pooled, never copied, never regrown.
	s3ChunkSize = 1 << 20
	// s3FirstChunk is what a Writer allocates for its first bytes, so a
	// small blob costs what it did before the buffer was chunked.
	s3FirstChunk = 64 << 10
)

// s3ChunkPool holds part-buffer chunks between Writers, so consecutive
// uploads reuse the same memory instead of leaving a part's worth of
// garbage each.
var s3ChunkPool = sync.Pool{New: func() any { return new([s3ChunkSize]byte) }}

// s3Writer buffers up to one part. The first full part starts a multipart
// upload; Commit sends the rest and completes it, Abort aborts it. Nothing
// is visible under the key before CompleteMultipartUpload (or the single
// PutObject) succeeds.
//
// The part lives in chunks (one small one first, then s3ChunkSize ones
// from s3ChunkPool) rather than one slice grown by doubling: growing a
// 16 MiB slice copies it four times over and leaves as much garbage as the
// part itself, which (with the GC's headroom over the live part) was most
// of what an S3 upload cost the daemon over a local-file one. The SHA-256
// the request signs is summed as the bytes arrive, while they are still in
// the cache, instead of in a second pass over the part.
type s3Writer struct {
	s         *S3
	ctx       context.Context
	key, name string
	chunks    [][]byte // the part so far: every chunk but the last is full
	spare     [][]byte // pooled chunks of earlier parts, empty, for the next
	buffered  int64    // bytes in chunks
	sum       hash.Hash
	uploadID  string
	parts     []minio.CompletePart
	size      int64
	err       error // sticky: after a failed part the upload is gone
	done      bool
	// tainted: a request that carried the chunks failed, so net/http may
	// still be reading them in its write loop; they must not go back to
	// the pool for another Writer, nor be reused for this one's next part
	// (lost: the current chunks are such, and are left to the GC).
	tainted, lost bool
}

func (w *s3Writer) Write(p []byte) (int, error) {
	if w.done {
		return 0, errWriterDone
	}
	if w.err != nil {
		return 0, w.err
	}
	written := 0
	for len(p) > 0 {
		n := copy(w.room(), p)
		k := len(w.chunks) - 1
		w.chunks[k] = w.chunks[k][:len(w.chunks[k])+n]
		w.sum.Write(p[:n])
		p = p[n:]
		written += n
		w.size += int64(n)
		w.buffered += int64(n)
		if w.buffered == w.s.partSize {
			if err := w.flushPart(); err != nil {
				w.fail(err)
				return written, w.err
			}
		}
	}
	return written, nil
}

// room returns the free space of the last chunk, adding a chunk if that
// is full, never letting the chunks hold more than one part.
func (w *s3Writer) room() []byte {
	if w.sum == nil {
		w.sum = sha256.New()
	}
	left := w.s.partSize - w.buffered
	if k := len(w.chunks); k > 0 {
		c := w.chunks[k-1]
		if free := cap(c) - len(c); free > 0 {
			return c[len(c) : len(c)+int(min(int64(free), left))]
		}
	}
	var c []byte
	switch {
	case len(w.spare) > 0:
		c, w.spare = w.spare[len(w.spare)-1], w.spare[:len(w.spare)-1]
	case len(w.chunks) == 0 && w.uploadID == "":
		c = make([]byte, 0, s3FirstChunk)
	default:
		c = s3ChunkPool.Get().(*[s3ChunkSize]byte)[:0]
	}
	w.chunks = append(w.chunks, c)
	return c[:int(min(int64(cap(c)), left))]
}

// send makes one request that carries the buffered part as its body
// (do), tried up to the store's attempts by minio-go's retry rules, each
// attempt reading the chunks through a reader of its own. minio-go would
// retry a seekable body itself by seeking the one reader back to the start
// while net/http may still be sending the abandoned attempt from it (a
// server may answer before it has read the body): a data race on the
// reader's position (TestS3WriterPartAnsweredBeforeItsBodyIsRetried). So
// the body it gets cannot seek, minio-go tries it once, and the retries
// are here. ctx bounds every attempt and the waits between them, as it
// bounded minio-go's.
//
// After a failed attempt its write loop may still be reading the chunks,
// so they are marked lost: not reused for the next part nor pooled.
func (w *s3Writer) send(ctx context.Context, do func(body io.Reader) error) error {
	for attempt := 1; ; attempt++ {
		// The chunk list is the attempt's own copy: the next part refills
		// w.chunks' array while a failed attempt may still walk it.
		err := do(&partBody{r: chunkReader{chunks: slices.Clone(w.chunks), size: w.buffered}})
		if err == nil {
			return nil
		}
		w.tainted, w.lost = true, true
		if attempt >= w.s.attempts || !s3Retryable(ctx, err) || !sleepCtx(ctx, s3RetryWait(attempt)) {
			return err
		}
	}
}

// partBody is one attempt's body: a chunkReader that does not seek.
type partBody struct{ r chunkReader }

func (b *partBody) Read(p []byte) (int, error)         { return b.r.Read(p) }
func (b *partBody) WriteTo(w io.Writer) (int64, error) { return b.r.WriteTo(w) }

// s3Retryable is minio-go's rule for retrying a request (retry.go and
// executeMethod in minio-go v7): a transport error unless it is a TLS
// trust failure or plain HTTP from an HTTPS endpoint; a timeout of the
// request but not of ctx; an S3 error whose code or HTTP status says try
// again; a region error that named the right region (minio-go has then
// cached it for the next attempt).
func s3Retryable(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	var resp minio.ErrorResponse
	if errors.As(err, &resp) && (resp.Code != "" || resp.StatusCode != 0) {
		switch resp.Code {
		case "RequestError", "RequestTimeout", "Throttling", "ThrottlingException", "RequestLimitExceeded",
			"RequestThrottled", "InternalError", "ExpiredToken", "ExpiredTokenException", "SlowDown",
			"SlowDownWrite", "SlowDownRead":
			return true
		case "AuthorizationHeaderMalformed", "InvalidRegion", "AccessDenied":
			if resp.Region != "" {
				return true
			}
		}
		switch resp.StatusCode {
		case http.StatusRequestTimeout, http.StatusTooManyRequests, 499, http.StatusInternalServerError,
			http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout, 520:
			return true
		}
		return false
	}
	var unknownCA x509.UnknownAuthorityError
	if errors.As(err, &unknownCA) || strings.Contains(err.Error(), "server gave HTTP response to HTTPS client") {
		return false
	}
	return true
}

// s3RetryWait is the wait before attempt+1: minio-go's backoff, a random
// part of min(1 s, 200 ms × 2^(attempt-1)).
func s3RetryWait(attempt int) time.Duration {
	d := min(time.Second, minio.DefaultRetryUnit<<min(attempt-1, 8))
	return d - time.Duration(rand.Int64N(int64(d)))
}

// sleepCtx waits d; false if ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// payloadHash is the hex SHA-256 of the buffered part, the payload hash the
// request signs. Sending it instead of minio's default aws-chunked
// streaming signature keeps the request a plain body of known length that
// every S3-compatible server decodes the same way (gofakes3 stores
// aws-chunked part bodies verbatim), while the server still verifies the
// content against the signed hash.
func (w *s3Writer) payloadHash() string {
	if w.sum == nil {
		w.sum = sha256.New()
	}
	var h [sha256.Size]byte
	return hex.EncodeToString(w.sum.Sum(h[:0]))
}

// reset empties the part buffer for the next part, keeping the pooled
// chunks as spares (the small first one is dropped: the blob is large),
// unless the request that carried them may still be reading them.
func (w *s3Writer) reset() {
	for _, c := range w.chunks {
		if !w.lost && cap(c) == s3ChunkSize {
			w.spare = append(w.spare, c[:0])
		}
	}
	w.lost = false
	clear(w.chunks)
	w.chunks = w.chunks[:0]
	w.buffered = 0
	w.sum.Reset()
}

// release gives the chunks back to the pool, except those a failed or
// retried request may still be reading, and drops the buffer. Spares never
// are: reset does not keep such chunks.
func (w *s3Writer) release() {
	pool := func(cs [][]byte) {
		for _, c := range cs {
			if cap(c) == s3ChunkSize {
				s3ChunkPool.Put((*[s3ChunkSize]byte)(c[:s3ChunkSize]))
			}
		}
	}
	pool(w.spare)
	if !w.lost {
		pool(w.chunks)
	}
	w.chunks, w.spare = nil, nil
	w.buffered = 0
}

func (w *s3Writer) flushPart() error {
	if len(w.parts) >= s3MaxParts {
		return fmt.Errorf("blob: s3 %s: more than %d parts of %d bytes", w.name, s3MaxParts, w.s.partSize)
	}
	if w.uploadID == "" {
		ctx, cancel := w.reqCtx()
		id, err := w.s.core.NewMultipartUpload(ctx, w.s.bucket, w.key, minio.PutObjectOptions{})
		cancel()
		if err != nil {
			return fmt.Errorf("blob: s3 start upload of %s: %w", w.name, err)
		}
		w.uploadID = id
	}
	num := len(w.parts) + 1
	ctx, cancel := w.reqCtx()
	defer cancel()
	sum := w.payloadHash()
	var op minio.ObjectPart
	err := w.send(ctx, func(body io.Reader) (err error) {
		op, err = w.s.core.PutObjectPart(ctx, w.s.bucket, w.key, w.uploadID, num, body, w.buffered,
			minio.PutObjectPartOptions{Sha256Hex: sum, DisableContentSha256: true})
		return err
	})
	if err != nil {
		return fmt.Errorf("blob: s3 part %d of %s: %w", num, w.name, err)
	}
	w.parts = append(w.parts, minio.CompletePart{
		PartNumber: num, ETag: op.ETag,
		ChecksumCRC32: op.ChecksumCRC32, ChecksumCRC32C: op.ChecksumCRC32C,
		ChecksumSHA1: op.ChecksumSHA1, ChecksumSHA256: op.ChecksumSHA256,
		ChecksumCRC64NVME: op.ChecksumCRC64NVME,
	})
	w.reset()
	return nil
}

func (w *s3Writer) reqCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(w.ctx, w.s.reqTimeout)
}

// fail records err and drops the upload so no parts linger.
func (w *s3Writer) fail(err error) {
	w.err = err
	w.abortUpload()
	w.release()
}

func (w *s3Writer) abortUpload() {
	if w.uploadID == "" {
		return
	}
	ctx, cancel := context.WithTimeout(w.ctx, s3CleanupTimeout)
	defer cancel()
	// An abort that fails leaves invisible parts for SweepUploads or the
	// bucket's lifecycle rule; the blob itself never appears.
	w.s.core.AbortMultipartUpload(ctx, w.s.bucket, w.key, w.uploadID)
	w.uploadID = ""
}

func (w *s3Writer) Commit() error {
	if w.done {
		return errWriterDone
	}
	w.done = true
	if w.err != nil {
		return w.err
	}
	defer w.release()
	if w.uploadID == "" {
		// Smaller than one part: one PUT carrying the real size.
		ctx, cancel := w.reqCtx()
		defer cancel()
		sum := w.payloadHash()
		err := w.send(ctx, func(body io.Reader) error {
			_, err := w.s.core.PutObject(ctx, w.s.bucket, w.key, body, w.buffered,
				"", sum, minio.PutObjectOptions{DisableContentSha256: true})
			return err
		})
		if err != nil {
			return fmt.Errorf("blob: s3 put %s: %w", w.name, err)
		}
		return nil
	}
	if w.buffered > 0 {
		if err := w.flushPart(); err != nil {
			w.fail(err)
			return err
		}
	}
	ctx, cancel := w.reqCtx()
	defer cancel()
	if _, err := w.s.core.CompleteMultipartUpload(ctx, w.s.bucket, w.key, w.uploadID, w.parts, minio.PutObjectOptions{}); err != nil {
		err = fmt.Errorf("blob: s3 complete %s: %w", w.name, err)
		w.fail(err)
		return err
	}
	w.uploadID = ""
	return nil
}

func (w *s3Writer) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	w.abortUpload()
	w.release()
	return nil
}

// chunkReader reads a part held in chunks (every chunk but the last full)
// as one body, from the start, and writes itself out chunk by chunk
// without an intermediate copy. Each request attempt has its own (send).
type chunkReader struct {
	chunks [][]byte
	size   int64
	pos    int64
	ci, co int // chunk and offset in it of pos, when pos < size
}

// next returns up to max unread bytes of the chunk at pos (pos < size)
// and moves past them.
//
// Indexes are checked, not trusted: whatever the chunks hold, the reader
// never panics (nil: no more bytes).
func (r *chunkReader) next(max int) []byte {
	ci, co := r.ci, r.co
	for ci < len(r.chunks) && co >= len(r.chunks[ci]) {
		ci, co = ci+1, 0
	}
	if ci >= len(r.chunks) || max <= 0 {
		r.ci, r.co = ci, co
		return nil
	}
	c := r.chunks[ci][co:]
	c = c[:min(len(c), max)]
	r.ci, r.co = ci, co+len(c)
	r.pos += int64(len(c))
	return c
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if r.pos >= r.size {
		return 0, io.EOF
	}
	c := r.next(len(p))
	if len(c) == 0 && len(p) > 0 {
		return 0, io.ErrUnexpectedEOF
	}
	return copy(p, c), nil
}

func (r *chunkReader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for r.pos < r.size {
		c := r.next(s3ChunkSize)
		if len(c) == 0 {
			return total, io.ErrUnexpectedEOF
		}
		n, err := w.Write(c)
		total += int64(n)
		if err != nil {
			return total, err
		}
	}
	return total, nil
}
