package epochd

import (
	"strconv"
	"unicode/utf8"
)

// seq is the UTF-8 sequence at the start of p: its length when valid,
// else the length of the maximal invalid subpart (>= 1), and whether it
// was cut short by the end of p.
func seq(p string) (n int, valid, incomplete bool) {
	c := p[0]
	if c < 0x80 {
		return 1, true, false
	}
	var need int
	lo, hi := byte(0x80), byte(0xBF)
	switch {
	case c >= 0xC2 && c <= 0xDF:
		need = 1
	case c >= 0xE0 && c <= 0xEF:
		need = 2
		if c == 0xE0 {
			lo = 0xA0
		}
		if c == 0xED {
			hi = 0x9F
		}
	case c >= 0xF0 && c <= 0xF4:
		need = 3
		if c == 0xF0 {
			lo = 0x90
		}
		if c == 0xF4 {
			hi = 0x8F
		}
	default:
		return 1, false, false
	}
	for i := 1; i <= need; i++ {
		if i >= len(p) {
			return i, false, true
		}
		d := p[i]
		if i == 1 && (d < lo || d > hi) || i > 1 && (d < 0x80 || d > 0xBF) {
			return i, false, false
		}
	}
	return need + 1, true, false
}

// AppendLossy appends s to dst as valid UTF-8, each maximal invalid
// sequence replaced by U+FFFD, exactly as Rust's String::from_utf8_lossy
// (the Rust jobs' names and keys). (Go's strings.ToValidUTF8 replaces a
// whole run of invalid bytes with one U+FFFD instead.)
func AppendLossy(dst []byte, s string) []byte {
	if utf8.ValidString(s) {
		return append(dst, s...)
	}
	for i := 0; i < len(s); {
		n, valid, _ := seq(s[i:])
		if valid {
			dst = append(dst, s[i:i+n]...)
		} else {
			dst = append(dst, "\uFFFD"...)
		}
		i += n
	}
	return dst
}

// Lossy is s as valid UTF-8 (see AppendLossy); s itself when valid.
func Lossy(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return string(AppendLossy(nil, s))
}

// UTF8Error says where bytes stop being UTF-8, as Rust's Utf8Error.
type UTF8Error struct {
	// ValidUpTo is the length of the valid prefix.
	ValidUpTo int
	// ErrorLen is the length of the invalid sequence there, or 0 when the
	// bytes end in the middle of a sequence.
	ErrorLen int
}

// Error is Rust's wording: "invalid utf-8 sequence of 1 bytes from index
// 3", or "incomplete utf-8 byte sequence from index 3".
func (e *UTF8Error) Error() string {
	if e.ErrorLen == 0 {
		return "incomplete utf-8 byte sequence from index " + strconv.Itoa(e.ValidUpTo)
	}
	return "invalid utf-8 sequence of " + strconv.Itoa(e.ErrorLen) + " bytes from index " + strconv.Itoa(e.ValidUpTo)
}

// CheckUTF8 is nil when s is valid UTF-8, else where it stops being so.
func CheckUTF8(s string) error {
	if utf8.ValidString(s) {
		return nil
	}
	for i := 0; i < len(s); {
		n, valid, incomplete := seq(s[i:])
		if !valid {
			e := &UTF8Error{ValidUpTo: i, ErrorLen: n}
			if incomplete {
				e.ErrorLen = 0
			}
			return e
		}
		i += n
	}
	return nil
}
