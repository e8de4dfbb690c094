package store_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/store"
	"gatehouse/internal/store/storetest"
)

func TestCloudreportRegistry(t *testing.T) {
	t.Parallel()
	storetest.ForEachEngine(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		created := time.Date(2026, 2, 28, 23, 30, 5, 0, time.UTC)
		exp := time.Date(2027, 2, 28, 0, 0, 0, 0, time.UTC)
		c := store.CloudreportClient{ID: "00003e3b", Name: "Firm Ltd", Expires: exp, Enabled: true, Created: created}
		if err := db.CloudreportAddClient(ctx, c); err != nil {
			t.Fatal(err)
		}
		if err := db.CloudreportAddClient(ctx, c); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("duplicate add: %v, want ErrConflict", err)
		}
		got, err := db.CloudreportClient(ctx, "00003e3b")
		if err != nil {
			t.Fatal(err)
		}
		if got.Name != "Firm Ltd" || !got.Enabled || !got.Expires.Equal(exp) || !got.Created.Equal(created) {
			t.Fatalf("got %+v", got)
		}
		if _, err := db.CloudreportClient(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("missing: %v", err)
		}
		if err := db.CloudreportSetEnabled(ctx, "00003e3b", false); err != nil {
			t.Fatal(err)
		}
		newExp := time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)
		if err := db.CloudreportSetExpiry(ctx, "00003e3b", newExp); err != nil {
			t.Fatal(err)
		}
		got, _ = db.CloudreportClient(ctx, "00003e3b")
		if got.Enabled || !got.Expires.Equal(newExp) {
			t.Fatalf("after update %+v", got)
		}
		if err := db.CloudreportSetEnabled(ctx, "nope", true); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("enable missing: %v", err)
		}
		if err := db.CloudreportSetExpiry(ctx, "nope", newExp); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("expiry missing: %v", err)
		}
		if err := db.CloudreportAddClient(ctx, store.CloudreportClient{ID: "0000aaaa", Name: "B", Expires: exp}); err != nil {
			t.Fatal(err)
		}
		list, err := db.CloudreportListClients(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 2 || list[0].ID != "00003e3b" || list[1].ID != "0000aaaa" || list[1].Enabled {
			t.Fatalf("list %+v", list)
		}
	})
}

func TestCloudreportErrors(t *testing.T) {
	t.Parallel()
	storetest.ForEachEngine(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		for i, cid := range []string{"a", "b", "a"} {
			e := store.CloudreportError{ClientID: cid, Peer: "127.0.0.1", Text: strings.Repeat("x", i+1), Data: "d"}
			if err := db.CloudreportAddError(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		all, err := db.CloudreportErrors(ctx, "", 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 3 || all[0].Text != "xxx" || all[2].Text != "x" {
			t.Fatalf("all %+v", all)
		}
		a, err := db.CloudreportErrors(ctx, "a", 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(a) != 1 || a[0].ClientID != "a" || a[0].Text != "xxx" || a[0].Data != "d" || a[0].Created.IsZero() {
			t.Fatalf("a %+v", a)
		}
	})
}

// ERRL text comes off the wire: a NUL byte (which PostgreSQL refuses in
// TEXT) or invalid UTF-8 must not lose the report on either engine.
func TestCloudreportErrorsHostileText(t *testing.T) {
	t.Parallel()
	storetest.ForEachEngine(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		e := store.CloudreportError{ClientID: "init:1", Peer: "127.0.0.1", Text: "bad\x00nul \xff end", Data: "A=\x00"}
		if err := db.CloudreportAddError(ctx, e); err != nil {
			t.Fatalf("report with NUL lost: %v", err)
		}
		got, err := db.CloudreportErrors(ctx, "init:1", 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].Text != "bad\ufffdnul \ufffd end" || got[0].Data != "A=\ufffd" {
			t.Fatalf("stored %+v", got)
		}
	})
}

func TestCloudreportPruneErrors(t *testing.T) {
	t.Parallel()
	storetest.ForEachEngine(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if n, err := db.CloudreportPruneErrors(ctx, 3); err != nil || n != 0 {
			t.Fatalf("empty table: %d %v", n, err)
		}
		for i := range 5 {
			if err := db.CloudreportAddError(ctx, store.CloudreportError{ClientID: "a", Peer: "p", Text: strings.Repeat("x", i+1)}); err != nil {
				t.Fatal(err)
			}
		}
		if n, err := db.CloudreportPruneErrors(ctx, 5); err != nil || n != 0 {
			t.Fatalf("at the ceiling: %d %v", n, err)
		}
		if n, err := db.CloudreportPruneErrors(ctx, 2); err != nil || n != 3 {
			t.Fatalf("prune to 2: %d %v", n, err)
		}
		left, err := db.CloudreportErrors(ctx, "", 0)
		if err != nil || len(left) != 2 || left[0].Text != "xxxxx" || left[1].Text != "xxxx" {
			t.Fatalf("left %+v %v", left, err)
		}
	})
}

// Client ids match case-insensitively: they are stored in lower case and
// every lookup and update takes any case.
func TestCloudreportIDsCaseInsensitive(t *testing.T) {
	t.Parallel()
	storetest.ForEachEngine(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		exp := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
		if err := db.CloudreportAddClient(ctx, store.CloudreportClient{ID: "00003E3B", Name: "A", Expires: exp, Enabled: true}); err != nil {
			t.Fatal(err)
		}
		if err := db.CloudreportAddClient(ctx, store.CloudreportClient{ID: "00003e3b", Name: "B", Expires: exp}); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("same id in other case: %v, want ErrConflict", err)
		}
		for _, id := range []string{"00003e3b", "00003E3B", "00003e3B"} {
			c, err := db.CloudreportClient(ctx, id)
			if err != nil || c.ID != "00003e3b" || c.Name != "A" {
				t.Fatalf("lookup %s: %+v %v", id, c, err)
			}
		}
		if err := db.CloudreportSetEnabled(ctx, "00003E3b", false); err != nil {
			t.Fatal(err)
		}
		if err := db.CloudreportSetExpiry(ctx, "00003E3B", exp.AddDate(1, 0, 0)); err != nil {
			t.Fatal(err)
		}
		c, _ := db.CloudreportClient(ctx, "00003e3b")
		if c.Enabled || c.Expires.Year() != 2028 {
			t.Fatalf("after updates %+v", c)
		}
		if err := db.CloudreportAddError(ctx, store.CloudreportError{ClientID: "00003E3B", Peer: "p", Text: "t"}); err != nil {
			t.Fatal(err)
		}
		if got, err := db.CloudreportErrors(ctx, "00003E3b", 0); err != nil || len(got) != 1 || got[0].ClientID != "00003e3b" {
			t.Fatalf("errors %+v %v", got, err)
		}
		if got := store.NormalizeCloudreportID("AbC-._09z"); got != "abc-._09z" {
			t.Fatalf("normalize %q", got)
		}
	})
}

// Open registration: a first-seen id is added once (concurrent first INFOs
// of one client race harmlessly), and seen times only move forward.
func TestCloudreportRegisterSeenAndTouch(t *testing.T) {
	t.Parallel()
	storetest.ForEachEngine(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		t0 := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
		c := store.CloudreportClient{ID: "0000ABCD", Name: "Shop", Expires: t0.AddDate(1, 0, 0), Enabled: true,
			Created: t0, FirstSeen: t0, LastSeen: t0, LastAddr: "10.0.0.1"}
		got, created, err := db.CloudreportRegisterSeen(ctx, c)
		if err != nil || !created || got.ID != "0000abcd" || !got.FirstSeen.Equal(t0) || !got.LastSeen.Equal(t0) || got.LastAddr != "10.0.0.1" {
			t.Fatalf("first: %+v %v %v", got, created, err)
		}
		c.Name, c.LastAddr = "other", "10.0.0.2"
		got, created, err = db.CloudreportRegisterSeen(ctx, c)
		if err != nil || created || got.Name != "Shop" || got.LastAddr != "10.0.0.1" {
			t.Fatalf("second: %+v %v %v", got, created, err)
		}
		// A CLI-registered client has never been seen.
		if err := db.CloudreportAddClient(ctx, store.CloudreportClient{ID: "cli1", Name: "C", Expires: t0}); err != nil {
			t.Fatal(err)
		}
		if cl, _ := db.CloudreportClient(ctx, "cli1"); !cl.FirstSeen.IsZero() || !cl.LastSeen.IsZero() || cl.LastAddr != "" {
			t.Fatalf("cli client %+v", cl)
		}
		t1, t2 := t0.Add(time.Minute), t0.Add(2*time.Minute)
		err = db.CloudreportTouchClients(ctx, []store.CloudreportSeen{
			{ID: "0000AbCd", At: t2, Addr: "10.0.0.3"}, {ID: "cli1", At: t1, Addr: "10.0.0.4"}, {ID: "missing", At: t1, Addr: "x"}})
		if err != nil {
			t.Fatal(err)
		}
		// An older record does not move last_seen back.
		if err := db.CloudreportTouchClients(ctx, []store.CloudreportSeen{{ID: "0000abcd", At: t1, Addr: "10.0.0.9"}}); err != nil {
			t.Fatal(err)
		}
		a, _ := db.CloudreportClient(ctx, "0000abcd")
		if !a.LastSeen.Equal(t2) || !a.FirstSeen.Equal(t0) || a.LastAddr != "10.0.0.3" {
			t.Fatalf("touched %+v", a)
		}
		b, _ := db.CloudreportClient(ctx, "cli1")
		if !b.LastSeen.Equal(t1) || !b.FirstSeen.Equal(t1) || b.LastAddr != "10.0.0.4" {
			t.Fatalf("touched cli client %+v", b)
		}
	})
}

// Migration 0006 on a registry that holds ids differing only in case: the
// oldest registration (then the smallest id) keeps the lower-case id, the
// others move to cloudreport_client_case_conflicts; report ids are lowered.
func TestCloudreportMigrationCaseCollisions(t *testing.T) {
	t.Parallel()
	storetest.ForEachEngine(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		// Back to the schema before 0006, then re-apply it over old rows.
		for _, q := range []string{
			"DELETE FROM schema_migrations WHERE version = 6",
			"DROP TABLE cloudreport_client_case_conflicts",
			"ALTER TABLE cloudreport_clients DROP COLUMN first_seen",
			"ALTER TABLE cloudreport_clients DROP COLUMN last_seen",
			"ALTER TABLE cloudreport_clients DROP COLUMN last_addr",
		} {
			if _, err := db.ExecContext(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		rows := []struct{ id, name, created string }{
			{"AAAA0001", "upper older", "2025-01-01T00:00:00.000000000Z"},
			{"aaaa0001", "lower newer", "2025-06-01T00:00:00.000000000Z"},
			{"BBBB0002", "tie upper", "2025-01-01T00:00:00.000000000Z"},
			{"bbbb0002", "tie lower", "2025-01-01T00:00:00.000000000Z"},
			{"Bbbb0002", "tie mixed", "2025-01-01T00:00:00.000000000Z"},
			{"CcCc0003", "alone", "2025-01-01T00:00:00.000000000Z"},
			{"dddd0004", "plain", "2025-01-01T00:00:00.000000000Z"},
		}
		for _, r := range rows {
			if _, err := db.ExecContext(ctx, "INSERT INTO cloudreport_clients (id, name, expires, enabled, created_at) VALUES ($1, $2, '2027-01-01', 1, $3)",
				r.id, r.name, r.created); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := db.ExecContext(ctx, "INSERT INTO cloudreport_errors (client_id, peer, created_at, text) VALUES ('CcCc0003', 'p', '2025-01-01T00:00:00.000000000Z', 't')"); err != nil {
			t.Fatal(err)
		}
		if err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		list, err := db.CloudreportListClients(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, c := range list {
			got = append(got, c.ID+"="+c.Name)
		}
		// Byte order: "B" < "Bb…" < "b": BBBB0002 wins the tie.
		if want := "aaaa0001=upper older,bbbb0002=tie upper,cccc0003=alone,dddd0004=plain"; strings.Join(got, ",") != want {
			t.Fatalf("clients after migration:\n got %s\nwant %s", strings.Join(got, ","), want)
		}
		qr, err := db.QueryContext(ctx, "SELECT id, kept_id FROM cloudreport_client_case_conflicts ORDER BY id")
		if err != nil {
			t.Fatal(err)
		}
		var moved []string
		for qr.Next() {
			var id, kept string
			if err := qr.Scan(&id, &kept); err != nil {
				t.Fatal(err)
			}
			moved = append(moved, id+">"+kept)
		}
		qr.Close()
		slices.Sort(moved)
		if want := "Bbbb0002>bbbb0002,aaaa0001>aaaa0001,bbbb0002>bbbb0002"; strings.Join(moved, ",") != want {
			t.Fatalf("conflicts %s, want %s", strings.Join(moved, ","), want)
		}
		if e, err := db.CloudreportErrors(ctx, "cccc0003", 0); err != nil || len(e) != 1 {
			t.Fatalf("reports of CcCc0003: %+v %v", e, err)
		}
	})
}

// Every administrative change of the registry bumps its generation, in
// the change's transaction; failed changes and open registration do not.
func TestCloudreportRegistryGeneration(t *testing.T) {
	t.Parallel()
	storetest.ForEachEngine(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		want := func(n int64) {
			t.Helper()
			got, err := db.CloudreportRegistryGeneration(ctx)
			if err != nil || got != n {
				t.Fatalf("generation %d, %v; want %d", got, err, n)
			}
		}
		want(0)
		exp := time.Date(2027, 2, 28, 0, 0, 0, 0, time.UTC)
		c := store.CloudreportClient{ID: "00003e3b", Name: "Firm", Expires: exp, Enabled: true}
		if err := db.CloudreportAddClient(ctx, c); err != nil {
			t.Fatal(err)
		}
		want(1)
		if err := db.CloudreportAddClient(ctx, c); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("duplicate add: %v", err)
		}
		want(1)
		if err := db.CloudreportSetEnabled(ctx, "00003E3B", false); err != nil {
			t.Fatal(err)
		}
		want(2)
		if err := db.CloudreportSetExpiry(ctx, "00003e3b", exp.AddDate(1, 0, 0)); err != nil {
			t.Fatal(err)
		}
		want(3)
		if err := db.CloudreportSetEnabled(ctx, "nope", true); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("enable missing: %v", err)
		}
		want(3)
		if _, created, err := db.CloudreportRegisterSeen(ctx, store.CloudreportClient{ID: "0000new1", Expires: exp, Enabled: true}); err != nil || !created {
			t.Fatalf("register seen: %v %v", created, err)
		}
		want(3)
	})
}
