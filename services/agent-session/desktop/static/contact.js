// The contact's record in the Web Callback interaction window (issue 15;
// the guide's "View contact records"): the name and e-mail agents keep for
// the number, editable, and the contact's callbacks with their
// interactions and notes. History owns it (GET and PUT
// /v1/contacts/{number}/record); the page keeps only what is typed.

import * as R from './rules.js';

const seg = encodeURIComponent;

// wireContact adds the Contact panel to window el, before the contact
// history, and learns the name in the contact's record: an agent's
// correction is the name the window shows (it.recordName). ctx gives
// app.js's api(), run, showProblem, announce and render (the window again).
export function wireContact(it, el, ctx) {
  const key = it.id;
  const panel = document.createElement('section');
  panel.className = 'panel contact';
  panel.dataset.field = 'contact-record';
  panel.setAttribute('aria-labelledby', `contact-title-${key}`);
  panel.innerHTML = `
    <h3 id="contact-title-${key}">Contact</h3>
    <button type="button" data-contact="toggle" aria-expanded="false" aria-controls="contact-body-${key}">Show contact record</button>
    <div id="contact-body-${key}" data-contact="body" hidden>
      <dl class="facts">
        <dt>Name</dt><dd data-contact="name"></dd>
        <dt>E-mail</dt><dd data-contact="email"></dd>
        <dt>Number</dt><dd data-contact="number"></dd>
        <dt>Last edited</dt><dd data-contact="edited"></dd>
      </dl>
      <form class="contact-edit" data-contact="form" novalidate>
        <label for="contact-name-${key}">Contact name</label>
        <input id="contact-name-${key}" name="name" maxlength="200" autocomplete="off">
        <label for="contact-email-${key}">Contact e-mail</label>
        <input id="contact-email-${key}" name="email" type="email" maxlength="254" autocomplete="off" spellcheck="false">
        <button type="submit" data-contact="save">Save Contact</button>
      </form>
      <div data-contact="callbacks"></div>
    </div>`;
  // The form's labels and inputs sit side by side: pair them in the grid.
  const form = panel.querySelector('form');
  for (const input of form.querySelectorAll('input')) {
    const label = form.querySelector(`label[for="${input.id}"]`);
    label.append(input);
  }
  const history = el.querySelector('.panel.history');
  (history || el.querySelector('.columns').lastElementChild).before(panel);

  const toggle = panel.querySelector('[data-contact="toggle"]');
  const body = panel.querySelector('[data-contact="body"]');
  const number = () => it.view?.callback?.phone_number || '';
  const put = (name, text) => { panel.querySelector(`[data-contact="${name}"]`).textContent = text; };

  const named = (rec) => {
    const name = rec.name ?? null;
    if (name !== (it.recordName ?? null)) {
      it.recordName = name;
      ctx.render();
    }
  };
  const show = (rec) => {
    named(rec);
    const name = R.givenName(it.view || {}, it.recordName);
    put('name', name || 'Not given');
    put('email', rec.email || 'Not given');
    put('number', rec.phone_number || number());
    put('edited', rec.edited_by ? `${R.when(rec.edited_at)} by ${rec.edited_by}` : 'Never');
    if (!form.contains(document.activeElement)) {
      form.elements.name.value = name;
      form.elements.email.value = rec.email || '';
    }
    panel.querySelector('[data-contact="callbacks"]').replaceChildren(callbacksTable(rec.callbacks || []));
  };
  const load = async () => {
    if (!number()) return;
    try {
      const { data } = await ctx.api().request('GET', `/v1/contacts/${seg(number())}/record`);
      show(data || {});
    } catch (e) {
      ctx.showProblem(e);
    }
  };
  // The name at once, quietly: the panel says what went wrong when opened.
  if (number()) {
    ctx.api().request('GET', `/v1/contacts/${seg(number())}/record`).then(({ data }) => named(data || {}), () => {});
  }
  toggle.addEventListener('click', () => {
    const open = body.hidden;
    body.hidden = !open;
    toggle.setAttribute('aria-expanded', String(open));
    toggle.textContent = open ? 'Hide contact record' : 'Show contact record';
    if (open) load();
  });
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    let field = '';
    const r = await ctx.run(it, 'contact', async () => {
      try {
        return await ctx.api().request('PUT', `/v1/contacts/${seg(number())}/record`,
          { name: form.elements.name.value.trim(), email: form.elements.email.value.trim(), agent_id: ctx.api().agent });
      } catch (e) {
        field = e.field;
        throw e;
      }
    });
    if (r?.data) {
      show(r.data);
      ctx.announce('Contact saved.');
    } else if (!r) {
      form.elements[field === 'email' ? 'email' : 'name'].focus();
    }
  });
}

// renderContact lets the record be edited while the agent has the
// interaction (history refuses anyone else).
export function renderContact(it, el) {
  const save = el.querySelector('[data-contact="save"]');
  if (!save) return;
  const busy = it.pending.has('contact');
  save.disabled = it.view.phase !== 'accepted' || busy;
  save.setAttribute('aria-busy', String(busy));
}

function callbacksTable(rows) {
  if (rows.length === 0) {
    const p = document.createElement('p');
    p.textContent = 'No callbacks of this contact yet.';
    return p;
  }
  const table = document.createElement('table');
  table.createCaption().textContent = "The contact's callbacks, newest first";
  const head = table.createTHead().insertRow();
  for (const h of ['Requested', 'Subject', 'Service', 'State', 'Disposition', 'Interactions', 'Notes']) {
    const th = document.createElement('th');
    th.scope = 'col';
    th.textContent = h;
    head.append(th);
  }
  const body = table.createTBody();
  for (const r of rows) {
    const tr = body.insertRow();
    for (const v of [R.when(r.requested_at), r.subject, r.service, R.callbackState(r.state), r.disposition,
      String((r.interactions || []).length), (r.notes || []).map((n) => n.text).join(' / ')]) {
      tr.insertCell().textContent = v || '';
    }
  }
  return table;
}
