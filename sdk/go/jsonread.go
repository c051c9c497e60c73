package epochd

import (
	"errors"
	"iter"
	"strconv"
	"unicode/utf8"
)

// JSONKind is the kind of a parsed JSON value.
type JSONKind uint8

// The kinds of JSON values. JSONInvalid is the zero Value's: a field or
// key that is absent.
const (
	JSONInvalid JSONKind = iota
	JSONNull
	JSONBool
	JSONNumber
	JSONString
	JSONArray
	JSONObject
)

// Value is one value of a parsed JSON text (ParseJSON): a small handle
// into the parsed document, cheap to copy. Numbers are kept as their text
// and strings decoded only when asked for, so that a merge input of
// megabytes (a histogram is an array of thousands of numbers) is parsed
// into 16 bytes per value, without an allocation per value.
//
// The zero Value is absent (Kind JSONInvalid): what Get and Fields give
// for a missing key.
type Value struct {
	d *document
	i uint32
}

type document struct {
	text  []byte
	nodes []node
}

// node is a value: for a scalar, its text (a string's between the quotes,
// escapes undecoded); for an array or object, its children (an object's
// alternate key, value), which follow it in nodes up to next.
type node struct {
	kind    JSONKind
	escaped bool // a string with a backslash
	start   uint32
	end     uint32 // scalars: end of text; containers: number of children
	next    uint32 // index of the node after this one's subtree
}

func (v Value) node() *node { return &v.d.nodes[v.i] }

// Kind is the value's kind (JSONInvalid for the zero Value).
func (v Value) Kind() JSONKind {
	if v.d == nil {
		return JSONInvalid
	}
	return v.node().kind
}

// Exists reports whether the value is present (not the zero Value).
func (v Value) Exists() bool { return v.d != nil }

// IsNull reports whether the value is null.
func (v Value) IsNull() bool { return v.Kind() == JSONNull }

// Bool is a JSONBool's value.
func (v Value) Bool() (b, ok bool) {
	if v.Kind() != JSONBool {
		return false, false
	}
	return v.d.text[v.node().start] == 't', true
}

// Str is a JSONString's value, decoded.
func (v Value) Str() (string, bool) {
	if v.Kind() != JSONString {
		return "", false
	}
	n := v.node()
	raw := v.d.text[n.start:n.end]
	if !n.escaped {
		return string(raw), true
	}
	return string(unescape(nil, raw)), true
}

// Number is a JSONNumber's text, as written.
func (v Value) Number() (string, bool) {
	if v.Kind() != JSONNumber {
		return "", false
	}
	n := v.node()
	return string(v.d.text[n.start:n.end]), true
}

// Uint64 is a number that is a non-negative integer fitting uint64, as
// serde reads a u64 (not 1.0, not 1e2, not -0).
func (v Value) Uint64() (uint64, bool) {
	if v.Kind() != JSONNumber {
		return 0, false
	}
	n := v.node()
	var x uint64
	for _, c := range v.d.text[n.start:n.end] {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if x > (1<<64-1-d)/10 {
			return 0, false
		}
		x = x*10 + d
	}
	return x, true
}

// Int64 is a number that is an integer fitting int64.
func (v Value) Int64() (int64, bool) {
	if v.Kind() != JSONNumber {
		return 0, false
	}
	n := v.node()
	x, err := strconv.ParseInt(string(v.d.text[n.start:n.end]), 10, 64)
	return x, err == nil
}

// Float64 is a number's value (the nearest float64).
func (v Value) Float64() (float64, bool) {
	if v.Kind() != JSONNumber {
		return 0, false
	}
	n := v.node()
	f, err := strconv.ParseFloat(string(v.d.text[n.start:n.end]), 64)
	return f, err == nil || errors.Is(err, strconv.ErrRange)
}

// Len is the number of elements of an array, or of entries of an object
// (a repeated key counted each time); 0 for other values.
func (v Value) Len() int {
	switch v.Kind() {
	case JSONArray:
		return int(v.node().end)
	case JSONObject:
		return int(v.node().end / 2)
	}
	return 0
}

// children yields the child nodes in order.
func (v Value) children(yield func(Value) bool) {
	n := v.node()
	for i, c := v.i+1, uint32(0); c < n.end; c++ {
		if !yield(Value{v.d, i}) {
			return
		}
		i = v.d.nodes[i].next
	}
}

// Items are an array's elements, in order:
//
//	for item := range v.Items() { ... }
func (v Value) Items() iter.Seq[Value] {
	return func(yield func(Value) bool) {
		if v.Kind() == JSONArray {
			v.children(yield)
		}
	}
}

// Entries are an object's keys (decoded) and values, in order, a repeated
// key each time:
//
//	for key, value := range v.Entries() { ... }
func (v Value) Entries() iter.Seq2[string, Value] {
	return func(yield func(string, Value) bool) {
		if v.Kind() != JSONObject {
			return
		}
		var key string
		isKey := true
		v.children(func(c Value) bool {
			if isKey {
				key, _ = c.Str()
				isKey = false
				return true
			}
			isKey = true
			return yield(key, c)
		})
	}
}

// keyIs reports whether key node k is s.
func (v Value) keyIs(k Value, s string) bool {
	n := k.node()
	raw := v.d.text[n.start:n.end]
	if !n.escaped {
		return string(raw) == s
	}
	return string(unescape(nil, raw)) == s
}

// Get is the value of key in an object (the last one if repeated, as
// serde reads a map); the zero Value when absent or not an object.
func (v Value) Get(key string) Value {
	var found Value
	if v.Kind() != JSONObject {
		return found
	}
	var k Value
	isKey := true
	v.children(func(c Value) bool {
		if isKey {
			k = c
		} else if v.keyIs(k, key) {
			found = c
		}
		isKey = !isKey
		return true
	})
	return found
}

// Fields checks an object against a struct's fields as serde's
// deny_unknown_fields does (an unknown or repeated field is an error; what
// names the struct in the message) and returns the value of each name, the
// zero Value where absent.
func (v Value) Fields(what string, names ...string) ([]Value, error) {
	if v.Kind() != JSONObject {
		return nil, errors.New("invalid type: expected struct " + what)
	}
	out := make([]Value, len(names))
	var err error
	var k Value
	isKey := true
	v.children(func(c Value) bool {
		if isKey {
			k, isKey = c, false
			return true
		}
		isKey = true
		for i, name := range names {
			if v.keyIs(k, name) {
				if out[i].Exists() {
					err = errors.New("duplicate field `" + name + "` in " + what)
					return false
				}
				out[i] = c
				return true
			}
		}
		key, _ := k.Str()
		err = errors.New("unknown field `" + key + "` in " + what)
		return false
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ParseJSON parses one JSON text (whitespace around it allowed; nesting up
// to 128 levels, as serde_json). Strings must be valid UTF-8, escapes
// included (no lone surrogates). The Value keeps text: do not modify it
// while using the Value.
func ParseJSON(text []byte) (Value, error) {
	if len(text) >= 1<<31 {
		return Value{}, errors.New("a JSON text of 2 GiB or more")
	}
	p := parser{d: &document{text: text}}
	// About one value per 4 bytes of a result's numbers: fewer copies.
	p.d.nodes = make([]node, 0, len(text)/4+1)
	if err := p.value(); err != nil {
		return Value{}, err
	}
	p.ws()
	if p.i != len(text) {
		return Value{}, p.fail("trailing characters")
	}
	return Value{d: p.d}, nil
}

type parser struct {
	d     *document
	i     int
	depth int
}

func (p *parser) fail(msg string) error {
	return errors.New(msg + " at byte " + strconv.Itoa(p.i))
}

func (p *parser) ws() {
	s := p.d.text
	for p.i < len(s) {
		switch s[p.i] {
		case ' ', '\n', '\r', '\t':
			p.i++
		default:
			return
		}
	}
}

func (p *parser) peek() int {
	if p.i < len(p.d.text) {
		return int(p.d.text[p.i])
	}
	return -1
}

func hexValue(s []byte) (rune, bool) {
	if len(s) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range s[:4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// str checks a string at its opening quote and adds its node.
func (p *parser) str() error {
	s := p.d.text
	p.i++
	start, escaped := p.i, false
	for {
		c := p.peek()
		switch {
		case c < 0:
			return p.fail("EOF while parsing a string")
		case c == '"':
			p.d.nodes = append(p.d.nodes, node{kind: JSONString, escaped: escaped, start: uint32(start), end: uint32(p.i), next: uint32(len(p.d.nodes) + 1)})
			p.i++
			return nil
		case c < 0x20:
			return p.fail("control character (\\u0000-\\u001F) found while parsing a string")
		case c == '\\':
			escaped = true
			p.i++
			e := p.peek()
			if e < 0 {
				return p.fail("EOF while parsing a string")
			}
			p.i++
			switch e {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				u, ok := hexValue(s[p.i:])
				if !ok {
					if len(s)-p.i < 4 {
						return p.fail("EOF while parsing a string")
					}
					return p.fail("invalid escape")
				}
				p.i += 4
				if u >= 0xDC00 && u <= 0xDFFF {
					return p.fail("lone leading surrogate in hex escape")
				}
				if u >= 0xD800 && u <= 0xDBFF {
					if len(s)-p.i < 2 || s[p.i] != '\\' || s[p.i+1] != 'u' {
						return p.fail("unexpected end of hex escape")
					}
					p.i += 2
					l, ok := hexValue(s[p.i:])
					if !ok {
						return p.fail("invalid escape")
					}
					p.i += 4
					if l < 0xDC00 || l > 0xDFFF {
						return p.fail("lone leading surrogate in hex escape")
					}
				}
			default:
				return p.fail("invalid escape")
			}
		case c < 0x80:
			p.i++
		default:
			r, n := utf8.DecodeRune(s[p.i:])
			if r == utf8.RuneError && n <= 1 {
				return p.fail("invalid unicode code point")
			}
			p.i += n
		}
	}
}

// unescape appends the decoded contents of a checked string to dst.
func unescape(dst, raw []byte) []byte {
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c != '\\' {
			dst = append(dst, c)
			continue
		}
		i++
		switch raw[i] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			u, _ := hexValue(raw[i+1:])
			i += 4
			if u >= 0xD800 && u <= 0xDBFF {
				l, _ := hexValue(raw[i+3:])
				u = 0x10000 + (u-0xD800)<<10 + (l - 0xDC00)
				i += 6
			}
			dst = utf8.AppendRune(dst, u)
		default: // " \ /
			dst = append(dst, raw[i])
		}
	}
	return dst
}

func (p *parser) digits() int {
	s, at := p.d.text, p.i
	for p.i < len(s) && s[p.i] >= '0' && s[p.i] <= '9' {
		p.i++
	}
	return p.i - at
}

func (p *parser) scalar(kind JSONKind, start int) {
	p.d.nodes = append(p.d.nodes, node{kind: kind, start: uint32(start), end: uint32(p.i), next: uint32(len(p.d.nodes) + 1)})
}

func (p *parser) value() error {
	p.ws()
	c := p.peek()
	switch {
	case c < 0:
		return p.fail("EOF while parsing a value")
	case c == '{' || c == '[':
		p.depth++
		if p.depth > 128 {
			return p.fail("recursion limit exceeded")
		}
		isObject := c == '{'
		closing := int(']')
		kind := JSONArray
		if isObject {
			closing, kind = '}', JSONObject
		}
		at := len(p.d.nodes)
		p.d.nodes = append(p.d.nodes, node{kind: kind, start: uint32(p.i)})
		children := uint32(0)
		p.i++
		p.ws()
		if p.peek() == closing {
			p.i++
		} else {
			for {
				if isObject {
					p.ws()
					if p.peek() != '"' {
						return p.fail("key must be a string")
					}
					if err := p.str(); err != nil {
						return err
					}
					children++
					p.ws()
					if p.peek() != ':' {
						return p.fail("expected `:`")
					}
					p.i++
				}
				if err := p.value(); err != nil {
					return err
				}
				children++
				p.ws()
				d := p.peek()
				if d < 0 {
					return p.fail("EOF while parsing a list or an object")
				}
				p.i++
				if d == ',' {
					continue
				}
				if d == closing {
					break
				}
				p.i--
				return p.fail("expected `,` or the end of a list or an object")
			}
		}
		p.depth--
		n := &p.d.nodes[at]
		n.end, n.next = children, uint32(len(p.d.nodes))
		return nil
	case c == '"':
		return p.str()
	case c == 'n' && p.word("null"):
		p.scalar(JSONNull, p.i-4)
		return nil
	case c == 't' && p.word("true"):
		p.scalar(JSONBool, p.i-4)
		return nil
	case c == 'f' && p.word("false"):
		p.scalar(JSONBool, p.i-5)
		return nil
	case c == '-' || c >= '0' && c <= '9':
		at := p.i
		if c == '-' {
			p.i++
		}
		switch first := p.peek(); {
		case first == '0':
			p.i++
			if n := p.peek(); n >= '0' && n <= '9' {
				return p.fail("invalid number")
			}
		case p.digits() == 0:
			return p.fail("invalid number")
		}
		if p.peek() == '.' {
			p.i++
			if p.digits() == 0 {
				return p.fail("invalid number")
			}
		}
		if e := p.peek(); e == 'e' || e == 'E' {
			p.i++
			if s := p.peek(); s == '+' || s == '-' {
				p.i++
			}
			if p.digits() == 0 {
				return p.fail("invalid number")
			}
		}
		p.scalar(JSONNumber, at)
		return nil
	}
	return p.fail("expected value")
}

// word consumes w when the text continues with it.
func (p *parser) word(w string) bool {
	s := p.d.text
	if len(s)-p.i >= len(w) && string(s[p.i:p.i+len(w)]) == w {
		p.i += len(w)
		return true
	}
	return false
}
