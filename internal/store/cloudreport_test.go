package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/store"
	"gatehouse/internal/store/storetest"
)

func TestCloudreportRegistry(t *testing.T) {
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
