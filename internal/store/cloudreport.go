package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
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

// CloudreportAddClient registers c; ErrConflict when the id is taken. A zero
// Created is set to now.
func (db *DB) CloudreportAddClient(ctx context.Context, c CloudreportClient) error {
	if c.Created.IsZero() {
		c.Created = time.Now()
	}
	_, err := db.ExecContext(ctx,
		"INSERT INTO cloudreport_clients (id, name, expires, enabled, created_at) VALUES ($1, $2, $3, $4, $5)",
		c.ID, cloudreportText(c.Name), c.Expires.Format(CloudreportDateLayout), boolInt(c.Enabled), TimeText(c.Created))
	if IsUniqueViolation(err) {
		return fmt.Errorf("cloudreport client %q: %w", c.ID, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("store: cloudreport add client: %w", err)
	}
	return nil
}

func scanCloudreportClient(r rowScanner) (CloudreportClient, error) {
	var c CloudreportClient
	var exp, created string
	var enabled int
	if err := r.Scan(&c.ID, &c.Name, &exp, &enabled, &created); err != nil {
		return c, err
	}
	var err error
	if c.Expires, err = time.Parse(CloudreportDateLayout, exp); err != nil {
		return c, fmt.Errorf("store: cloudreport client %q expiry %q: %w", c.ID, exp, err)
	}
	if c.Created, err = ParseTime(created); err != nil {
		return c, fmt.Errorf("store: cloudreport client %q created %q: %w", c.ID, created, err)
	}
	c.Enabled = enabled != 0
	return c, nil
}

// CloudreportClient looks up one client; ErrNotFound when absent.
func (db *DB) CloudreportClient(ctx context.Context, id string) (CloudreportClient, error) {
	c, err := scanCloudreportClient(db.QueryRowContext(ctx,
		"SELECT id, name, expires, enabled, created_at FROM cloudreport_clients WHERE id = $1", id))
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
		"SELECT id, name, expires, enabled, created_at FROM cloudreport_clients ORDER BY id", nil, scanCloudreportClient)
}

func (db *DB) cloudreportUpdate(ctx context.Context, id, query string, arg any) error {
	res, err := db.ExecContext(ctx, query, arg, id)
	if err != nil {
		return fmt.Errorf("store: cloudreport update client: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("store: cloudreport update client: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("cloudreport client %q: %w", id, ErrNotFound)
	}
	return nil
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
		cloudreportText(e.ClientID), cloudreportText(e.Peer), TimeText(e.Created), cloudreportText(e.Text), cloudreportText(e.Data))
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
		args = append(args, clientID, limit)
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
