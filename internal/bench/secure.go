package bench

import (
	"context"
	"crypto/tls"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"gatehouse/internal/service/zmqcmd"
	"gatehouse/internal/tlsutil"
	"gatehouse/internal/zmtp"
)

// Transports a figure can be measured on; "" is the service's plain port.
const (
	TransportTLS   = "tls"   // the service's tls_listen port (docs/<service>.md, "TLS")
	TransportCURVE = "curve" // zmqcmd's curve_listen port (docs/zmqcmd.md, "CURVE port")
)

// secureSuffix is what a secure row's name adds to its plain row's.
func secureSuffix(transport string) string {
	return " (" + strings.ToUpper(transport) + ")"
}

// measureSecure measures the secure rows of the plain figure plainName:
// the same requests over transport through open, each row named after
// its plain one, with the given primitives (nil: none) and note. With
// perConn the protocol opens a connection per request, and the rows get
// the connection-per-request echo limit too (MeasureRRPerConn).
func (e *Env) measureSecure(ctx context.Context, d *Daemon, transport, plainName string, open Opener, perConn bool, prims []string, note string) ([]Figure, error) {
	figs, err := e.measureRR(ctx, d, plainName+secureSuffix(transport), open, perConn)
	for i := range figs {
		figs[i].Transport, figs[i].Plain = transport, plainName
		figs[i].Primitives = prims
		figs[i].Note = joinNote(note, figs[i].Note)
	}
	return figs, err
}

// startService starts service on dir ("" for a fresh one); with tlsPort,
// and unless Opts.SkipSecure, it also opens the service's tls_listen on a
// free loopback port (d.TLSAddr) with the daemon's self-signed certificate,
// and returns a client configuration that trusts exactly that certificate.
func (e *Env) startService(ctx context.Context, service, dir string, tlsPort bool, sets ...string) (*Daemon, *tls.Config, error) {
	if dir == "" {
		var err error
		if dir, err = e.NewDataDir(); err != nil {
			return nil, nil, err
		}
	}
	if e.Opts.SkipSecure || !tlsPort {
		d, err := e.StartDaemonAt(ctx, service, dir, sets...)
		return d, nil, err
	}
	for attempt := 1; ; attempt++ {
		addr, err := FreePort()
		if err != nil {
			return nil, nil, err
		}
		d, err := e.StartDaemonAt(ctx, service, dir, append(slices.Clone(sets), "services."+service+".tls_listen="+addr)...)
		if err != nil {
			if attempt < 5 && strings.Contains(err.Error(), "address already in use") {
				continue
			}
			return nil, nil, err
		}
		d.TLSAddr = addr
		cert, _ := tlsutil.SelfSignedPaths(dir)
		cfg, err := tlsutil.ClientConfig(tlsutil.ClientOptions{CAFile: cert})
		if err != nil {
			d.Stop()
			return nil, nil, fmt.Errorf("%s: the daemon's TLS certificate: %w", service, err)
		}
		return d, cfg, nil
	}
}

// curveKeys puts a zmqcmd CURVE server key pair and one authorized client
// key in dir's zmqcmd folder, as `gatehouse keys zmqcmd` would, and
// returns the server's public key and the client's key pair.
func curveKeys(dir string) (server [32]byte, client zmqcmd.Cert, err error) {
	kd := filepath.Join(dir, "zmqcmd")
	sc, err := zmqcmd.InitServerKeys(kd, false)
	if err != nil {
		return server, client, err
	}
	pub, sec, err := zmtp.GenerateCurveKeyPair()
	if err != nil {
		return server, client, err
	}
	if _, err := zmqcmd.AuthorizeKey(filepath.Join(kd, zmqcmd.AuthorizedFile), pub, "gatehouse bench"); err != nil {
		return server, client, err
	}
	return sc.Public, zmqcmd.Cert{Public: pub, Secret: sec, HasSecret: true}, nil
}

// applyPlain compares every secure row with its plain row at the same
// client count: its rate and its server CPU per request (or per MiB) as
// ratios to the plain row's.
func (r *Report) applyPlain() {
	for i := range r.Figures {
		f := &r.Figures[i]
		if f.Plain == "" || f.Skipped() {
			continue
		}
		for _, p := range r.Figures {
			if p.Name != f.Plain || p.Clients != f.Clients || p.Transport != "" || p.Skipped() {
				continue
			}
			if p.rate() > 0 && f.rate() > 0 {
				f.PlainRatio = f.rate() / p.rate()
			}
			switch {
			case f.CPUPerReqUs > 0 && p.CPUPerReqUs > 0:
				f.PlainCPURatio = f.CPUPerReqUs / p.CPUPerReqUs
			case f.CPUPerMiBms > 0 && p.CPUPerMiBms > 0:
				f.PlainCPURatio = f.CPUPerMiBms / p.CPUPerMiBms
			}
			break
		}
	}
}

// placeSecure moves every secure row right after the last row of its
// plain figure (all client counts), keeping the order within each; a
// secure row whose plain row is missing stays where it was.
func (r *Report) placeSecure() {
	hasPlain := map[string]bool{}
	for _, f := range r.Figures {
		if f.Plain == "" {
			hasPlain[f.Name] = true
		}
	}
	secure := map[string][]Figure{}
	var rest []Figure
	for _, f := range r.Figures {
		if f.Plain != "" && hasPlain[f.Plain] {
			secure[f.Plain] = append(secure[f.Plain], f)
			continue
		}
		rest = append(rest, f)
	}
	out := make([]Figure, 0, len(r.Figures))
	for i, f := range rest {
		out = append(out, f)
		if f.Plain == "" && (i+1 == len(rest) || rest[i+1].Name != f.Name) {
			out = append(out, secure[f.Name]...)
			delete(secure, f.Name)
		}
	}
	r.Figures = out
}
