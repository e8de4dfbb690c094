package cloudreport

import (
	"context"
	"testing"
	"time"

	"gatehouse/internal/netsvc"
	"gatehouse/internal/netsvc/netsvctest"
	"gatehouse/internal/store"
	"gatehouse/internal/store/storetest"
)

// holdingRegistry holds the registry's calls named in hold until release
// is closed, telling entered when one arrives.
type holdingRegistry struct {
	*store.DB
	entered chan string
	release chan struct{}
}

func (h *holdingRegistry) hold(what string) {
	h.entered <- what
	<-h.release
}

func (h *holdingRegistry) CloudreportClient(ctx context.Context, id string) (store.CloudreportClient, error) {
	h.hold("lookup")
	return h.DB.CloudreportClient(ctx, id)
}

func (h *holdingRegistry) CloudreportAddError(ctx context.Context, e store.CloudreportError) error {
	h.hold("insert")
	return h.DB.CloudreportAddError(ctx, e)
}

// A request in flight when shutdown starts finishes its store work: the
// INFO lookup and the ERRL insert run under the request's context, not
// the one shutdown cancels.
func TestRequestInFlightAtShutdownCompletes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, send, want string
	}{
		{"ERRL insert", "ERRL [Error]in flight\r\n", "200 OK\r\n"},
		{"INFO lookup", workedInfo, "TT=Test\r\nID=00003e3b\r\nEX=2027-11-22\r\nEN=1\r\nCD=2025-03-04\r\nCT=05:06:07"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := storetest.SQLite(t)
			reg := &holdingRegistry{DB: db, entered: make(chan string, 1), release: make(chan struct{})}
			srv, err := New(conf(func(c *Config) { c.Now = func() time.Time { return testNow } }), Env{Registry: reg, Location: time.UTC, Updates: dirUpdatesT(t, t.TempDir())})
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			e := &env{db: db}
			e.register(t, "00003e3b", true)
			ns := netsvc.New(nil, nil)
			if err := ns.Listen(netsvc.Service{Name: "cloudreport", Addr: "127.0.0.1:0", Handler: srv, Limits: netsvctest.DefaultLimits}); err != nil {
				t.Fatal(err)
			}
			ns.Start()
			r := dialRaw(t, ns.Addr("cloudreport").String())
			r.send("INIT ID=2 DT=250411 TM=142807 HST=DLUKAREV ATP=EBOCloudReportApp.exe AVR=6.0.0.0\r\n")
			r.expect("200-KEY=D5F2\r\n200 LEN=1\r\n")
			r.send(tc.send)
			<-reg.entered
			shut := make(chan error, 1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				shut <- ns.Shutdown(ctx)
			}()
			netsvctest.Draining(t, ns, "cloudreport")
			close(reg.release)
			if tc.name == "INFO lookup" {
				if got := formatted(decrypt(t, workedKey, r.data())); got != tc.want {
					t.Fatalf("INFO payload %q, want %q", got, tc.want)
				}
			} else {
				r.expect(tc.want)
			}
			if err := <-shut; err != nil {
				t.Fatalf("shutdown: %v", err)
			}
			if tc.name == "ERRL insert" {
				errs, err := db.CloudreportErrors(context.Background(), "", 10)
				if err != nil || len(errs) != 1 || errs[0].Text != "[Error]in flight" {
					t.Fatalf("stored %+v, %v", errs, err)
				}
			}
		})
	}
}
