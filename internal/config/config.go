// Package config is the daemon's one configuration: defaults, then an
// optional TOML file, then GATEHOUSE_* environment variables, then flags.
// Every key has a working default, so an empty config runs every service on
// 127.0.0.1 at its historical port.
package config

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"gatehouse/internal/service/backup"
	"gatehouse/internal/service/clock"
	"gatehouse/internal/service/cloudreport"
	"gatehouse/internal/service/e2eeftp"
	"gatehouse/internal/service/zmqcmd"
	"gatehouse/internal/svckit"
)

// Common holds what every service has: whether it runs, where, and its
// limits. It is embedded in each service's Config (svckit owns it, so a
// service package need not import this one).
type Common = svckit.Common

// Config is the whole configuration.
type Config struct {
	Host         string        `toml:"host"` // address the default listeners bind
	DataDir      string        `toml:"data"`
	DrainTimeout time.Duration `toml:"drain_timeout"`
	Admin        Admin         `toml:"admin"`
	Log          Log           `toml:"log"`
	Store        Store         `toml:"store"`
	Blob         Blob          `toml:"blob"`
	Storage      Storage       `toml:"storage"`
	Services     Services      `toml:"services"`
}

// Storage watches the disks the store and the blob store live on.
type Storage struct {
	// MinFreeMB: below this much free space on the data or blob folder's
	// file system, a warning is logged (checked every minute) and /readyz
	// reports that part degraded. 0 turns the warning off (a full disk is
	// still reported).
	MinFreeMB int64 `toml:"min_free_mb"`
}

type Admin struct {
	Enabled bool   `toml:"enabled"`
	Listen  string `toml:"listen"` // empty means <host>:9090
	// Pprof serves net/http/pprof under /debug/pprof/ on the admin
	// listener (off by default: profiles reveal internals; keep the admin
	// listener on loopback or a private network when it is on).
	Pprof bool `toml:"pprof"`
}

type Log struct {
	Level      string `toml:"level"`  // debug, info, warn, error
	Format     string `toml:"format"` // text or json
	File       string `toml:"file"`   // optional file sink, relative to the data dir
	MaxSizeMB  int    `toml:"max_size_mb"`
	MaxAgeDays int    `toml:"max_age_days"`
	MaxBackups int    `toml:"max_backups"`
	// Stderr keeps logging to standard error when File is set; false makes
	// the file the only sink (with no file, stderr is always used).
	Stderr bool `toml:"stderr"`
}

type Store struct {
	// DSN: empty means <data>/gatehouse.db (SQLite); postgres://… selects PostgreSQL.
	DSN string `toml:"dsn"`
}

type Blob struct {
	// URL: empty means <data>/blobs on local disk; s3://bucket/prefix selects S3.
	URL string `toml:"url"`
}

// Services has one section per service of the list (internal/services,
// whose test checks the two agree), in the same order; each is the
// service's own Config.
type Services struct {
	Cloudreport cloudreport.Config `toml:"cloudreport"`
	Backup      backup.Config      `toml:"backup"`
	Clock       clock.Config       `toml:"clock"`
	E2EEFTP     e2eeftp.Config     `toml:"e2eeftp"`
	ZMQCmd      zmqcmd.Config      `toml:"zmqcmd"`
}

// Default returns the configuration used when nothing is set.
func Default() *Config {
	return &Config{
		Host:         "127.0.0.1",
		DataDir:      "./gatehouse-data",
		DrainTimeout: 10 * time.Second,
		Admin:        Admin{Enabled: true},
		Storage:      Storage{MinFreeMB: 512},
		Log:          Log{Level: "info", Format: "text", MaxSizeMB: 100, MaxAgeDays: 30, MaxBackups: 10, Stderr: true},
		Services: Services{
			Cloudreport: cloudreport.DefaultConfig(),
			Backup:      backup.DefaultConfig(),
			Clock:       clock.DefaultConfig(),
			E2EEFTP:     e2eeftp.DefaultConfig(),
			ZMQCmd:      zmqcmd.DefaultConfig(),
		},
	}
}

// AdminAddr is the admin HTTP listener's address.
func (c *Config) AdminAddr() string {
	if c.Admin.Listen != "" {
		return c.Admin.Listen
	}
	return net.JoinHostPort(c.Host, "9090")
}

// LoadFile merges the TOML file at path over c. Unknown keys are an error
// that names every one of them by its full path.
func (c *Config) LoadFile(path string) error {
	md, err := toml.DecodeFile(path, c)
	if err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		sort.Strings(keys)
		return fmt.Errorf("config %s: unknown key(s): %s", path, strings.Join(keys, ", "))
	}
	return nil
}

// EnvPrefix starts every environment variable the config reads.
const EnvPrefix = "GATEHOUSE_"

// LoadEnv applies GATEHOUSE_<PATH> variables, where PATH is the key path in
// upper case with "_" for "." (GATEHOUSE_SERVICES_BACKUP_LISTEN). Unknown
// GATEHOUSE_ variables are an error, except GATEHOUSE_TEST_* (tests') and the
// names in ignore.
func (c *Config) LoadEnv(environ []string) error {
	keys := map[string]string{}
	for _, k := range Keys() {
		keys[EnvPrefix+strings.ToUpper(strings.NewReplacer(".", "_").Replace(k))] = k
	}
	var errs []error
	for _, kv := range environ {
		name, val, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, EnvPrefix) || strings.HasPrefix(name, EnvPrefix+"TEST_") || envIgnored[name] {
			continue
		}
		key, ok := keys[name]
		if !ok {
			errs = append(errs, fmt.Errorf("environment: unknown variable %s", name))
			continue
		}
		if err := c.Set(key, val); err != nil {
			errs = append(errs, fmt.Errorf("environment %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// envIgnored are GATEHOUSE_ variables read elsewhere (credentials).
var envIgnored = map[string]bool{
	"GATEHOUSE_S3_ENDPOINT": true, "GATEHOUSE_S3_ACCESS_KEY": true, "GATEHOUSE_S3_SECRET_KEY": true,
	"GATEHOUSE_S3_REGION": true, "GATEHOUSE_S3_INSECURE": true,
	EnvConfig: true,
}

// EnvConfig names the config file when -config is not given.
const EnvConfig = "GATEHOUSE_CONFIG"

// SearchPaths are the files Find tries, in order, after -config and
// GATEHOUSE_CONFIG.
var SearchPaths = []string{"gatehouse.toml", "/etc/gatehouse/gatehouse.toml"}

// Find chooses the config file the same way for every command: the -config
// flag, else $GATEHOUSE_CONFIG, else the first of SearchPaths that exists,
// else none (built-in defaults). A named file that is missing is an error
// when Load reads it; a search path that is missing is skipped.
func Find(flag string) string { return FindEnv(flag, os.Getenv) }

// FindEnv is Find reading the environment through getenv.
func FindEnv(flag string, getenv func(string) string) string {
	if flag != "" {
		return flag
	}
	if p := getenv(EnvConfig); p != "" {
		return p
	}
	for _, p := range SearchPaths {
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p
		}
	}
	return ""
}

// Keys lists every settable key path ("services.backup.listen").
func Keys() []string {
	var out []string
	walk(reflect.TypeOf(Config{}), "", func(path string, _ reflect.Type) { out = append(out, path) })
	sort.Strings(out)
	return out
}

func walk(t reflect.Type, prefix string, fn func(string, reflect.Type)) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			walk(f.Type, prefix, fn)
			continue
		}
		p := tagName(f)
		if p == "-" {
			continue // not a key (a service's Rand, Now)
		}
		if prefix != "" {
			p = prefix + "." + p
		}
		if f.Type.Kind() == reflect.Struct {
			walk(f.Type, p, fn)
			continue
		}
		fn(p, f.Type)
	}
}

// Set assigns one key from its text form, e.g. Set("services.clock.max_conns", "64").
func (c *Config) Set(key, val string) error {
	v := reflect.ValueOf(c).Elem()
	parts := strings.Split(key, ".")
	for i, part := range parts {
		f, ok := field(v, part)
		if !ok {
			return fmt.Errorf("unknown key %s", strings.Join(parts[:i+1], "."))
		}
		v = f
	}
	if v.Kind() == reflect.Struct {
		return fmt.Errorf("key %s is a section, not a value", key)
	}
	if u, ok := v.Addr().Interface().(interface{ UnmarshalText([]byte) error }); ok {
		if err := u.UnmarshalText([]byte(val)); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		return nil
	}
	if v.Type() == reflect.TypeOf(time.Duration(0)) {
		d, err := time.ParseDuration(val)
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		v.SetInt(int64(d))
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(val)
	case reflect.Bool:
		b, err := strconv.ParseBool(val)
		if err != nil {
			return fmt.Errorf("%s: want true or false, got %q", key, val)
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64, reflect.Int32:
		n, err := strconv.ParseInt(val, 10, 64)
		if err != nil {
			return fmt.Errorf("%s: want a whole number, got %q", key, val)
		}
		v.SetInt(n)
	case reflect.Float64:
		n, err := strconv.ParseFloat(val, 64)
		if err != nil {
			return fmt.Errorf("%s: want a number, got %q", key, val)
		}
		v.SetFloat(n)
	case reflect.Slice:
		if v.Type().Elem().Kind() != reflect.String {
			return fmt.Errorf("%s: cannot be set from text", key)
		}
		// TOML array syntax (["ping", "echo"], as in the file) or a plain
		// comma-separated list (ping,echo).
		var items []string
		if t := strings.TrimSpace(val); strings.HasPrefix(t, "[") {
			var doc struct{ V []string }
			if _, err := toml.Decode("V = "+t, &doc); err != nil {
				return fmt.Errorf("%s: want a TOML array of strings such as [\"a\", \"b\"]: %w", key, err)
			}
			items = doc.V
		} else {
			for _, s := range strings.Split(val, ",") {
				if s = strings.TrimSpace(s); s != "" {
					items = append(items, s)
				}
			}
		}
		v.Set(reflect.ValueOf(items))
	default:
		return fmt.Errorf("%s: cannot be set from text", key)
	}
	return nil
}

func field(v reflect.Value, name string) (reflect.Value, bool) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			if fv, ok := field(v.Field(i), name); ok {
				return fv, true
			}
			continue
		}
		if tagName(f) == name {
			return v.Field(i), true
		}
	}
	return reflect.Value{}, false
}

func tagName(f reflect.StructField) string {
	if tag, _, _ := strings.Cut(f.Tag.Get("toml"), ","); tag != "" {
		return tag
	}
	return strings.ToLower(f.Name)
}

// Validate checks what decoding cannot in the daemon-wide keys: levels,
// limits. The services' sections are checked through the services list
// (services.Validate), which calls this.
func (c *Config) Validate() error {
	var errs []error
	if c.Storage.MinFreeMB < 0 {
		errs = append(errs, fmt.Errorf("storage.min_free_mb: must be 0 (no warning) or more"))
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log.level: want debug, info, warn or error, got %q", c.Log.Level))
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		errs = append(errs, fmt.Errorf("log.format: want text or json, got %q", c.Log.Format))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("data: must not be empty"))
	}
	return errors.Join(errs...)
}

// TLSPath resolves a tls_cert/tls_key/tls_client_ca value: absolute as is,
// relative to the data directory otherwise.
func (c *Config) TLSPath(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.DataDir, p)
}

// Load builds the effective config: defaults, the file at path (if not
// empty), then the environment.
func Load(path string) (*Config, error) { return LoadEnviron(path, os.Environ()) }

// LoadEnviron is Load with the environment given as "KEY=value" entries.
func LoadEnviron(path string, environ []string) (*Config, error) {
	c := Default()
	if path != "" {
		if err := c.LoadFile(path); err != nil {
			return nil, err
		}
	}
	if err := c.LoadEnv(environ); err != nil {
		return nil, err
	}
	return c, nil
}

// WriteTOML prints the effective configuration.
func WriteTOML(w io.Writer, c *Config) error {
	out := *c
	out.Store.DSN = RedactDSN(c.Store.DSN)
	return toml.NewEncoder(w).Encode(&out)
}

// RedactDSN hides a password in a URL-shaped DSN (postgres://user:pw@host/db,
// or ?password=…), for printing the effective configuration.
func RedactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		return dsn
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "REDACTED")
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "REDACTED")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// Diff lists the key paths (as in the TOML file, e.g. "log.level",
// "services.clock.max_conns") whose values differ between a and b, sorted.
func Diff(a, b *Config) ([]string, error) {
	fa, err := flatten(a)
	if err != nil {
		return nil, err
	}
	fb, err := flatten(b)
	if err != nil {
		return nil, err
	}
	var out []string
	for k, v := range fa {
		if w, ok := fb[k]; !ok || w != v {
			out = append(out, k)
		}
	}
	for k := range fb {
		if _, ok := fa[k]; !ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out, nil
}

func flatten(c *Config) (map[string]string, error) {
	var buf strings.Builder
	if err := toml.NewEncoder(&buf).Encode(c); err != nil {
		return nil, err
	}
	var m map[string]any
	if _, err := toml.Decode(buf.String(), &m); err != nil {
		return nil, err
	}
	out := map[string]string{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		if sub, ok := v.(map[string]any); ok {
			for k, x := range sub {
				p := k
				if prefix != "" {
					p = prefix + "." + k
				}
				walk(p, x)
			}
			return
		}
		out[prefix] = fmt.Sprint(v)
	}
	walk("", m)
	return out, nil
}
