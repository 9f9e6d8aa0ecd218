package config_test

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/claudemesh/claudemesh/internal/config"
)

// envNames are the broker's settings (cli.md), plus one it does not know.
var envNames = []string{
	"BROKER_PORT", "BROKER_HOST", "DATABASE_URL", "BROKER_DATA_DIR", "BROKER_PUBLIC_URL", "STATUS_TTL_SECONDS",
	"HOOK_FRESH_WINDOW_SECONDS", "SESSION_RESUME_SECONDS", "MAX_CONNECTIONS_PER_MESH", "MAX_MESSAGE_BYTES",
	"MESSAGE_TTL", "HTTP_RATE_LIMIT_PER_MIN", "SEND_RATE_PER_SEC", "BROKER_ADMIN_TOKEN", "BROKER_ENCRYPTION_KEY",
	"SMTP_URL", "BROKER_MAIL_FROM", "LOG_LEVEL", "LOG_FORMAT", "BROKER_NOT_A_SETTING",
}

var secrets = map[string]bool{"DATABASE_URL": true, "BROKER_ADMIN_TOKEN": true, "BROKER_ENCRYPTION_KEY": true, "SMTP_URL": true}

func flagOf(env string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(env, "BROKER_")), "_", "-")
}

// FuzzResolveConfig sets two environment variables and one flag to
// arbitrary values. Resolve either fails with an error that names where
// the bad value came from (and, for credentials, never repeats it), or
// returns settings that all satisfy their documented rules, with the flag
// beating the environment and each value carried into its field.
func FuzzResolveConfig(f *testing.F) {
	f.Fuzz(func(t *testing.T, envSel uint8, envVal string, env2Sel uint8, env2Val string, flagSel uint8, flagVal string) {
		env := map[string]string{envNames[int(envSel)%len(envNames)]: envVal}
		env[envNames[int(env2Sel)%len(envNames)]] = env2Val
		flagEnv := envNames[int(flagSel)%(len(envNames)-1)] // every real setting has a flag
		fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
		config.RegisterFlags(fs)
		if err := fs.Set(flagOf(flagEnv), flagVal); err != nil {
			t.Fatalf("set --%s: %v", flagOf(flagEnv), err)
		}
		getenv := func(k string) string { return env[k] }
		b, err := config.Resolve(fs, getenv)
		b2, err2 := config.Resolve(fs, getenv)
		if b != b2 || (err == nil) != (err2 == nil) {
			t.Fatal("Resolve is not deterministic")
		}
		// What each setting ends up as: the flag, else a non-empty env value.
		effective := map[string]string{}
		for k, v := range env {
			if v != "" {
				effective[k] = v
			}
		}
		effective[flagEnv] = flagVal
		if err != nil {
			checkConfigError(t, err, flagEnv, flagVal, env)
			return
		}
		checkSettings(t, b)
		for name, v := range effective {
			checkCarried(t, b, name, v)
		}
	})
}

func checkConfigError(t *testing.T, err error, flagEnv, flagVal string, env map[string]string) {
	t.Helper()
	msg := err.Error()
	named := strings.Contains(msg, "--"+flagOf(flagEnv))
	for k := range env {
		named = named || strings.Contains(msg, k)
	}
	if !named {
		t.Fatalf("error %q names neither the flag nor a variable", msg)
	}
	values := map[string]string{flagEnv: flagVal}
	for k, v := range env {
		if _, isFlag := values[k]; !isFlag {
			values[k] = v
		}
	}
	for name, v := range values {
		if !secrets[name] || len(v) < 4 || !mentions(msg, name) {
			continue // not a secret, or the error is about another setting
		}
		// A value that is part of the fixed wording is not a leak.
		template := fmt.Sprint(config.Resolve(nil, func(k string) string {
			if k == name {
				return "\x01"
			}
			return ""
		}))
		if strings.Contains(msg, v) && !strings.Contains(template, v) && !strings.Contains(flagOf(name)+name, v) {
			t.Fatalf("the error for %s repeats the secret value: %q", name, msg)
		}
	}
}

// mentions reports whether an error is about the setting name (its variable or its flag).
func mentions(msg, name string) bool {
	flag := "--" + flagOf(name)
	return strings.Contains(msg, name) || strings.Contains(msg, flag+":") || strings.Contains(msg, flag+"=")
}

// checkSettings asserts the documented rules of every resolved setting.
func checkSettings(t *testing.T, b config.Broker) {
	t.Helper()
	positive := map[string]int{"MAX_CONNECTIONS_PER_MESH": b.MaxConnsPerMesh, "MAX_MESSAGE_BYTES": b.MaxMessageBytes,
		"HTTP_RATE_LIMIT_PER_MIN": b.HTTPRateLimitPerMin, "SEND_RATE_PER_SEC": b.SendRatePerSec}
	for name, n := range positive {
		if n <= 0 {
			t.Fatalf("%s resolved to %d", name, n)
		}
	}
	for name, d := range map[string]int64{"STATUS_TTL_SECONDS": int64(b.StatusTTL), "HOOK_FRESH_WINDOW_SECONDS": int64(b.HookFreshWindow),
		"SESSION_RESUME_SECONDS": int64(b.SessionResume), "MESSAGE_TTL": int64(b.MessageTTL)} {
		if d <= 0 {
			t.Fatalf("%s resolved to %d ns", name, d)
		}
	}
	switch {
	case b.Port < 0 || b.Port > 65535:
		t.Fatalf("port %d", b.Port)
	case strings.TrimSpace(b.Host) == "" || strings.TrimSpace(b.DataDir) == "":
		t.Fatalf("empty host %q or data dir %q", b.Host, b.DataDir)
	case b.LogLevel != "debug" && b.LogLevel != "info" && b.LogLevel != "warn" && b.LogLevel != "error":
		t.Fatalf("log level %q", b.LogLevel)
	case b.LogFormat != "text" && b.LogFormat != "json":
		t.Fatalf("log format %q", b.LogFormat)
	case b.DatabaseURL != "" && !strings.HasPrefix(b.DatabaseURL, "postgres://") && !strings.HasPrefix(b.DatabaseURL, "postgresql://"):
		t.Fatalf("database url %q", b.DatabaseURL)
	case b.EncryptionKey != "" && (len(b.EncryptionKey) != 64 || strings.Trim(strings.ToLower(b.EncryptionKey), "0123456789abcdef") != ""):
		t.Fatalf("encryption key %q", b.EncryptionKey)
	case strings.HasSuffix(b.PublicURL, "/"):
		t.Fatalf("public url %q keeps a trailing slash", b.PublicURL)
	}
	for name, v := range map[string]string{"BROKER_PUBLIC_URL": b.PublicURL, "SMTP_URL": b.SMTPURL} {
		if v == "" && name == "SMTP_URL" {
			continue
		}
		if u, err := url.Parse(v); err != nil || u.Scheme == "" || u.Host == "" {
			t.Fatalf("%s resolved to %q, not an absolute URL", name, v)
		}
	}
}

// checkCarried asserts that the value chosen for a setting reached its field.
func checkCarried(t *testing.T, b config.Broker, name, v string) {
	t.Helper()
	strs := map[string]string{"BROKER_HOST": b.Host, "DATABASE_URL": b.DatabaseURL, "BROKER_DATA_DIR": b.DataDir,
		"BROKER_ADMIN_TOKEN": b.AdminToken, "BROKER_ENCRYPTION_KEY": b.EncryptionKey, "SMTP_URL": b.SMTPURL,
		"BROKER_MAIL_FROM": b.MailFrom, "LOG_LEVEL": b.LogLevel, "LOG_FORMAT": b.LogFormat}
	ints := map[string]int{"BROKER_PORT": b.Port, "MAX_CONNECTIONS_PER_MESH": b.MaxConnsPerMesh,
		"MAX_MESSAGE_BYTES": b.MaxMessageBytes, "HTTP_RATE_LIMIT_PER_MIN": b.HTTPRateLimitPerMin, "SEND_RATE_PER_SEC": b.SendRatePerSec}
	secs := map[string]int64{"STATUS_TTL_SECONDS": int64(b.StatusTTL.Seconds()), "HOOK_FRESH_WINDOW_SECONDS": int64(b.HookFreshWindow.Seconds()),
		"SESSION_RESUME_SECONDS": int64(b.SessionResume.Seconds())}
	if got, ok := strs[name]; ok && got != v {
		t.Fatalf("%s=%q resolved to %q", name, v, got)
	}
	if got, ok := ints[name]; ok {
		if n, err := strconv.Atoi(v); err != nil || n != got {
			t.Fatalf("%s=%q resolved to %d", name, v, got)
		}
	}
	if got, ok := secs[name]; ok {
		if n, err := strconv.ParseInt(v, 10, 64); err != nil || n != got {
			t.Fatalf("%s=%q resolved to %d s", name, v, got)
		}
	}
	if name == "BROKER_PUBLIC_URL" && v != "" && b.PublicURL != strings.TrimRight(v, "/") {
		t.Fatalf("public url %q resolved to %q", v, b.PublicURL)
	}
}
