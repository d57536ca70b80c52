// Package config turns command-line arguments and environment variables into
// the configuration of each command. It is a pure function of its inputs, so
// every setting and every error message is testable; README's configuration
// table lists the same settings (a test keeps the two in step).
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/wochit-ingest/wochit-ingest/workflows"
)

// Setting describes one configuration knob: an environment variable and the
// flag that mirrors it (flags win over the environment).
type Setting struct {
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
	settings []Setting
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

// getenv returns a variable's value ("" when unset).
func (l *loader) getenv(key string) string { return l.env[key] }

// value registers v under flag name and environment variable env. The value
// comes from, in increasing priority: def, the environment, the flag.
func (l *loader) value(v flag.Value, name, env, def, usage string) {
	l.settings = append(l.settings, Setting{Env: env, Flag: name, Default: def, Usage: usage})
	help := usage
	if env != "" {
		help += " [$" + env + "]"
	}
	l.fs.Var(v, name, help)
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

// fail records a validation error about a setting.
func (l *loader) fail(env, format string, args ...any) {
	l.errs = append(l.errs, fmt.Errorf("%s: %s", env, fmt.Sprintf(format, args...)))
}

func (l *loader) err() error { return errors.Join(l.errs...) }

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

// Settings lists the settings of each command, for documentation and the
// test that keeps README's configuration table complete.
func Settings() map[string][]Setting {
	out := map[string][]Setting{}
	for name, load := range map[string]func(*loader){
		"ingress":   func(l *loader) { var c Ingress; registerIngress(l, &c) },
		"worker":    func(l *loader) { var c Worker; registerWorker(l, &c) },
		"dev":       func(l *loader) { var c Dev; registerDev(l, &c) },
		"redeliver": func(l *loader) { var c Redeliver; registerRedeliver(l, &c) },
		"setup":     func(l *loader) { var c Setup; registerSetup(l, &c) },
	} {
		l := newLoader(name, nil, io.Discard)
		load(l)
		s := l.settings
		sort.Slice(s, func(i, j int) bool { return s[i].Flag < s[j].Flag })
		out[name] = s
	}
	return out
}
