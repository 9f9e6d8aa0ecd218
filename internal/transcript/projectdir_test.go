package transcript

import (
	"path/filepath"
	"testing"
)

func TestProjectDir(t *testing.T) {
	home := filepath.FromSlash("/home/dana")
	projects := filepath.Join(home, ".claude", "projects")
	tests := []struct {
		cwd, spec, sanitized string
	}{
		{"/home/dana/src/app", "-home-dana-src-app", "-home-dana-src-app"},
		{"/home/dana/src/app/", "-home-dana-src-app", "-home-dana-src-app"},
		{"/home/anant_gupta/my.proj", "-home-anant_gupta-my.proj", "-home-anant-gupta-my-proj"},
		{"/srv/with space/a-b", "-srv-with space-a-b", "-srv-with-space-a-b"},
		{"/home/é/😀", "-home-é-😀", "-home-----"}, // é is one UTF-16 unit, the emoji two
		{"/", "-", "-"},
	}
	for _, tc := range tests {
		t.Run(tc.cwd, func(t *testing.T) {
			if got, want := ProjectDir(home, tc.cwd), filepath.Join(projects, tc.spec); got != want {
				t.Errorf("ProjectDir = %q, want %q", got, want)
			}
			if got, want := SanitizedProjectDir(home, tc.cwd), filepath.Join(projects, tc.sanitized); got != want {
				t.Errorf("SanitizedProjectDir = %q, want %q", got, want)
			}
		})
	}
	if got := ProjectDir(home, ""); got != "" {
		t.Errorf(`ProjectDir(home, "") = %q, want ""`, got)
	}
	if got := SanitizedProjectDir(home, ""); got != "" {
		t.Errorf(`SanitizedProjectDir(home, "") = %q, want ""`, got)
	}
}
