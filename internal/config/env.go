package config

import "strings"

// expand replaces ${VAR} and ${VAR:default} in s using getenv. A variable
// that is unset and has no default is returned as missing. Text such as a
// lone "${" without a closing brace is kept as written.
func expand(s string, getenv func(string) (string, bool)) (out, missing string) {
	if !strings.Contains(s, "${") {
		return s, ""
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), ""
		}
		b.WriteString(s[:i])
		body := s[i+2:]
		j := strings.IndexAny(body, "{}")
		if j <= 0 || body[j] != '}' {
			b.WriteString("${")
			s = body
			continue
		}
		name, def, hasDef := strings.Cut(body[:j], ":")
		if name == "" {
			b.WriteString("${")
			s = body
			continue
		}
		if v, ok := getenv(name); ok {
			b.WriteString(v)
		} else if hasDef {
			b.WriteString(def)
		} else {
			return "", name
		}
		s = body[j+1:]
	}
}
