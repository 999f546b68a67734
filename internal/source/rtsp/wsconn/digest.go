package wsconn

import (
	"crypto/md5" //nolint:gosec // RFC 7616 MD5 is what most cameras offer
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"hash"
	"strings"
)

// challenge is one parsed WWW-Authenticate challenge: its scheme and its
// parameters, both with lower-case names.
type challenge struct {
	scheme string
	params map[string]string
}

// parseChallenges reads WWW-Authenticate values; one value may hold several
// challenges ("Basic realm=x, Digest realm=y, nonce=z"). What it cannot read
// ends that value, keeping the challenges before it.
func parseChallenges(values []string) []challenge {
	var out []challenge
	for _, s := range values {
		cur := -1 // index in out of the challenge taking parameters
		for {
			s = strings.TrimLeft(s, " \t,")
			tok, rest := cutToken(s)
			if tok == "" {
				break
			}
			rest = strings.TrimLeft(rest, " \t")
			if cur >= 0 && strings.HasPrefix(rest, "=") {
				rest = strings.TrimLeft(rest[1:], " \t")
				var val string
				if strings.HasPrefix(rest, `"`) {
					val, rest = cutQuoted(rest)
				} else {
					val, rest = cutToken(rest)
				}
				out[cur].params[strings.ToLower(tok)] = val
				s = rest
				continue
			}
			out = append(out, challenge{scheme: strings.ToLower(tok), params: map[string]string{}})
			cur = len(out) - 1
			s = rest
		}
	}
	return out
}

// cutToken splits off a leading RFC 9110 token.
func cutToken(s string) (tok, rest string) {
	i := 0
	for i < len(s) && isTokenChar(s[i]) {
		i++
	}
	return s[:i], s[i:]
}

func isTokenChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// cutQuoted splits off a leading quoted-string and unquotes it; an
// unterminated one takes the rest of s.
func cutQuoted(s string) (val, rest string) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && i+1 < len(s):
			i++
			b.WriteByte(s[i])
		case c == '"':
			return b.String(), s[i+1:]
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), ""
}

// digestHash returns the hash of a Digest algorithm name (without -sess),
// with its rank: the strongest offered is used.
func digestHash(alg string) (func() hash.Hash, int) {
	switch strings.ToUpper(alg) {
	case "", "MD5":
		return md5.New, 1
	case "SHA-256":
		return sha256.New, 2
	case "SHA-512-256":
		return sha512.New512_256, 3
	}
	return nil, 0
}

// pickDigest chooses the Digest challenge with the strongest algorithm we
// know; a server may offer the same realm with SHA-256 and MD5.
func pickDigest(chs []challenge) (challenge, bool) {
	var best challenge
	rank := 0
	for _, ch := range chs {
		if ch.scheme != "digest" {
			continue
		}
		alg, _ := strings.CutSuffix(strings.ToUpper(ch.params["algorithm"]), "-SESS")
		if _, r := digestHash(alg); r > rank {
			best, rank = ch, r
		}
	}
	return best, rank > 0
}

// authorization computes the RFC 7616 Authorization value answering ch for
// a request of method and uri (the request-target, "/path?query").
func (ch challenge) authorization(user, pass, method, uri, cnonce string) (string, error) {
	alg := ch.params["algorithm"]
	base, sess := strings.CutSuffix(strings.ToUpper(alg), "-SESS")
	newHash, _ := digestHash(base)
	if newHash == nil {
		return "", fmt.Errorf("digest algorithm %q not supported", alg)
	}
	h := func(s string) string {
		x := newHash()
		x.Write([]byte(s))
		return hex.EncodeToString(x.Sum(nil))
	}
	realm, nonce := ch.params["realm"], ch.params["nonce"]
	if nonce == "" {
		return "", fmt.Errorf("digest challenge without a nonce")
	}

	qop := ""
	if offered, ok := ch.params["qop"]; ok {
		for _, q := range strings.Split(offered, ",") {
			switch q = strings.TrimSpace(strings.ToLower(q)); {
			case q == "auth":
				qop = q
			case q == "auth-int" && qop == "":
				qop = q
			}
		}
		if qop == "" {
			return "", fmt.Errorf("digest qop %q not supported", offered)
		}
	}

	ha1 := h(user + ":" + realm + ":" + pass)
	if sess {
		ha1 = h(ha1 + ":" + nonce + ":" + cnonce)
	}
	ha2 := h(method + ":" + uri)
	if qop == "auth-int" {
		ha2 = h(method + ":" + uri + ":" + h("")) // the upgrade GET has no body
	}
	const nc = "00000001" // a fresh nonce for each dial: the first use
	var response string
	if qop == "" {
		response = h(ha1 + ":" + nonce + ":" + ha2) // RFC 2069 servers
	} else {
		response = h(ha1 + ":" + nonce + ":" + nc + ":" + cnonce + ":" + qop + ":" + ha2)
	}

	name := user
	userhash := strings.EqualFold(ch.params["userhash"], "true")
	if userhash {
		name = h(user + ":" + realm)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Digest username=%s, realm=%s, nonce=%s, uri=%s, response=%s",
		quote(name), quote(realm), quote(nonce), quote(uri), quote(response))
	if alg != "" {
		b.WriteString(", algorithm=" + alg)
	}
	if qop != "" {
		fmt.Fprintf(&b, ", qop=%s, nc=%s, cnonce=%s", qop, nc, quote(cnonce))
	}
	if op, ok := ch.params["opaque"]; ok {
		b.WriteString(", opaque=" + quote(op))
	}
	if userhash {
		b.WriteString(", userhash=true")
	}
	return b.String(), nil
}

// quote makes a quoted-string.
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// newCnonce is the client nonce of one Digest answer.
func newCnonce() string {
	return rand.Text()
}
