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
eq('a call received by transfer', on({ status: 'Connected', call_handed_over: true }, ...all, 'mute', 'party-target'), ['hold', 'end-call', 'mute']);
// The name an agent keeps in the contact's record wins over the request's (issue 15).
const cbv = { callback: { contact_name: 'Ada', phone_number: '+14155550100' } };
eq('name from the request', [R.contactName(cbv), R.givenName(cbv)], ['Ada', 'Ada']);
eq('name from the record', [R.contactName(cbv, 'Ada Lovelace'), R.givenName(cbv, 'Ada Lovelace')], ['Ada Lovelace', 'Ada Lovelace']);
eq('name cleared in the record', [R.contactName(cbv, ''), R.givenName(cbv, '')], ['+14155550100', '']);
eq('no name at all', [R.contactName({ callback: { phone_number: '+14155550100' } }, null), R.givenName({}, null)], ['+14155550100', '']);
// A supervisor's Not Ready waiting for the call (issue 14).
eq('pending', R.pendingText({ state: 'NOT_READY', reason: 'Coaching', by: 'sue' }), ' · Not Ready after this call (Coaching), set by sue');
eq('pending without reason or name', R.pendingText({ state: 'NOT_READY' }), ' · Not Ready after this call');
eq('nothing pending', R.pendingText(undefined), '');
eq('a call received by transfer, held', on({ status: 'On Hold', call_handed_over: true }, ...all, 'mute', 'party-target'), ['retrieve', 'end-call']);
// The callback cancelled under the open interaction: no Call, no Reschedule; Done once a code is chosen.
eq('cancelled', on({ status: 'Ready to Call', callback_cancelled: true, disposition: 'x' }, ...all, 'reschedule'), ['done']);
eq('cancelled text', R.cancelledText({ callback_cancelled: true, cancel_reason: 'ended by supervisor sue: duplicate' }),
  'This callback was cancelled (ended by supervisor sue: duplicate). Do not call the contact: choose a disposition and click Done.');
eq('not cancelled', R.cancelledText({}), '');
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

// A window closed (transferred away) is reopened only by a later state, not
// by a command's answer that was on its way when it closed.
eq('never closed', R.revives(undefined, { updated_at: '2026-12-03T20:00:00Z' }), true);
eq('late answer', R.revives('2026-12-03T20:00:00.930Z', { updated_at: '2026-12-03T20:00:00.912Z' }), false);
eq('the closing view again', R.revives('2026-12-03T20:00:00.930Z', { updated_at: '2026-12-03T20:00:00.930Z' }), false);
eq('came back later', R.revives('2026-12-03T20:00:00.930Z', { updated_at: '2026-12-03T20:05:00Z' }), true);
eq('no time', R.revives('2026-12-03T20:00:00.930Z', {}), false);

if (fail.length) { console.log(fail.join('\n')); process.exit(1); }
`

// workspaceRules checks the rules of issue 15's small things: what the
// workspace says with no interaction, the disposition reminder, the draft
// sent as the agent types, anchor text in case information and its
// preview card, and the contact's time for the reschedule picker.
const workspaceRules = `
import * as R from './rules.js';
const fail = [];
const eq = (what, got, want) => { if (JSON.stringify(got) !== JSON.stringify(want)) fail.push(what + ': ' + JSON.stringify(got) + ', want ' + JSON.stringify(want)); };

eq('idle ready', R.idleText('READY'), 'Ready. Waiting for a web callback: its preview shows here.');
eq('idle not ready', R.idleText('NOT_READY', 'Lunch'), 'No interaction. Go Ready to receive web callbacks.');
eq('idle after call work', R.idleText('AFTER_CALL_WORK').startsWith('After Call Work.'), true);
eq('idle busy', R.idleText('BUSY', 'On a call with d1'), 'Busy: On a call with d1.');
eq('idle logged out', R.idleText('LOGGED_OUT'), '');

eq('hint none chosen', R.dispositionHint(true, ''), 'Required before Done.');
eq('hint chosen', R.dispositionHint(true, 'resolved'), '');
eq('hint not required', R.dispositionHint(false, ''), '');

eq('draft note only', R.draftBody('Wants a refund', false, { order: 'A-17' }, 'x', 'y'), { note: 'Wants a refund', case_editing: false });
eq('draft editing', R.draftBody('', true, { order: 'A-18' }, ' email ', 'a@example.com'),
  { note: '', case_editing: true, case_data: { order: 'A-18', email: 'a@example.com' } });
eq('draft new field without a name', R.draftBody('', true, { order: 'A-18' }, '  ', 'lost?'),
  { note: '', case_editing: true, case_data: { order: 'A-18' } });

eq('markdown anchor', R.linkParts('see [Order A-17](https://crm.example/A-17) now'),
  [{ text: 'see ' }, { href: 'https://crm.example/A-17', text: 'Order A-17' }, { text: ' now' }]);
eq('html anchor', R.linkParts('<a href="https://crm.example/t?id=9" target="_top">Ticket 9</a>'),
  [{ href: 'https://crm.example/t?id=9', text: 'Ticket 9' }]);
eq('bare address, trailing dot', R.linkParts('https://crm.example/a.'), [{ href: 'https://crm.example/a', text: 'https://crm.example/a' }, { text: '.' }]);
eq('no script link', R.linkParts('[x](javascript:alert(1))'), [{ text: '[x](javascript:alert(1))' }]);
eq('card of anchor text shows the real site', R.linkCard('https://evil.example/login', 'https://bank.example'),
  { title: 'https://bank.example', site: 'evil.example', address: 'https://evil.example/login' });
eq('card of a bare address', R.linkCard('https://crm.example/orders/A-17/', 'https://crm.example/orders/A-17/'),
  { title: 'crm.example › A-17', site: 'crm.example', address: 'https://crm.example/orders/A-17/' });

const at = new Date('2026-12-03T14:30:00Z');
eq('contact zones', R.zonedText(at, ['America/New_York', 'Asia/Tokyo']), 'Thu 3 Dec, 09:30 America/New_York; Thu 3 Dec, 23:30 Asia/Tokyo');
eq('no zones', R.zonedText(at, []), '');
eq('no time', R.zonedText(new Date('x'), ['Europe/Paris']), '');

if (fail.length) { console.log(fail.join('\n')); process.exit(1); }
`

func TestPartyRules(t *testing.T) { runRules(t, partyRules) }

func TestWorkspaceRules(t *testing.T) { runRules(t, workspaceRules) }

// runRules runs a script against rules.js in Node.js; it fails with what
// the script printed.
func runRules(t *testing.T, script string) {
	t.Helper()
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
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("rules.js: %v\n%s", err, out)
	}
}
