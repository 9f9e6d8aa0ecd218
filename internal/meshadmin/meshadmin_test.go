package meshadmin

import "testing"

func TestSlugify(t *testing.T) {
	for _, tc := range []struct{ name, want string }{
		{"Platform", "platform"},
		{"  My  Team's Mesh!! ", "my-team-s-mesh"},
		{"---", "mesh"},
		{"Ünïcødé only", "n-c-d-only"},
		{"日本", "mesh"},
		{"a-very-long-name-that-keeps-going-and-going-beyond-forty-eight-chars", "a-very-long-name-that-keeps-going-and-going-beyo"},
	} {
		if got := Slugify(tc.name); got != tc.want {
			t.Errorf("Slugify(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}
