package epochd

import (
	"math"
	"math/rand"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

func TestAppendFloatAsSerdeJSON(t *testing.T) {
	cases := []struct {
		v    float64
		want string
	}{
		{0.0075, "0.0075"}, {1.0, "1.0"}, {1e-7, "1e-7"}, {1.5e300, "1.5e300"},
		{0.0, "0.0"}, {math.Copysign(0, -1), "-0.0"}, {1e16, "1e16"}, {1234e7, "12340000000.0"},
		{0.1, "0.1"}, {1.0 / 3.0, "0.3333333333333333"}, {123.456, "123.456"}, {1e-5, "0.00001"},
		{1e-6, "1e-6"}, {0.0001, "0.0001"}, {5e-324, "5e-324"},
		{1.7976931348623157e308, "1.7976931348623157e308"}, {9007199254740993.0, "9007199254740992.0"},
		{1e15, "1000000000000000.0"}, {100.0, "100.0"}, {-2.5, "-2.5"}, {1.25e17, "1.25e17"},
		{math.Inf(1), "null"}, {math.NaN(), "null"},
	}
	for _, c := range cases {
		if got := string(AppendFloat(nil, c.v)); got != c.want {
			t.Errorf("AppendFloat(%v) = %s, want %s", c.v, got, c.want)
		}
	}
	r := rand.New(rand.NewSource(1))
	for range 200000 {
		v := math.Float64frombits(r.Uint64())
		if math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		s := string(AppendFloat(nil, v))
		back, err := strconv.ParseFloat(s, 64)
		if err != nil || back != v {
			t.Fatalf("%v: %s parses to %v (%v)", v, s, back, err)
		}
	}
}

func TestAppendQuoteAsSerdeJSON(t *testing.T) {
	cases := map[string]string{
		"":                     `""`,
		"app":                  `"app"`,
		"a\"b\\c":              `"a\"b\\c"`,
		"\b\f\n\r\t":           `"\b\f\n\r\t"`,
		"\x00\x07\x0b\x1f":     `"\u0000\u0007\u000b\u001f"`,
		"\x7f é ✓":             "\"\x7f é ✓\"",
		"a\xffb":               "\"a\uFFFDb\"",
		"\xe2\x82A":            "\"\uFFFDA\"",
		"\xed\xa0\x80":         "\"\uFFFD\uFFFD\uFFFD\"",
		"\xf0\x9f\x98\x80\xf0": "\"😀\uFFFD\"",
	}
	for in, want := range cases {
		if got := string(AppendQuote(nil, in)); got != want {
			t.Errorf("AppendQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestCheckUTF8AsRust(t *testing.T) {
	cases := map[string]string{
		"ok":           "",
		"a\xffb":       "invalid utf-8 sequence of 1 bytes from index 1",
		"ab\xe2\x82":   "incomplete utf-8 byte sequence from index 2",
		"\xe2\x82A":    "invalid utf-8 sequence of 2 bytes from index 0",
		"\xed\xa0\x80": "invalid utf-8 sequence of 1 bytes from index 0",
	}
	for in, want := range cases {
		err := CheckUTF8(in)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != want {
			t.Errorf("CheckUTF8(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestJSONWriter(t *testing.T) {
	var j JSON
	j.BeginObject()
	j.Key("events")
	j.Uint(4)
	j.Key("counts")
	j.BeginArray()
	for _, n := range []uint64{1, 2} {
		j.BeginObject()
		j.Key("type")
		j.Null()
		j.Key("n")
		j.Uint(n)
		j.EndObject()
	}
	j.BeginArray()
	j.EndArray()
	j.Int(-3)
	j.EndArray()
	j.Key("rate")
	j.Float(0.0075)
	j.Key("x")
	j.BeginObject()
	j.EndObject()
	j.EndObject()
	want := `{"events":4,"counts":[{"type":null,"n":1},{"type":null,"n":2},[],-3],"rate":0.0075,"x":{}}`
	if got := string(j.Bytes()); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// Uints writes what strconv does, value by value, across its chunks and
// after other values.
func TestJSONUintsAsStrconv(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	edges := []uint64{0, 9, 10, 99, 100, 101, 999, 1000, 1028, 1029, math.MaxUint64}
	for _, n := range []int{0, 1, 2, uintsChunk - 1, uintsChunk, uintsChunk + 1, 3*uintsChunk + 7} {
		vs := make([]uint64, n)
		for i := range vs {
			switch r.Intn(3) {
			case 0:
				vs[i] = edges[r.Intn(len(edges))]
			case 1:
				vs[i] = uint64(r.Intn(200))
			default:
				vs[i] = r.Uint64() >> r.Intn(64)
			}
		}
		want := make([]string, n)
		for i, v := range vs {
			want[i] = strconv.FormatUint(v, 10)
		}
		var j JSON
		j.BeginArray()
		j.Uint(7)
		j.Uints(vs)
		j.Uints(nil)
		j.EndArray()
		if got, want := string(j.Bytes()), "[7,["+strings.Join(want, ",")+"],[]]"; got != want {
			t.Fatalf("%d values:\ngot  %s\nwant %s", n, got, want)
		}
	}
}

func TestJSONWriterNestsDeeperThan64(t *testing.T) {
	j := NewJSON([]byte("prefix "))
	const depth = 100
	for range depth {
		j.BeginArray()
		j.Uint(1)
	}
	j.Raw([]byte(`{"a":[2]}`))
	j.Bool(true)
	for range depth {
		j.EndArray()
	}
	want := "prefix " + strings.Repeat("[1,", depth) + `{"a":[2]},true` + strings.Repeat("]", depth)
	if got := string(j.Bytes()); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	j.Reset()
	j.BeginObject()
	j.Key("")
	j.String("")
	j.Key("k")
	j.Float(1)
	j.EndObject()
	if got := string(j.Bytes()); got != `{"":"","k":1.0}` {
		t.Error(got)
	}
}

func TestParseJSON(t *testing.T) {
	v, err := ParseJSON([]byte(` {"a": [1, -2.5e3, true, null, "x\u00e9\ud83d\ude00\n\"\\\/"], "a": {}, "b": 18446744073709551615, "c\u0041": 18446744073709551616} `))
	if err != nil {
		t.Fatal(err)
	}
	if a := v.Get("a"); a.Kind() != JSONObject || a.Len() != 0 {
		t.Errorf("the last of a repeated key: %v", a.Kind())
	}
	if v.Len() != 4 {
		t.Error(v.Len())
	}
	var keys []string
	var first Value
	for k, x := range v.Entries() {
		keys = append(keys, k)
		if first.Kind() == JSONInvalid {
			first = x
		}
	}
	if strings.Join(keys, ",") != "a,a,b,cA" {
		t.Error(keys)
	}
	var items []Value
	for x := range first.Items() {
		items = append(items, x)
	}
	if len(items) != 5 || first.Len() != 5 {
		t.Fatalf("%d items", len(items))
	}
	if n, _ := items[1].Number(); n != "-2.5e3" {
		t.Error(n)
	}
	if f, _ := items[1].Float64(); f != -2500 {
		t.Error(f)
	}
	if b, ok := items[2].Bool(); !b || !ok || !items[3].IsNull() {
		t.Error("true, null")
	}
	if s, _ := items[4].Str(); s != "xé😀\n\"\\/" {
		t.Errorf("%q", s)
	}
	if n, ok := v.Get("b").Uint64(); !ok || n != math.MaxUint64 {
		t.Errorf("%v %v", n, ok)
	}
	if _, ok := v.Get("cA").Uint64(); ok {
		t.Error("2^64 is no u64")
	}
	if _, ok := items[1].Uint64(); ok {
		t.Error("-2.5e3 is no u64")
	}
	if v.Get("zz").Exists() || v.Get("zz").Kind() != JSONInvalid {
		t.Error("absent")
	}
	if _, err := first.Fields("S"); err == nil || err.Error() != "invalid type: expected struct S" {
		t.Errorf("%v", err)
	}
	if _, err := v.Fields("S", "x", "a"); err == nil || err.Error() != "duplicate field `a` in S" {
		t.Errorf("%v", err)
	}
	w, _ := ParseJSON([]byte(`{"b":1,"\u0061":2}`))
	f, err := w.Fields("S", "a", "b", "c")
	if err != nil || f[2].Exists() {
		t.Fatal(err)
	}
	if n, _ := f[0].Uint64(); n != 2 {
		t.Error(n)
	}
	if _, err := w.Fields("S", "a"); err == nil || err.Error() != "unknown field `b` in S" {
		t.Errorf("%v", err)
	}
	for _, bad := range []string{``, `{`, `[1,]`, `01`, `1.`, `"\ud800"`, `"\udc00"`, "\"\xff\"", `{"a" 1}`, `1 2`, `"a`, `nul`, "\"\x01\"", `"\x"`, `"\u12"`, `[1 2]`} {
		if _, err := ParseJSON([]byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	deep := strings.Repeat("[", 129)
	if _, err := ParseJSON([]byte(deep)); err == nil || err.Error() != "recursion limit exceeded at byte 128" {
		t.Errorf("%v", err)
	}
	if _, err := ParseJSON([]byte(strings.Repeat("[", 128) + strings.Repeat("]", 128))); err != nil {
		t.Error(err)
	}
}

func TestAValueIsSmall(t *testing.T) {
	if n := unsafe.Sizeof(node{}); n != 16 {
		t.Errorf("a parsed JSON value takes %d bytes", n)
	}
}

func TestStrings(t *testing.T) {
	var d Strings
	d.Add([]byte("WEB"))
	d.Add(nil)
	d.Add([]byte("AV"))
	if id, ok := d.Find("AV"); !ok || id != 2 {
		t.Error(id, ok)
	}
	if s, ok := d.Get(1); !ok || len(s) != 0 {
		t.Error(s, ok)
	}
	if _, ok := d.Get(None); ok {
		t.Error("None")
	}
}
