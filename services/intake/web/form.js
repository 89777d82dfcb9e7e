// The callback form: the service's open slots in the visitor's zone, ASAP
// when the service offers it, consent required, errors shown at the field
// the API names, and the confirmation with the self-service link.
import {zone, loadSlots, picker, problem, waitText, when} from './slots.js';

const $ = (id) => document.getElementById(id);
const service = document.body.dataset.service;
const form = $('cb');
const fields = ['phone_number', 'contact_name', 'subject', 'desired_time', 'when', 'consent'];
let pickedSlot = () => '';

$('zone-note').textContent = 'Times are shown in your time zone, ' + zone + '.';

function clearErrors() {
  $('problem').hidden = true;
  $('problem').textContent = '';
  for (const f of fields) {
    const e = $(f + '-error');
    if (e) e.textContent = '';
    const input = $(f);
    if (input) input.removeAttribute('aria-invalid');
  }
}

// fieldError shows detail at the field the API named and moves focus
// there; false when the page has no such field.
function fieldError(field, detail) {
  const f = field === 'desired_time' && !$('desired_time') ? 'when' : field;
  const e = f && $(f + '-error');
  if (!e) return false;
  e.textContent = detail;
  const el = $(f);
  if (el && el.tagName === 'FIELDSET') {
    const first = el.querySelector('input:checked') || el.querySelector('input');
    if (first) first.focus();
  } else if (el) {
    el.setAttribute('aria-invalid', 'true');
    el.focus();
  }
  return true;
}

function showProblem(text) {
  $('problem').textContent = text;
  $('problem').hidden = false;
  $('problem').focus();
}

// The radios: the slot picker is for the "slot" choice only.
function whenChoice() {
  const r = form.querySelector('input[name="when"]:checked');
  return r ? r.value : '';
}

async function setUpSlots() {
  if (!$('slot-picker')) return;
  const status = $('slots-status');
  try {
    const slots = await loadSlots(service);
    if (slots.length === 0) {
      status.textContent = 'No time is open in the coming days.';
      $('day').disabled = true;
      return;
    }
    pickedSlot = picker($('day'), $('slots'), 'slot', slots);
    status.textContent = slots.length + ' open times in the coming days.';
    // Choosing a day or a time is choosing to be called then.
    const chooseSlot = () => { form.querySelector('input[name="when"][value="slot"]').checked = true; };
    $('day').addEventListener('change', chooseSlot);
    $('slots').addEventListener('change', chooseSlot);
  } catch (p) {
    status.textContent = p.status === 429 ? waitText(p) : 'The open times could not be loaded: ' + (p.detail || p);
  }
}

form.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  clearErrors();
  const phone = $('phone_number').value.replace(/[\s().-]/g, '');
  if (!phone) return void fieldError('phone_number', 'Enter the number we should call, such as +44 20 7946 0958.');
  if (!$('consent').checked) return void fieldError('consent', 'Tick the box to agree to be called back.');
  const body = {service, phone_number: phone, timezone: zone};
  if ($('contact_name').value.trim()) body.contact_name = $('contact_name').value.trim();
  if ($('subject').value.trim()) body.subject = $('subject').value.trim();
  const choice = whenChoice();
  if (choice === 'slot') {
    const iso = pickedSlot();
    if (!iso) return void fieldError('when', 'Choose a time, or as soon as possible.');
    // A slot that has begun: as soon as possible within it.
    body.desired_time = new Date(iso) > new Date(Date.now() + 30000) ? iso : new Date(Date.now() + 60000).toISOString();
  } else if (choice === 'time') {
    const v = $('desired_time').value;
    if (!v) return void fieldError('desired_time', 'Choose a date and time.');
    body.desired_time = new Date(v).toISOString();
  } else if (choice !== 'asap') {
    return void fieldError('when', 'Choose when we should call you.');
  }
  const send = $('send');
  send.disabled = true;
  send.setAttribute('aria-busy', 'true');
  try {
    // One key per filled-in form: a retried click is the same request.
    form.dataset.key = form.dataset.key && form.dataset.body === JSON.stringify(body) ? form.dataset.key : crypto.randomUUID();
    form.dataset.body = JSON.stringify(body);
    const headers = {'Content-Type': 'application/json', 'Idempotency-Key': form.dataset.key};
    // A service under a bot flood may ask for a proof of work: a second
    // or so of this browser's time (pow.js).
    if (typeof window.ringbackProof === 'function') {
      $('sending').textContent = 'Sending…';
      try {
        const proof = await window.ringbackProof(service, phone);
        if (proof) headers['Ringback-Proof'] = proof;
      } catch (e) {
        // No challenge (too many requests, an unknown service): the
        // POST's own answer says why.
      }
    }
    const res = await fetch('/v1/callbacks', {method: 'POST', headers, body: JSON.stringify(body)});
    if (!res.ok) {
      const p = await problem(res);
      if (p.status === 429) return void showProblem(waitText(p));
      let detail = p.detail;
      if (p.slots && p.slots.length) detail += ' Open times near it: ' + p.slots.map((s) => when(new Date(s.start))).join('; ') + '.';
      if (!fieldError(p.field, detail)) showProblem('Your request was not sent: ' + detail);
      return;
    }
    confirmDone(await res.json());
  } catch (e) {
    showProblem('Your request was not sent: the connection failed. Please try again.');
  } finally {
    $('sending').textContent = '';
    send.disabled = false;
    send.removeAttribute('aria-busy');
  }
});

function confirmDone(cb) {
  const at = cb.scheduled_for || cb.desired_time;
  $('done-when').textContent = at && new Date(at) > new Date() ? 'We will call you on ' + when(new Date(at)) + ' (' + zone + ').'
    : 'We will call you as soon as possible.';
  const link = cb.self_service;
  if (link) {
    const url = new URL(link.url, location.origin).href;
    $('done-link').href = url;
    $('done-url').textContent = url;
  } else {
    $('done-link').parentElement.hidden = true;
    $('done-url').parentElement.hidden = true;
  }
  form.hidden = true;
  $('done').hidden = false;
  $('done').focus();
}

setUpSlots();
// In button.js's dialog: tell the page the form is up (nothing else: the
// host page is another site, and the link is the visitor's alone).
if (window.parent !== window) window.parent.postMessage({ringback: 'form-ready'}, '*');
