package e2e

import (
	"context"
	_ "embed"
	"encoding/json"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// axeSource is axe-core, vendored (testdata/axe-core/README.md).
//
//go:embed testdata/axe-core/axe.min.js
var axeSource string

// pageAxe runs axe-core on the page as it stands and fails on any
// critical or serious violation. Frames of other origins are left out:
// each page is checked on its own.
func pageAxe(t *testing.T, tab *desktopTab, state string) {
	t.Helper()
	if !desktopEval[bool](t, tab, `typeof window.axe === 'object'`) {
		desktopEval[chromedp.Void](t, tab, axeSource+";undefined")
	}
	ctx, cancel := context.WithTimeout(tab.ctx, desktopWait)
	defer cancel()
	out, err := chromedp.Run(ctx, chromedp.Evaluate[string](`axe.run(document, {iframes: false, resultTypes: ['violations']}).then(r =>
		JSON.stringify({passes: r.passes.length, found: r.violations.filter(v => v.impact === 'critical' || v.impact === 'serious').map(v =>
			v.impact + ' ' + v.id + ': ' + v.help + ' at ' + v.nodes.map(n => n.target.join(' ')).join(', '))}))`, chromedp.EvalAwaitPromise))
	if err != nil {
		tab.fatal(t, "axe in %s: %v", state, err)
	}
	var res struct {
		Passes int
		Found  []string
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("axe in %s: %v %q", state, err, out)
	}
	if res.Passes == 0 {
		t.Errorf("axe-core in %s checked nothing", state)
	}
	if len(res.Found) > 0 {
		t.Errorf("axe-core in %s:\n  %s", state, strings.Join(res.Found, "\n  "))
		return
	}
	t.Logf("axe-core in %s: %d rules pass, no critical or serious violation", state, res.Passes)
}
