package cloudreport

import (
	"context"
	"testing"
	"time"

	"gatehouse/internal/store"
	"gatehouse/internal/store/storetest"
)

// benchStore is a SQLite registry holding the bench client 0000abcd.
func benchStore(b *testing.B) *store.DB {
	db := storetest.SQLite(b)
	err := db.CloudreportAddClient(context.Background(), store.CloudreportClient{
		ID: "0000abcd", Name: "bench", Enabled: true, Expires: time.Now().AddDate(1, 0, 0)})
	if err != nil {
		b.Fatal(err)
	}
	return db
}
