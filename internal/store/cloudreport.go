package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// CloudreportDateLayout is how registry expiry dates are kept and shown.
const CloudreportDateLayout = "2006-01-02"

// CloudreportClient is one registered Cloud Report client (an "object").
type CloudreportClient struct {
	ID      string
	Name    string
	Expires time.Time // a calendar date; only Y-M-D is kept
	Enabled bool
	Created time.Time
	// FirstSeen and LastSeen are when the client's INFO was first and last
	// answered (zero: never, e.g. registered with the CLI and not yet
	// connected); LastAddr is the address it last came from. LastSeen is
	// written coalesced (at most about once a minute per client).
	FirstSeen time.Time
	LastSeen  time.Time
	LastAddr  string
}

// CloudreportSeen is one "client seen" record for CloudreportTouchClients.
type CloudreportSeen struct {
	ID   string
	At   time.Time
	Addr string
}

// NormalizeCloudreportID is the stored form of a client id: ids match
// case-insensitively (00003E3B is 00003e3b), so they are kept in ASCII
// lower case (the same mapping as SQL lower() on ASCII text).
func NormalizeCloudreportID(id string) string {
	for i := 0; i < len(id); i++ {
		if c := id[i]; c >= 'A' && c <= 'Z' {
			b := []byte(id)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return id
}

// CloudreportError is one ERRL report a client sent.
type CloudreportError struct {
	Seq      int64
	ClientID string
	Peer     string
	Created  time.Time
	Text     string
	Data     string
}

// cloudreportText makes text from the wire storable on both engines:
// PostgreSQL refuses NUL and invalid UTF-8 in TEXT (the report would be
// lost), so both become U+FFFD.
func cloudreportText(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func optTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return TimeText(t)
}

func optText(s string) any {
	if s == "" {
		return nil
	}
	return cloudreportText(s)
}

// CloudreportAddClient registers c (its id normalized); ErrConflict when the
// id is taken in any case. A zero Created is set to now.
func (db *DB) CloudreportAddClient(ctx context.Context, c CloudreportClient) error {
	if c.Created.IsZero() {
		c.Created = time.Now()
	}
	c.ID = NormalizeCloudreportID(c.ID)
	err := db.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx,
			"INSERT INTO cloudreport_clients (id, name, expires, enabled, created_at, first_seen, last_seen, last_addr) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
			c.ID, cloudreportText(c.Name), c.Expires.Format(CloudreportDateLayout), boolInt(c.Enabled), TimeText(c.Created),
			optTime(c.FirstSeen), optTime(c.LastSeen), optText(c.LastAddr)); err != nil {
			return err
		}
		return bumpCloudreportGeneration(ctx, tx)
	})
	if IsUniqueViolation(err) {
		return fmt.Errorf("cloudreport client %q: %w", c.ID, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("store: cloudreport add client: %w", err)
	}
	return nil
}

// crClientCols is what scanCloudreportClient reads.
const crClientCols = "id, name, expires, enabled, created_at, COALESCE(first_seen, ''), COALESCE(last_seen, ''), COALESCE(last_addr, '')"

func scanCloudreportClient(r rowScanner) (CloudreportClient, error) {
	var c CloudreportClient
	var exp, created, first, last string
	var enabled int
	if err := r.Scan(&c.ID, &c.Name, &exp, &enabled, &created, &first, &last, &c.LastAddr); err != nil {
		return c, err
	}
	var err error
	if c.FirstSeen, err = ParseTime(first); err != nil {
		return c, fmt.Errorf("store: cloudreport client %q first seen %q: %w", c.ID, first, err)
	}
	if c.LastSeen, err = ParseTime(last); err != nil {
		return c, fmt.Errorf("store: cloudreport client %q last seen %q: %w", c.ID, last, err)
	}
	if c.Expires, err = time.Parse(CloudreportDateLayout, exp); err != nil {
		return c, fmt.Errorf("store: cloudreport client %q expiry %q: %w", c.ID, exp, err)
	}
	if c.Created, err = ParseTime(created); err != nil {
		return c, fmt.Errorf("store: cloudreport client %q created %q: %w", c.ID, created, err)
	}
	c.Enabled = enabled != 0
	return c, nil
}

// CloudreportClient looks up one client, in any case; ErrNotFound when
// absent.
func (db *DB) CloudreportClient(ctx context.Context, id string) (CloudreportClient, error) {
	id = NormalizeCloudreportID(id)
	c, err := scanCloudreportClient(db.QueryRowContext(ctx,
		"SELECT "+crClientCols+" FROM cloudreport_clients WHERE id = $1", id))
	if errors.Is(err, sql.ErrNoRows) {
		return c, fmt.Errorf("cloudreport client %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return c, fmt.Errorf("store: cloudreport client: %w", err)
	}
	return c, nil
}

// CloudreportListClients returns every client ordered by id.
func (db *DB) CloudreportListClients(ctx context.Context) ([]CloudreportClient, error) {
	return queryAll(ctx, db, "cloudreport list clients",
		"SELECT "+crClientCols+" FROM cloudreport_clients ORDER BY id", nil, scanCloudreportClient)
}

// CloudreportRegisterSeen adds c (open registration: a client id seen for
// the first time) unless its id is already registered, and returns the
// registered row and whether it was added now. An existing row is returned
// unchanged (its seen times are CloudreportTouchClients' business).
func (db *DB) CloudreportRegisterSeen(ctx context.Context, c CloudreportClient) (CloudreportClient, bool, error) {
	if c.Created.IsZero() {
		c.Created = time.Now()
	}
	c.ID = NormalizeCloudreportID(c.ID)
	res, err := db.ExecContext(ctx,
		"INSERT INTO cloudreport_clients (id, name, expires, enabled, created_at, first_seen, last_seen, last_addr) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING",
		c.ID, cloudreportText(c.Name), c.Expires.Format(CloudreportDateLayout), boolInt(c.Enabled), TimeText(c.Created),
		optTime(c.FirstSeen), optTime(c.LastSeen), optText(c.LastAddr))
	if err != nil {
		return c, false, fmt.Errorf("store: cloudreport register client: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return c, false, fmt.Errorf("store: cloudreport register client: %w", err)
	}
	got, err := db.CloudreportClient(ctx, c.ID)
	return got, n > 0, err
}

// CloudreportTouchClients records when and from where clients were seen, in
// one transaction. A time older than the stored last_seen does not move it
// back (several daemons may share the store); first_seen is set when empty.
func (db *DB) CloudreportTouchClients(ctx context.Context, seen []CloudreportSeen) error {
	if len(seen) == 0 {
		return nil
	}
	return db.Tx(ctx, func(tx *sql.Tx) error {
		for _, s := range seen {
			at := TimeText(s.At)
			if _, err := tx.ExecContext(ctx,
				"UPDATE cloudreport_clients SET last_seen = $1, last_addr = $2, first_seen = COALESCE(first_seen, $1) WHERE id = $3 AND (last_seen IS NULL OR last_seen < $1)",
				at, cloudreportText(s.Addr), NormalizeCloudreportID(s.ID)); err != nil {
				return fmt.Errorf("store: cloudreport touch clients: %w", err)
			}
		}
		return nil
	})
}

func (db *DB) cloudreportUpdate(ctx context.Context, id, query string, arg any) error {
	id = NormalizeCloudreportID(id)
	var n int64
	err := db.Tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, query, arg, id)
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		return bumpCloudreportGeneration(ctx, tx)
	})
	if err != nil {
		return fmt.Errorf("store: cloudreport update client: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("cloudreport client %q: %w", id, ErrNotFound)
	}
	return nil
}

// cloudreportGenerationKey is the settings row counting the administrative
// changes of the client registry (add, enable, disable, expiry): a daemon
// that caches the registry reads it about once a second to notice changes
// made by another process (docs/cloudreport.md, "Registry cache"). Rows
// that open registration adds do not count: they only turn an absent id
// into the answer the daemon would have given anyway.
const cloudreportGenerationKey = "cloudreport.registry_generation"

// bumpCloudreportGeneration counts one administrative registry change, in
// the transaction of the change.
func bumpCloudreportGeneration(ctx context.Context, tx *sql.Tx) error {
	_, err := tx.ExecContext(ctx,
		"INSERT INTO settings (key, value) VALUES ($1, '1') ON CONFLICT (key) DO UPDATE SET value = CAST(CAST(settings.value AS BIGINT) + 1 AS TEXT)",
		cloudreportGenerationKey)
	return err
}

// CloudreportRegistryGeneration is the count of administrative changes of
// the client registry so far (0: none); it only grows. An operator who
// changes cloudreport_clients by hand bumps it with
// UPDATE settings SET value = CAST(CAST(value AS BIGINT) + 1 AS TEXT) WHERE key = 'cloudreport.registry_generation'.
func (db *DB) CloudreportRegistryGeneration(ctx context.Context) (int64, error) {
	var v string
	err := db.QueryRowContext(ctx, "SELECT value FROM settings WHERE key = $1", cloudreportGenerationKey).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("store: cloudreport registry generation: %w", err)
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("store: cloudreport registry generation %q: %w", v, err)
	}
	return n, nil
}

// CloudreportSetEnabled enables or disables a client; ErrNotFound when absent.
func (db *DB) CloudreportSetEnabled(ctx context.Context, id string, enabled bool) error {
	return db.cloudreportUpdate(ctx, id, "UPDATE cloudreport_clients SET enabled = $1 WHERE id = $2", boolInt(enabled))
}

// CloudreportSetExpiry changes a client's expiry date; ErrNotFound when absent.
func (db *DB) CloudreportSetExpiry(ctx context.Context, id string, expires time.Time) error {
	return db.cloudreportUpdate(ctx, id, "UPDATE cloudreport_clients SET expires = $1 WHERE id = $2",
		expires.Format(CloudreportDateLayout))
}

// CloudreportAddError stores one error report. A zero Created is set to now.
func (db *DB) CloudreportAddError(ctx context.Context, e CloudreportError) error {
	if e.Created.IsZero() {
		e.Created = time.Now()
	}
	_, err := db.ExecContext(ctx,
		"INSERT INTO cloudreport_errors (client_id, peer, created_at, text, data) VALUES ($1, $2, $3, $4, $5)",
		cloudreportText(NormalizeCloudreportID(e.ClientID)), cloudreportText(e.Peer), TimeText(e.Created), cloudreportText(e.Text), cloudreportText(e.Data))
	if err != nil {
		return fmt.Errorf("store: cloudreport add error: %w", err)
	}
	return nil
}

// CloudreportErrors returns the newest limit reports, newest first, for one
// client or for all when clientID is empty. limit <= 0 means 100.
func (db *DB) CloudreportErrors(ctx context.Context, clientID string, limit int) ([]CloudreportError, error) {
	if limit <= 0 {
		limit = 100
	}
	q := "SELECT id, client_id, peer, created_at, text, data FROM cloudreport_errors"
	args := []any{}
	if clientID != "" {
		q += " WHERE client_id = $1 ORDER BY id DESC LIMIT $2"
		args = append(args, NormalizeCloudreportID(clientID), limit)
	} else {
		q += " ORDER BY id DESC LIMIT $1"
		args = append(args, limit)
	}
	return queryAll(ctx, db, "cloudreport errors", q, args, func(r rowScanner) (CloudreportError, error) {
		var e CloudreportError
		var created string
		if err := r.Scan(&e.Seq, &e.ClientID, &e.Peer, &created, &e.Text, &e.Data); err != nil {
			return e, err
		}
		var err error
		if e.Created, err = ParseTime(created); err != nil {
			return e, fmt.Errorf("error %d time: %w", e.Seq, err)
		}
		return e, nil
	})
}

// CloudreportPruneErrors deletes all but the newest keep reports and says
// how many went: clients may report without authenticating, so the table
// needs a ceiling.
func (db *DB) CloudreportPruneErrors(ctx context.Context, keep int) (int64, error) {
	if keep < 0 {
		keep = 0
	}
	res, err := db.ExecContext(ctx,
		"DELETE FROM cloudreport_errors WHERE id <= (SELECT id FROM cloudreport_errors ORDER BY id DESC LIMIT 1 OFFSET $1)", keep)
	if err != nil {
		return 0, fmt.Errorf("store: cloudreport prune errors: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("store: cloudreport prune errors: %w", err)
	}
	return n, nil
}
