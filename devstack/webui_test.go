package devstack_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wochit-ingest/wochit-ingest/devstack"
	"github.com/wochit-ingest/wochit-ingest/devstack/devstacktest"
	"github.com/wochit-ingest/wochit-ingest/workflows"
)

// chromium finds a Chromium to drive: CHROMIUM_PATH, else one on PATH.
// .ci/install-chromium installs Debian's.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROMIUM_PATH"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no Chromium found (CHROMIUM_PATH, or chromium on PATH): install it with .ci/install-chromium"
	if os.Getenv("CI") != "" {
		t.Fatal(msg + "; CI is set, so this test must run")
	}
	t.Skip(msg)
	return ""
}

// The Web UI shows a finished run's payloads decrypted, as an operator sees
// them in a real browser: headless Chromium opens the run in dev's Web UI,
// which decodes through dev's codec server (its token in the endpoint), and
// the page shows the notification's title in the input's JSON ("title": …)
// and the stored object's gs:// URI in the result's ("uri": …). A screenshot is saved as a test
// artifact (go test -artifacts keeps it; its path is logged).
//
// Mutation: give the UI a codec endpoint without the token (startUI's
// codecURL → s.CodecURL) → the codec server answers 401, the page shows
// ciphertext only, and this fails naming what the page showed instead.
func TestWebUIShowsDecryptedPayloads(t *testing.T) {
	devstacktest.EndToEnd(t)
	browser := chromium(t)
	recv := devstacktest.NewReceiver(t)
	stack := startStack(t, t.TempDir(), randomAddrs(), recv.URL, func(o *devstack.Options) { o.UIAddr = "127.0.0.1:0" })
	defer stack.Stop(context.Background())

	const title = "Sunset over the harbour, take 7"
	video, thumb := stack.DemoURLs()
	started := postNotification(t, stack.IngressURL, map[string]string{
		"wochitVideoId": "webui-1", "videoContext": "ctx-webui", "title": title,
		"videoUrl": video + "?X-Goog-Signature=abc", "thumbnailUrl": thumb + "?X-Goog-Signature=abc",
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var res workflows.IngestResult
	if err := stack.Client.GetWorkflow(ctx, started["workflowId"], started["runId"]).Get(ctx, &res); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(res.Video.URI, "gs://") {
		t.Fatalf("stored video URI %q", res.Video.URI)
	}

	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser),
		chromedp.WindowSize(1400, 2400),
		chromedp.NoSandbox, // CI runs as root, where Chromium's sandbox cannot start
		chromedp.Flag("disable-dev-shm-usage", true),
	)...)
	defer cancelAlloc()
	tab, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf))
	defer cancelTab()

	page := stack.UIURL + "/namespaces/" + devstack.Namespace + "/workflows/" + started["workflowId"] + "/" + started["runId"] + "/history"
	shot := filepath.Join(t.ArtifactDir(), "webui-run.png")
	saveShot := func() {
		png, err := chromedp.Run(tab, chromedp.FullScreenshot(100))
		if err == nil {
			err = os.WriteFile(shot, png, 0o644)
		}
		if err != nil {
			t.Logf("screenshot: %v", err)
			return
		}
		t.Logf("screenshot of %s: %s", page, shot)
	}
	if err := chromedp.Do(tab, chromedp.Navigate(page)); err != nil {
		t.Fatalf("opening %s in Chromium: %v", page, err)
	}
	// The UI renders, then asks the codec server to decode: the browser
	// polls its own page until both decoded values are on it.
	_, err := chromedp.Run(tab, chromedp.PollFunction[bool](
		`(title, uri) => !!document.body && document.body.innerText.includes(title) && document.body.innerText.includes(uri)`,
		chromedp.WithPollingArgs(`"title": "`+title+`"`, `"uri": "`+res.Video.URI+`"`), chromedp.WithPollingTimeout(60*time.Second), chromedp.WithPollingInterval(250*time.Millisecond)))
	text, textErr := chromedp.Run(tab, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	saveShot()
	if err != nil {
		t.Fatalf("the run's page does not show the title %q and the stored URI %q in clear (%v); it shows:\n%s%v", title, res.Video.URI, err, text, textErr)
	}
}
