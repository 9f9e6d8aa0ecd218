package config

import (
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func envOf(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }

func TestDefaultsMatchTheSpec(t *testing.T) {
	b, err := Resolve(nil, envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := Broker{
		Port: 7900, Host: "127.0.0.1", DataDir: "./.claudemesh-broker", PublicURL: "http://127.0.0.1:7900",
		StatusTTL: 60 * time.Second, HookFreshWindow: 30 * time.Second, SessionResume: 90 * time.Second, MaxConnsPerMesh: 100,
		MaxMessageBytes: 65536, MessageTTL: 168 * time.Hour, HTTPRateLimitPerMin: 60, SendRatePerSec: 200,
		MemberSendRatePerSec: 1000, AuthFailuresPerMin: 30,
		LogLevel: "info", LogFormat: "text", ClusterHeartbeat: 5 * time.Second, ClusterNodeTimeout: 20 * time.Second,
	}
	if b != want {
		t.Fatalf("defaults:\n got %+v\nwant %+v", b, want)
	}
}

func TestFlagBeatsEnvBeatsDefault(t *testing.T) {
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	RegisterFlags(fs)
	if err := fs.Parse([]string{"--port", "8100"}); err != nil {
		t.Fatal(err)
	}
	b, err := Resolve(fs, envOf(map[string]string{"BROKER_PORT": "8000", "MESSAGE_TTL": "2h", "BROKER_PUBLIC_URL": "https://mesh.example/"}))
	if err != nil {
		t.Fatal(err)
	}
	if b.Port != 8100 || b.MessageTTL != 2*time.Hour || b.PublicURL != "https://mesh.example" {
		t.Fatalf("got port %d ttl %v url %q", b.Port, b.MessageTTL, b.PublicURL)
	}
}

func TestBadValuesNameTheirSource(t *testing.T) {
	for _, tc := range []struct {
		env      map[string]string
		flags    []string
		want     string
		mustHide string
	}{
		{env: map[string]string{"BROKER_PORT": "seventy"}, want: "BROKER_PORT"},
		{env: map[string]string{"BROKER_PORT": "70000"}, want: "BROKER_PORT"},
		{flags: []string{"--max-connections-per-mesh", "0"}, want: "--max-connections-per-mesh"},
		{env: map[string]string{"MESSAGE_TTL": "7 days"}, want: "MESSAGE_TTL"},
		{env: map[string]string{"STATUS_TTL_SECONDS": "-5"}, want: "STATUS_TTL_SECONDS"},
		{env: map[string]string{"LOG_FORMAT": "xml"}, want: "LOG_FORMAT"},
		{env: map[string]string{"MEMBER_SEND_RATE_PER_SEC": "0"}, want: "MEMBER_SEND_RATE_PER_SEC"},
		{flags: []string{"--auth-failures-per-min", "-1"}, want: "--auth-failures-per-min"},
		{env: map[string]string{"AUTH_FAILURES_PER_MIN": "lots"}, want: "AUTH_FAILURES_PER_MIN"},
		{env: map[string]string{"BROKER_PUBLIC_URL": "not a url"}, want: "BROKER_PUBLIC_URL"},
		{env: map[string]string{"BROKER_PPROF_ADDR": "0.0.0.0:6060"}, want: "BROKER_PPROF_ADDR"},
		{flags: []string{"--pprof-addr", "localhost"}, want: "--pprof-addr"},
		{env: map[string]string{"DATABASE_URL": "mysql://u:secretpw@h/db"}, want: "DATABASE_URL", mustHide: "secretpw"},
		{env: map[string]string{"BROKER_ENCRYPTION_KEY": "abc123"}, want: "BROKER_ENCRYPTION_KEY", mustHide: "abc123"},
	} {
		fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
		RegisterFlags(fs)
		if err := fs.Parse(tc.flags); err != nil {
			t.Fatal(err)
		}
		_, err := Resolve(fs, envOf(tc.env))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v %v: error %v should name %s", tc.env, tc.flags, err, tc.want)
			continue
		}
		if tc.mustHide != "" && strings.Contains(err.Error(), tc.mustHide) {
			t.Errorf("error echoes a credential: %v", err)
		}
	}
}
