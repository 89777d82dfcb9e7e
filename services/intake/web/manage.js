// The page of a self-service link: /callback/manage#<token>. The token
// stays in the fragment, which no server and no Referer sees; the page
// shows the callback, moves it to another open slot, or cancels it.
import {zone, loadSlots, picker, problem, waitText, when} from './slots.js';

const $ = (id) => document.getElementById(id);
const token = decodeURIComponent(location.hash.slice(1));
const api = '/v1/self/' + encodeURIComponent(token);
let current = null;
let pickedSlot = () => '';

const states = {SCHEDULED: 'Booked', QUEUED: 'Waiting for the next free agent', IN_PROGRESS: 'An agent is calling you',
  COMPLETED: 'Done', CANCELLED: 'Cancelled'};

function say(kind, text) {
  for (const k of ['problem', 'notice']) $(k).hidden = true;
  $(kind).textContent = text;
  $(kind).hidden = false;
  $(kind).focus();
}

// trouble turns an error answer into words; a bad or expired link ends the page.
function trouble(p) {
  if (p.status === 403) return 'This link is not valid. Use the complete link you were given when you asked for the call.';
  if (p.status === 410) return 'This link has expired. If you still need a call, please ask for a new one.';
  if (p.status === 429) return waitText(p);
  return p.detail;
}

function show(cb) {
  current = cb;
  $('loading').hidden = true;
  $('details').hidden = false;
  $('f-state').textContent = states[cb.state] || cb.state.toLowerCase();
  const at = cb.scheduled_for || cb.desired_time;
  $('f-when').textContent = at && new Date(at) > new Date() ? when(new Date(at)) + ' (' + zone + ')' : 'As soon as possible';
  $('f-phone').textContent = cb.phone_number;
  $('f-name').textContent = cb.contact_name || '—';
  $('f-subject').textContent = cb.subject || '—';
  $('f-expires').textContent = 'This link works until ' + when(new Date(cb.link_expires_at)) + '.';
  $('asap').hidden = !cb.asap;
  $('move').hidden = !cb.changeable;
  $('cancel').hidden = !cb.changeable;
  $('cancel-confirm').hidden = true;
  $('cancel-btn').hidden = false;
}

async function call(method, body) {
  const res = await fetch(api, {method, headers: body ? {'Content-Type': 'application/json'} : {},
    body: body ? JSON.stringify(body) : undefined, referrerPolicy: 'no-referrer', cache: 'no-store'});
  if (!res.ok) throw await problem(res);
  return res.json();
}

async function load() {
  if (!token) {
    $('loading').hidden = true;
    return void say('problem', trouble({status: 403}));
  }
  try {
    show(await call('GET'));
  } catch (p) {
    $('loading').hidden = true;
    return void say('problem', trouble(p));
  }
  if (!current.changeable) return;
  $('zone-note').textContent = 'Times are shown in your time zone, ' + zone + '.';
  try {
    const slots = await loadSlots(current.service);
    if (slots.length) {
      pickedSlot = picker($('day'), $('slots'), 'slot', slots);
      $('slots-status').textContent = slots.length + ' open times in the coming days.';
    } else {
      $('slots-status').textContent = 'No other time is open in the coming days.';
      $('move-btn').disabled = true;
    }
  } catch (p) {
    // A service without slots: nothing to move to; cancelling still works.
    $('move').hidden = true;
  }
}

$('move-btn').addEventListener('click', async () => {
  const iso = pickedSlot();
  if (!iso) return void say('problem', 'Choose a time first.');
  $('move-btn').disabled = true;
  try {
    const cb = await call('PUT', {desired_time: new Date(iso) > new Date(Date.now() + 30000) ? iso : new Date(Date.now() + 60000).toISOString()});
    show(cb);
    // The scheduler confirms the new time a moment later; the visitor's
    // choice is what was asked.
    $('f-when').textContent = when(new Date(iso)) + ' (' + zone + ')';
    say('notice', 'Your callback was moved to ' + when(new Date(iso)) + '.');
  } catch (p) {
    say('problem', 'Your callback was not moved: ' + trouble(p));
  } finally {
    $('move-btn').disabled = false;
  }
});

$('asap-btn').addEventListener('click', async () => {
  $('asap-btn').disabled = true;
  try {
    show(await call('PUT', {asap: true}));
    $('f-when').textContent = 'As soon as possible';
    say('notice', 'We will call you as soon as an agent is free.');
  } catch (p) {
    say('problem', 'Your callback was not moved: ' + trouble(p));
  } finally {
    $('asap-btn').disabled = false;
  }
});

$('cancel-btn').addEventListener('click', () => {
  $('cancel-btn').hidden = true;
  $('cancel-confirm').hidden = false;
  $('cancel-no').focus();
});
$('cancel-no').addEventListener('click', () => {
  $('cancel-confirm').hidden = true;
  $('cancel-btn').hidden = false;
  $('cancel-btn').focus();
});
$('cancel-yes').addEventListener('click', async () => {
  $('cancel-yes').disabled = true;
  try {
    show(await call('DELETE'));
    say('notice', 'Your callback is cancelled: we will not call you.');
  } catch (p) {
    say('problem', 'Your callback was not cancelled: ' + trouble(p));
  } finally {
    $('cancel-yes').disabled = false;
  }
});

load();
