// What the form and the manage page share: the visitor's time zone, the
// service's open slots in it (the scheduler's public availability), and
// the problems the API answers.

export const zone = (() => {
  try { return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC'; } catch (e) { return 'UTC'; }
})();

const dayFmt = new Intl.DateTimeFormat(undefined, {weekday: 'long', day: 'numeric', month: 'long', timeZone: zone});
const timeFmt = new Intl.DateTimeFormat(undefined, {hour: '2-digit', minute: '2-digit', timeZone: zone});
const keyFmt = new Intl.DateTimeFormat('en-CA', {year: 'numeric', month: '2-digit', day: '2-digit', timeZone: zone});

export const dayOf = (d) => dayFmt.format(d);
export const timeOf = (d) => timeFmt.format(d);
export const when = (d) => dayFmt.format(d) + ', ' + timeFmt.format(d);

// problem reads an error answer: its detail, the field at fault, and for a
// 429 how long to wait (Retry-After, seconds).
export async function problem(res) {
  let body = {};
  try { body = await res.json(); } catch (e) { /* not JSON */ }
  const p = {status: res.status, detail: body.detail || res.statusText || 'the request failed', field: body.field || '', slots: body.slots || null};
  if (res.status === 429) {
    const after = parseInt(res.headers.get('Retry-After') || '', 10);
    p.retryAfter = Number.isFinite(after) ? after : 0;
  }
  return p;
}

// waitText says a 429 in words a visitor reads.
export function waitText(p) {
  if (!p.retryAfter) return 'Too many requests right now: please try again in a moment.';
  const s = p.retryAfter;
  const span = s < 90 ? s + (s === 1 ? ' second' : ' seconds') : Math.ceil(s / 60) + ' minutes';
  return 'Too many requests right now: please try again in ' + span + '.';
}

// loadSlots fetches the service's free slots in the visitor's zone.
export async function loadSlots(service) {
  const res = await fetch('/v1/services/' + encodeURIComponent(service) + '/availability?timezone=' + encodeURIComponent(zone),
    {headers: {Accept: 'application/json'}});
  if (!res.ok) throw await problem(res);
  const body = await res.json();
  return (body.slots || []).filter((s) => s.free > 0).map((s) => ({start: new Date(s.start), end: new Date(s.end), iso: s.start}));
}

// picker fills a day <select> and a group of radio buttons with slots,
// the times of the day chosen; returns a function giving the slot picked.
export function picker(daySelect, group, name, slots) {
  const days = new Map();
  for (const s of slots) {
    const k = keyFmt.format(s.start);
    if (!days.has(k)) days.set(k, []);
    days.get(k).push(s);
  }
  daySelect.replaceChildren();
  for (const [k, list] of days) {
    const o = document.createElement('option');
    o.value = k;
    o.textContent = dayOf(list[0].start);
    daySelect.append(o);
  }
  const render = () => {
    group.querySelectorAll('label.slot').forEach((l) => l.remove());
    (days.get(daySelect.value) || []).forEach((s, i) => {
      const l = document.createElement('label');
      l.className = 'slot';
      const r = document.createElement('input');
      r.type = 'radio';
      r.name = name;
      r.value = s.iso;
      if (i === 0) r.checked = true;
      l.append(r, document.createTextNode(timeOf(s.start) + ' – ' + timeOf(s.end)));
      group.append(l);
    });
  };
  daySelect.addEventListener('change', render);
  render();
  return () => {
    const r = group.querySelector('input[name="' + name + '"]:checked');
    return r ? r.value : '';
  };
}
