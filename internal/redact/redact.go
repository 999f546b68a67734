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
