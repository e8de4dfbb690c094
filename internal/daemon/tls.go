package daemon

import (
	"context"
	"crypto/tls"
	"fmt"
	"time"

	"gatehouse/internal/config"
	"gatehouse/internal/services"
	"gatehouse/internal/tlsutil"
)

// TLSCertFiles are the certificate and key files the named service's TLS
// listener serves: tls_cert/tls_key when set (relative to the data
// directory), else the self-signed pair under <data>/tls/ (selfSigned).
func TLSCertFiles(cfg *config.Config, name string) (cert, key string, selfSigned bool) {
	sc, _ := services.Common(cfg, name)
	return tlsCertFiles(cfg, sc)
}

func tlsCertFiles(cfg *config.Config, sc *config.Common) (cert, key string, selfSigned bool) {
	if sc != nil && sc.TLSCert != "" {
		return cfg.TLSPath(sc.TLSCert), cfg.TLSPath(sc.TLSKey), false
	}
	cert, key = tlsutil.SelfSignedPaths(cfg.DataDir)
	return cert, key, true
}

// SelfSignedHosts are the names the generated certificate is made for:
// the configured host and every tls_listen host (localhost and 127.0.0.1
// are always added).
func SelfSignedHosts(cfg *config.Config) []string {
	addrs := []string{cfg.Host + ":0"}
	for _, s := range services.All {
		if sc := s.Common(cfg); sc.TLSListen != "" {
			addrs = append(addrs, sc.TLSListen)
		}
	}
	return tlsutil.SANHosts(addrs...)
}

// serviceTLS builds the TLS configuration of a service's tls_listen,
// generating the self-signed certificate on first use. One certificate
// file pair is loaded once, however many services serve it.
func (d *Daemon) serviceTLS(name string, sc config.Common) (*tls.Config, error) {
	certFile, keyFile, self := tlsCertFiles(d.cfg, &sc)
	if self {
		var created bool
		var err error
		if certFile, keyFile, created, err = tlsutil.LoadOrCreateSelfSigned(d.cfg.DataDir, SelfSignedHosts(d.cfg)); err != nil {
			return nil, fmt.Errorf("self-signed TLS certificate: %w", err)
		}
		if created {
			d.Log.Info("generated a self-signed TLS certificate", "cert", certFile, "key", keyFile, "hosts", SelfSignedHosts(d.cfg))
		}
	}
	k := certFile + "\x00" + keyFile
	c, ok := d.tlsCerts[k]
	if !ok {
		var err error
		if c, err = tlsutil.LoadCert(certFile, keyFile); err != nil {
			return nil, err
		}
		if d.tlsCerts == nil {
			d.tlsCerts = map[string]*tlsutil.Cert{}
		}
		d.tlsCerts[k] = c
	}
	cfg, err := tlsutil.ServerConfig(c, d.cfg.TLSPath(sc.TLSClientCA))
	if err != nil {
		return nil, fmt.Errorf("tls_client_ca: %w", err)
	}
	d.Log.Info("TLS certificate", "service", name, "tls_listen", sc.TLSListen, "cert", certFile,
		"self_signed", self, "fingerprint", c.Fingerprint(), "client_certificates", sc.TLSClientCA != "")
	return cfg, nil
}

// Reload re-reads what the running daemon can change without a restart:
// the TLS certificates and keys (a certificate that no longer loads keeps
// the one in use and is logged) and each service's own state
// (svckit.Reloader: cloudreport's registry cache). SIGHUP calls it.
func (d *Daemon) Reload() {
	for _, r := range d.reload {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := r.r.Reload(ctx); err != nil {
			d.Log.Error("service reload failed; it keeps what it had", "service", r.name, "err", err)
		} else {
			d.Log.Info("service reloaded", "service", r.name)
		}
		cancel()
	}
	for _, c := range d.tlsCerts {
		fp, err := c.Reload()
		if err != nil {
			d.Log.Error("TLS certificate reload failed; the certificate in use stays", "cert", c.CertFile, "err", err)
			continue
		}
		d.Log.Info("TLS certificate reloaded", "cert", c.CertFile, "fingerprint", fp)
	}
}
