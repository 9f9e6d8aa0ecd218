package claudecode

import (
	"slices"
	"strings"
	"testing"
)

func TestParseObjectKeepsOrderAndText(t *testing.T) {
	for _, tc := range []struct {
		in, out, err string
	}{
		{in: `{"b":1,"a":{"y":1e3,"x":"\u003c"}}`, out: `{"b":1,"a":{"y":1e3,"x":"\u003c"}}`},
		{in: ` {"a":1,"b":2,"a":3} `, out: `{"a":3,"b":2}`}, // last value, first position
		{in: `{}`, out: `{}`},
		{in: `{"a":1} {"b":2}`, err: "data after the top-level object"},
		{in: `{"a":1`, err: "unexpected end of file"},
		{in: `"text"`, err: "want a JSON object, found a string"},
		{in: `null`, err: "want a JSON object, found null"},
		{in: `{"a":tru}`, err: "invalid JSON"},
	} {
		o, err := parseObject([]byte(tc.in))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("%s: error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		if got := string(o.raw()); got != tc.out {
			t.Fatalf("%s -> %s, want %s", tc.in, got, tc.out)
		}
	}
}

func TestObjectSetAndDelete(t *testing.T) {
	o, err := parseObject([]byte(`{"a":1,"b":2,"c":3}`))
	if err != nil {
		t.Fatal(err)
	}
	o.set("b", mustMarshal("<two>"))
	o.del("a")
	o.set("d", mustMarshal([]string{"x"}))
	if !slices.Equal(o.keys, []string{"b", "c", "d"}) || string(o.raw()) != `{"b":"<two>","c":3,"d":["x"]}` {
		t.Fatalf("got %v %s", o.keys, o.raw())
	}
	out, err := o.format(true)
	if err != nil || !strings.HasSuffix(string(out), "}\n") || !strings.Contains(string(out), "\n  \"c\": 3,\n") {
		t.Fatalf("format: %v\n%s", err, out)
	}
}
