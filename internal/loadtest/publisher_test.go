package loadtest

import (
	"strings"
	"testing"
	"time"
)

// TestPublisherWaitsForBusyPath publishes while the path still has another
// publisher, as a rig does when its previous row's publisher has closed but
// the server has not yet released its session: Start goes on trying and
// succeeds once the path is free, and gives up with the server's answer when
// it stays taken.
func TestPublisherWaitsForBusyPath(t *testing.T) {
	h := &testServer{}
	addr := startTestServer(t, h, nil)
	url := "rtsp://" + addr + "/bench"
	first := &Publisher{URL: url, Input: syntheticInput(30, 10)}
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}

	stuck := &Publisher{URL: url, Input: syntheticInput(30, 10), BusyWait: 200 * time.Millisecond}
	err := stuck.Start()
	if err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("publishing to a taken path: %v, want the server's 503", err)
	}

	released := make(chan struct{})
	go func() {
		defer close(released)
		time.Sleep(300 * time.Millisecond)
		first.Close()
	}()
	second := &Publisher{URL: url, Input: syntheticInput(30, 10)}
	if err := second.Start(); err != nil {
		t.Fatalf("publishing once the path is released: %v", err)
	}
	defer second.Close()
	<-released
	if second.Waited < 200*time.Millisecond || second.Waited > 3*time.Second {
		t.Errorf("waited %v for a path released after 300 ms", second.Waited)
	}
	if first.Waited != 0 {
		t.Errorf("the first publisher, on a free path, waited %v", first.Waited)
	}
}
