package protocol

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseGroupsSpec(t *testing.T) {
	cases := []struct {
		spec    string
		want    []Group
		wantErr string
	}{
		{spec: "", want: nil},
		{spec: "backend:lead,frontend", want: []Group{{Name: "backend", Role: "lead"}, {Name: "frontend"}}},
		{spec: " ops , qa/e2e:reviewer ,", want: []Group{{Name: "ops"}, {Name: "qa/e2e", Role: "reviewer"}}},
		{spec: "Backend", wantErr: `group "Backend"`},
		{spec: "backend:", wantErr: "role after ':'"},
		{spec: "a,a:lead", wantErr: "listed twice"},
		{spec: ":lead", wantErr: `group ""`},
		{spec: "ops:a\x1b[2Jb", wantErr: "control characters"},
		{spec: "ops:lead\x00x", wantErr: "control characters"},
		{spec: "ops:a\u0085b", wantErr: "control characters"},
	}
	for _, c := range cases {
		got, err := ParseGroupsSpec(c.spec)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("ParseGroupsSpec(%q) error = %v, want one containing %q", c.spec, err, c.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParseGroupsSpec(%q) = %v, %v; want %v", c.spec, got, err, c.want)
		}
		if again, _ := ParseGroupsSpec(FormatGroupsSpec(got)); !reflect.DeepEqual(again, got) {
			t.Errorf("round trip of %q gave %v", c.spec, again)
		}
	}
}
