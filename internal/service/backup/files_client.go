package backup

import (
	"bufio"
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"gatehouse/internal/fsutil"
)

// The original C++ client's files (docs/backup.md, "The original client's
// files"), so the Go client can stand in for it in the same folder.

// TransferInfo is transfer.info: server, client name, files to back up.
type TransferInfo struct {
	Addr  string
	Name  string
	Files []string
}

// MaxClientName is where the C++ client cuts names.
const MaxClientName = 100

// ReadTransferInfo parses transfer.info: line 1 IP:port, line 2 the name
// (cut to 100 characters; empty means "DefaultName"), then one path per
// line. Blank path lines are skipped.
func ReadTransferInfo(path string) (TransferInfo, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return TransferInfo{}, err
	}
	lines := strings.Split(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n")
	if len(lines) < 2 {
		return TransferInfo{}, fmt.Errorf("backup: %s: want the server on line 1 and the name on line 2", path)
	}
	ti := TransferInfo{Addr: strings.TrimSpace(lines[0]), Name: strings.TrimSpace(lines[1])}
	host, port, err := net.SplitHostPort(ti.Addr)
	if err != nil || net.ParseIP(host) == nil {
		return TransferInfo{}, fmt.Errorf("backup: %s: line 1 %q is not IP:port", path, ti.Addr)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return TransferInfo{}, fmt.Errorf("backup: %s: bad port %q", path, port)
	}
	if ti.Name == "" {
		ti.Name = "DefaultName"
	}
	if len(ti.Name) > MaxClientName {
		ti.Name = ti.Name[:MaxClientName]
	}
	for _, l := range lines[2:] {
		if l = strings.TrimSpace(l); l != "" {
			ti.Files = append(ti.Files, l)
		}
	}
	return ti, nil
}

// WriteTransferInfo writes ti in the same layout.
func WriteTransferInfo(path string, ti TransferInfo) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s\n%s\n", ti.Addr, ti.Name)
	for _, f := range ti.Files {
		fmt.Fprintln(&b, f)
	}
	return fsutil.WriteFileAtomic(path, b.Bytes(), 0o644)
}

// MeInfo is me.info: the client's name, its id, and its public key.
type MeInfo struct {
	Name      string
	ID        ClientID
	PublicKey []byte // SPKI DER
}

// base64Lines encodes like Crypto++'s Base64Encoder: 72-character lines.
func base64Lines(b []byte) string {
	s := base64.StdEncoding.EncodeToString(b)
	var out strings.Builder
	for len(s) > 72 {
		out.WriteString(s[:72])
		out.WriteByte('\n')
		s = s[72:]
	}
	out.WriteString(s)
	out.WriteByte('\n')
	return out.String()
}

func unbase64Lines(lines []string) ([]byte, error) {
	return base64.StdEncoding.DecodeString(strings.Join(strings.Fields(strings.Join(lines, "\n")), ""))
}

// WriteMeInfo writes me.info: name, dashed lowercase id, base64 public key.
func WriteMeInfo(path string, m MeInfo) error {
	return fsutil.WriteFileAtomic(path, []byte(m.Name+"\n"+m.ID.String()+"\n"+base64Lines(m.PublicKey)), 0o644)
}

// ReadMeInfo reads me.info.
func ReadMeInfo(path string) (MeInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return MeInfo{}, err
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() && len(lines) < 64 {
		lines = append(lines, strings.TrimRight(sc.Text(), "\r"))
	}
	if err := sc.Err(); err != nil {
		return MeInfo{}, err
	}
	if len(lines) < 3 {
		return MeInfo{}, fmt.Errorf("backup: %s: want name, id and key lines", path)
	}
	id, err := ParseClientID(strings.TrimSpace(lines[1]))
	if err != nil {
		return MeInfo{}, fmt.Errorf("backup: %s: %w", path, err)
	}
	pub, err := unbase64Lines(lines[2:])
	if err != nil {
		return MeInfo{}, fmt.Errorf("backup: %s: public key: %w", path, err)
	}
	return MeInfo{Name: lines[0], ID: id, PublicKey: pub}, nil
}

// WritePrivateKey writes priv.key: base64 (72-character lines) of the
// PKCS#8 DER key, unencrypted like the original's, but mode 0600.
func WritePrivateKey(path string, k *rsa.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(path, []byte(base64Lines(der)), 0o600)
}

// ReadPrivateKey reads priv.key (PKCS#8, or PKCS#1 for leniency).
func ReadPrivateKey(path string) (*rsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) > 64<<10 {
		return nil, fmt.Errorf("backup: %s: too large for a key", path)
	}
	der, err := unbase64Lines(strings.Split(string(b), "\n"))
	if err != nil {
		return nil, fmt.Errorf("backup: %s: %w", path, err)
	}
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("backup: %s: not an RSA key", path)
		}
		return rk, nil
	}
	rk, err := x509.ParsePKCS1PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("backup: %s: %w", path, err)
	}
	return rk, nil
}
