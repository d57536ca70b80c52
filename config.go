package main

// The one configuration loader of every command. It turns command-line
// arguments and environment variables (and, for the Temporal connection, the
// Temporal config file) into a command's configuration, as a pure function of
// its inputs, so every setting and every error message is testable. README's
// configuration tables list the same settings (a test keeps the two in step).
//
// Each command declares its settings in config_<command>.go; the packages it
// configures own their settings types (ingress.Config, worker.Config), which
// the command's configuration composes.

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"

	"github.com/wochit-ingest/wochit-ingest/workflows"
)

// setting describes one configuration knob: an environment variable and the
// flag that mirrors it (flags win over the environment).
type setting struct {
	Env     string
	Flag    string
	Default string
	Usage   string
}

// loader registers settings on a FlagSet, seeding each from the environment.
// Parse errors name the variable or flag, so a bad deployment fails at start
// with a message that says what to fix.
type loader struct {
	fs       *flag.FlagSet
	env      map[string]string
	errs     []error
	settings []setting
}

func newLoader(command string, environ []string, output io.Writer) *loader {
	fs := flag.NewFlagSet("wochit-ingest "+command, flag.ContinueOnError)
	fs.SetOutput(output)
	env := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	return &loader{fs: fs, env: env}
}

// load reads the configuration C of a command: register declares its
// settings and returns the checks to run once flags and environment are
// read.
func load[C any](command string, args, environ []string, output io.Writer, register func(*loader, *C) (finish func())) (C, error) {
	var c C
	l := newLoader(command, environ, output)
	finish := register(l, &c)
	if err := l.parse(args); err != nil {
		return c, err
	}
	finish()
	return c, l.err()
}

// declare adapts a register function to the settings listing.
func declare[C any](register func(*loader, *C) (finish func())) func(*loader) {
	return func(l *loader) {
		var c C
		register(l, &c)
	}
}

// value registers v under flag name and environment variable env. The value
// comes from, in increasing priority: def, the environment, the flag. An
// empty variable counts as unset.
func (l *loader) value(v flag.Value, name, env, def, usage string) {
	l.settings = append(l.settings, setting{Env: env, Flag: name, Default: def, Usage: usage})
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

func (l *loader) str(dst *string, name, env, def, usage string) {
	l.value((*stringValue)(dst), name, env, def, usage)
}
func (l *loader) boolean(dst *bool, name, env, def, usage string) {
	l.value((*boolValue)(dst), name, env, def, usage)
}
func (l *loader) duration(dst *time.Duration, name, env, def, usage string) {
	l.value((*durationValue)(dst), name, env, def, usage)
}
func (l *loader) integer(dst *int, name, env, def, usage string) {
	l.value((*intValue)(dst), name, env, def, usage)
}
func (l *loader) bytes(dst *int64, name, env, def, usage string) {
	l.value((*bytesValue)(dst), name, env, def, usage)
}
func (l *loader) list(dst *[]string, name, env, def, usage string) {
	l.value((*listValue)(dst), name, env, def, usage)
}

// parse parses args; flag.ErrHelp is returned as is so the caller can exit 0.
func (l *loader) parse(args []string) error {
	if err := l.fs.Parse(args); err != nil {
		return err
	}
	if len(l.errs) > 0 {
		return errors.Join(l.errs...)
	}
	return nil
}

// flagGiven says whether the command line set the flag (not merely the
// environment or the default).
func (l *loader) flagGiven(name string) bool {
	given := false
	l.fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}

// fail records a validation error about a setting.
func (l *loader) fail(env, format string, args ...any) {
	l.errs = append(l.errs, fmt.Errorf("%s: %s", env, fmt.Sprintf(format, args...)))
}

func (l *loader) err() error { return errors.Join(l.errs...) }

// logConfig is how a command logs.
type logConfig struct {
	Level  slog.Level
	Format string // text or json
}

func (l *loader) logSettings(dst *logConfig) (finish func()) {
	var level string
	l.str(&level, "log-level", "LOG_LEVEL", "info", "log level: debug, info, warn or error")
	l.str(&dst.Format, "log-format", "LOG_FORMAT", "text", "log format: text or json")
	return func() {
		if err := dst.Level.UnmarshalText([]byte(level)); err != nil {
			l.fail("LOG_LEVEL", "want debug, info, warn or error")
		}
		if dst.Format != "text" && dst.Format != "json" {
			l.fail("LOG_FORMAT", "want text or json")
		}
	}
}

// temporalSettings reads the Temporal connection the way every Temporal tool
// does (go.temporal.io/sdk/contrib/envconfig): the profile TEMPORAL_PROFILE
// (or "default") of the Temporal config file TEMPORAL_CONFIG_FILE (default
// <user config dir>/temporalio/temporal.toml), overridden by TEMPORAL_ADDRESS,
// TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_* and the rest of the
// standard variables. Address and namespace, highest first: the flag, the
// variable, the profile, the built-in default (defaultAddr, defaultNamespace).
func (l *loader) temporalSettings(dst *client.Options, defaultAddr, defaultNamespace string) (finish func()) {
	var addr, namespace string
	l.str(&addr, "temporal-address", "TEMPORAL_ADDRESS", defaultAddr, "Temporal frontend host:port (unset: the Temporal profile's, else the default)")
	l.str(&namespace, "temporal-namespace", "TEMPORAL_NAMESPACE", defaultNamespace, "Temporal namespace (unset: the Temporal profile's, else the default)")
	l.settings = append(l.settings,
		setting{Env: "TEMPORAL_API_KEY", Usage: "API key (Temporal Cloud)"},
		setting{Env: "TEMPORAL_TLS_CLIENT_CERT_PATH", Usage: "mTLS client certificate (also TEMPORAL_TLS_CLIENT_KEY_PATH, TEMPORAL_TLS_SERVER_CA_CERT_PATH, TEMPORAL_TLS_SERVER_NAME, TEMPORAL_TLS)"},
		setting{Env: "TEMPORAL_PROFILE", Usage: "profile in the Temporal config file"},
		setting{Env: "TEMPORAL_CONFIG_FILE", Usage: "the Temporal config file (default: <user config dir>/temporalio/temporal.toml)"},
	)
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
		if l.flagGiven("temporal-address") || opts.HostPort == "" {
			opts.HostPort = addr
		}
		if l.flagGiven("temporal-namespace") || opts.Namespace == "" {
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

// callbackSchedule is read by whoever starts workflows (the ingress, and
// dev's ingress): each run keeps the schedule it was started with.
func (l *loader) callbackSchedule(dst *[]time.Duration) {
	l.value((*scheduleValue)(dst), "callback-schedule", "CALLBACK_SCHEDULE", workflows.FormatCallbackSchedule(workflows.DefaultCallbackSchedule),
		"wait before each callback attempt, comma-separated (each stretched by up to 10% of jitter)")
}

// ports parses TCP port numbers.
func (l *loader) ports(env string, items []string) []int {
	var out []int
	for _, p := range items {
		port, err := strconv.Atoi(p)
		if err != nil || port < 1 || port > 65535 {
			l.fail(env, "%q is not a port", p)
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
	n, err := parseBytes(v)
	if err != nil {
		return err
	}
	*b = bytesValue(n)
	return nil
}
func (b *bytesValue) String() string { return strconv.FormatInt(int64(*b), 10) }

// parseBytes parses a byte size with an optional unit suffix.
func parseBytes(v string) (int64, error) {
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

// scheduleValue is a callback schedule such as "0s,5s,5m,30m".
type scheduleValue []time.Duration

func (s *scheduleValue) Set(v string) error {
	schedule, err := workflows.ParseCallbackSchedule(v)
	if err != nil {
		return err
	}
	*s = schedule
	return nil
}
func (s *scheduleValue) String() string { return workflows.FormatCallbackSchedule(*s) }

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

// checkHTTPURL validates an absolute http(s) URL setting.
func checkHTTPURL(v string) error {
	u, err := url.Parse(v)
	if err != nil || !u.IsAbs() || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return errors.New("want an absolute http or https URL")
	}
	return nil
}

// settingsByCommand lists the settings of each command, for documentation
// and the test that keeps README's configuration tables complete.
func settingsByCommand() map[string][]setting {
	out := map[string][]setting{}
	for _, c := range commands {
		if c.settings == nil {
			continue
		}
		l := newLoader(c.name, nil, io.Discard)
		c.settings(l)
		s := l.settings
		sort.Slice(s, func(i, j int) bool { return s[i].Flag < s[j].Flag })
		out[c.name] = s
	}
	return out
}

// tracingSettings documents the OpenTelemetry variables the ingress and the
// worker honour (internal/tracing reads them, as every OTel SDK does).
func (l *loader) tracingSettings() {
	l.settings = append(l.settings,
		setting{Env: "OTEL_EXPORTER_OTLP_ENDPOINT", Usage: "OTLP collector (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT): turns tracing on; unset: off"},
		setting{Env: "OTEL_EXPORTER_OTLP_PROTOCOL", Usage: "http/protobuf (default) or grpc; OTEL_EXPORTER_OTLP_HEADERS, OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER and the other standard variables apply"},
	)
}
