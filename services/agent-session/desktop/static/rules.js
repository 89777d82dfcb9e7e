// Pure rules of the desktop: which actions the current status allows, and
// how times, countdowns and links are shown. No DOM, no I/O.

// Call statuses, in the Workspace's words (api/openapi.yaml Interaction.status).
export const READY_TO_CALL = 'Ready to Call';
export const ESTABLISHING = 'Establishing';
export const CONNECTED = 'Connected';
export const ON_HOLD = 'On Hold';

// Third-party statuses (api/openapi.yaml Interaction.party_status).
export const PARTY_RINGING = 'Ringing';
export const CONSULTING = 'Consulting';
export const CONFERENCE = 'Conference';
export const TRANSFERRED = 'Transferred';

// Agent channel states, as the agent reads them.
export const STATE_WORDS = {
  READY: 'Ready',
  NOT_READY: 'Not Ready',
  BUSY: 'Busy',
  AFTER_CALL_WORK: 'After Call Work',
  LOGGED_OUT: 'Logged Out',
  UNKNOWN: 'Unknown',
};

// autoAnswers says whether the preview counts down to an auto-answer.
export function autoAnswers(v) {
  return Boolean(v.auto_answer_at);
}

// rejectShown: an auto-answer preview shows Reject only when the agent's
// configuration lets them reject; a manual preview always does.
export function rejectShown(v) {
  return autoAnswers(v) ? v.can_reject === true : v.can_reject !== false;
}

// allowed lists what the agent may do with an interaction now. The server
// decides in the end; this keeps buttons disabled when the action would be
// refused anyway.
export function allowed(v, { dispositionRequired = true } = {}) {
  const accepted = v.phase === 'accepted';
  const s = v.status;
  const live = s === ESTABLISHING || s === CONNECTED || s === ON_HOLD;
  // A party asked for and not gone: the gateway holds and retrieves the
  // contact itself, and a transferred contact is not called again.
  const party = Boolean(v.party_purpose);
  const ps = v.party_status || '';
  // A call received by transfer (issue 15): held, muted and recorded like
  // one's own, but not consulted on or transferred again (its third-party
  // place is the receiving agent's own leg).
  const handed = Boolean(v.call_handed_over);
  // The callback was cancelled (a supervisor ended it, or the visitor
  // cancelled as the agent took it): the contact is not called again and
  // not rescheduled; the agent files it with Done.
  const cancelled = Boolean(v.callback_cancelled);
  return {
    accept: v.phase === 'offered',
    reject: v.phase === 'offered' && rejectShown(v),
    call: accepted && s === READY_TO_CALL && !party && !cancelled,
    'end-call': accepted && live,
    hold: accepted && s === CONNECTED && !party,
    retrieve: accepted && s === ON_HOLD && !party,
    transfer: accepted && (s === CONNECTED || s === ON_HOLD) && !party && !handed,
    consult: accepted && (s === CONNECTED || s === ON_HOLD) && !party && !handed,
    'party-target': accepted && (s === CONNECTED || s === ON_HOLD) && !party && !handed,
    'complete-transfer': accepted && (ps === CONSULTING || ps === CONFERENCE),
    conference: accepted && ps === CONSULTING,
    'end-consultation': accepted && (ps === PARTY_RINGING || ps === CONSULTING || ps === CONFERENCE),
    keypad: accepted && s === CONNECTED,
    mute: accepted && (s === CONNECTED || (v.muted === true && s === ON_HOLD)),
    record: accepted && (s === CONNECTED || (v.recording === true && s === ON_HOLD)),
    done: accepted && s === READY_TO_CALL && (!dispositionRequired || Boolean(v.disposition)),
    reschedule: accepted && !cancelled,
    disposition: accepted,
    note: accepted,
    'case-edit': accepted,
  };
}

// partyShown says which party controls the window shows: "ask" (the
// party input, Transfer, Consult) with no party on the call, "end" (Complete
// Transfer, Conference, End Consultation) while one is.
export function partyShown(v) {
  const on = Boolean(v.party_purpose) && v.party_status !== TRANSFERRED;
  return { ask: !on, end: on };
}

// partyLabels are the ending buttons' words: in a conference Transfer and
// Drop Party; while a blind transfer rings, Cancel Transfer.
export function partyLabels(v) {
  if (v.party_status === CONFERENCE) return { 'complete-transfer': 'Transfer', 'end-consultation': 'Drop Party' };
  if (v.party_purpose === 'transfer') return { 'complete-transfer': 'Complete Transfer', 'end-consultation': 'Cancel Transfer' };
  return { 'complete-transfer': 'Complete Transfer', 'end-consultation': 'End Consultation' };
}

// partyText says where the third party is, e.g. "Consulting agent2", or is empty.
export function partyText(v) {
  const who = v.party || v.party_agent_id || 'the party';
  if (!v.party_purpose) return '';
  switch (v.party_status) {
    case PARTY_RINGING: return v.party_purpose === 'transfer' ? `Transferring to ${who}` : `Ringing ${who}`;
    case CONSULTING: return `Consulting ${who}`;
    case CONFERENCE: return `Conference with ${who}`;
    case TRANSFERRED: return `Transferred to ${who}`;
    default: return v.party_purpose === 'transfer' ? `Transferring to ${who}…` : `Calling ${who}…`;
  }
}

// partyTarget reads the "Agent or number" input as the body of transfer
// and consult: a number starts with + (E.164; spaces, dashes, dots and
// brackets are dropped), anything else is an agent id (which may be all
// digits). Empty: null.
export function partyTarget(text) {
  const t = String(text || '').trim();
  if (!t) return null;
  if (t.startsWith('+')) return { phone_number: t.replace(/[ ().-]/g, '') };
  return { agent: t };
}

// doneHint explains a disabled Done, or is empty.
export function doneHint(v, { dispositionRequired = true } = {}) {
  if (v.phase !== 'accepted') return '';
  if (v.status !== READY_TO_CALL) return 'End the call before Done.';
  if (dispositionRequired && !v.disposition) return 'Choose a disposition code before Done.';
  return '';
}

// clock formats whole seconds as mm:ss (hh:mm:ss past an hour).
export function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const two = (n) => String(n).padStart(2, '0');
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return (h > 0 ? two(h) + ':' : '') + two(m) + ':' + two(s % 60);
}

// secondsLeft until an instant, rounded up, never negative.
export function secondsLeft(iso, now) {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return 0;
  return Math.max(0, Math.ceil((t - now) / 1000));
}

// secondsSince an instant, or null when it is unknown (the zero time).
export function secondsSince(iso, now) {
  const t = Date.parse(iso);
  if (Number.isNaN(t) || t <= 0) return null;
  return Math.max(0, Math.floor((now - t) / 1000));
}

// acceptLabel is the Accept button's text: with auto-answer it counts down,
// as "Accept (00:09)".
export function acceptLabel(v, now) {
  if (!autoAnswers(v)) return 'Accept';
  return 'Accept (' + clock(secondsLeft(v.auto_answer_at, now)) + ')';
}

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

// when formats an instant for the agent, or says it is unknown.
export function when(iso, unknown = '—') {
  const t = Date.parse(iso);
  if (!iso || Number.isNaN(t) || t <= 0) return unknown;
  return dateTime.format(new Date(t));
}

// localInput formats an instant for <input type="datetime-local">.
export function localInput(date) {
  const two = (n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${two(date.getMonth() + 1)}-${two(date.getDate())}T${two(date.getHours())}:${two(date.getMinutes())}`;
}

// linkPattern finds, in a case information value, anchor text written
// [text](https://…) or <a href="https://…">text</a> (as web forms send
// it), and bare http(s) addresses.
const linkPattern = /\[([^\]\n]{1,200})\]\((https?:\/\/[^\s<>"')]+)\)|<a\s[^>]*?href\s*=\s*["'](https?:\/\/[^"'\s<>]+)["'][^>]*>([^<]{1,200})<\/a>|\bhttps?:\/\/[^\s<>"']+/gi;

// linkParts splits a case information value into text and http(s) links,
// so that links become anchors without ever parsing the value as HTML.
// Anchor text keeps its words ({href, text: 'Order A-17'}); a bare address
// is its own text, trailing punctuation left out ("see https://x.example/a."
// links /a).
export function linkParts(value) {
  const out = [];
  const str = String(value);
  let last = 0;
  for (const m of str.matchAll(linkPattern)) {
    let href;
    let text;
    let len = m[0].length;
    if (m[1] !== undefined) {
      [href, text] = [m[2], m[1]];
    } else if (m[3] !== undefined) {
      [href, text] = [m[3], m[4]];
    } else {
      href = m[0];
      const trail = href.match(/[.,;:!?)\]]+$/);
      if (trail) href = href.slice(0, -trail[0].length);
      text = href;
      len = href.length;
    }
    if (m.index > last) out.push({ text: str.slice(last, m.index) });
    out.push({ href, text: text.trim() || href });
    last = m.index + len;
  }
  if (last < str.length) out.push({ text: str.slice(last) });
  return out;
}

// linkCard is what the preview card of a case information link shows on
// hover and focus: its words, the site it leads to (the host, as the
// browser will show it, so anchor text cannot hide where it goes) and the
// address, shortened.
export function linkCard(href, text) {
  let url;
  try {
    url = new URL(href);
  } catch {
    return { title: text || href, site: '', address: href };
  }
  const address = url.href.length > 120 ? url.href.slice(0, 119) + '…' : url.href;
  let last = url.pathname.replace(/\/$/, '').split('/').pop() || '';
  try {
    last = decodeURIComponent(last);
  } catch {
    // shown as written
  }
  const title = text && text !== href ? text : url.host + (last ? ` › ${last}` : '');
  return { title: title.trim(), site: url.host, address };
}

// idleText is what the workspace says with no interaction on it, in the
// words of the agent's web callback state.
export function idleText(state, reason = '') {
  switch (state) {
    case 'READY': return 'Ready. Waiting for a web callback: its preview shows here.';
    case 'AFTER_CALL_WORK': return 'After Call Work. Go Ready when you are done, to receive web callbacks.';
    case 'BUSY': return reason ? `Busy: ${reason}.` : 'Busy.';
    case 'NOT_READY': return 'No interaction. Go Ready to receive web callbacks.';
    default: return '';
  }
}

// dispositionHint is the line under the Disposition Code list: a reminder
// only while a required code is still to be chosen.
export function dispositionHint(required, code) {
  return required && !code ? 'Required before Done.' : '';
}

// draftBody is what PUT …/draft takes from the window: the note as typed
// and, while the case information is edited, the form (fields, and the new
// field once it has a name).
export function draftBody(note, editing, fields, newKey = '', newValue = '') {
  const body = { note: String(note || '') };
  if (!editing) return { ...body, case_editing: false };
  const data = { ...fields };
  const k = String(newKey || '').trim();
  if (k) data[k] = String(newValue || '');
  return { ...body, case_editing: true, case_data: data };
}

// zonedText words an instant in each of the contact's zones, for the
// reschedule picker (which is in the agent's own zone), e.g.
// "Tue 3 Dec, 09:30 America/New_York". Empty without zones or time.
export function zonedText(date, zones) {
  if (!(date instanceof Date) || Number.isNaN(date.getTime()) || !zones || !zones.length) return '';
  return zones.map((z) => {
    const f = new Intl.DateTimeFormat('en-GB', { timeZone: z, weekday: 'short', day: 'numeric', month: 'short',
      hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).formatToParts(date);
    const p = Object.fromEntries(f.map((x) => [x.type, x.value]));
    return `${p.weekday} ${p.day} ${p.month}, ${p.hour}:${p.minute} ${z}`;
  }).join('; ');
}

// pendingText says what the agent becomes after this call, when a
// supervisor set it during the call; '' for nothing pending.
export function pendingText(p) {
  if (!p) return '';
  const words = STATE_WORDS[p.state] || p.state;
  return ` · ${words} after this call${p.reason ? ` (${p.reason})` : ''}${p.by ? `, set by ${p.by}` : ''}`;
}

// contactName is how the agent sees the contact: the name given, else the
// number. recorded is the name in the contact's record (issue 15): an
// agent's correction wins over what the visitor typed; null or undefined
// when no agent set one (or it is not known yet).
export function contactName(v, recorded) {
  const cb = v.callback || {};
  return givenName(v, recorded) || cb.phone_number || 'Unknown contact';
}

// givenName is the contact's name, from their record or the request; '' if
// none.
export function givenName(v, recorded) {
  return recorded ?? (v.callback || {}).contact_name ?? '';
}

// newer says whether view b may replace view a (an answer to a command can
// arrive after a pushed event that is newer).
export function newer(a, b) {
  if (!a) return true;
  const ta = Date.parse(a.updated_at);
  const tb = Date.parse(b.updated_at);
  if (Number.isNaN(ta) || Number.isNaN(tb)) return true;
  if (b.phase === 'done' || b.phase === 'withdrawn') return true;
  return tb >= ta;
}

// revives says whether view v may reopen an interaction the desktop closed
// when its view read closedAt (updated_at): only a later state does (it
// came back, say by a transfer to this agent). An answer to a command sent
// before the close, arriving after it, is older and must not reopen a
// window the interaction has left.
export function revives(closedAt, v) {
  if (closedAt === undefined) return true;
  const tc = Date.parse(closedAt);
  const tv = Date.parse(v.updated_at);
  if (Number.isNaN(tc) || Number.isNaN(tv)) return false;
  return tv > tc;
}

// matrixText describes a contact matrix cell for a tooltip and a screen reader.
export function matrixText(cell, what) {
  const types = Object.entries(cell.types || {}).map(([t, n]) => `${n} ${t}`).join(', ');
  return `${cell.count} ${what}` + (types ? ` (${types})` : '');
}

// callbackState words a callback's state (api/openapi.yaml Callback.state).
export function callbackState(state) {
  const words = { SCHEDULED: 'Scheduled', QUEUED: 'Queued', IN_PROGRESS: 'In progress', COMPLETED: 'Completed',
    CANCELLED: 'Cancelled' };
  return words[state] || state || '';
}

// contactTime is the contact's local time at now (a Date) in each of their
// zones, and whether the calling window allows a call then:
// { text: '14:05 Europe/Paris', inside: true, window: '08:00–21:00' }.
// Without zones it is empty; without a window (always open) inside is true.
export function contactTime(v, now) {
  const zones = v.contact_zones || [];
  if (!zones.length) return { text: '', inside: true, window: '' };
  const local = zones.map((z) => {
    const hm = new Intl.DateTimeFormat('en-GB', { timeZone: z, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(now);
    return { zone: z, hm };
  });
  const text = local.map((l) => `${l.hm} ${l.zone}`).join(', ');
  const w = v.calling_window || '';
  const m = /^(\d\d):(\d\d)\s*[–-]\s*(\d\d):(\d\d)$/.exec(w);
  if (!m) return { text, inside: true, window: '' };
  const start = +m[1] * 60 + +m[2];
  const end = +m[3] * 60 + +m[4];
  const inside = local.every((l) => {
    const [h, mm] = l.hm.split(':').map(Number);
    const t = h * 60 + mm;
    return t >= start && t < end;
  });
  return { text, inside, window: w };
}

// contactTimeText words contactTime for the Callback Information.
export function contactTimeText(ct) {
  if (!ct.text) return 'Unknown';
  if (!ct.window) return ct.text;
  return ct.text + (ct.inside ? ` · inside the calling window ${ct.window}` : ` · outside the calling window ${ct.window}`);
}

// cancelledText says why the contact is not to be called, or is empty.
export function cancelledText(v) {
  if (!v.callback_cancelled) return '';
  const why = v.cancel_reason ? ` (${v.cancel_reason})` : '';
  return `This callback was cancelled${why}. Do not call the contact: choose a disposition and click Done.`;
}
