package desktop

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// partyRules checks rules.js as the desktop uses it: which party controls
// each state enables and shows, and how the "Agent or number" input is read.
const partyRules = `
import * as R from './rules.js';
const fail = [];
const eq = (what, got, want) => { if (JSON.stringify(got) !== JSON.stringify(want)) fail.push(what + ': ' + JSON.stringify(got) + ', want ' + JSON.stringify(want)); };
const on = (v, ...names) => names.filter((n) => R.allowed({ phase: 'accepted', ...v })[n]);
const all = ['call', 'hold', 'retrieve', 'transfer', 'consult', 'complete-transfer', 'conference', 'end-consultation', 'end-call', 'done'];

eq('connected', on({ status: 'Connected' }, ...all), ['hold', 'transfer', 'consult', 'end-call']);
eq('on hold', on({ status: 'On Hold' }, ...all), ['retrieve', 'transfer', 'consult', 'end-call']);
eq('asked', on({ status: 'Connected', party_purpose: 'consult' }, ...all), ['end-call']);
eq('ringing', on({ status: 'On Hold', party_purpose: 'consult', party_status: 'Ringing' }, ...all), ['end-consultation', 'end-call']);
eq('consulting', on({ status: 'On Hold', party_purpose: 'consult', party_status: 'Consulting' }, ...all),
  ['complete-transfer', 'conference', 'end-consultation', 'end-call']);
eq('conference', on({ status: 'Connected', party_purpose: 'consult', party_status: 'Conference' }, ...all),
  ['complete-transfer', 'end-consultation', 'end-call']);
eq('transferred', on({ status: 'Ready to Call', party_purpose: 'transfer', party_status: 'Transferred', disposition: 'x' }, ...all), ['done']);

eq('shown with none', R.partyShown({ party_purpose: '' }), { ask: true, end: false });
eq('shown consulting', R.partyShown({ party_purpose: 'consult', party_status: 'Consulting' }), { ask: false, end: true });
eq('shown transferred', R.partyShown({ party_purpose: 'transfer', party_status: 'Transferred' }), { ask: true, end: false });
eq('labels in conference', R.partyLabels({ party_status: 'Conference' }), { 'complete-transfer': 'Transfer', 'end-consultation': 'Drop Party' });
eq('labels consulting', R.partyLabels({ party_purpose: 'consult', party_status: 'Consulting' }),
  { 'complete-transfer': 'Complete Transfer', 'end-consultation': 'End Consultation' });

eq('text consulting', R.partyText({ party_purpose: 'consult', party_status: 'Consulting', party: 'agent2' }), 'Consulting agent2');
eq('text conference', R.partyText({ party_purpose: 'consult', party_status: 'Conference', party: 'agent2' }), 'Conference with agent2');
eq('text transfer ringing', R.partyText({ party_purpose: 'transfer', party_status: 'Ringing', party: '+141******00' }), 'Transferring to +141******00');
eq('text none', R.partyText({ party_reason: 'agent2: No answer' }), '');

eq('target agent', R.partyTarget(' agent2 '), { agent: 'agent2' });
eq('target digits are an agent', R.partyTarget('1001'), { agent: '1001' });
eq('target number', R.partyTarget('+1 (415) 555-0100'), { phone_number: '+14155550100' });
eq('target empty', R.partyTarget('  '), null);

// The contact's local time and the calling window (issue 11): 21:30 in
// Paris is outside 08:00–21:00; every zone of the number must allow it.
const at = new Date('2026-12-03T20:30:00Z');
eq('paris outside', R.contactTime({ contact_zones: ['Europe/Paris'], calling_window: '08:00–21:00' }, at),
  { text: '21:30 Europe/Paris', inside: false, window: '08:00–21:00' });
eq('new york inside', R.contactTime({ contact_zones: ['America/New_York'], calling_window: '08:00–21:00' }, at).inside, true);
eq('all zones', R.contactTime({ contact_zones: ['America/New_York', 'Europe/Paris'], calling_window: '08:00-21:00' }, at).inside, false);
eq('no window', R.contactTimeText(R.contactTime({ contact_zones: ['Asia/Tokyo'] }, at)), '05:30 Asia/Tokyo');
eq('worded', R.contactTimeText(R.contactTime({ contact_zones: ['Europe/Paris'], calling_window: '08:00–21:00' }, at)),
  '21:30 Europe/Paris · outside the calling window 08:00–21:00');
eq('no zones', R.contactTimeText(R.contactTime({}, at)), 'Unknown');

if (fail.length) { console.log(fail.join('\n')); process.exit(1); }
`

func TestPartyRules(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("the desktop's rules are checked with Node.js (Debian package nodejs), not installed")
	}
	dir, err := filepath.Abs("static")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, "--input-type=module", "-")
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(partyRules)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("rules.js: %v\n%s", err, out)
	}
}
