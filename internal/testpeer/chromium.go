package testpeer

import (
	"bytes"
	"context"
	"html"
	"os"
	"os/exec"
	"regexp"
	"testing"
	"time"
)

// ChromiumPath finds Debian's chromium; without it the test fails (never
// skips), so a missing browser cannot pass for a working page.
func ChromiumPath(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium is not installed: install Debian's chromium package (apt-get install chromium), " +
			"which scripts/test.sh does when it is missing")
	}
	return p
}

// Chromium runs headless chromium on url with extra flags (e.g.
// "--dump-dom", "--screenshot=FILE") and returns its standard output. The
// flags keep it off the network this machine does not have.
func Chromium(t testing.TB, url string, extra ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	args := []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir(), "--virtual-time-budget=5000",
	}
	args = append(append(args, extra...), url)
	cmd := exec.CommandContext(ctx, ChromiumPath(t), args...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir()) // keep its caches out of the real home
	cmd.SysProcAttr = childSysProcAttr()
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %s: %v\n%s", url, err, lastLines(stderr.String(), 20))
	}
	return stdout.Bytes()
}

var (
	tagRE   = regexp.MustCompile(`<[^>]*>`)
	spaceRE = regexp.MustCompile(`\s+`)
)

// PageText is the text of a DOM dump: tags removed, spaces collapsed.
func PageText(dom []byte) string {
	return html.UnescapeString(spaceRE.ReplaceAllString(tagRE.ReplaceAllString(string(dom), " "), " "))
}
