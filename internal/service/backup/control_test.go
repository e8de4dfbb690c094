package backup

import (
	"bytes"
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"gatehouse/internal/netsvc"
	"gatehouse/internal/netsvc/netsvctest"
	"gatehouse/internal/store"
	"gatehouse/internal/store/storetest"
)

// A 1027 and a 1026 retry are a read: they write last_seen only once it is
// lastSeenGrain old (docs/backup.md, "Store round trips"). Nothing of the
// client is cached: a change another process makes to the store (a row
// removed, a key replaced) decides the very next request.
func TestLastSeenGrain(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	var mu sync.Mutex
	now := t0
	advance := func(d time.Duration) {
		mu.Lock()
		now = now.Add(d)
		mu.Unlock()
	}
	e := newEnv(t, func(c *Config) {
		c.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	})
	c := e.newClient("hank")
	want := func(step string, seen time.Time) {
		t.Helper()
		cl, err := e.db.BackupClient(ctx, c.ID.String())
		if err != nil || !cl.LastSeen.Equal(seen) {
			t.Fatalf("%s: last_seen %v (%v), want %v", step, cl.LastSeen, err, seen)
		}
	}
	reconnect := func() {
		t.Helper()
		back := &Client{Addr: e.addr, Name: "hank", ID: c.ID, Key: c.Key}
		if err := back.Reconnect(ctx); err != nil || !bytes.Equal(back.AESKey, c.AESKey) {
			t.Fatalf("reconnect: %v", err)
		}
	}
	retry := func() {
		t.Helper()
		again := &Client{Addr: e.addr, Name: "hank", ID: c.ID, Key: c.Key}
		if err := again.ExchangeKeys(ctx); err != nil || !bytes.Equal(again.AESKey, c.AESKey) {
			t.Fatalf("1026 retry: %v", err)
		}
	}
	want("after the key exchange", t0)
	advance(lastSeenGrain - time.Second)
	reconnect()
	retry()
	want("within the grain", t0)
	advance(time.Second)
	reconnect()
	t1 := t0.Add(lastSeenGrain)
	want("1027 at the grain", t1)
	advance(lastSeenGrain / 2)
	retry()
	want("1026 retry within the grain", t1)
	advance(lastSeenGrain)
	retry()
	want("1026 retry past the grain", t1.Add(3*lastSeenGrain/2))

	// Another process replaces the key: the old one is refused at once,
	// and a 1027 wraps the new AES key for the new public key.
	other, err := GenerateLegacyKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	thief := &Client{Addr: e.addr, Name: "hank", ID: c.ID, Key: other}
	var re *ResponseError
	if err := thief.ExchangeKeys(ctx); !errors.As(err, &re) || re.Response != RespError {
		t.Fatalf("other key before the change: %v", err)
	}
	rot := e.sibling(func(cf *Config) { cf.AllowKeyReplace = true })
	moved := &Client{Addr: rot.addr, Name: "hank", ID: c.ID, Key: other}
	if err := moved.ExchangeKeys(ctx); err != nil {
		t.Fatalf("replacement on the other daemon: %v", err)
	}
	if err := c.ExchangeKeys(ctx); !errors.As(err, &re) || re.Response != RespError {
		t.Fatalf("the replaced key on the first daemon: %v", err)
	}
	back := &Client{Addr: e.addr, Name: "hank", ID: c.ID, Key: other}
	if err := back.Reconnect(ctx); err != nil || !bytes.Equal(back.AESKey, moved.AESKey) {
		t.Fatalf("1027 after the replacement: %v", err)
	}
	// The row removed by another process: denied at once.
	if _, err := e.db.ExecContext(ctx, `DELETE FROM backup_clients WHERE id = $1`, c.ID.String()); err != nil {
		t.Fatal(err)
	}
	if err := back.Reconnect(ctx); !errors.Is(err, ErrReconnectDenied) {
		t.Fatalf("1027 of a removed client: %v", err)
	}
	if err := (&Client{Addr: e.addr, Name: "hank", ID: c.ID, Key: other}).ExchangeKeys(ctx); !errors.As(err, &re) || re.Response != RespError {
		t.Fatalf("1026 of a removed client: %v", err)
	}
}

// staleStore answers BackupClient with the row as it was before its key
// exchange, as a read that raced another daemon's 1026 sees it; gone
// makes the row vanish after that read.
type staleStore struct {
	Store
	db   *store.DB
	gone bool
}

func (s staleStore) BackupClient(ctx context.Context, id string) (store.BackupClient, error) {
	c, err := s.db.BackupClient(ctx, id)
	c.PublicKey, c.AESKey = nil, nil
	if s.gone {
		if _, derr := s.db.ExecContext(ctx, `DELETE FROM backup_clients WHERE id = $1`, id); derr != nil {
			return c, derr
		}
	}
	return c, err
}

// A first 1026 that read the client without a key but lost the race to
// another one: the same key gets the AES key the winner installed, another
// key is refused, a client removed meanwhile is refused.
func TestKeyExchangeRace(t *testing.T) {
	t.Parallel()
	db := storetest.SQLite(t)
	winner := newEnvOn(t, db, newLocalBlobs(t))
	c := winner.newClient("ivy")
	for _, gone := range []bool{false, true} {
		e := &env{t: t, db: db, blobs: winner.blobs, master: winner.master, reg: prometheus.NewRegistry(),
			store: staleStore{Store: db, db: db, gone: gone}}
		e.serve(testConfig(), netsvctest.DefaultLimits)
		other, err := GenerateLegacyKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		var re *ResponseError
		if !gone {
			same := &Client{Addr: e.addr, Name: "ivy", ID: c.ID, Key: c.Key}
			if err := same.ExchangeKeys(ctx); err != nil || !bytes.Equal(same.AESKey, c.AESKey) {
				t.Fatalf("same key, lost race: %v", err)
			}
			thief := &Client{Addr: e.addr, Name: "ivy", ID: c.ID, Key: other}
			if err := thief.ExchangeKeys(ctx); !errors.As(err, &re) || re.Response != RespError {
				t.Fatalf("other key, lost race: %v", err)
			}
			e.waitRequests("public_key", netsvc.StatusRefused, 1)
			continue
		}
		late := &Client{Addr: e.addr, Name: "ivy", ID: c.ID, Key: c.Key}
		if err := late.ExchangeKeys(ctx); !errors.As(err, &re) || re.Response != RespError {
			t.Fatalf("client removed after the read: %v", err)
		}
	}
}

// Concurrent first 1026s for one client, through two daemons sharing the
// store, with three different keys, then concurrent 1027s while the clock
// crosses the last_seen grain, on SQLite and PostgreSQL. Without
// allow_key_replace exactly one key is installed and every 1026 that sent
// it gets the one AES key the 1027s return; with it, the stored key and AES
// key stay a pair some 1026 was answered with. A read-then-write install
// (two winners on PostgreSQL's read committed) breaks this; the
// deterministic lost-race branches are TestKeyExchangeRace's.
func TestKeyExchangeConcurrent(t *testing.T) {
	t.Parallel()
	var keys [3]*rsa.PrivateKey
	var ders [3][]byte
	for i := range keys {
		k, err := GenerateLegacyKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		keys[i] = k
		if ders[i], err = (&Client{Key: k}).PublicKeyDER(); err != nil {
			t.Fatal(err)
		}
	}
	engines := map[string]func(testing.TB) *store.DB{"sqlite": storetest.SQLite, "postgres": storetest.Postgres}
	for _, engine := range []string{"sqlite", "postgres"} {
		for _, replace := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/allow_key_replace=%v", engine, replace), func(t *testing.T) {
				t.Parallel()
				db := engines[engine](t)
				var mu sync.Mutex
				now := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
				cfg := func(c *Config) {
					c.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
					c.AllowKeyReplace = replace
				}
				a := newEnvOn(t, db, newLocalBlobs(t), cfg)
				addrs := []string{a.addr, a.sibling(cfg).addr}
				client := func(i int, id ClientID, key int) *Client {
					return &Client{Addr: addrs[i%2], Name: "jo", ID: id, Key: keys[key], Timeout: 10 * time.Second, Attempts: 1}
				}
				reg := client(0, ClientID{}, 0)
				if err := reg.Register(ctx); err != nil {
					t.Fatal(err)
				}
				id := reg.ID

				const exchanges = 24
				got := make([]*Client, exchanges)
				errs := make([]error, exchanges)
				var wg sync.WaitGroup
				for i := range exchanges {
					wg.Add(1)
					go func() {
						defer wg.Done()
						got[i] = client(i, id, i%3)
						errs[i] = got[i].ExchangeKeys(ctx)
					}()
				}
				wg.Wait()
				answered := map[int][][]byte{} // key -> the AES keys its 1026s got
				for i, err := range errs {
					var re *ResponseError
					switch {
					case err == nil:
						answered[i%3] = append(answered[i%3], got[i].AESKey)
					case !errors.As(err, &re) || re.Response != RespError:
						t.Fatalf("1026 %d: %v", i, err)
					}
				}
				cl, err := db.BackupClient(ctx, id.String())
				if err != nil {
					t.Fatal(err)
				}
				final := slices.IndexFunc(ders[:], func(d []byte) bool { return bytes.Equal(d, cl.PublicKey) })
				if final < 0 || len(answered[final]) == 0 {
					t.Fatalf("stored key %d, answered %d of its 1026s", final, len(answered[final]))
				}
				if !replace {
					if len(answered) != 1 || len(answered[final]) != exchanges/3 {
						t.Fatalf("without allow_key_replace, 1026s answered per key: %v", counts(answered))
					}
				}

				aes := make([][]byte, 16)
				for i := range aes {
					wg.Add(1)
					go func() {
						defer wg.Done()
						if i == len(aes)/2 {
							mu.Lock()
							now = now.Add(lastSeenGrain)
							mu.Unlock()
						}
						c := client(i, id, final)
						if err := c.Reconnect(ctx); err != nil {
							t.Errorf("1027 %d: %v", i, err)
						}
						aes[i] = c.AESKey
					}()
				}
				wg.Wait()
				for i := range aes {
					if !bytes.Equal(aes[i], aes[0]) {
						t.Fatalf("1027 %d got another AES key than 1027 0", i)
					}
				}
				if !slices.ContainsFunc(answered[final], func(k []byte) bool { return bytes.Equal(k, aes[0]) }) {
					t.Fatal("the 1027s' AES key is none a 1026 with the stored key was answered with")
				}
				if !replace {
					for _, k := range answered[final] {
						if !bytes.Equal(k, aes[0]) {
							t.Fatal("two 1026s with the same key got different AES keys")
						}
					}
				}
			})
		}
	}
}

func counts(m map[int][][]byte) map[int]int {
	out := map[int]int{}
	for k, v := range m {
		out[k] = len(v)
	}
	return out
}
