package config

import (
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// schema describes the keys allowed in one mapping of a config file: those
// rtspgate reads and those of the original product's config, so that a
// typo is an error while a file written for the original loads as it is.
type schema struct {
	known []string           // keys with a meaning here, in the order documented
	sub   map[string]*schema // for some known keys: the keys of their value
	names *schema            // non-nil: every key is a name the user chose (a stream, an account), its value described by *names
	free  bool               // every key is a name the user chose and its value is not looked into
	loose bool               // other keys are allowed too, unless they look like a typo of a known one
}

// The schemas below list key names of the original product's config (its
// current modules and keys that older or upcoming versions read) as facts.
var (
	freeNames = &schema{free: true}

	rtspKeys = &schema{known: []string{"listen", "username", "password", "default_query", "pkt_size", "rtp_address", "rtcp_address", "gop_cache"}}

	apiKeys = &schema{known: []string{
		"listen", "username", "password", "local_auth", "base_path", "static_dir", "origin",
		"tls_listen", "tls_cert", "tls_key", "tls_private_key", "unix_listen", "allow_paths", "read_only",
	}}

	// log: level, format, output and time, and a level per module
	// ("log: rtsp: debug"). Module names are open-ended, so any other key
	// is accepted unless it is a near miss of one of these.
	logKeys = &schema{loose: true, known: []string{
		"level", "format", "output", "time",
		"alsa", "api", "app", "bubble", "debug", "doorbird", "dvrip", "echo", "eseecloud", "exec",
		"execbc", "expr", "ffmpeg", "flussonic", "gopro", "hass", "hls", "homekit", "http", "isapi",
		"ivideon", "kasa", "mjpeg", "mp4", "mpeg", "mpegts", "multitrans", "nest", "ngrok", "onvif",
		"pinggy", "ring", "roborock", "rtmp", "rtsp", "srtp", "streams", "tapo", "tcp", "tuya", "v4l2",
		"webrtc", "webtorrent", "wyoming", "wyze", "xiaomi", "yandex",
	}}

	// rtspgateSections are the top-level keys rtspgate reads;
	// originalSections those only the original reads.
	rtspgateSections = []string{"streams", "rtsp", "api", "log", "ffmpeg"}
	originalSections = []string{
		"app", "env", "secrets", "publish", "preload", "webrtc", "rtmp", "srtp", "hass",
		"homekit", "webtorrent", "ngrok", "pinggy", "echo", "exec", "wyoming", "wyze", "xiaomi",
	}

	topKeys = &schema{
		known: slices.Concat(rtspgateSections, originalSections),
		sub: map[string]*schema{
			"streams": freeNames,
			"rtsp":    rtspKeys,
			"api":     apiKeys,
			"log":     logKeys,
			"ffmpeg":  freeNames, // bin, global, timeout and templates of any name
			"app":     {known: []string{"modules"}},
			"env":     freeNames,
			"secrets": freeNames,
			"publish": freeNames,
			"preload": freeNames,
			"webrtc": {
				known: []string{"listen", "candidates", "ice_servers", "filters"},
				sub: map[string]*schema{
					"filters": {known: []string{"candidates", "loopback", "interfaces", "ips", "networks", "udp_ports"}},
				},
			},
			"rtmp": {known: []string{"listen"}},
			"srtp": {known: []string{"listen"}},
			"hass": {known: []string{"config"}},
			"homekit": {names: &schema{known: []string{
				"pin", "name", "device_id", "device_private", "category_id", "pairings",
				"hksv", "motion", "motion_threshold", "motion_hold_time", "onvif_url", "speaker",
			}}},
			"webtorrent": {
				known: []string{"trackers", "shares"},
				sub: map[string]*schema{
					"shares": {names: &schema{known: []string{"pwd", "src"}}},
				},
			},
			"ngrok":  {known: []string{"command"}},
			"pinggy": {known: []string{"tunnel"}},
			"echo":   {known: []string{"allow_paths"}},
			"exec":   {known: []string{"allow_paths"}},
			"wyoming": {names: &schema{
				known: []string{"listen", "name", "mode", "event", "wake_uri", "vad_threshold"},
				sub:   map[string]*schema{"event": freeNames},
			}},
			"wyze":   {names: &schema{known: []string{"api_key", "api_id", "password"}}},
			"xiaomi": freeNames,
		},
	}
)

// other handles a key of the mapping at path (described by s) that rtspgate
// does not read: a key of the original product is listed in Config.Ignored
// and the keys inside its value are checked; any other key is an error.
func (d *decoder) other(s *schema, path, key string, k, v *yaml.Node) error {
	if err := d.checkKey(s, path, key, k); err != nil {
		return err
	}
	d.cfg.ignore(join(path, key))
	return d.checkKeys(v, join(path, key), s.sub[key])
}

// checkKeys checks the keys of n, the value at path, against s, and those
// of their values where s describes them. The values themselves are not
// read (rtspgate does not use them).
func (d *decoder) checkKeys(n *yaml.Node, path string, s *schema) error {
	n = resolve(n)
	if s == nil || s.free || n.Kind != yaml.MappingNode {
		return nil // a value of another shape is the original's to judge
	}
	return d.each(n, path, func(key string, k, v *yaml.Node) error {
		if s.names != nil {
			return d.checkKeys(v, join(path, key), s.names)
		}
		if err := d.checkKey(s, path, key, k); err != nil {
			return err
		}
		return d.checkKeys(v, join(path, key), s.sub[key])
	})
}

// checkKey returns an error if key may not appear in the mapping at path
// described by s. The error suggests the closest known key.
func (d *decoder) checkKey(s *schema, path, key string, k *yaml.Node) error {
	if s.free || s.names != nil || slices.Contains(s.known, key) {
		return nil
	}
	near, ok := suggest(key, s.known)
	if !ok && s.loose {
		return nil
	}
	// A key is shown, unless it may be a URL with a password in it.
	shown := join(path, key)
	if strings.ContainsAny(key, "@:/") || len(key) > 64 {
		shown = join(path, "(a key not shown)")
	}
	if ok {
		return d.errorf(k, shown, "unknown key; did you mean %s?", join(path, near))
	}
	if path == "" {
		return d.errorf(k, shown, "unknown key; rtspgate reads %s and accepts the other sections of go2rtc (%s)",
			strings.Join(rtspgateSections, ", "), strings.Join(originalSections, ", "))
	}
	return d.errorf(k, shown, "unknown key; %s takes %s", path, strings.Join(s.known, ", "))
}

// suggest returns the known key closest to key when it is close enough to
// be a typo of it: case aside, at most one edit for a key of up to four
// characters, two for a longer one. An edit inserts, deletes or replaces a
// character, or swaps two neighbours. Ties go to the earlier known key.
func suggest(key string, known []string) (string, bool) {
	limit := 2
	if len([]rune(key)) <= 4 {
		limit = 1
	}
	best, bestDist := "", limit+1
	lk := strings.ToLower(key)
	for _, c := range known {
		if dist := editDistance(lk, c); dist < bestDist {
			best, bestDist = c, dist
		}
	}
	return best, best != ""
}

// editDistance is the optimal string alignment distance between a and b:
// the number of insertions, deletions, substitutions and transpositions of
// adjacent characters that turn one into the other.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	// three rows of the dynamic programming table: i-2, i-1 and i
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
