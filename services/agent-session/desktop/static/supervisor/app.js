// The supervisor's page (issue 14): the live board over
// /v1/supervisor/events, a search over callbacks (GET /v1/callbacks), one
// callback's timeline and its actions, and the agents' forced Not Ready and
// log out. Every action asks why: the server keeps it with who did it.
import { Problem } from '/agent/api.js';

const $ = (id) => document.getElementById(id);
const SESSION_KEY = 'ringback.supervisor';
const seg = encodeURIComponent;

let session = null; // { id, token }
let stream = null;
const agents = new Map(); // id -> row
let current = null; // the callback open

function problem(e) {
  $('problem-text').textContent = e instanceof Problem ? e.text() : String(e.message || e);
  $('problem').classList.add('shown');
  $('problem-dismiss').hidden = false;
}

function announce(text) {
  $('announce').textContent = text;
}

function clearProblem() {
  $('problem-text').textContent = '';
  $('problem').classList.remove('shown');
  $('problem-dismiss').hidden = true;
}

$('problem-dismiss').addEventListener('click', clearProblem);

async function request(method, path, body) {
  const h = { Accept: 'application/json, application/problem+json' };
  if (session?.token) h.Authorization = `Bearer ${session.token}`;
  const init = { method, headers: h, cache: 'no-store' };
  if (body !== undefined) {
    h['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    throw new Problem({ detail: `The server cannot be reached (${e.message}).` });
  }
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!res.ok) {
    if (data && (data.detail || data.title)) throw new Problem({ ...data, status: res.status });
    throw new Problem({ status: res.status, detail: `${method} ${path.split('?')[0]}: ${res.status}` });
  }
  return data;
}

function cell(tr, text, cls) {
  const td = document.createElement('td');
  td.textContent = text ?? '';
  if (cls) td.className = cls;
  tr.append(td);
  return td;
}

function words(state) {
  return { READY: 'Ready', NOT_READY: 'Not Ready', BUSY: 'Busy', AFTER_CALL_WORK: 'After Call Work', LOGGED_OUT: 'Logged Out', UNKNOWN: 'Unknown' }[state] || state;
}

function duration(since) {
  if (!since) return '';
  const s = Math.max(0, Math.floor((Date.now() - Date.parse(since)) / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h ? `${h} h ${m} min` : m ? `${m} min ${s % 60} s` : `${s} s`;
}

function local(t) {
  return t ? new Date(t).toLocaleString() : '';
}

function renderSummary(s) {
  const body = $('services');
  const hours = $('hours');
  body.replaceChildren();
  hours.replaceChildren();
  for (const v of s.services) {
    const tr = document.createElement('tr');
    tr.dataset.service = v.service;
    const th = document.createElement('th');
    th.scope = 'row';
    th.textContent = v.service;
    tr.append(th);
    cell(tr, String(v.scheduled.reduce((n, h) => n + h.count, 0)), 'n').dataset.field = 'scheduled';
    cell(tr, String(v.waiting), 'n').dataset.field = 'waiting';
    const oldest = cell(tr, v.waiting ? duration(v.oldest_wait_since) : '', 'n');
    oldest.dataset.field = 'oldest';
    if (v.waiting) oldest.dataset.since = v.oldest_wait_since;
    cell(tr, String(v.offered), 'n').dataset.field = 'offered';
    cell(tr, String(v.in_progress), 'n').dataset.field = 'in_progress';
    const done = Object.entries(v.completed).map(([k, n]) => `${k || 'no outcome'}: ${n}`).join(', ');
    cell(tr, done || '0').dataset.field = 'completed';
    cell(tr, String(v.cancelled), 'n').dataset.field = 'cancelled';
    body.append(tr);
    for (const h of v.scheduled) {
      const r = document.createElement('tr');
      cell(r, v.service);
      cell(r, local(h.hour));
      cell(r, String(h.count), 'n');
      hours.append(r);
    }
  }
  $('agent-counts').textContent = s.agents.length
    ? s.agents.map((c) => `${words(c.state)}${c.reason ? ` (${c.reason})` : ''}: ${c.count}`).join(' · ')
    : 'No agent yet.';
}

function renderAgents() {
  const body = $('agents');
  body.replaceChildren();
  for (const a of [...agents.values()].sort((x, y) => x.agent.localeCompare(y.agent))) {
    const tr = document.createElement('tr');
    tr.dataset.agent = a.agent;
    const th = document.createElement('th');
    th.scope = 'row';
    th.textContent = a.agent;
    tr.append(th);
    cell(tr, words(a.state)).dataset.field = 'state';
    // A Not Ready set during the agent's call waits for its end (issue 14).
    const pending = a.pending ? `${words(a.pending)} after this call${a.pending_by ? ` (set by ${a.pending_by})` : ''}` : '';
    cell(tr, [a.reason, pending].filter(Boolean).join(' · ')).dataset.field = 'reason';
    const since = cell(tr, a.state === 'LOGGED_OUT' ? '' : duration(a.since));
    if (a.state !== 'LOGGED_OUT') since.dataset.since = a.since;
    cell(tr, (a.skills || []).join(', '));
    const td = cell(tr, '');
    if (a.state !== 'LOGGED_OUT') {
      for (const [label, what] of [['Not Ready', 'not-ready'], ['Log out', 'logout']]) {
        const b = document.createElement('button');
        b.type = 'button';
        b.textContent = label;
        b.setAttribute('aria-label', `${label}: ${a.agent}`);
        b.addEventListener('click', () => askAgent(a.agent, what));
        td.append(b);
      }
    }
    body.append(tr);
  }
}

function askAgent(id, what) {
  const d = $('agent-dialog');
  d.dataset.agent = id;
  d.dataset.what = what;
  $('agent-dialog-title').textContent = what === 'logout' ? `Log ${id} out` : `Set ${id} Not Ready`;
  $('agent-reason-label').hidden = what === 'logout';
  $('agent-why').value = '';
  d.showModal();
  $('agent-why').focus();
}

$('agent-close').addEventListener('click', () => $('agent-dialog').close());
$('agent-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const d = $('agent-dialog');
  const why = $('agent-why').value.trim();
  if (!why) {
    $('agent-why').focus();
    return;
  }
  const body = d.dataset.what === 'logout' ? { why } : { why, reason: $('agent-reason').value };
  try {
    const data = await request('POST', `/v1/supervisor/agents/${seg(d.dataset.agent)}/${d.dataset.what}`, body);
    d.close();
    const later = data?.channels?.webcallback?.pending;
    announce(d.dataset.what === 'logout' ? `${d.dataset.agent} logged out`
      : later ? `${d.dataset.agent} will be Not Ready after this call` : `${d.dataset.agent} set Not Ready`);
  } catch (e) {
    d.close();
    problem(e);
  }
});

function openStream() {
  const token = session.token ? `?access_token=${seg(session.token)}` : '';
  stream = new EventSource(`/v1/supervisor/events${token}`);
  stream.addEventListener('summary', (ev) => renderSummary(JSON.parse(ev.data)));
  stream.addEventListener('agents', (ev) => {
    for (const a of JSON.parse(ev.data)) agents.set(a.agent, a);
    renderAgents();
  });
  stream.onopen = () => { $('link').textContent = 'Live'; };
  stream.onerror = () => {
    $('link').textContent = stream.readyState === EventSource.CLOSED ? 'Disconnected' : 'Reconnecting…';
  };
}

function isoOf(localValue) {
  return localValue ? new Date(localValue).toISOString() : '';
}

$('search-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const q = new URLSearchParams();
  for (const [name, id] of [['phone_number', 'q-number'], ['service', 'q-service'], ['state', 'q-state'], ['agent', 'q-agent']]) {
    const v = $(id).value.trim();
    if (v) q.set(name, v);
  }
  for (const [name, id] of [['from', 'q-from'], ['to', 'q-to']]) {
    const v = isoOf($(id).value);
    if (v) q.set(name, v);
  }
  try {
    const page = await request('GET', `/v1/callbacks?${q}`);
    const rows = page.items || [];
    const body = $('results');
    body.replaceChildren();
    for (const c of rows) {
      const tr = document.createElement('tr');
      cell(tr, local(c.requested_at));
      cell(tr, c.service);
      cell(tr, c.phone_number);
      cell(tr, c.state);
      cell(tr, local(c.scheduled_for));
      cell(tr, c.agent || '');
      const b = document.createElement('button');
      b.type = 'button';
      b.textContent = 'Open';
      b.setAttribute('aria-label', `Open callback ${c.id}`);
      b.addEventListener('click', () => openCallback(c.id));
      cell(tr, '').append(b);
      body.append(tr);
    }
    $('results-none').hidden = rows.length > 0;
    announce(`${rows.length} callbacks found`);
  } catch (e) {
    problem(e);
  }
});

// openCallback reads the callback and its timeline, then shows both at
// once: showing the facts before the timeline arrived let a slider moved
// in between be put back to now when the timeline came.
async function openCallback(id) {
  try {
    const c = await request('GET', `/v1/callbacks/${seg(id)}`);
    const events = c.interaction_id
      ? await request('GET', `/v1/interactions/${seg(c.interaction_id)}/events`).catch(() => [])
      : [];
    current = c;
    $('cb-id').textContent = c.id;
    const dl = $('cb-facts');
    dl.replaceChildren();
    for (const [k, v] of [['State', c.state], ['Service', c.service], ['Number', c.phone_number], ['Name', c.contact_name],
      ['Subject', c.subject], ['Requested', local(c.requested_at)], ['Scheduled for', local(c.scheduled_for)],
      ['Outcome', c.disposition], ['Reason', c.reason]]) {
      if (!v) continue;
      const dt = document.createElement('dt');
      dt.textContent = k;
      const dd = document.createElement('dd');
      dd.textContent = v;
      dl.append(dt, dd);
    }
    const ol = $('timeline');
    ol.replaceChildren();
    moments = events.filter((e) => e.time);
    for (const e of moments) {
      const li = document.createElement('li');
      li.textContent = `${local(e.time)} ${e.type}${e.data?.reason ? ` (${e.data.reason})` : ''}`;
      ol.append(li);
    }
    if (!ol.children.length) {
      const li = document.createElement('li');
      li.textContent = `${local(c.requested_at)} requested`;
      ol.append(li);
    }
    showTravel();
    const pick = $('reassign-agent');
    pick.replaceChildren(...[...agents.keys()].sort().map((id) => new Option(id, id)));
    $('callback').hidden = false;
    $('callback').focus();
  } catch (e) {
    problem(e);
  }
}

// Time travel (issue 14): the slider walks the timeline's events; at each
// one the callback and its interaction are read as they were then
// (GET …?at=), folded from their events up to that moment. The last
// position is now: the live state.
let moments = [];
let travelTimer;

function showTravel() {
  const range = $('travel-at');
  $('travel').hidden = moments.length < 2;
  range.max = String(Math.max(moments.length - 1, 0));
  range.value = range.max;
  travel();
}

// momentAt is the time just after event i: half way to the next one, at
// most a second after it; the last event's is now (no ?at=).
function momentAt(i) {
  if (i >= moments.length - 1) return '';
  const t = Date.parse(moments[i].time);
  const next = Date.parse(moments[i + 1].time);
  // A millisecond at least: times here have no finer grain than that, and
  // the event itself was recorded within its millisecond.
  return new Date(Math.min(t + 1000, Math.max(t + 1, t + (next - t) / 2))).toISOString();
}

async function travel() {
  if (!current || moments.length === 0) return;
  const i = Number($('travel-at').value);
  const at = momentAt(i);
  const q = at ? `?at=${encodeURIComponent(at)}` : '';
  $('travel-when').textContent = `${local(moments[i].time)}, after ${moments[i].type}${at ? '' : ' (now)'}`;
  [...$('timeline').children].forEach((li, k) => li.classList.toggle('later', k > i));
  const facts = [];
  try {
    const c = await request('GET', `/v1/callbacks/${seg(current.id)}${q}`);
    facts.push(['Callback', c.state], ['Scheduled for', local(c.scheduled_for)], ['Attempts', String(c.attempts ?? '')]);
  } catch {
    facts.push(['Callback', 'not requested yet']);
  }
  if (current.interaction_id) {
    try {
      const ix = await request('GET', `/v1/interactions/${seg(current.interaction_id)}${q}`);
      facts.push(['Interaction', ix.status ? `${ix.phase}, ${ix.status}` : ix.phase], ['Agent', ix.agent_id], ['Reason', ix.reason]);
    } catch {
      facts.push(['Interaction', 'not offered yet']);
    }
  }
  if (Number($('travel-at').value) !== i) return; // moved on meanwhile
  const dl = $('travel-facts');
  dl.replaceChildren();
  for (const [k, v] of facts) {
    if (!v) continue;
    const dt = document.createElement('dt');
    dt.textContent = k;
    const dd = document.createElement('dd');
    dd.textContent = v;
    dd.dataset.field = k.toLowerCase().replace(/ /g, '_');
    dl.append(dt, dd);
  }
}

$('travel-at').addEventListener('input', () => {
  clearTimeout(travelTimer);
  travelTimer = setTimeout(travel, 120);
});

$('cancel-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const why = $('cancel-why').value.trim();
  if (!current || !why) return $('cancel-why').focus();
  try {
    await request('DELETE', `/v1/callbacks/${seg(current.id)}?reason=${seg(why)}`);
    announce('Callback cancelled');
    await openCallback(current.id);
  } catch (e) {
    problem(e);
  }
});

$('reassign-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const agent = $('reassign-agent').value;
  const why = $('reassign-why').value.trim();
  if (!current || !agent || !why) return $(agent ? 'reassign-why' : 'reassign-agent').focus();
  try {
    await request('POST', `/v1/callbacks/${seg(current.id)}/reassign`, { agent, why });
    announce(`Callback reassigned to ${agent}`);
    await openCallback(current.id);
  } catch (e) {
    problem(e);
  }
});

$('move-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const t = isoOf($('move-time').value);
  if (!current || !t) return $('move-time').focus();
  try {
    await request('PUT', `/v1/callbacks/${seg(current.id)}`, { desired_time: t });
    announce('Callback rescheduled');
    await openCallback(current.id);
  } catch (e) {
    problem(e);
  }
});

async function start(s) {
  session = s;
  const view = await request('GET', '/v1/supervisor/summary');
  clearProblem(); // a refused sign-in before this one is over
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(s));
  agents.clear();
  for (const a of view.agent_rows) agents.set(a.agent, a);
  renderSummary(view);
  renderAgents();
  $('me-id').textContent = s.id;
  $('me').hidden = false;
  $('login').hidden = true;
  $('board').hidden = false;
  openStream();
}

// refusedHere is the words for a sign-in that is not a supervisor's.
function refusedHere(e) {
  return e.status === 403 ? new Problem({ detail: 'This page is for supervisors: you are not signed in as one.' }) : e;
}

// offerSignIn shows "Sign in with <provider>" when the site has single
// sign-on (it comes back here), and, when this browser is signed in, opens
// the board as that person, without a token.
async function offerSignIn() {
  let sso;
  try {
    const res = await fetch('/auth/oidc', { cache: 'no-store' });
    if (!res.ok) return;
    sso = await res.json();
  } catch {
    return; // no single sign-on here: tokens only
  }
  $('sso-name').textContent = sso.provider;
  $('sso').hidden = false;
  if (!sso.agent || session) return;
  try {
    await start({ id: sso.agent, token: null, sso: true });
  } catch (e) {
    session = null;
    problem(refusedHere(e));
  }
}

$('login-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const id = $('login-id').value.trim();
  const token = $('login-token').value;
  if (!id || !token) return;
  try {
    await start({ id, token });
  } catch (e) {
    session = null;
    problem(refusedHere(e));
  }
});

$('sign-out').addEventListener('click', async () => {
  stream?.close();
  sessionStorage.removeItem(SESSION_KEY);
  if (session?.sso) {
    // End the single sign-on session too: the next person at this desk
    // signs in as themselves.
    await fetch('/auth/logout', { method: 'POST', cache: 'no-store' }).catch(() => {});
  }
  location.reload();
});

// Time in state moves without events: only those cells change, so that
// focus stays where it is.
setInterval(() => {
  for (const td of document.querySelectorAll('td[data-since]')) td.textContent = duration(td.dataset.since);
}, 5000);

const saved = JSON.parse(sessionStorage.getItem(SESSION_KEY) || 'null');
if (saved) start(saved).catch(() => sessionStorage.removeItem(SESSION_KEY));
else offerSignIn();
