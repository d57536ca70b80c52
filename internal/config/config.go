// Package config is the one configuration loader of every wochit-ingest
// command. It turns command-line arguments and environment variables (and,
// for the Temporal connection, the Temporal config file) into a command's
// configuration, as a pure function of its inputs, so every setting and
// every error message is testable. Every setting it registers is also kept
// in a catalogue, from which docs/configuration.md is generated.
//
// Each command declares its settings in its own file of package commands;
// the packages it configures own their settings types (ingress.Config,
// worker.Config), which the command's configuration composes.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"
)

// Setting describes one configuration knob: an environment variable and the
// flag that mirrors it (flags win over the environment).
type Setting struct {
	Env     string
	Flag    string
	Default string
	Usage   string
	// Group is the shared group the setting belongs to (GroupTemporal,
	// GroupLogging, GroupTracing), "" for a command's own settings.
	Group string
}

// The groups of settings several commands share; the documentation shows
// each in one table.
const (
	GroupTemporal = "temporal"
	GroupLogging  = "logging"
	GroupTracing  = "tracing"
)

// The Temporal connection's built-in defaults (a profile, the variables or
// the flags change them).
const (
	DefaultTemporalAddr      = "localhost:7233"
	DefaultTemporalNamespace = "default"
)

// Loader registers settings on a FlagSet, seeding each from the environment.
// Parse errors name the variable or flag, so a bad deployment fails at start
// with a message that says what to fix.
type Loader struct {
	fs       *flag.FlagSet
	env      map[string]string
	errs     []error
	settings []Setting
	group    string
}

// New returns the loader of command, reading environ (KEY=value lines) and
// writing usage and parse errors to output.
func New(command string, environ []string, output io.Writer) *Loader {
	fs := flag.NewFlagSet("wochit-ingest "+command, flag.ContinueOnError)
	fs.SetOutput(output)
	env := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	return &Loader{fs: fs, env: env}
}

// Load reads the configuration C of a command: register declares its
// settings and returns the checks to run once flags and environment are
// read.
func Load[C any](command string, args, environ []string, output io.Writer, register func(*Loader, *C) (finish func())) (C, error) {
	var c C
	l := New(command, environ, output)
	finish := register(l, &c)
	if err := l.Parse(args); err != nil {
		return c, err
	}
	finish()
	return c, l.Err()
}

// Declare adapts a register function to the settings catalogue.
func Declare[C any](register func(*Loader, *C) (finish func())) func(*Loader) {
	return func(l *Loader) {
		var c C
		register(l, &c)
	}
}

// Catalogue lists the settings declare registers, in registration order.
func Catalogue(command string, declare func(*Loader)) []Setting {
	l := New(command, nil, io.Discard)
	declare(l)
	return l.settings
}

// Value registers v under flag name and environment variable env. The value
// comes from, in increasing priority: def, the environment, the flag. An
// empty variable counts as unset.
func (l *Loader) Value(v flag.Value, name, env, def, usage string) {
	l.settings = append(l.settings, Setting{Env: env, Flag: name, Default: def, Usage: usage, Group: l.group})
	help := usage
	if env != "" {
		help += " [$" + env + "]"
	}
	l.fs.Var(v, name, help)
	l.fs.Lookup(name).DefValue = def // --help shows the default as written here
	src, val := "default", def
	if e, ok := l.env[env]; ok && env != "" && e != "" {
		src, val = "$"+env, e
	}
	if val == "" {
		return
	}
	if err := v.Set(val); err != nil {
		if src == "default" {
			panic(fmt.Sprintf("config: bad default %q for %s: %v", def, name, err))
		}
		l.errs = append(l.errs, fmt.Errorf("%s=%q: %v", env, val, err))
	}
}

func (l *Loader) Str(dst *string, name, env, def, usage string) {
	l.Value((*stringValue)(dst), name, env, def, usage)
}
func (l *Loader) Bool(dst *bool, name, env, def, usage string) {
	l.Value((*boolValue)(dst), name, env, def, usage)
}
func (l *Loader) Duration(dst *time.Duration, name, env, def, usage string) {
	l.Value((*durationValue)(dst), name, env, def, usage)
}
func (l *Loader) Int(dst *int, name, env, def, usage string) {
	l.Value((*intValue)(dst), name, env, def, usage)
}
func (l *Loader) Bytes(dst *int64, name, env, def, usage string) {
	l.Value((*bytesValue)(dst), name, env, def, usage)
}
func (l *Loader) List(dst *[]string, name, env, def, usage string) {
	l.Value((*listValue)(dst), name, env, def, usage)
}

// Document lists settings the loader does not read itself (a library reads
// them from the environment, or the command reads them with Env), for the
// catalogue.
func (l *Loader) Document(settings ...Setting) {
	for _, s := range settings {
		s.Group = l.group
		l.settings = append(l.settings, s)
	}
}

// InGroup puts the settings register declares in the shared group.
func (l *Loader) InGroup(group string, register func()) {
	outer := l.group
	l.group = group
	defer func() { l.group = outer }()
	register()
}

// Env is the environment variable name's value ("" when unset), for
// settings read from the environment only.
func (l *Loader) Env(name string) string { return l.env[name] }

// FlagSet is the command's flag set, for commands that take arguments
// besides flags.
func (l *Loader) FlagSet() *flag.FlagSet { return l.fs }

// Parse parses args; flag.ErrHelp is returned as is so the caller can exit 0.
func (l *Loader) Parse(args []string) error {
	if err := l.fs.Parse(args); err != nil {
		return err
	}
	if len(l.errs) > 0 {
		return errors.Join(l.errs...)
	}
	return nil
}

// FlagGiven says whether the command line set the flag (not merely the
// environment or the default).
func (l *Loader) FlagGiven(name string) bool {
	given := false
	l.fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}

// Fail records a validation error about a setting.
func (l *Loader) Fail(env, format string, args ...any) {
	l.errs = append(l.errs, fmt.Errorf("%s: %s", env, fmt.Sprintf(format, args...)))
}

// AddError records an error that is not about one setting (a command's
// arguments).
func (l *Loader) AddError(err error) { l.errs = append(l.errs, err) }

// Err is every error recorded, joined; nil if none.
func (l *Loader) Err() error { return errors.Join(l.errs...) }

// Log is how a command logs.
type Log struct {
	Level  slog.Level
	Format string // text or json (Cloud Logging's shape: internal/logging)
	// Project is the Google Cloud project a JSON line's trace field names
	// (projects/<Project>/traces/<id>).
	Project string
}

// LogSettings registers LOG_LEVEL, LOG_FORMAT and GOOGLE_CLOUD_PROJECT.
func (l *Loader) LogSettings(dst *Log) (finish func()) {
	var level string
	l.InGroup(GroupLogging, func() {
		l.Str(&level, "log-level", "LOG_LEVEL", "info", "log level: debug, info, warn or error")
		l.Str(&dst.Format, "log-format", "LOG_FORMAT", "text", "log format: text, or json (Google Cloud Logging's fields: severity, message, and the trace of a traced request)")
		l.Str(&dst.Project, "google-cloud-project", "GOOGLE_CLOUD_PROJECT", "", "Google Cloud project of the traces JSON log lines link to (logging.googleapis.com/trace: projects/<project>/traces/<id>); unset: the bare trace id")
	})
	return func() {
		if err := dst.Level.UnmarshalText([]byte(level)); err != nil {
			l.Fail("LOG_LEVEL", "want debug, info, warn or error")
		}
		if dst.Format != "text" && dst.Format != "json" {
			l.Fail("LOG_FORMAT", "want text or json")
		}
	}
}

// TemporalSettings reads the Temporal connection the way every Temporal tool
// does (go.temporal.io/sdk/contrib/envconfig): the profile TEMPORAL_PROFILE
// (or "default") of the Temporal config file TEMPORAL_CONFIG_FILE (default
// <user config dir>/temporalio/temporal.toml), overridden by TEMPORAL_ADDRESS,
// TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_* and the rest of the
// standard variables. Address and namespace, highest first: the flag, the
// variable, the profile, the built-in default (defaultAddr, defaultNamespace).
func (l *Loader) TemporalSettings(dst *client.Options, defaultAddr, defaultNamespace string) (finish func()) {
	var addr, namespace string
	l.InGroup(GroupTemporal, func() {
		l.Str(&addr, "temporal-address", "TEMPORAL_ADDRESS", defaultAddr, "Temporal frontend host:port (unset: the Temporal profile's, else the default)")
		l.Str(&namespace, "temporal-namespace", "TEMPORAL_NAMESPACE", defaultNamespace, "Temporal namespace (unset: the Temporal profile's, else the default)")
		l.Document(
			Setting{Env: "TEMPORAL_API_KEY", Usage: "API key (Temporal Cloud)"},
			Setting{Env: "TEMPORAL_TLS_CLIENT_CERT_PATH", Usage: "mTLS client certificate (also TEMPORAL_TLS_CLIENT_KEY_PATH, TEMPORAL_TLS_SERVER_CA_CERT_PATH, TEMPORAL_TLS_SERVER_NAME, TEMPORAL_TLS)"},
			Setting{Env: "TEMPORAL_PROFILE", Default: "default", Usage: "profile in the Temporal config file"},
			Setting{Env: "TEMPORAL_CONFIG_FILE", Default: "<user config dir>/temporalio/temporal.toml", Usage: "the Temporal config file (~/.config/temporalio/temporal.toml on Linux)"},
		)
	})
	return func() {
		req := envconfig.LoadClientOptionsRequest{EnvLookup: envLookup(l.env)}
		// The file is named here, from the given environment, so that nothing
		// is read from the process's own (envconfig would ask os.UserConfigDir).
		if req.ConfigFilePath = temporalConfigFile(l.env); req.ConfigFilePath == "" {
			req.DisableFile = true
		}
		opts, err := envconfig.LoadClientOptions(req)
		if err != nil {
			l.errs = append(l.errs, fmt.Errorf("Temporal client configuration: %w", err))
			return
		}
		// envconfig has applied the variables over the profile; addr and
		// namespace hold the flag, else the variable, else the default.
		if l.FlagGiven("temporal-address") || opts.HostPort == "" {
			opts.HostPort = addr
		}
		if l.FlagGiven("temporal-namespace") || opts.Namespace == "" {
			opts.Namespace = namespace
		}
		*dst = opts
	}
}

// temporalConfigFile is the Temporal config file envconfig would read:
// TEMPORAL_CONFIG_FILE, else temporalio/temporal.toml in the user's config
// directory (os.UserConfigDir's rules, applied to env); "" if there is none.
func temporalConfigFile(env map[string]string) string {
	if f := env["TEMPORAL_CONFIG_FILE"]; f != "" {
		return f
	}
	var dir string
	switch runtime.GOOS {
	case "windows":
		dir = env["AppData"]
	case "darwin", "ios":
		if home := env["HOME"]; home != "" {
			dir = filepath.Join(home, "Library", "Application Support")
		}
	default:
		if dir = env["XDG_CONFIG_HOME"]; dir == "" {
			if home := env["HOME"]; home != "" {
				dir = filepath.Join(home, ".config")
			}
		} else if !filepath.IsAbs(dir) {
			dir = ""
		}
	}
	if dir == "" {
		return ""
	}
	return filepath.Join(dir, "temporalio", "temporal.toml")
}

// envLookup adapts the environment map to envconfig. An empty variable
// counts as unset, as for every other setting.
type envLookup map[string]string

func (e envLookup) LookupEnv(key string) (string, bool) {
	v := e[key]
	return v, v != ""
}

func (e envLookup) Environ() []string {
	out := make([]string, 0, len(e))
	for k, v := range e {
		if v != "" {
			out = append(out, k+"="+v)
		}
	}
	return out
}

// TracingSettings documents the OpenTelemetry variables the ingress and the
// worker honour (internal/tracing reads them, as every OTel SDK does).
func (l *Loader) TracingSettings() {
	l.InGroup(GroupTracing, func() {
		l.Document(
			Setting{Env: "OTEL_EXPORTER_OTLP_ENDPOINT", Usage: "OTLP collector, e.g. http://otel-collector:4318 (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT): turns tracing on; unset: off"},
			Setting{Env: "OTEL_EXPORTER_OTLP_PROTOCOL", Default: "http/protobuf", Usage: "http/protobuf or grpc; OTEL_EXPORTER_OTLP_HEADERS, OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER and the other standard variables apply"},
		)
	})
}

// Ports parses TCP port numbers.
func (l *Loader) Ports(env string, items []string) []int {
	var out []int
	for _, p := range items {
		port, err := strconv.Atoi(p)
		if err != nil || port < 1 || port > 65535 {
			l.Fail(env, "%q is not a port", p)
			continue
		}
		out = append(out, port)
	}
	return out
}

type stringValue string

func (s *stringValue) Set(v string) error { *s = stringValue(v); return nil }
func (s *stringValue) String() string     { return string(*s) }

type boolValue bool

func (b *boolValue) Set(v string) error {
	p, err := strconv.ParseBool(v)
	if err != nil {
		return errors.New("want true or false")
	}
	*b = boolValue(p)
	return nil
}
func (b *boolValue) String() string   { return strconv.FormatBool(bool(*b)) }
func (b *boolValue) IsBoolFlag() bool { return true }

type durationValue time.Duration

func (d *durationValue) Set(v string) error {
	p, err := time.ParseDuration(v)
	if err != nil || p < 0 {
		return errors.New("want a duration such as 30s or 5m")
	}
	*d = durationValue(p)
	return nil
}
func (d *durationValue) String() string { return time.Duration(*d).String() }

type intValue int

func (i *intValue) Set(v string) error {
	p, err := strconv.Atoi(v)
	if err != nil || p < 0 {
		return errors.New("want a non-negative integer")
	}
	*i = intValue(p)
	return nil
}
func (i *intValue) String() string { return strconv.Itoa(int(*i)) }

// bytesValue accepts 1048576, 1024KiB, 16MiB, 10GiB (also KB/MB/GB as
// powers of 1000).
type bytesValue int64

func (b *bytesValue) Set(v string) error {
	n, err := ParseBytes(v)
	if err != nil {
		return err
	}
	*b = bytesValue(n)
	return nil
}
func (b *bytesValue) String() string { return strconv.FormatInt(int64(*b), 10) }

// ParseBytes parses a byte size with an optional unit suffix.
func ParseBytes(v string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}
	s := strings.TrimSpace(v)
	mult := int64(1)
	for _, u := range units {
		if rest, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(rest), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, errors.New("want a size such as 16MiB or 10GiB")
	}
	return n * mult, nil
}

// FormatBytes writes a size as a default is written: in the largest binary
// unit that divides it (16MiB, 10GiB, 64KiB, 1000), which ParseBytes reads
// back.
func FormatBytes[N ~int | ~int64](n N) string {
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if int64(n) != 0 && int64(n)%u.mult == 0 {
			return strconv.FormatInt(int64(n)/u.mult, 10) + u.suffix
		}
	}
	return strconv.FormatInt(int64(n), 10)
}

// FormatDuration writes a duration as a default is written: in the largest
// unit that divides it (2m, 30s, 1h; 1m for 60 seconds), else as
// time.Duration prints it.
func FormatDuration(d time.Duration) string {
	for _, u := range []struct {
		suffix string
		unit   time.Duration
	}{{"h", time.Hour}, {"m", time.Minute}, {"s", time.Second}} {
		if d != 0 && d%u.unit == 0 {
			return strconv.FormatInt(int64(d/u.unit), 10) + u.suffix
		}
	}
	return d.String()
}

// listValue is a comma-separated list.
type listValue []string

func (l *listValue) Set(v string) error {
	*l = nil
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			*l = append(*l, item)
		}
	}
	return nil
}
func (l *listValue) String() string { return strings.Join(*l, ",") }

// CheckHTTPURL validates an absolute http(s) URL setting.
func CheckHTTPURL(v string) error {
	u, err := url.Parse(v)
	if err != nil || !u.IsAbs() || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return errors.New("want an absolute http or https URL")
	}
	return nil
}
