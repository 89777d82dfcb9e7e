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
    await moved(cb, 'Your callback was moved to ' + when(new Date(iso)) + '.', () => {
      // The scheduler confirms the new time a moment later; the
      // visitor's choice is what was asked.
      $('f-when').textContent = when(new Date(iso)) + ' (' + zone + ')';
    });
  } catch (p) {
    await notMoved(p);
  } finally {
    $('move-btn').disabled = false;
  }
});

// moved shows the answer to a move. One that reached the callback while
// it was being offered to agents may still be undecided (202,
// move_pending): the page asks again until the callback says whether an
// agent took it first.
async function moved(cb, done, shown) {
  show(cb);
  for (let i = 0; cb.move_pending && i < 30; i++) {
    say('notice', 'Your change is on its way. An agent may be taking your callback at this moment: this page will say which in a few seconds.');
    await new Promise((r) => setTimeout(r, 2000));
    try {
      cb = await call('GET');
    } catch (p) {
      return void say('problem', trouble(p));
    }
    show(cb);
  }
  if (cb.move_pending) return void say('notice', 'Your change is still on its way. Reload this page in a minute to see where your callback stands.');
  if (cb.state === 'IN_PROGRESS') return void say('problem', 'An agent took your callback just before your change reached them: they are calling you now, so it was not moved.');
  shown();
  say('notice', done);
}

// notMoved says why a move was refused; a conflict (an agent took the
// callback, or it is over) also shows where the callback stands now.
async function notMoved(p) {
  if (p.status === 409) {
    try {
      show(await call('GET'));
    } catch (ignored) {
      // the refusal below says enough
    }
  }
  say('problem', 'Your callback was not moved: ' + trouble(p));
}

$('asap-btn').addEventListener('click', async () => {
  $('asap-btn').disabled = true;
  try {
    await moved(await call('PUT', {asap: true}), 'We will call you as soon as an agent is free.', () => {
      $('f-when').textContent = 'As soon as possible';
    });
  } catch (p) {
    await notMoved(p);
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
