package ffmpeg

import "strings"

// redactURL masks the password of the first "scheme://user:pass@" in u. The
// user info ends at the last '@', so that a password holding an unescaped
// '@' or '/' is masked whole: when in doubt it masks more.
func redactURL(u string) string {
	i := strings.Index(u, "://")
	if i < 0 {
		return u
	}
	rest := u[i+3:]
	at := strings.LastIndexByte(rest, '@')
	if at < 0 {
		return u
	}
	user, _, hasPass := strings.Cut(rest[:at], ":")
	if !hasPass || strings.ContainsAny(user, "/?") {
		return u
	}
	return u[:i+3] + user + ":***@" + rest[at+1:]
}

// redactText masks URL passwords in free text such as an ffmpeg stderr line
// or an argument list; a URL ends at white space there.
func redactText(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	var b strings.Builder
	for len(s) > 0 {
		i := strings.IndexAny(s, " \t")
		if i < 0 {
			i = len(s)
		}
		b.WriteString(redactURL(s[:i]))
		j := i
		for j < len(s) && (s[j] == ' ' || s[j] == '\t') {
			j++
		}
		b.WriteString(s[i:j])
		s = s[j:]
	}
	return b.String()
}

// redactArgs masks URL passwords in an argument list, for logs.
func redactArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = redactText(a)
	}
	return out
}
