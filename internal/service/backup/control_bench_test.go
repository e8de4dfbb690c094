package backup

import (
	"context"
	"net"
	"testing"
	"time"

	"gatehouse/internal/cputime"
	"gatehouse/internal/store/storetest"
)

// The control path (1025 register, 1026 key exchange, 1027 reconnect)
// against a real store (sqlite; postgres when storetest finds the test
// server), one loopback connection per request as the original client
// makes them, the client's side reduced to raw bytes (no RSA decrypt), so
// the figure is the server's request plus the connection. Each reports
// x-oaep: its time per request over one RSA-1024 (e = 17) OAEP encryption
// of an AES key measured in the same run, the public-key work the
// 1026/1027 answer needs (BenchmarkRSAOAEPEncrypt is the same work as a
// benchmark of its own), and cpu-ns/op, the process's CPU per request
// (server and the raw client together; steadier than ns/op on a shared
// machine), with cpu-x-oaep its ratio to the same OAEP figure.
// docs/performance.md, "backup control path":
//
//	go test -run X -bench 'Control|RSAOAEP' -count 3 ./internal/service/backup

// oaepNs is the time of one WrapKey with the test key, measured now.
func oaepNs(b *testing.B) float64 {
	pub := &sharedKey(b).PublicKey
	key := make([]byte, AESKeySize)
	const n = 2000
	start := time.Now()
	for range n {
		if _, err := WrapKey(nil, pub, key); err != nil {
			b.Fatal(err)
		}
	}
	return float64(time.Since(start).Nanoseconds()) / n
}

// exchange sends msg on a new connection and returns the answer's code.
func exchange(b *testing.B, addr string, msg []byte) uint16 {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write(msg); err != nil {
		b.Fatal(err)
	}
	h, _, err := readResponse(conn)
	if err != nil {
		b.Fatal(err)
	}
	return h.Code
}

// envMaker makes a server on a fresh store of one engine.
type envMaker func(b *testing.B, mods ...func(*Config)) *env

// onEachStore runs fn as a sub-benchmark per store engine.
func onEachStore(b *testing.B, fn func(b *testing.B, mk envMaker)) {
	b.Run("sqlite", func(b *testing.B) {
		fn(b, func(b *testing.B, mods ...func(*Config)) *env { return newEnv(b, mods...) })
	})
	b.Run("postgres", func(b *testing.B) {
		if !storetest.PGAvailable(b) {
			return
		}
		fn(b, func(b *testing.B, mods ...func(*Config)) *env {
			return newEnvOn(b, storetest.Postgres(b), newLocalBlobs(b), mods...)
		})
	})
}

func BenchmarkControlRegister(b *testing.B) {
	onEachStore(b, func(b *testing.B, mk envMaker) {
		e := mk(b, func(c *Config) { c.RegisterRate = 0 })
		msg := request(ClientID{}, CodeRegister, nameField(b, "bench"))
		benchExchanges(b, e.addr, func(int) []byte { return msg }, RespRegistered)
	})
}

func BenchmarkControlKeyExchange(b *testing.B) {
	der, _ := (&Client{Key: sharedKey(b)}).PublicKeyDER()
	payload := append(nameField(b, "bench"), der...)
	// first: each request installs a new client's key (the path every
	// client takes once); retry: the same key again (a lost answer).
	onEachStore(b, func(b *testing.B, mk envMaker) {
		keyExchange(b, mk, payload)
	})
}

func keyExchange(b *testing.B, mk envMaker, payload []byte) {
	b.Run("first", func(b *testing.B) {
		e := mk(b)
		msgs := make([][]byte, b.N)
		for i := range msgs {
			var id ClientID
			id[0], id[1], id[2], id[3] = byte(i), byte(i>>8), byte(i>>16), byte(i>>24)
			if err := e.db.BackupRegister(context.Background(), id.String(), "bench", time.Now()); err != nil {
				b.Fatal(err)
			}
			msgs[i] = request(id, CodePublicKey, payload)
		}
		benchExchanges(b, e.addr, func(i int) []byte { return msgs[i] }, RespAESKey)
	})
	b.Run("retry", func(b *testing.B) {
		e := mk(b)
		c := e.newClient("bench")
		msg := request(c.ID, CodePublicKey, payload)
		benchExchanges(b, e.addr, func(int) []byte { return msg }, RespAESKey)
	})
}

func BenchmarkControlReconnect(b *testing.B) {
	onEachStore(b, func(b *testing.B, mk envMaker) {
		e := mk(b)
		c := e.newClient("bench")
		msg := request(c.ID, CodeReconnect, nameField(b, "bench"))
		benchExchanges(b, e.addr, func(int) []byte { return msg }, RespReconnected)
	})
}

// BenchmarkRSAOAEPEncrypt is the public-key work of one 1026/1027 answer:
// RSA-1024 (e = 17) OAEP-SHA1 of a 16-byte AES key.
func BenchmarkRSAOAEPEncrypt(b *testing.B) {
	pub := &sharedKey(b).PublicKey
	key := make([]byte, AESKeySize)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := WrapKey(nil, pub, key); err != nil {
			b.Fatal(err)
		}
	}
}

// benchExchanges times b.N requests msg(i), each on its own connection and
// answered want, and reports the ratio to the OAEP work measured first.
func benchExchanges(b *testing.B, addr string, msg func(i int) []byte, want uint16) {
	oaep := oaepNs(b)
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cputime.Process()
	for i := range b.N {
		if code := exchange(b, addr, msg(i)); code != want {
			b.Fatal(code)
		}
	}
	b.StopTimer()
	cpuNs := float64(cputime.Process()-cpu) / float64(b.N)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/oaep, "x-oaep")
	b.ReportMetric(cpuNs, "cpu-ns/op")
	b.ReportMetric(cpuNs/oaep, "cpu-x-oaep")
}
