// Package config resolves the broker's settings from flags, environment
// variables and defaults, in that order of precedence (cli.md).
package config

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// Broker holds every setting of `claudemesh-broker serve`.
type Broker struct {
	Port                 int
	Host                 string
	DatabaseURL          string
	DataDir              string
	PublicURL            string
	StatusTTL            time.Duration
	HookFreshWindow      time.Duration
	SessionResume        time.Duration
	MaxConnsPerMesh      int
	MaxMessageBytes      int
	MessageTTL           time.Duration
	HTTPRateLimitPerMin  int
	SendRatePerSec       int
	MemberSendRatePerSec int
	AuthFailuresPerMin   int
	AdminToken           string
	EncryptionKey        string
	SMTPURL              string
	MailFrom             string
	LogLevel             string
	LogFormat            string
	// ClusterHeartbeat is how often a node records it is alive and checks
	// for dead nodes; ClusterNodeTimeout is how old a heartbeat may get
	// before the node counts as dead (PostgreSQL only matters here).
	ClusterHeartbeat   time.Duration
	ClusterNodeTimeout time.Duration
	// PprofAddr, when set, serves net/http/pprof on its own listener (a
	// loopback address: profiles expose internals, never message content).
	PprofAddr string
}

// setting is one env var with its matching flag. The flag name is derived
// from the variable: BROKER_ is dropped, the rest lowercased with dashes.
type setting struct {
	env   string
	def   string
	usage string
	apply func(b *Broker, v string) error
}

func settings() []setting {
	return []setting{
		{"BROKER_PORT", "7900", "TCP port for HTTP and WebSocket", func(b *Broker, v string) error { return parsePort(v, &b.Port) }},
		{"BROKER_HOST", "127.0.0.1", "address to listen on", func(b *Broker, v string) error { b.Host = v; return checkHost(v) }},
		{"DATABASE_URL", "", "postgres://... to use PostgreSQL; empty for embedded SQLite", func(b *Broker, v string) error { b.DatabaseURL = v; return checkDatabaseURL(v) }},
		{"BROKER_DATA_DIR", "./.claudemesh-broker", "directory for the SQLite database and key file", func(b *Broker, v string) error { b.DataDir = v; return nonEmpty(v) }},
		{"BROKER_PUBLIC_URL", "", "public base URL used in invite links (default http://<host>:<port>)", func(b *Broker, v string) error { b.PublicURL = v; return checkURL(v) }},
		{"STATUS_TTL_SECONDS", "60", "seconds before an unrefreshed working status becomes idle", func(b *Broker, v string) error { return parseSeconds(v, &b.StatusTTL) }},
		{"HOOK_FRESH_WINDOW_SECONDS", "30", "seconds a hook signal beats inferred status", func(b *Broker, v string) error { return parseSeconds(v, &b.HookFreshWindow) }},
		{"SESSION_RESUME_SECONDS", "90", "seconds a dropped session may resume before its unacked mail goes back to its member", func(b *Broker, v string) error { return parseSeconds(v, &b.SessionResume) }},
		{"MAX_CONNECTIONS_PER_MESH", "100", "authenticated connections allowed per mesh", func(b *Broker, v string) error { return parsePositive(v, &b.MaxConnsPerMesh) }},
		{"MAX_MESSAGE_BYTES", "65536", "largest accepted WebSocket frame in bytes", func(b *Broker, v string) error { return parsePositive(v, &b.MaxMessageBytes) }},
		{"MESSAGE_TTL", "168h", "how long undelivered messages are kept (Go duration)", func(b *Broker, v string) error { return parseDuration(v, &b.MessageTTL) }},
		{"HTTP_RATE_LIMIT_PER_MIN", "60", "requests per minute per client address on public invite routes", func(b *Broker, v string) error { return parsePositive(v, &b.HTTPRateLimitPerMin) }},
		{"SEND_RATE_PER_SEC", "200", "sends per second per session (burst is twice this)", func(b *Broker, v string) error { return parsePositive(v, &b.SendRatePerSec) }},
		{"MEMBER_SEND_RATE_PER_SEC", "1000", "sends per second per member across all its sessions (burst is twice this)", func(b *Broker, v string) error { return parsePositive(v, &b.MemberSendRatePerSec) }},
		{"AUTH_FAILURES_PER_MIN", "30", "failed authentications (hellos, hooks, admin requests) per minute per client address before it is refused unverified", func(b *Broker, v string) error { return parsePositive(v, &b.AuthFailuresPerMin) }},
		{"BROKER_ADMIN_TOKEN", "", "bearer token allowed to create meshes", func(b *Broker, v string) error { b.AdminToken = v; return nil }},
		{"BROKER_ENCRYPTION_KEY", "", "64 hex chars: data key for secrets at rest", func(b *Broker, v string) error { b.EncryptionKey = v; return checkHexKey(v) }},
		{"SMTP_URL", "", "smtp://user:pass@host:port for email invites", func(b *Broker, v string) error { b.SMTPURL = v; return checkURL(v) }},
		{"BROKER_MAIL_FROM", "", "From address of invite mails", func(b *Broker, v string) error { b.MailFrom = v; return nil }},
		{"LOG_LEVEL", "info", "debug, info, warn or error", func(b *Broker, v string) error { b.LogLevel = v; return oneOf(v, "debug", "info", "warn", "error") }},
		{"LOG_FORMAT", "text", "text or json", func(b *Broker, v string) error { b.LogFormat = v; return oneOf(v, "text", "json") }},
		{"CLUSTER_HEARTBEAT_SECONDS", "5", "seconds between a node's heartbeats and dead-node checks", func(b *Broker, v string) error { return parseSeconds(v, &b.ClusterHeartbeat) }},
		{"BROKER_PPROF_ADDR", "", "host:port for a Go pprof listener (loopback only; empty: off)", func(b *Broker, v string) error { b.PprofAddr = v; return checkLoopbackAddr(v) }},
		{"CLUSTER_NODE_TIMEOUT_SECONDS", "20", "seconds without a heartbeat before a node is declared dead and its sessions taken over", func(b *Broker, v string) error { return parseSeconds(v, &b.ClusterNodeTimeout) }},
	}
}

func flagName(env string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(env, "BROKER_")), "_", "-")
}

// RegisterFlags adds one string flag per setting. Values are parsed by
// Resolve so that a bad flag and a bad variable get the same clear error.
func RegisterFlags(fs *pflag.FlagSet) {
	for _, s := range settings() {
		fs.String(flagName(s.env), "", fmt.Sprintf("%s (env %s, default %q)", s.usage, s.env, s.def))
	}
}

// Resolve builds the config: a changed flag wins, then the environment
// variable, then the default. An invalid value is an error naming its source.
func Resolve(fs *pflag.FlagSet, getenv func(string) string) (Broker, error) {
	var b Broker
	for _, s := range settings() {
		name := flagName(s.env)
		value, source := s.def, "default of "+s.env
		if v := getenv(s.env); v != "" {
			value, source = v, s.env
		}
		if fs != nil {
			if f := fs.Lookup(name); f != nil && f.Changed {
				value, source = f.Value.String(), "--"+name
			}
		}
		if err := s.apply(&b, value); err != nil {
			if isSecret(s.env) { // never echo credentials into logs
				return Broker{}, fmt.Errorf("invalid %s: %w", source, err)
			}
			return Broker{}, fmt.Errorf("invalid %s=%q: %w", source, value, err)
		}
	}
	if b.ClusterNodeTimeout <= b.ClusterHeartbeat {
		return Broker{}, fmt.Errorf("invalid CLUSTER_NODE_TIMEOUT_SECONDS: must be longer than CLUSTER_HEARTBEAT_SECONDS")
	}
	if b.PublicURL == "" {
		// JoinHostPort brackets an IPv6 host, so the default stays a valid URL.
		b.PublicURL = "http://" + net.JoinHostPort(b.Host, strconv.Itoa(b.Port))
	}
	b.PublicURL = strings.TrimRight(b.PublicURL, "/")
	return b, nil
}

func isSecret(env string) bool {
	switch env {
	case "DATABASE_URL", "BROKER_ADMIN_TOKEN", "BROKER_ENCRYPTION_KEY", "SMTP_URL":
		return true
	}
	return false
}

func parsePort(v string, dst *int) error {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("want a port number from 0 to 65535")
	}
	*dst = n
	return nil
}

func parsePositive(v string, dst *int) error {
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return fmt.Errorf("want a positive whole number")
	}
	*dst = n
	return nil
}

func parseSeconds(v string, dst *time.Duration) error {
	var n int
	if err := parsePositive(v, &n); err != nil {
		return fmt.Errorf("want a positive number of seconds")
	}
	*dst = time.Duration(n) * time.Second
	return nil
}

func parseDuration(v string, dst *time.Duration) error {
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return fmt.Errorf("want a positive Go duration such as 168h or 30m")
	}
	*dst = d
	return nil
}

func nonEmpty(v string) error {
	if strings.TrimSpace(v) == "" {
		return fmt.Errorf("must not be empty")
	}
	return nil
}

// checkLoopbackAddr accepts "" or host:port on a loopback IP: profiles
// must not be reachable from the network.
func checkLoopbackAddr(v string) error {
	if v == "" {
		return nil
	}
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		return fmt.Errorf("want host:port, e.g. 127.0.0.1:6060: %v", err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("host %q is not a loopback IP address (127.0.0.1 or ::1)", host)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	return nil
}

// checkHost accepts an IP address or a host name: anything else could not
// be listened on, and would make the default public URL unparseable.
func checkHost(v string) error {
	if net.ParseIP(v) != nil {
		return nil
	}
	if v == "" || len(v) > 253 || strings.Trim(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_") != "" {
		return fmt.Errorf("want an IP address or a host name")
	}
	return nil
}

func oneOf(v string, allowed ...string) error {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return fmt.Errorf("want one of %s", strings.Join(allowed, ", "))
}

func checkURL(v string) error {
	if v == "" {
		return nil
	}
	u, err := url.Parse(v)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return fmt.Errorf("want an absolute URL with scheme and host")
	}
	return nil
}

func checkDatabaseURL(v string) error {
	if v == "" || strings.HasPrefix(v, "postgres://") || strings.HasPrefix(v, "postgresql://") {
		return nil
	}
	return fmt.Errorf("want a postgres:// or postgresql:// URL (leave it empty for embedded SQLite)")
}

func checkHexKey(v string) error {
	if v == "" {
		return nil
	}
	if len(v) != 64 || strings.Trim(strings.ToLower(v), "0123456789abcdef") != "" {
		return fmt.Errorf("want exactly 64 hex characters")
	}
	return nil
}
