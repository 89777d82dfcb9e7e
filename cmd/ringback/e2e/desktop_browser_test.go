package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/png"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/accessibility"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/dom"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/ringback/ringback/services/agent-session/desktop"
)

// desktopChromium is the browser the desktop tests drive (Debian package
// chromium; chromium-driver is not needed, chromedp speaks CDP itself).
const desktopChromium = "/usr/bin/chromium"

// desktopWait bounds every wait on the page. Generous on purpose: the
// binary runs with -race next to a browser on small CI machines; a wait
// that succeeds returns as soon as its condition holds.
const desktopWait = 30 * time.Second

// desktopBrowser is one headless Chromium for a test; each agent gets a tab
// in a browser context of their own (separate cookies and storage).
type desktopBrowser struct {
	ctx context.Context
	log string
}

// desktopNeedChromium skips the test when Chromium is not installed; tests call
// it first, before starting anything else.
func desktopNeedChromium(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(desktopChromium); err != nil {
		t.Skipf("desktop tests need Chromium at %s (Debian package chromium): %v", desktopChromium, err)
	}
}

func startDesktopBrowser(t *testing.T) *desktopBrowser {
	t.Helper()
	desktopNeedChromium(t)
	logPath := filepath.Join(t.TempDir(), "chromium.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(desktopChromium),
		chromedp.Headless,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1100),
		chromedp.CombinedOutput(logFile),
	)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium refuses to run as root with its sandbox
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
		logFile.Close()
	})
	if err := chromedp.Do(ctx); err != nil { // starts the browser, with no timeout
		b, _ := os.ReadFile(logPath)
		t.Fatalf("start %s: %v\n%s", desktopChromium, err, b)
	}
	return &desktopBrowser{ctx: ctx, log: logPath}
}

// desktopTab is one agent's desktop in the browser.
type desktopTab struct {
	name string
	ctx  context.Context

	mu      sync.Mutex
	console []chromedp.ConsoleMessage
}

func (b *desktopBrowser) tab(t *testing.T, name string) *desktopTab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(func() { cancel() })
	tab := &desktopTab{name: name, ctx: ctx}
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("%s: open a tab: %v", name, err)
	}
	if _, err := chromedp.Call(ctx, accessibility.Enable, cdp.Empty{}); err != nil {
		t.Fatalf("%s: accessibility: %v", name, err)
	}
	// No animation: screenshots show the page at rest.
	reduced := emulation.SetEmulatedMediaParams{Features: []*emulation.MediaFeature{{Name: "prefers-reduced-motion", Value: "reduce"}}}
	if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, reduced); err != nil {
		t.Fatalf("%s: reduced motion: %v", name, err)
	}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			tab.mu.Lock()
			tab.console = append(tab.console, m)
			tab.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s: console:\n%s", name, tab.consoleText())
		}
	})
	return tab
}

func (tab *desktopTab) consoleText() string {
	tab.mu.Lock()
	defer tab.mu.Unlock()
	var b strings.Builder
	for _, m := range tab.console {
		fmt.Fprintf(&b, "  %s %s:%d %s\n", m.Type, m.URL, m.Line+1, m)
	}
	return b.String()
}

// noExceptions fails the test if the page threw anything uncaught.
func (tab *desktopTab) noExceptions(t *testing.T) {
	t.Helper()
	tab.mu.Lock()
	defer tab.mu.Unlock()
	for _, m := range tab.console {
		if m.IsException() {
			t.Errorf("%s: uncaught in the page: %s", tab.name, m)
		}
	}
}

// fatal ends the test with what the agent saw.
func (tab *desktopTab) fatal(t *testing.T, format string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab.ctx, 5*time.Second)
	defer cancel()
	text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	t.Fatalf("%s: %s\n--- the page reads:\n%s\n---", tab.name, fmt.Sprintf(format, args...), text)
}

// do runs steps with the wait bound.
func (tab *desktopTab) do(t *testing.T, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab.ctx, desktopWait)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		tab.fatal(t, "%s: %v", what, err)
	}
}

// desktopEval evaluates a JavaScript expression in the tab.
func desktopEval[T any](t *testing.T, tab *desktopTab, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab.ctx, desktopWait)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		tab.fatal(t, "evaluate %s: %v", expr, err)
	}
	return v
}

// waitJS waits until a JavaScript expression is true in the page.
func (tab *desktopTab) waitJS(t *testing.T, what, expr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab.ctx, desktopWait)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[bool]("Boolean("+expr+")",
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(desktopWait)))
	if err != nil {
		tab.fatal(t, "waiting for %s: %v", what, err)
	}
}

// type into the field the label names, as the agent would.
func (tab *desktopTab) fill(t *testing.T, css, text string) {
	t.Helper()
	desktopEval[chromedp.Void](t, tab, `document.querySelector(`+desktopJS(css)+`).value = ''`)
	tab.do(t, "type into "+css, chromedp.SendKeys(chromedp.CSS(css), text))
}

// desktopButton is a button as assistive technology sees it.
type desktopButton struct {
	Name     string
	Disabled bool
	Backend  cdp.BackendNodeID
}

// buttons lists the buttons under the element css selects, from the
// browser's accessibility tree: role and accessible name as a screen reader
// gets them, not as the markup spells them.
func (tab *desktopTab) buttons(ctx context.Context, css string) ([]desktopButton, error) {
	scope, err := chromedp.Run(ctx, chromedp.Evaluate[*runtime.RemoteObject](
		fmt.Sprintf(`document.querySelector(%q)`, css)))
	if err != nil {
		return nil, err
	}
	if scope.ObjectID == "" {
		return nil, fmt.Errorf("nothing matches %s", css)
	}
	res, err := chromedp.Call(ctx, accessibility.QueryAXTree, accessibility.QueryAXTreeParams{ObjectID: scope.ObjectID, Role: "button"})
	if err != nil {
		return nil, err
	}
	var out []desktopButton
	for _, n := range res.Nodes {
		if n.Ignored || n.Name == nil {
			continue
		}
		b := desktopButton{Backend: n.BackendDOMNodeID}
		_ = json.Unmarshal([]byte(n.Name.Value), &b.Name)
		for _, p := range n.Properties {
			if p.Name == accessibility.PropertyNameDisabled && p.Value != nil && string(p.Value.Value) == "true" {
				b.Disabled = true
			}
		}
		out = append(out, b)
	}
	return out, nil
}

// button returns the button named name under css, waiting for it to exist.
func (tab *desktopTab) button(t *testing.T, css, name string) desktopButton {
	t.Helper()
	var last []desktopButton
	deadline := time.Now().Add(desktopWait)
	for {
		ctx, cancel := context.WithTimeout(tab.ctx, desktopWait)
		bs, err := tab.buttons(ctx, css)
		cancel()
		if err == nil {
			for _, b := range bs {
				if b.Name == name {
					return b
				}
			}
		}
		last = bs
		if time.Now().After(deadline) {
			tab.fatal(t, "no button named %q in %s (err %v); buttons there: %+v", name, css, err, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// press clicks, with the mouse, the button whose accessible name matches,
// once it is enabled.
func (tab *desktopTab) press(t *testing.T, css string, match func(name string) bool, what string) {
	t.Helper()
	var last []desktopButton
	var lastErr error
	deadline := time.Now().Add(desktopWait)
	for {
		ctx, cancel := context.WithTimeout(tab.ctx, desktopWait)
		bs, err := tab.buttons(ctx, css)
		if err == nil {
			for _, b := range bs {
				if match(b.Name) && !b.Disabled {
					err = chromedp.Do(ctx, desktopClickNode(b.Backend))
					cancel()
					if err != nil {
						tab.fatal(t, "press %s: %v", what, err)
					}
					return
				}
			}
		}
		cancel()
		last, lastErr = bs, err
		if time.Now().After(deadline) {
			tab.fatal(t, "no enabled button %s in %s (err %v); buttons there: %+v", what, css, lastErr, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// pressNamed presses the button with exactly this accessible name.
func (tab *desktopTab) pressNamed(t *testing.T, css, name string) {
	t.Helper()
	tab.press(t, css, func(n string) bool { return n == name }, fmt.Sprintf("%q", name))
}

// desktopClickNode scrolls a node into view and clicks its centre.
func desktopClickNode(id cdp.BackendNodeID) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, tt *chromedp.Target) (chromedp.Void, error) {
		node := dom.ScrollIntoViewIfNeededParams{BackendNodeID: id}
		if _, err := chromedp.Call(ctx, dom.ScrollIntoViewIfNeeded, node); err != nil {
			return chromedp.Void{}, err
		}
		q, err := chromedp.Call(ctx, dom.GetContentQuads, dom.GetContentQuadsParams{BackendNodeID: id})
		if err != nil {
			return chromedp.Void{}, err
		}
		if len(q.Quads) == 0 || len(q.Quads[0]) < 8 {
			return chromedp.Void{}, errors.New("the button has no box")
		}
		var x, y float64
		for i := 0; i < 8; i += 2 {
			x += q.Quads[0][i] / 4
			y += q.Quads[0][i+1] / 4
		}
		return chromedp.MouseClickXY(x, y)(ctx, tt)
	}
}

// screenshot saves a PNG of the element css selects under the test's
// artifact directory (go test -artifacts keeps it) and checks it is not
// blank: a rendered window has text, borders and colours, so many distinct
// colours; a blank or failed render has one or two.
func (tab *desktopTab) screenshot(t *testing.T, css, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab.ctx, desktopWait)
	defer cancel()
	buf, err := chromedp.Run(ctx, chromedp.Screenshot(chromedp.CSS(css)))
	if err != nil {
		tab.fatal(t, "screenshot %s: %v", css, err)
	}
	path := filepath.Join(t.ArtifactDir(), name)
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(buf))
	if err != nil {
		t.Fatalf("%s: not a PNG: %v", path, err)
	}
	if n, b := desktopColours(img), img.Bounds(); n < desktopMinColours || b.Dx() < 200 || b.Dy() < 100 {
		t.Fatalf("%s looks blank: %dx%d, %d distinct colours (want at least %d)", path, b.Dx(), b.Dy(), n, desktopMinColours)
	}
	return path
}

// desktopMinColours: the preview and the window, rendered, have hundreds
// (anti-aliased text on several backgrounds); blank is 1.
const desktopMinColours = 64

func desktopColours(img image.Image) int {
	seen := map[[4]uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, a := img.At(x, y).RGBA()
			seen[[4]uint32{r, g, bl, a}] = true
		}
	}
	return len(seen)
}

// desktopURL is where the agent desktop of the platform at p is served:
// ringback's own /agent/ once agent-session mounts desktop.Handler there;
// until then, the same handler served by the test in front of ringback's
// API (one origin for the browser, as in production).
func desktopURL(t *testing.T, p *proc) string {
	t.Helper()
	res, err := http.Get(p.URL + desktop.Prefix)
	if err == nil {
		defer res.Body.Close()
		if res.StatusCode == 200 && strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
			return p.URL + desktop.Prefix
		}
		t.Logf("ringback answers GET %s with %d: serving desktop.Handler() from the test, in front of ringback's API",
			desktop.Prefix, res.StatusCode)
	}
	upstream, _ := url.Parse(p.URL)
	proxy := httputil.NewSingleHostReverseProxy(upstream)
	proxy.FlushInterval = -1 // the event stream
	mux := http.NewServeMux()
	mux.Handle("GET "+desktop.Prefix, desktop.Handler())
	mux.Handle("/", proxy)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
	})
	return srv.URL + desktop.Prefix
}
