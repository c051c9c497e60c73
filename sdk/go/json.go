package epochd

import (
	"math"
	"slices"
	"strconv"
	"unicode/utf8"
)

// JSON writes compact JSON into a byte slice, byte for byte what Rust's
// serde_json writes (the Rust SDK's results): no spaces; strings escaped
// as serde_json escapes them, invalid UTF-8 replaced by U+FFFD; floats in
// the shortest form that round-trips, laid out as serde_json (ryu) does.
// Commas are written for you. The zero value is ready to use:
//
//	var j epochd.JSON
//	j.BeginObject()
//	j.Key("events")
//	j.Uint(n)
//	j.Key("rate")
//	j.Float(0.0075)
//	j.EndObject()
//	return j.Bytes(), nil // {"events":4,"rate":0.0075}
//
// Keys are written in the order given: write a Go map's keys sorted.
type JSON struct {
	buf   []byte
	depth int // containers open
}

// NewJSON is a writer appending to buf (which may be nil).
func NewJSON(buf []byte) *JSON { return &JSON{buf: buf} }

// Bytes is what was written.
func (j *JSON) Bytes() []byte { return j.buf }

// Reset empties the writer, keeping its memory.
func (j *JSON) Reset() { *j = JSON{buf: j.buf[:0]} }

// valueStart writes the comma before a value or key, when one is due.
// Inside a container, the last byte says: after '{', '[' or a key's ':'
// none is; after a value (which ends in '"', '}', ']', a digit or a
// letter), one is. So nesting is not limited, and nothing is tracked per
// level.
func (j *JSON) valueStart() {
	if j.depth <= 0 {
		return
	}
	switch j.buf[len(j.buf)-1] {
	case '{', '[', ':':
	default:
		j.buf = append(j.buf, ',')
	}
}

func (j *JSON) open(c byte) {
	if j.buf == nil {
		// Room for a small result at once, rather than doubling from 8
		// bytes, an allocation each time.
		j.buf = make([]byte, 0, 1024)
	}
	j.valueStart()
	j.buf = append(j.buf, c)
	j.depth++
}

// BeginObject writes '{'.
func (j *JSON) BeginObject() { j.open('{') }

// EndObject writes '}'.
func (j *JSON) EndObject() { j.depth--; j.buf = append(j.buf, '}') }

// BeginArray writes '['.
func (j *JSON) BeginArray() { j.open('[') }

// EndArray writes ']'.
func (j *JSON) EndArray() { j.depth--; j.buf = append(j.buf, ']') }

// Key writes an object key (and the colon).
func (j *JSON) Key(k string) {
	j.valueStart()
	j.buf = AppendQuote(j.buf, k)
	j.buf = append(j.buf, ':')
}

// String writes a string.
func (j *JSON) String(s string) {
	j.valueStart()
	j.buf = AppendQuote(j.buf, s)
}

// Uint writes an unsigned integer.
func (j *JSON) Uint(v uint64) {
	j.valueStart()
	j.buf = appendUint(j.buf, v)
}

// Uints writes an array of unsigned integers (a histogram's counts, say)
// in one call, room for a chunk of them made at once.
func (j *JSON) Uints(vs []uint64) {
	j.valueStart()
	b := append(j.buf, '[')
	for len(vs) > 0 {
		chunk := vs[:min(len(vs), uintsChunk)]
		vs = vs[len(chunk):]
		// At most 20 digits and a comma each.
		b = slices.Grow(b, len(chunk)*21)
		for _, v := range chunk {
			b = append(appendUint(b, v), ',')
		}
	}
	if b[len(b)-1] == ',' {
		b = b[:len(b)-1]
	}
	j.buf = append(b, ']')
}

// uintsChunk is how many values Uints makes room for at once (5 KiB).
const uintsChunk = 256

// appendUint is strconv.AppendUint(dst, v, 10), quicker for small values.
func appendUint(dst []byte, v uint64) []byte {
	if v < 10 {
		return append(dst, byte('0'+v))
	}
	if v < 100 {
		tens := v * 205 >> 11 // v / 10 below 1029, without a division
		return append(dst, byte('0'+tens), byte('0'+v-tens*10))
	}
	return strconv.AppendUint(dst, v, 10)
}

// Int writes an integer.
func (j *JSON) Int(v int64) {
	j.valueStart()
	j.buf = strconv.AppendInt(j.buf, v, 10)
}

// Float writes a float (see AppendFloat); null when not finite, as serde_json.
func (j *JSON) Float(v float64) {
	j.valueStart()
	j.buf = AppendFloat(j.buf, v)
}

// Bool writes true or false.
func (j *JSON) Bool(v bool) {
	j.valueStart()
	j.buf = strconv.AppendBool(j.buf, v)
}

// Null writes null.
func (j *JSON) Null() {
	j.valueStart()
	j.buf = append(j.buf, "null"...)
}

// Raw writes b as a value, as is (it must be one JSON value).
func (j *JSON) Raw(b []byte) {
	j.valueStart()
	j.buf = append(j.buf, b...)
}

const hexDigits = "0123456789abcdef"

// AppendQuote appends s as a JSON string, escaped as serde_json does: \"
// \\ \b \f \n \r \t, other control characters as \u00XX, everything else
// (DEL and non-ASCII included) as is. Invalid UTF-8 is replaced by U+FFFD
// (see AppendLossy).
func AppendQuote(dst []byte, s string) []byte {
	if !utf8.ValidString(s) {
		s = string(AppendLossy(nil, s))
	}
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		start = i + 1
		switch c {
		case '"':
			dst = append(dst, '\\', '"')
		case '\\':
			dst = append(dst, '\\', '\\')
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&15])
		}
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// AppendFloat appends the shortest decimal that parses back to v, laid out
// as serde_json (ryu) writes an f64: 0.0075, 1.0, 1e-7, 0.00001,
// 12340000000.0, 1.5e300, -0.0. A non-finite v is null.
func AppendFloat(dst []byte, v float64) []byte {
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return append(dst, "null"...)
	}
	// Shortest round-trip digits in scientific form: "-7.5e-03", "1e+00".
	var tmp [32]byte
	s := strconv.AppendFloat(tmp[:0], v, 'e', -1, 64)
	i := 0
	if s[0] == '-' {
		dst = append(dst, '-')
		i = 1
	}
	var digits [24]byte
	nd := 0
	for ; s[i] != 'e'; i++ {
		if s[i] != '.' {
			digits[nd] = s[i]
			nd++
		}
	}
	exp, _ := strconv.Atoi(string(s[i+1:]))
	for nd > 1 && digits[nd-1] == '0' {
		nd--
	}
	if nd == 1 && digits[0] == '0' {
		return append(dst, "0.0"...)
	}
	d := digits[:nd]
	// v = 0.d1..dn * 10^kk
	kk := exp + 1
	switch {
	case kk >= nd && kk <= 16:
		dst = append(dst, d...)
		for k := nd; k < kk; k++ {
			dst = append(dst, '0')
		}
		dst = append(dst, '.', '0')
	case kk > 0 && kk <= 16:
		dst = append(dst, d[:kk]...)
		dst = append(dst, '.')
		dst = append(dst, d[kk:]...)
	case kk > -5 && kk <= 0:
		dst = append(dst, '0', '.')
		for k := kk; k < 0; k++ {
			dst = append(dst, '0')
		}
		dst = append(dst, d...)
	default:
		dst = append(dst, d[0])
		if nd > 1 {
			dst = append(dst, '.')
			dst = append(dst, d[1:]...)
		}
		dst = append(dst, 'e')
		dst = strconv.AppendInt(dst, int64(kk-1), 10)
	}
	return dst
}
