// The Workspace page: log in, go Ready on web callback, the Interaction
// Preview (Accept / Reject, or the auto-answer countdown), then the Web
// Callback interaction window. State comes from the server: the agent's event
// stream and the answers to commands; the page keeps only what the agent is
// typing and which requests are in flight.

import { API, Problem } from './api.js';
import { renderCase } from './caseinfo.js';
import { flushDraft, restoreDraft, wireDraft } from './draft.js';
import { handedTo, hideHandover, showHandover } from './handover.js';
import { renderParty, wireParty } from './party.js';
import { wireResponses } from './responses.js';
import { renderTeam, wireTeam } from './team.js';
import { renderContact, wireContact } from './contact.js';
import * as R from './rules.js';

const $ = (id) => document.getElementById(id);
const SESSION_KEY = 'ringback.desktop.session';

const app = {
  api: null,
  sso: null, // the agent id of a single sign-on session, if the browser has one
  me: null, // the agent view
  es: null, // the EventSource
  retry: 0, // reconnect attempts since the stream last opened
  retryTimer: 0,
  catalogue: { codes: [], required: true },
  items: new Map(), // interaction id -> item
  closed: new Map(), // interaction id -> updated_at of the view it closed at
};

// An item is one interaction on this desktop: its last view, its preview or
// window element, and what only the page knows.
function newItem(id) {
  return { id, view: null, preview: null, win: null, pending: new Set(), dtmf: '', notes: [], editing: false,
    chosen: undefined, checkedAt: 0, rejected: false, draftTimer: 0, draftSent: '', draftChain: null };
}

// ---- messages to the agent ----------------------------------------------

// showProblem reads a refusal out to the agent (role=alert) and shows it
// until the next action or Dismiss. The text is set anew each time, so the
// same refusal twice is read twice.
function showProblem(e) {
  const p = e instanceof Problem ? e : new Problem({ detail: String(e && e.message ? e.message : e) });
  const text = $('problem-text');
  text.textContent = '';
  $('problem').classList.add('shown');
  $('problem-dismiss').hidden = false;
  setTimeout(() => { text.textContent = p.text(); }, 30);
}

function clearProblem() {
  const hadFocus = $('problem').contains(document.activeElement);
  $('problem').classList.remove('shown');
  $('problem-dismiss').hidden = true;
  $('problem-text').textContent = '';
  if (hadFocus) focusNext();
}

// announce says something politely; the same text twice is still read.
function announce(text) {
  const el = $('announce');
  el.textContent = '';
  setTimeout(() => { el.textContent = text; }, 30);
}

// ---- login and session --------------------------------------------------

function saveSession(agent, token, phone) {
  sessionStorage.setItem(SESSION_KEY, JSON.stringify({ agent, token, phone }));
}

function loadSession() {
  try {
    return JSON.parse(sessionStorage.getItem(SESSION_KEY) || 'null');
  } catch {
    return null;
  }
}

async function onLogin(ev) {
  ev.preventDefault();
  clearProblem();
  const agent = app.sso || $('login-agent').value.trim();
  const token = app.sso ? null : $('login-token').value;
  const phone = $('login-phone').value.trim();
  if (!agent) {
    showProblem(new Problem({ detail: 'Enter your agent ID.', field: 'agent' }));
    $('login-agent').focus();
    return;
  }
  if (!token && !app.sso) {
    showProblem(new Problem({ detail: 'Enter your token.', field: 'token' }));
    $('login-token').focus();
    return;
  }
  const api = new API(agent, token);
  const button = ev.target.querySelector('button[type=submit]');
  button.disabled = true;
  try {
    const { data } = await api.login(phone);
    saveSession(agent, token, phone);
    enterWorkspace(api, data);
    announce(`Logged in as ${agent}. Web callback: ${R.STATE_WORDS[data.channels?.webcallback?.state] || 'Not Ready'}.`);
  } catch (e) {
    showProblem(e);
  } finally {
    button.disabled = false;
  }
}

function enterWorkspace(api, me) {
  app.api = api;
  $('login').hidden = true;
  $('me').hidden = false;
  $('workspace').hidden = false;
  $('me-id').textContent = api.agent;
  document.title = `Workspace — ${api.agent}`;
  renderAgent(me);
  loadCatalogue();
  openEvents();
  $('go-ready').focus();
}

function leaveWorkspace() {
  closeEvents();
  for (const it of app.items.values()) dropElements(it);
  app.items.clear();
  app.api = null;
  app.me = null;
  sessionStorage.removeItem(SESSION_KEY);
  $('me').hidden = true;
  $('workspace').hidden = true;
  $('login').hidden = false;
  $('login-token').value = '';
  document.title = 'Workspace';
  $('login-agent').focus();
}

async function onLogout() {
  clearProblem();
  try {
    await app.api.logout();
    if (app.sso) {
      // End the single sign-on session too: the next agent at this desk
      // signs in as themselves.
      await fetch('/auth/logout', { method: 'POST', cache: 'no-store' }).catch(() => {});
      signedOut();
    }
    leaveWorkspace();
    announce('Logged out.');
  } catch (e) {
    showProblem(e);
  }
}

// offerSignIn shows "Sign in with <provider>" when the site has single
// sign-on, and, when this browser is signed in, logs in as that agent
// without a token.
async function offerSignIn() {
  try {
    const res = await fetch('/auth/oidc', { cache: 'no-store' });
    if (!res.ok) return;
    const { provider, agent } = await res.json();
    $('sso-name').textContent = provider;
    $('sso').hidden = false;
    if (!agent) return;
    app.sso = agent;
    $('login-agent').value = agent;
    $('login-agent').readOnly = true;
    $('login-token-label').hidden = true;
    $('sso').hidden = true;
  } catch {
    // No single sign-on here: tokens only.
  }
}

function signedOut() {
  app.sso = null;
  $('login-agent').readOnly = false;
  $('login-token-label').hidden = false;
  offerSignIn();
}

async function restore() {
  const s = loadSession();
  await offerSignIn();
  if (app.api) return; // logged in while the page asked about single sign-on
  // The agent may have started typing while the page asked: keep their place.
  const untouched = document.activeElement === document.body;
  if (!s) {
    if (untouched) $(app.sso ? 'login-phone' : 'login-agent').focus();
    return;
  }
  if (app.sso && s.agent !== app.sso) {
    sessionStorage.removeItem(SESSION_KEY); // another agent's, before this sign-in
    if (untouched) $('login-phone').focus();
    return;
  }
  $('login-agent').value = s.agent || '';
  $('login-phone').value = s.phone || '';
  const api = new API(s.agent, app.sso ? null : s.token);
  try {
    const { data } = await api.me();
    if (data.logged_in) {
      enterWorkspace(api, data);
      return;
    }
  } catch {
    // A stale session: log in again.
  }
  sessionStorage.removeItem(SESSION_KEY);
  $('login-token').focus();
}

// ---- the agent: Ready / Not Ready ---------------------------------------

function renderAgent(me) {
  app.me = me;
  const ch = me.channels?.webcallback || { state: 'LOGGED_OUT' };
  $('channel-state').textContent = R.STATE_WORDS[ch.state] || ch.state;
  $('channel').dataset.state = ch.state;
  $('channel-reason').textContent = ch.reason && ch.state !== 'READY' ? ` (${ch.reason})` : '';
  // A supervisor's Not Ready during a call waits for its end (issue 14).
  $('channel-pending').textContent = R.pendingText(ch.pending);
  $('go-ready').disabled = !me.logged_in || ch.state === 'READY' || ch.state === 'BUSY';
  $('go-not-ready').disabled = !me.logged_in || ch.state === 'NOT_READY' || ch.state === 'BUSY';
  // A reason means nothing while Busy: Not Ready is refused then.
  $('not-ready-reason').disabled = !me.logged_in || ch.state === 'BUSY';
  $('logout').disabled = ch.state === 'BUSY';
  updateIdle();
}

async function setState(state, reason = '') {
  clearProblem();
  try {
    const { data } = await app.api.setState(state, reason);
    renderAgent(data); // #channel is a status region: the change is read out
  } catch (e) {
    showProblem(e);
  }
}

async function loadCatalogue() {
  try {
    const { data } = await app.api.dispositions();
    app.catalogue = { codes: data.codes || [], required: data.required !== false };
    for (const it of app.items.values()) render(it);
  } catch (e) {
    showProblem(new Problem({ detail: `Disposition codes could not be loaded: ${e.detail || e.message}` }));
  }
}

// ---- the event stream -----------------------------------------------------

function openEvents() {
  closeEvents();
  app.es = app.api.events({
    open: () => {
      app.retry = 0;
      $('link').textContent = '';
    },
    reconnecting: () => {
      $('link').textContent = 'Reconnecting…';
    },
    closed: () => {
      // The browser gave up (the server refused the stream): try again,
      // slower each time.
      const wait = Math.min(10, 2 ** app.retry++);
      $('link').textContent = `Disconnected. Trying again in ${wait} s.`;
      clearTimeout(app.retryTimer);
      app.retryTimer = setTimeout(() => app.api && openEvents(), wait * 1000);
    },
    state: (me) => {
      if (!me.logged_in && app.me?.logged_in) {
        leaveWorkspace();
        showProblem(new Problem({ detail: 'You were logged out.' }));
        return;
      }
      renderAgent(me);
      reconcile(me.interactions || []);
    },
    offer: (v) => upsert(v),
    interaction: (v) => upsert(v),
  });
}

function closeEvents() {
  clearTimeout(app.retryTimer);
  if (app.es) app.es.close();
  app.es = null;
}

// reconcile checks the interactions this page shows but the server no
// longer lists as the agent's: a push missed while disconnected, or an
// offer redirected to someone else.
function reconcile(open) {
  const listed = new Set(open);
  for (const it of app.items.values()) {
    if (!listed.has(it.id)) check(it);
  }
  for (const id of listed) {
    if (!app.items.has(id)) fetchInteraction(id);
  }
}

async function fetchInteraction(id) {
  try {
    const { data } = await app.api.interaction(id);
    upsert(data);
  } catch {
    // It will come on the stream, or the next state will list it no more.
  }
}

// check reloads one interaction; one the server no longer shows to this
// agent is gone from the desktop.
async function check(it) {
  if (Date.now() - it.checkedAt < 1500) return;
  it.checkedAt = Date.now();
  try {
    const { data } = await app.api.interaction(it.id);
    upsert(data, { force: true });
  } catch (e) {
    if (e.status === 403 || e.status === 404) gone(it, 'redirected');
  }
}

// ---- interactions ---------------------------------------------------------

function upsert(v, { force = false } = {}) {
  if (!app.api || !v || !v.id) return;
  let it = app.items.get(v.id);
  if (v.agent_id && v.agent_id !== app.api.agent) {
    const to = handedTo(v, app.api.agent);
    if (it) gone(it, to ? 'transferred' : 'redirected', to, v);
    return;
  }
  if (it && !force && !R.newer(it.view, v)) return;
  if (!it) {
    if (v.phase === 'done' || v.phase === 'withdrawn') return;
    if (!R.revives(app.closed.get(v.id), v)) return;
    app.closed.delete(v.id);
    it = newItem(v.id);
    app.items.set(v.id, it);
    hideHandover();
  }
  const prev = it.view;
  it.view = v;
  switch (v.phase) {
    case 'offered':
    case 'accepting':
      if (it.win) dropWindow(it);
      showPreview(it);
      break;
    case 'accepted':
      openWindow(it, prev);
      break;
    case 'withdrawn':
      gone(it, it.rejected ? 'rejected' : 'withdrawn');
      return;
    case 'done':
      gone(it, 'done');
      return;
    default:
      return;
  }
  render(it);
}

// gone closes an interaction's preview or window; last is the view that
// closed it, when one did.
function gone(it, why, to, last) {
  const who = it.view ? R.contactName(it.view, it.recordName) : 'the contact';
  const hadFocus = it.preview?.contains(document.activeElement) || it.win?.contains(document.activeElement);
  dropElements(it);
  app.items.delete(it.id);
  remember(it.id, [it.view?.updated_at, last?.updated_at]);
  updateIdle();
  const words = {
    rejected: `Rejected the web callback for ${who}: it returns to the queue.`,
    withdrawn: `The web callback for ${who} was withdrawn: it timed out or was redirected.`,
    redirected: `The web callback for ${who} was redirected to another agent.`,
    done: `Done with the web callback for ${who}.`,
    transferred: `Transferred to ${to}: the web callback for ${who} is theirs now.`,
  };
  if (why === 'transferred') showHandover(to, who);
  announce(words[why] || words.withdrawn);
  if (hadFocus) focusNext();
}

// remember keeps when an interaction closed (the latest of times), so a
// late answer cannot reopen it; a shift's worth, the oldest forgotten.
function remember(id, times) {
  const at = times.filter((t) => t && !Number.isNaN(Date.parse(t)))
    .sort((a, b) => Date.parse(a) - Date.parse(b)).pop();
  if (!at) return;
  app.closed.delete(id);
  app.closed.set(id, at);
  if (app.closed.size > 2000) app.closed.delete(app.closed.keys().next().value);
}

// focusNext puts the focus somewhere useful after a preview or window closed.
function focusNext() {
  if ($('workspace').hidden) {
    $('login-agent').focus();
    return;
  }
  const next = document.querySelector('#previews .preview, #interactions .window h2');
  if (next) next.focus();
  else if (!$('go-ready').disabled) $('go-ready').focus();
  else $('interactions').focus();
}

function dropElements(it) {
  dropPreview(it);
  dropWindow(it);
}

function dropPreview(it) {
  if (it.preview) it.preview.remove();
  it.preview = null;
}

function dropWindow(it) {
  if (it.win) it.win.remove();
  it.win = null;
}

// updateIdle says, with no interaction on the desktop, what the agent's
// state means for them (Ready: waiting for a callback).
function updateIdle() {
  $('idle').hidden = app.items.size > 0;
  const ch = app.me?.channels?.webcallback || {};
  const text = R.idleText(ch.state, ch.reason);
  if ($('idle').textContent !== text) $('idle').textContent = text;
}

// clone instantiates a template, giving its ids and ARIA references a
// suffix unique to the interaction.
function clone(templateID, key) {
  const root = $(templateID).content.firstElementChild.cloneNode(true);
  const all = [root, ...root.querySelectorAll('*')];
  for (const el of all) {
    if (el.dataset.ref) el.id = `${el.dataset.ref}-${key}`;
    if (el.dataset.labelledby) el.setAttribute('aria-labelledby', `${el.dataset.labelledby}-${key}`);
    if (el.dataset.describedby) el.setAttribute('aria-describedby', `${el.dataset.describedby}-${key}`);
  }
  return root;
}

function field(root, name) {
  return root.querySelector(`[data-field="${name}"]`);
}

function setText(root, name, text) {
  const el = field(root, name);
  if (el && el.textContent !== text) el.textContent = text;
}

// ---- the Interaction Preview ---------------------------------------------

function showPreview(it) {
  if (it.preview) return;
  const el = clone('preview-template', it.id);
  el.dataset.interaction = it.id;
  el.querySelector('[data-action="accept"]').addEventListener('click', () => accept(it));
  el.querySelector('[data-action="reject"]').addEventListener('click', () => reject(it));
  $('previews').append(el);
  it.preview = el;
  updateIdle();
  // The preview takes the focus, so a screen reader reads its title; the
  // content follows in reading order.
  el.focus();
}

function renderPreview(it) {
  const v = it.view;
  const el = it.preview;
  const cb = v.callback || {};
  const may = R.allowed(v, { dispositionRequired: app.catalogue.required });
  setText(el, 'summary', [R.contactName(v), cb.subject, cb.phone_number].filter(Boolean).join(' · '));
  setText(el, 'contact', cb.contact_name || 'Not given');
  setText(el, 'subject', cb.subject || 'No subject');
  setText(el, 'number', cb.phone_number || '');
  setText(el, 'service', cb.service || '');
  setText(el, 'scheduled', R.when(cb.scheduled_for, 'As soon as possible'));
  setText(el, 'attempts', String(v.attempts || 0));
  setText(el, 'contact-time', R.contactTimeText(R.contactTime(v, new Date())));
  renderCase(field(el, 'case'), v.case_data);
  setText(el, 'phase', v.phase === 'accepting' ? 'Accepting…' : '');
  const accept = el.querySelector('[data-action="accept"]');
  const reject = el.querySelector('[data-action="reject"]');
  accept.disabled = !may.accept || it.pending.size > 0;
  reject.hidden = !R.rejectShown(v);
  reject.disabled = !may.reject || it.pending.size > 0;
  el.setAttribute('aria-busy', String(v.phase === 'accepting' || it.pending.size > 0));
  tickPreview(it, Date.now());
}

// tickPreview updates what counts: time in queue, time left, Accept (00:09).
function tickPreview(it, now) {
  const v = it.view;
  const el = it.preview;
  if (!el) return;
  const queued = R.secondsSince(v.queued_at, now);
  setText(el, 'in-queue', queued === null ? '—' : R.clock(queued));
  if (R.autoAnswers(v)) {
    setText(el, 'expires-label', 'Auto-answer in');
    setText(el, 'expires', R.clock(R.secondsLeft(v.auto_answer_at, now)));
  } else {
    setText(el, 'expires-label', 'Time to answer');
    setText(el, 'expires', v.expires_at ? R.clock(R.secondsLeft(v.expires_at, now)) : '—');
  }
  const accept = el.querySelector('[data-action="accept"]');
  const label = R.acceptLabel(v, now);
  if (accept.textContent !== label) accept.textContent = label;
  // An offer past its time is redirected by the router; make sure this
  // desktop lets go of it even if that push was missed.
  if (v.phase === 'offered' && v.expires_at && now > Date.parse(v.expires_at) + 1500) check(it);
}

async function accept(it) {
  await run(it, 'accept', () => app.api.command(it.id, 'accept'));
}

async function reject(it) {
  it.rejected = true;
  const r = await run(it, 'reject', () => app.api.command(it.id, 'reject'));
  if (!r) it.rejected = false;
}

// ---- the Web Callback interaction window ---------------------------------

function openWindow(it, prev) {
  const focusWasHere = !document.activeElement || document.activeElement === document.body ||
    it.preview?.contains(document.activeElement);
  dropPreview(it);
  if (it.win) {
    if (prev && prev.status !== it.view.status) {
      announce(`${R.contactName(it.view, it.recordName)}: ${it.view.status}${it.view.reason ? ` (${it.view.reason})` : ''}.`);
      if (it.view.status === R.READY_TO_CALL) loadMatrix(it);
    }
    return;
  }
  const el = clone('window-template', it.id);
  el.dataset.interaction = it.id;
  wireWindow(it, el);
  $('interactions').append(el);
  it.win = el;
  updateIdle();
  const rs = el.querySelector('[data-form="reschedule"] input[name="time"]');
  rs.value = R.localInput(new Date(Date.now() + 3600e3));
  setText(el, 'my-zone', `your time, ${Intl.DateTimeFormat().resolvedOptions().timeZone}`);
  contactZoneText(it);
  loadMatrix(it);
  loadNotes(it);
  restoreDraft(it, (data, focus) => startCaseEdit(it, data, focus));
  announce(`Web Callback interaction window for ${R.contactName(it.view, it.recordName)}. Status: ${it.view.status}.`);
  if (focusWasHere) el.querySelector('h2').focus();
}

function wireWindow(it, el) {
  const on = (action, fn) => el.querySelector(`[data-action="${action}"]`).addEventListener('click', fn);
  on('call', () => run(it, 'call', () => app.api.command(it.id, 'call')));
  on('end-call', () => run(it, 'end-call', () => app.api.command(it.id, 'end-call')));
  on('hold', () => run(it, 'hold', () => app.api.command(it.id, 'hold')));
  on('retrieve', () => run(it, 'retrieve', () => app.api.command(it.id, 'retrieve')));
  on('mute', () => run(it, 'mute', () => app.api.command(it.id, it.view.muted ? 'unmute' : 'mute')));
  on('record', () => run(it, 'record', () => app.api.command(it.id, it.view.recording ? 'stop-recording' : 'record')));
  // Done keeps what was typed first: the server files it with the Done.
  on('done', () => run(it, 'done', async () => {
    await flushDraft(it, () => app.api);
    return app.api.command(it.id, 'done');
  }));
  on('recent', () => toggleHistory(it, true));
  on('history', () => toggleHistory(it));
  on('case-edit', () => startCaseEdit(it));
  on('case-cancel', () => {
    stopCaseEdit(it);
    flushDraft(it, () => app.api).catch(() => {});
  });
  wireParty(it, el, { api: () => app.api, run, showProblem, announce });
  wireDraft(it, el, () => app.api);
  el.querySelector('[data-form="reschedule"] input[name="time"]').addEventListener('input', () => contactZoneText(it));
  // The guide's Standard Response Library, Team Communicator and contact record (issue 15).
  const guide = { api: () => app.api, run, showProblem, announce, render: () => render(it) };
  wireTeam(it, el, guide);
  wireResponses(it, el, guide);
  wireContact(it, el, guide);
  for (const b of el.querySelectorAll('[data-digit]')) {
    b.addEventListener('click', () => sendDigit(it, b.dataset.digit));
  }
  el.querySelector('[data-field="disposition"]').addEventListener('change', (ev) => chooseDisposition(it, ev.target.value));
  el.querySelector('[data-form="note"]').addEventListener('submit', (ev) => { ev.preventDefault(); saveNote(it, ev.target); });
  el.querySelector('[data-form="reschedule"]').addEventListener('submit', (ev) => { ev.preventDefault(); reschedule(it, ev.target); });
  el.querySelector('[data-form="case"]').addEventListener('submit', (ev) => { ev.preventDefault(); saveCase(it, ev.target); });
}

function renderWindow(it) {
  const v = it.view;
  const el = it.win;
  const cb = v.callback || {};
  const may = R.allowed(v, { dispositionRequired: app.catalogue.required });
  const busy = (a) => it.pending.has(a);
  setText(el, 'title', `Web Callback: ${R.contactName(v, it.recordName)}`);
  setText(el, 'status', v.status || '');
  field(el, 'status').dataset.status = v.status || '';
  setText(el, 'reason', v.reason ? `(${v.reason})` : '');
  setText(el, 'flags', [v.muted && 'Muted', v.recording && 'Recording'].filter(Boolean).join(' · '));
  const cancelled = R.cancelledText(v);
  field(el, 'cancelled').hidden = !cancelled;
  setText(el, 'cancelled', cancelled);

  for (const b of el.querySelectorAll('.controls [data-action]')) {
    const a = b.dataset.action;
    b.disabled = !may[a] || busy(a);
    b.setAttribute('aria-busy', String(busy(a)));
  }
  const mute = el.querySelector('[data-action="mute"]');
  mute.textContent = v.muted ? 'Unmute' : 'Mute';
  const rec = el.querySelector('[data-action="record"]');
  rec.textContent = v.recording ? 'Stop Recording' : 'Record';
  renderParty(it, el, may, announce);
  renderTeam(it, el);
  renderContact(it, el);
  for (const b of el.querySelectorAll('[data-digit]')) b.disabled = !may.keypad;
  setText(el, 'dtmf', it.dtmf);

  if (!it.editing) renderCase(field(el, 'case'), v.case_data);
  el.querySelector('[data-action="case-edit"]').disabled = !may['case-edit'];
  el.querySelector('[data-action="case-edit"]').hidden = it.editing;

  setText(el, 'subject', cb.subject || 'No subject');
  setText(el, 'number', cb.phone_number || '');
  setText(el, 'scheduled', R.when(cb.scheduled_for, 'As soon as possible'));
  field(el, 'rescheduled-label').hidden = !v.rescheduled_for;
  field(el, 'rescheduled').hidden = !v.rescheduled_for;
  setText(el, 'rescheduled', R.when(v.rescheduled_for));
  setText(el, 'contact', R.givenName(v, it.recordName) || 'Not given');
  setText(el, 'service', cb.service || '');
  setText(el, 'requested', R.when(cb.requested_at));
  setText(el, 'attempts', String(v.attempts || 0));
  setText(el, 'contact-time', R.contactTimeText(R.contactTime(v, new Date())));
  el.querySelector('[data-action="reschedule"]').disabled = !may.reschedule || busy('reschedule');

  renderDisposition(it, may);
  el.querySelector('[data-action="note"]').disabled = !may.note || busy('note');
  renderNotes(it);

  const done = el.querySelector('[data-action="done"]');
  done.disabled = !may.done || busy('done');
  setText(el, 'done-hint', R.doneHint(v, { dispositionRequired: app.catalogue.required }));
}

function renderDisposition(it, may) {
  const sel = field(it.win, 'disposition');
  const codes = app.catalogue.codes;
  const want = ['', ...codes.map((c) => c.code)].join('\n');
  if (sel.dataset.codes !== want) {
    sel.replaceChildren(new Option('Choose a disposition code…', ''),
      ...codes.map((c) => new Option(c.label || c.code, c.code)));
    sel.dataset.codes = want;
  }
  if (it.chosen !== undefined && it.chosen === it.view.disposition) it.chosen = undefined;
  const value = it.chosen ?? it.view.disposition ?? '';
  if (sel.value !== value) sel.value = value;
  sel.disabled = !may.disposition;
  sel.required = app.catalogue.required;
  setText(it.win, 'disposition-required', R.dispositionHint(app.catalogue.required, value));
}

function renderNotes(it) {
  const ul = field(it.win, 'notes');
  if (ul.childElementCount === it.notes.length) return;
  ul.replaceChildren(...it.notes.map((n) => {
    const li = document.createElement('li');
    const time = document.createElement('time');
    time.dateTime = n.at;
    time.textContent = R.when(n.at);
    li.append(time, ' ', n.text);
    return li;
  }));
}

// ---- window actions -------------------------------------------------------

// run performs one action for an interaction: the button waits while the
// request is in flight, the answer (an interaction view) is shown, and a
// refusal is read out to the agent. It returns the answer, or null.
async function run(it, action, fn) {
  clearProblem();
  it.pending.add(action);
  render(it);
  try {
    const r = await fn();
    if (r?.data?.id === it.id && r.data.phase) upsert(r.data);
    return r || {};
  } catch (e) {
    showProblem(e);
    return null;
  } finally {
    it.pending.delete(action);
    if (app.items.get(it.id) === it) render(it);
  }
}

async function sendDigit(it, digit) {
  const r = await run(it, 'dtmf', () => app.api.command(it.id, 'dtmf', { digits: digit }));
  if (r) {
    it.dtmf = (it.dtmf + digit).slice(-32);
    if (it.win) setText(it.win, 'dtmf', it.dtmf);
  }
}

async function chooseDisposition(it, code) {
  if (!code) {
    it.chosen = undefined;
    render(it);
    return;
  }
  it.chosen = code;
  const r = await run(it, 'disposition', () => app.api.setDisposition(it.id, code));
  if (!r) {
    it.chosen = undefined;
  } else {
    const label = app.catalogue.codes.find((c) => c.code === code)?.label || code;
    announce(`Disposition Code: ${label}.`);
    // The interaction shows the code once agent-session has heard of it.
    setTimeout(() => app.items.get(it.id) === it && it.view.disposition !== code && check(it), 1500);
  }
  if (app.items.get(it.id) === it) render(it);
}

async function saveNote(it, form) {
  const text = form.elements.text.value.trim();
  if (!text) {
    showProblem(new Problem({ detail: 'Write the note first.', field: 'text' }));
    form.elements.text.focus();
    return;
  }
  const r = await run(it, 'note', () => app.api.addNote(it.id, text));
  if (r) {
    it.notes.push(r.data || { text, at: new Date().toISOString() });
    form.elements.text.value = '';
    flushDraft(it, () => app.api).catch(() => {}); // saved: nothing left to file at Done
    announce('Note saved.');
    if (app.items.get(it.id) === it) render(it);
  }
}

async function reschedule(it, form) {
  const raw = form.elements.time.value;
  const t = new Date(raw);
  if (!raw || Number.isNaN(t.getTime())) {
    showProblem(new Problem({ detail: 'Choose the new date and time.', field: 'time' }));
    form.elements.time.focus();
    return;
  }
  const r = await run(it, 'reschedule', () => app.api.command(it.id, 'reschedule',
    { time: t.toISOString(), personal: form.elements.personal.checked }));
  if (r) announce(`Rescheduled for ${R.when(t.toISOString())}.`);
}

// startCaseEdit opens the case form with data (the case information, or
// the draft kept from before a reload).
function startCaseEdit(it, data = it.view.case_data, focus = true) {
  const form = it.win.querySelector('[data-form="case"]');
  const box = field(it.win, 'case-inputs');
  const entries = Object.entries(data || {}).sort(([a], [b]) => a.localeCompare(b));
  box.replaceChildren(...entries.map(([k, val]) => {
    const label = document.createElement('label');
    const input = document.createElement('input');
    input.value = val;
    input.dataset.key = k;
    input.maxLength = 2000;
    label.append(k, ' ', input);
    return label;
  }));
  it.editing = true;
  form.hidden = false;
  field(it.win, 'case').hidden = true;
  render(it);
  if (focus) (box.querySelector('input') || form.elements['new-key']).focus();
}

function stopCaseEdit(it) {
  it.editing = false;
  if (!it.win) return;
  const form = it.win.querySelector('[data-form="case"]');
  form.hidden = true;
  form.reset();
  field(it.win, 'case').hidden = false;
  render(it);
  it.win.querySelector('[data-action="case-edit"]').focus();
}

async function saveCase(it, form) {
  const data = {};
  for (const input of field(it.win, 'case-inputs').querySelectorAll('input')) data[input.dataset.key] = input.value;
  const k = form.elements['new-key'].value.trim();
  if (k) data[k] = form.elements['new-value'].value;
  const r = await run(it, 'case', () => app.api.editCaseData(it.id, data));
  if (r) {
    // Shown at once; the interaction's own view follows on the stream.
    it.view = { ...it.view, case_data: r.data?.case_data || data };
    stopCaseEdit(it);
    flushDraft(it, () => app.api).catch(() => {});
    announce('Case Information saved.');
  }
}

// contactZoneText says what the reschedule picker's time (in the agent's
// zone) is for the contact.
function contactZoneText(it) {
  const input = it.win.querySelector('[data-form="reschedule"] input[name="time"]');
  const t = new Date(input.value);
  const z = R.zonedText(t, it.view.contact_zones);
  setText(it.win, 'reschedule-contact', z ? `For the contact: ${z}.` : 'The contact\'s time zone is unknown.');
}

async function loadMatrix(it) {
  const phone = it.view.callback?.phone_number;
  if (!phone || !it.win) return;
  try {
    const { data } = await app.api.matrix(phone, it.id);
    if (!it.win) return;
    const inProgress = field(it.win, 'in-progress');
    inProgress.hidden = !(data.in_progress?.count > 0);
    if (!inProgress.hidden) {
      inProgress.textContent = `${data.in_progress.count} in progress`;
      inProgress.title = R.matrixText(data.in_progress, 'other interactions in progress');
      inProgress.setAttribute('aria-label', inProgress.title);
    }
    const recent = it.win.querySelector('[data-action="recent"]');
    recent.hidden = !(data.recent?.count > 0);
    if (!recent.hidden) {
      recent.textContent = `${data.recent.count} recent`;
      recent.title = R.matrixText(data.recent, `recent interactions in the last ${data.recent.days || 1} days`) +
        '. Open the contact history.';
      recent.setAttribute('aria-label', recent.title);
    }
  } catch {
    // The matrices are a hint; the window works without them.
  }
}

// loadNotes shows the notes already written on this interaction (a reload
// of the page keeps them).
async function loadNotes(it) {
  const phone = it.view.callback?.phone_number;
  if (!phone) return;
  try {
    const { data } = await app.api.history(phone);
    const mine = (data || []).filter((r) => r.interaction_id === it.id).flatMap((r) => r.notes || []);
    if (it.notes.length === 0 && mine.length > 0 && app.items.get(it.id) === it) {
      it.notes = mine;
      render(it);
    }
  } catch {
    // Notes written from now on still show.
  }
}

async function toggleHistory(it, open) {
  const button = it.win.querySelector('[data-action="history"]');
  const box = field(it.win, 'history');
  const show = open ?? box.hidden;
  button.setAttribute('aria-expanded', String(show));
  button.textContent = show ? 'Hide contact history' : 'Show contact history';
  box.hidden = !show;
  if (!show) return;
  box.textContent = 'Loading…';
  try {
    const { data } = await app.api.history(it.view.callback.phone_number);
    box.replaceChildren(historyTable(data || []));
  } catch (e) {
    box.textContent = '';
    showProblem(e);
  }
  if (open) button.focus();
}

function historyTable(rows) {
  if (rows.length === 0) {
    const p = document.createElement('p');
    p.textContent = 'No interactions with this contact yet.';
    return p;
  }
  const table = document.createElement('table');
  const cap = table.createCaption();
  cap.textContent = 'Interactions with this contact, newest first';
  const head = table.createTHead().insertRow();
  for (const h of ['Requested', 'Subject', 'Service', 'State', 'Disposition', 'Notes']) {
    const th = document.createElement('th');
    th.scope = 'col';
    th.textContent = h;
    head.append(th);
  }
  const body = table.createTBody();
  for (const r of rows) {
    const tr = body.insertRow();
    for (const v of [R.when(r.requested_at), r.subject, r.service, R.callbackState(r.state), r.disposition,
      (r.notes || []).map((n) => n.text).join(' / ')]) {
      tr.insertCell().textContent = v || '';
    }
  }
  return table;
}

function render(it) {
  if (!it.view) return;
  if (it.preview) renderPreview(it);
  if (it.win) renderWindow(it);
}

// ---- start ----------------------------------------------------------------

function tick() {
  const now = Date.now();
  for (const it of app.items.values()) if (it.preview) tickPreview(it, now);
}

$('login-form').addEventListener('submit', onLogin);
$('go-ready').addEventListener('click', () => setState('READY'));
$('go-not-ready').addEventListener('click', () => setState('NOT_READY', $('not-ready-reason').value));
$('logout').addEventListener('click', onLogout);
$('problem-dismiss').addEventListener('click', clearProblem);
// Leaving or reloading the page sends what was typed since the last save.
window.addEventListener('pagehide', () => {
  for (const it of app.items.values()) {
    if (it.draftTimer && app.api) flushDraft(it, () => app.api, { keepalive: true }).catch(() => {});
  }
});
setInterval(tick, 250);
restore();
