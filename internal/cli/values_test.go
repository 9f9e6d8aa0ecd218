package cli

import (
	"testing"
)

func TestStateValueIsJSONWhenItParsesElseAString(t *testing.T) {
	cases := map[string]string{
		`42`:          `42`,
		`true`:        `true`,
		`{"a":[1,2]}`: `{"a":[1,2]}`,
		`"quoted"`:    `"quoted"`,
		`hello world`: `"hello world"`,
		`{not json`:   `"{not json"`,
		``:            `""`,
		`say "hi"`:    `"say \"hi\""`,
		`null`:        `null`, // the broker refuses it, pointing to delete
		`[1, 2`:       `"[1, 2"`,
		`3.14e2`:      `3.14e2`,
		`  7  `:       `7`,
		"line\nbreak": `"line\nbreak"`,
	}
	for in, want := range cases {
		if got := string(stateValue(in)); got != want {
			t.Errorf("stateValue(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestCellTextKeepsOneShortLine(t *testing.T) {
	cases := []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"two\nlines  here", 20, "two lines here"},
		{"abcdefghij", 5, "abcd…"},
		{"héllo wörld", 6, "héllo…"},
	}
	for _, c := range cases {
		if got := cellText(c.in, c.n); got != c.want {
			t.Errorf("cellText(%q, %d) = %q, want %q", c.in, c.n, got, c.want)
		}
	}
}

func TestSkewIsSaidInWords(t *testing.T) {
	ms := func(v int64) *int64 { return &v }
	cases := []struct {
		skew   *int64
		want   string
		skewed bool
	}{
		{nil, "the clock skew is unknown", false},
		{ms(-120000), "the broker's clock is 120.0 s behind this machine's", true},
		{ms(45500), "the broker's clock is 45.5 s ahead of this machine's", true},
		{ms(300), "the broker's clock is 0.3 s ahead of this machine's", false},
		{ms(-30000), "the broker's clock is 30.0 s behind this machine's", false},
	}
	for _, c := range cases {
		p := probe{SkewMs: c.skew}
		if got := p.skewSentence(); got != c.want || p.skewed() != c.skewed {
			t.Errorf("skew %v: %q skewed=%v, want %q skewed=%v", c.skew, got, p.skewed(), c.want, c.skewed)
		}
	}
}
