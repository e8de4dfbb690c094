package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"gatehouse/internal/services"
	"io"
	"os"

	"gatehouse/internal/config"
	"gatehouse/internal/daemon"
	"gatehouse/internal/tlsutil"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func keysTLSCmd(e *env) *cobra.Command {
	g := newGroup("tls", "TLS certificates of the tls_listen ports: show | init",
		short(tlsKeysCmd(e, "show"), "per service: TLS port, certificate file and its SHA256 fingerprint (what clients pin with --tls-pin)"),
		short(tlsKeysCmd(e, "init"), "generate the self-signed certificate now (the daemon would on its first start)"))
	g.Long = `The TCP services (cloudreport, backup, clock, e2eeftp) can serve their
protocol inside TLS 1.3 on a second port, services.<name>.tls_listen. They
use tls_cert/tls_key when set, else a self-signed certificate the daemon
generates into <data>/tls/ on first start. Run 'keys tls init' as the user
the daemon runs as, e.g. to hand out the pin before starting it.`
	return g
}

func tlsKeysCmd(e *env, sub string) *cobra.Command {
	out := e.stdout
	synopsis := "gatehouse keys tls " + sub + " [--config FILE] [--data DIR] [--set key=value …]"
	if sub == "init" {
		synopsis += " [--host ADDR]"
	}
	cmd := newCmd(sub, "", synopsis,
		"gatehouse keys tls show --config /etc/gatehouse/gatehouse.toml",
		"gatehouse keys tls init --data /var/lib/gatehouse")
	cmd.Args = cobra.NoArgs
	d := newDataFlags(e, cmd.Flags())
	if sub == "init" {
		// The self-signed certificate names the host the daemon binds.
		h := cmd.Flags().Lookup("host")
		h.Hidden = false
		h.Usage = "the address the daemon binds (serve --host), named in the certificate (default 127.0.0.1)"
	}
	cmd.RunE = func(*cobra.Command, []string) error {
		// init creates what it is asked to, the data directory included.
		cfg, err := d.configMay(sub == "init" || *d.init)
		if err != nil {
			return err
		}
		if sub == "init" {
			cert, _, created, err := tlsutil.LoadOrCreateSelfSigned(cfg.DataDir, daemon.SelfSignedHosts(cfg))
			if err != nil {
				return err
			}
			fp, err := tlsutil.CertFileFingerprint(cert)
			if err != nil {
				return err
			}
			if created {
				fmt.Fprintf(out, "generated %s\n", cert)
			} else {
				fmt.Fprintf(out, "already present: %s\n", cert)
			}
			fmt.Fprintln(out, fp)
			return nil
		}
		return showTLS(cfg, out)
	}
	return cmd
}

// showTLS prints one line per TCP service: name, TLS address (or "off"),
// certificate file, fingerprint (or why there is none).
func showTLS(cfg *config.Config, out io.Writer) error {
	any := false
	for _, s := range services.All {
		if s.NoTLS != "" {
			continue
		}
		name, sc := s.Name, s.Common(cfg)
		listen := sc.TLSListen
		if listen == "" || !sc.Enabled {
			listen = "off"
		} else {
			any = true
		}
		cert, key, self := daemon.TLSCertFiles(cfg, name)
		fp, err := certFingerprint(cert, key, self)
		if err != nil {
			fp = err.Error()
		}
		mtls := ""
		if sc.TLSClientCA != "" {
			mtls = "  client certificates: " + cfg.TLSPath(sc.TLSClientCA)
		}
		fmt.Fprintf(out, "%-12s %-22s %s  %s%s\n", name, listen, fp, cert, mtls)
	}
	if !any {
		fmt.Fprintln(out, "(no service has tls_listen set: every TLS port is off)")
	}
	return nil
}

func certFingerprint(cert, key string, self bool) (string, error) {
	if _, err := os.Stat(cert); self && errors.Is(err, os.ErrNotExist) {
		return "", errors.New("(not generated yet: 'gatehouse keys tls init' or the first daemon start)")
	}
	if _, err := tls.LoadX509KeyPair(cert, key); err != nil {
		return "", fmt.Errorf("(unusable: %v)", err)
	}
	return tlsutil.CertFileFingerprint(cert)
}

// tlsClientFlags registers the Go clients' TLS flags on fs and returns the
// function that builds the client configuration (nil without -tls).
func tlsClientFlags(fs *pflag.FlagSet) func() (*tls.Config, error) {
	on := fs.Bool("tls", false, "speak the protocol inside TLS (the service's tls_listen port)")
	ca := fs.String("tls-ca", "", "with --tls: PEM file of the CA (or the server's self-signed certificate) to verify the server with")
	pin := fs.String("tls-pin", "", "with --tls: the server certificate's fingerprint SHA256:… ('gatehouse keys tls show'); replaces CA and name checks")
	cert := fs.String("tls-cert", "", "with --tls: client certificate (PEM) for mutual TLS")
	key := fs.String("tls-key", "", "with --tls: key of --tls-cert (PEM)")
	name := fs.String("tls-server-name", "", "with --tls-ca: the name to verify in the server certificate (default: the host connected to)")
	return func() (*tls.Config, error) {
		if !*on {
			if *ca != "" || *pin != "" || *cert != "" || *key != "" || *name != "" {
				return nil, errors.New("--tls-ca, --tls-pin, --tls-cert, --tls-key and --tls-server-name need --tls")
			}
			return nil, nil
		}
		return tlsutil.ClientConfig(tlsutil.ClientOptions{CAFile: *ca, Pin: *pin, CertFile: *cert, KeyFile: *key, ServerName: *name})
	}
}
