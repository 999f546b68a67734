// Package redact masks credentials in URLs before they are shown (logs, the
// API, the web page): one rule, used by everything that prints a source.
package redact

import "strings"

// URL masks the password of the first "scheme://user:pass@" in s as
// "user:***@". The user info ends at the last '@', so that a password
// holding an unescaped '@' or '/' is masked whole: when in doubt it masks
// more.
func URL(s string) string {
	i := strings.Index(s, "://")
	if i < 0 {
		return s
	}
	rest := s[i+3:]
	at := strings.LastIndexByte(rest, '@')
	if at < 0 {
		return s
	}
	user, _, hasPass := strings.Cut(rest[:at], ":")
	if !hasPass || strings.ContainsAny(user, "/?") {
		return s
	}
	return s[:i+3] + user + ":***@" + rest[at+1:]
}

// Text masks the password of every URL in free text (a log line, an
// error, ffmpeg's stderr, an argument): a URL runs from its "://" to the
// next white space, quote, '<', '>' or the next "://".
func Text(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "://")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		s = s[i:] // "://…"
		end := strings.IndexAny(s[3:], " \t\r\n\"'<>")
		if next := strings.Index(s[3:], "://"); next >= 0 && (end < 0 || next < end) {
			end = next
		}
		if end < 0 {
			end = len(s) - 3
		}
		b.WriteString(URL(s[:3+end]))
		s = s[3+end:]
	}
}

// Word quotes v for an error message when it is a short plain word (an
// option name, a number), and hides it otherwise: a value that is not a
// word may be a piece of a password cut at a '#'.
func Word(v string) string {
	if v == "" {
		return "nothing"
	}
	if IsWord(v) {
		return `"` + v + `"`
	}
	return "a value not shown here"
}

// IsWord reports whether s is a short word of letters, digits, '-', '_' or
// '.': safe to print.
func IsWord(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}
