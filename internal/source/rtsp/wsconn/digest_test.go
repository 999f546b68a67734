package wsconn

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseChallenges(t *testing.T) {
	got := parseChallenges([]string{
		`Basic realm="cam", Digest realm="a \"b\", c", nonce=xyz, qop="auth,auth-int", algorithm=SHA-256`,
		`Digest realm="second",nonce="n2"`,
		`Negotiate abc==`,
		`Digest realm="cut`,
	})
	want := []challenge{
		{"basic", map[string]string{"realm": "cam"}},
		{"digest", map[string]string{"realm": `a "b", c`, "nonce": "xyz", "qop": "auth,auth-int", "algorithm": "SHA-256"}},
		{"digest", map[string]string{"realm": "second", "nonce": "n2"}},
		{"negotiate", map[string]string{"abc": ""}},
		{"digest", map[string]string{"realm": "cut"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parseChallenges:\n got %q\nwant %q", got, want)
	}
}

func TestPickDigest(t *testing.T) {
	chs := parseChallenges([]string{
		`Basic realm="x"`,
		`Digest realm="x", nonce="1", algorithm=MD5`,
		`Digest realm="x", nonce="2", algorithm=SHA-256`,
		`Digest realm="x", nonce="3", algorithm=SHA-1024`,
	})
	ch, ok := pickDigest(chs)
	if !ok || ch.params["nonce"] != "2" {
		t.Errorf("pickDigest = %v %v, want the SHA-256 challenge", ch, ok)
	}
	if _, ok := pickDigest(chs[:1]); ok {
		t.Error("pickDigest found Digest among Basic only")
	}
	if _, ok := pickDigest(chs[3:]); ok {
		t.Error("pickDigest took an unknown algorithm")
	}
}

// The examples of RFC 7616 section 3.9.1 and RFC 2617 section 3.5.
func TestDigestRFCExamples(t *testing.T) {
	rfc7616 := `realm="http-auth@example.org", qop="auth, auth-int", nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"`
	for _, tc := range []struct {
		name, challenge, user, pass, cnonce, response string
	}{
		{"7616-md5", "Digest " + rfc7616 + ", algorithm=MD5", "Mufasa", "Circle of Life",
			"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", "8ca523f5e9506fed4657c9700eebdbec"},
		{"7616-sha256", "Digest " + rfc7616 + ", algorithm=SHA-256", "Mufasa", "Circle of Life",
			"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"},
		{"2617", `Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"`,
			"Mufasa", "Circle Of Life", "0a4f113b", "6629fae49393a05397450978507c4ef1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch, ok := pickDigest(parseChallenges([]string{tc.challenge}))
			if !ok {
				t.Fatal("no Digest challenge")
			}
			v, err := ch.authorization(tc.user, tc.pass, "GET", "/dir/index.html", tc.cnonce)
			if err != nil {
				t.Fatal(err)
			}
			got := parseChallenges([]string{v})
			if len(got) != 1 || got[0].scheme != "digest" {
				t.Fatalf("Authorization %q", v)
			}
			p := got[0].params
			if p["response"] != tc.response {
				t.Errorf("response %q, want %q (%s)", p["response"], tc.response, v)
			}
			if p["qop"] != "auth" || p["nc"] != "00000001" || p["cnonce"] != tc.cnonce || p["uri"] != "/dir/index.html" ||
				p["username"] != tc.user || p["opaque"] != ch.params["opaque"] || p["nonce"] != ch.params["nonce"] {
				t.Errorf("Authorization %q", v)
			}
		})
	}
}

func TestDigestRefusals(t *testing.T) {
	for _, c := range []string{
		`Digest realm="x", nonce="1", algorithm=SHA-1024`,
		`Digest realm="x", nonce="1", qop="auth-conf"`,
		`Digest realm="x"`,
	} {
		ch := parseChallenges([]string{c})[0]
		if v, err := ch.authorization("u", "p", "GET", "/", "c"); err == nil {
			t.Errorf("%s: answered %q, want an error", c, v)
		}
	}
	// userhash: the user name travels hashed
	ch := parseChallenges([]string{`Digest realm="r", nonce="n", algorithm=SHA-256, userhash=true`})[0]
	v, err := ch.authorization("admin", "p", "GET", "/", "c")
	if err != nil || strings.Contains(v, "admin") || !strings.Contains(v, "userhash=true") {
		t.Errorf("userhash: %q %v", v, err)
	}
}
