package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
)

// sshdPaths are where Debian's openssh-server puts sshd (often not on a
// non-root PATH).
var sshdPaths = []string{"/usr/sbin/sshd", "/usr/local/sbin/sshd"}

// FindSSHD returns the sshd, sftp and ssh-keygen binaries, or an error that
// says what to install.
func FindSSHD() (sshd, sftp, keygen string, err error) {
	for _, p := range sshdPaths {
		if st, e := os.Stat(p); e == nil && !st.IsDir() {
			sshd = p
			break
		}
	}
	if sshd == "" {
		if p, e := exec.LookPath("sshd"); e == nil {
			sshd = p
		}
	}
	if sshd == "" {
		return "", "", "", errors.New("sshd not found (apt-get install openssh-server)")
	}
	if sftp, err = exec.LookPath("sftp"); err != nil {
		return "", "", "", errors.New("sftp not found (apt-get install openssh-client)")
	}
	if keygen, err = exec.LookPath("ssh-keygen"); err != nil {
		return "", "", "", errors.New("ssh-keygen not found (apt-get install openssh-client)")
	}
	return sshd, sftp, keygen, nil
}

// SSHD is an OpenSSH server on a loopback port with a throw-away host key,
// config and authorized key, run by the harness.
type SSHD struct {
	Addr    string
	User    string
	KeyPath string // the client's private key
	cmd     *exec.Cmd
	exited  chan struct{}
	out     *capBuffer
	sftp    string
}

// StartSSHD writes keys and a config into dir and starts sshd -D on a free
// loopback port.
func StartSSHD(ctx context.Context, dir string) (*SSHD, error) {
	sshdBin, sftpBin, keygen, err := FindSSHD()
	if err != nil {
		return nil, err
	}
	u, err := user.Current()
	if err != nil {
		return nil, err
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	hostKey := filepath.Join(dir, "host_ed25519")
	clientKey := filepath.Join(dir, "client_ed25519")
	for _, k := range []string{hostKey, clientKey} {
		if out, err := exec.CommandContext(ctx, keygen, "-q", "-t", "ed25519", "-N", "", "-C", "gatehouse-bench", "-f", k).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("ssh-keygen: %w: %s", err, bytes.TrimSpace(out))
		}
	}
	pub, err := os.ReadFile(clientKey + ".pub")
	if err != nil {
		return nil, err
	}
	authz := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(authz, pub, 0o600); err != nil {
		return nil, err
	}
	if os.Geteuid() == 0 {
		// sshd refuses to start as root without its privilege-separation
		// directory, which the init system normally creates.
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			return nil, fmt.Errorf("sshd privilege-separation directory: %w", err)
		}
	}
	addr, err := FreePort()
	if err != nil {
		return nil, err
	}
	_, port, _ := net.SplitHostPort(addr)
	conf := filepath.Join(dir, "sshd_config")
	cfg := strings.Join([]string{
		"Port " + port,
		"ListenAddress 127.0.0.1",
		"HostKey " + hostKey,
		"PidFile " + filepath.Join(dir, "sshd.pid"),
		"AuthorizedKeysFile " + authz,
		"StrictModes no",
		"PubkeyAuthentication yes",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"PermitRootLogin prohibit-password",
		"UsePAM no",
		"UseDNS no",
		"X11Forwarding no",
		"PrintMotd no",
		"Subsystem sftp internal-sftp",
		"LogLevel ERROR",
	}, "\n") + "\n"
	if err := os.WriteFile(conf, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	s := &SSHD{Addr: addr, User: u.Username, KeyPath: clientKey, exited: make(chan struct{}),
		out: &capBuffer{max: 64 << 10}, sftp: sftpBin}
	s.cmd = exec.Command(sshdBin, "-D", "-e", "-f", conf)
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start sshd: %w", err)
	}
	go func() { s.cmd.Wait(); close(s.exited) }()
	end := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return s, nil
		}
		select {
		case <-s.exited:
			return nil, fmt.Errorf("sshd exited: %s", s.out.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(end) || ctx.Err() != nil {
			s.Stop()
			return nil, fmt.Errorf("sshd did not listen on %s within 10 s: %s", addr, s.out.String())
		}
	}
}

// PID is the listening sshd's process id.
func (s *SSHD) PID() int { return s.cmd.Process.Pid }

// Stop terminates sshd (by its pid) and waits.
func (s *SSHD) Stop() {
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(5 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
	}
}

var cipherLine = regexp.MustCompile(`kex: server->client cipher: (\S+)`)

// SFTP runs one `sftp -b` batch against the server and returns the cipher
// the session negotiated.
func (s *SSHD) SFTP(ctx context.Context, batch, cipher string, timeout time.Duration) (string, error) {
	bf, err := os.CreateTemp("", "gatehouse-sftp-batch-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(bf.Name())
	bf.WriteString(batch)
	bf.Close()
	_, port, _ := net.SplitHostPort(s.Addr)
	args := []string{"-v", "-F", "/dev/null", "-b", bf.Name(), "-P", port, "-i", s.KeyPath,
		"-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=no",
		"-o", "UserKnownHostsFile=/dev/null", "-o", "GSSAPIAuthentication=no"}
	if cipher != "" {
		args = append(args, "-c", cipher)
	}
	args = append(args, s.User+"@127.0.0.1")
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out := &capBuffer{max: 256 << 10}
	cmd := exec.CommandContext(cctx, s.sftp, args...)
	cmd.Stdout, cmd.Stderr = out, out
	err = cmd.Run()
	ciph := ""
	if m := cipherLine.FindStringSubmatch(out.String()); m != nil {
		ciph = m[1]
	}
	if err != nil {
		return ciph, fmt.Errorf("sftp: %w: %s", err, lastLines(out.String(), 5))
	}
	return ciph, nil
}

// waitChildren waits (bounded) until the per-connection sshd processes
// have exited, so their CPU time is in the listener's reaped-children total.
func (s *SSHD) waitChildren() {
	end := time.Now().Add(5 * time.Second)
	for len(Tree(s.PID())) > 1 && time.Now().Before(end) {
		time.Sleep(20 * time.Millisecond)
	}
}

// benchSFTP uploads and downloads the run's transfer file through OpenSSH.
func benchSFTP(ctx context.Context, e *Env) ([]Figure, error) {
	if _, _, _, err := FindSSHD(); err != nil {
		e.Logf("sftp: skipped: %v", err)
		return []Figure{{Section: SectionPeer, Name: "sftp (OpenSSH)", Note: "skipped: " + err.Error()}}, nil
	}
	src, sum, err := e.Source()
	if err != nil {
		return nil, err
	}
	s, err := StartSSHD(ctx, e.Scratch)
	if err != nil {
		return nil, err
	}
	defer s.Stop()
	size := e.Opts.Size
	timeout := TransferTimeout(size)
	up := filepath.Join(e.Scratch, "sftp-uploaded.bin")
	down := filepath.Join(e.Scratch, "sftp-downloaded.bin")

	var figs []Figure
	for _, step := range []struct{ kind, batch, check string }{
		{"upload", fmt.Sprintf("put %q %q\n", src, up), up},
		{"download", fmt.Sprintf("get %q %q\n", up, down), down},
	} {
		e.Logf("sftp %s of %s", step.kind, humanBytes(size))
		before, err := ReadProc(s.PID())
		if err != nil {
			return figs, err
		}
		sampler := SampleTree(s.PID(), 20*time.Millisecond)
		t0 := time.Now()
		ciph, err := s.SFTP(ctx, step.batch, e.Opts.SFTPCiph, timeout)
		el := time.Since(t0)
		peak := sampler.Stop()
		if err != nil {
			return figs, err
		}
		s.waitChildren()
		after, err := ReadProc(s.PID())
		if err != nil {
			return figs, err
		}
		got, err := FileSHA256(step.check)
		if err != nil {
			return figs, err
		}
		name := "sftp put (OpenSSH)"
		if step.kind == "download" {
			name = "sftp get (OpenSSH)"
		}
		f := Figure{Section: SectionPeer, Name: name, Kind: step.kind, Clients: 1, Ops: 1, Bytes: size,
			Seconds: el.Seconds(), MBps: float64(size) / el.Seconds() / 1e6, Limit: BaseTCP,
			PeakRSSMiB: float64(peak) / 1024, Note: "cipher " + ciph + "; time includes ssh handshake"}
		cpu := after.CPU - before.CPU
		f.ServerCPUSec = cpu.Seconds()
		f.CPUPerMiBms = float64(cpu.Milliseconds()) / (float64(size) / (1 << 20))
		if got != sum {
			f.Errors++
			f.Note += "; CONTENT MISMATCH"
		}
		figs = append(figs, f)
	}
	os.Remove(up)
	os.Remove(down)
	return figs, nil
}

// capBuffer keeps the first max bytes written to it (child output must not
// grow without bound).
type capBuffer struct {
	max int
	b   bytes.Buffer
	mu  sync.Mutex
}

func (c *capBuffer) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if room := c.max - c.b.Len(); room > 0 {
		c.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (c *capBuffer) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.b.String()
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	var keep []string
	for _, l := range lines {
		if !strings.HasPrefix(l, "debug") {
			keep = append(keep, l)
		}
	}
	if len(keep) > n {
		keep = keep[len(keep)-n:]
	}
	return strings.Join(keep, " | ")
}
