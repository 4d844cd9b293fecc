package main

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// envFlags binds flags to environment variables. Every flag has one; the flag wins when
// both are set. The variable's value becomes the flag's default, so --help shows what is
// in effect. A malformed value is an error at run time, never silently ignored.
//
// It is written by hand, not taken from viper, because it stays the smallest clear way:
// one call names a flag and its variable together, with no key mapping, config-file
// layer or extra dependency, and a bad value is reported rather than read as zero.
type envFlags struct {
	envs map[string]string // variable -> flag
	errs map[*pflag.FlagSet][]error
}

func newEnvFlags() *envFlags {
	return &envFlags{envs: map[string]string{}, errs: map[*pflag.FlagSet][]error{}}
}

// lookup records env and returns its value.
func (e *envFlags) lookup(name, env string) (string, bool) {
	e.envs[env] = name
	return os.LookupEnv(env)
}

func (e *envFlags) fail(fs *pflag.FlagSet, env, v, want string) {
	e.errs[fs] = append(e.errs[fs], fmt.Errorf("$%s=%q: want %s", env, v, want))
}

// String binds a string flag to env.
func (e *envFlags) String(fs *pflag.FlagSet, p *string, name, env, def, usage string) {
	if v, ok := e.lookup(name, env); ok {
		def = v
	}
	fs.StringVar(p, name, def, usage+" [$"+env+"]")
}

// Bool binds a boolean flag to env.
func (e *envFlags) Bool(fs *pflag.FlagSet, p *bool, name, env string, def bool, usage string) {
	if v, ok := e.lookup(name, env); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			e.fail(fs, env, v, "true or false")
		}
		def = b
	}
	fs.BoolVar(p, name, def, usage+" [$"+env+"]")
}

// Int binds a int flag to env.
func (e *envFlags) Int(fs *pflag.FlagSet, p *int, name, env string, def int, usage string) {
	if v, ok := e.lookup(name, env); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			e.fail(fs, env, v, "an integer")
		}
		def = n
	}
	fs.IntVar(p, name, def, usage+" [$"+env+"]")
}

// Int64 binds a int64 flag to env.
func (e *envFlags) Int64(fs *pflag.FlagSet, p *int64, name, env string, def int64, usage string) {
	if v, ok := e.lookup(name, env); ok {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			e.fail(fs, env, v, "an integer")
		}
		def = n
	}
	fs.Int64Var(p, name, def, usage+" [$"+env+"]")
}

// Float binds a float64 flag to env.
func (e *envFlags) Float(fs *pflag.FlagSet, p *float64, name, env string, def float64, usage string) {
	if v, ok := e.lookup(name, env); ok {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			e.fail(fs, env, v, "a number")
		}
		def = f
	}
	fs.Float64Var(p, name, def, usage+" [$"+env+"]")
}

// Duration binds a duration flag to env.
func (e *envFlags) Duration(fs *pflag.FlagSet, p *time.Duration, name, env string, def time.Duration, usage string) {
	if v, ok := e.lookup(name, env); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			e.fail(fs, env, v, "a duration such as 30s or 5m")
		}
		def = d
	}
	fs.DurationVar(p, name, def, usage+" [$"+env+"]")
}

// Err returns the malformed environment values behind the flag sets, as a usage error.
func (e *envFlags) Err(sets ...*pflag.FlagSet) error {
	var errs []error
	for _, fs := range sets {
		errs = append(errs, e.errs[fs]...)
	}
	if len(errs) == 0 {
		return nil
	}
	return &exitError{code: 2, err: errors.Join(errs...)}
}

// Vars lists every environment variable the flags read, sorted.
func (e *envFlags) Vars() []string {
	out := make([]string, 0, len(e.envs))
	for k := range e.envs {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// splitList reads a comma-separated list, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
