package cli

import "testing"

func TestTermSafeEscapesControlCharacters(t *testing.T) {
	cases := map[string]string{
		"plain name":             "plain name",
		"two\nlines\tand a tab":  "two\nlines\tand a tab",
		"\r\x1b[2K  role  Admin": `\r\x1b[2K  role  Admin`,
		"clip\x1b]52;c;SGk=\x07": `clip\x1b]52;c;SGk=\a`,
		"c1\u009bcontrol":        `c1\u009bcontrol`,
		"del\x7f and émoji ✓ 日本": `del\x7f and émoji ✓ 日本`,
	}
	for in, want := range cases {
		if got := termSafe(in); got != want {
			t.Errorf("termSafe(%q) = %q, want %q", in, got, want)
		}
	}
}
