// The Team Communicator in the Web Callback interaction window (issue 15;
// the guide's "Launch the Team Communicator"): the "Agent or number" box
// becomes a search of the agents with their state, the services (queues)
// with the agents Ready for them, and the agent's recent numbers, each
// result with Consult and Transfer. The server answers the search
// (GET /v1/directory, folded from the store) and decides the command.

const seg = encodeURIComponent;

// stateWords are the agent states in the workspace's words.
const stateWords = {
  READY: 'Ready', NOT_READY: 'Not Ready', BUSY: 'Busy', AFTER_CALL_WORK: 'After Call Work', LOGGED_OUT: 'Logged Out',
};

// wireTeam turns window el's party input into the Team Communicator. ctx
// gives app.js's api(), run, showProblem and announce.
export function wireTeam(it, el, ctx) {
  const key = it.id;
  const input = el.querySelector('[data-field="party-target"]');
  const label = el.querySelector('[data-ref="party-target-label"]');
  label.textContent = 'Team Communicator';
  input.placeholder = 'Agent, service or +number';
  input.setAttribute('aria-controls', `team-${key}`);
  input.setAttribute('aria-describedby', `team-count-${key}`);

  const box = document.createElement('section');
  box.className = 'team';
  box.id = `team-${key}`;
  box.dataset.field = 'team';
  box.setAttribute('aria-labelledby', `team-title-${key}`);
  box.hidden = true;
  box.innerHTML = `
    <h3 id="team-title-${key}">Team Communicator results</h3>
    <p class="hint" id="team-count-${key}" role="status"></p>
    <ul class="team-list"></ul>`;
  el.querySelector('.controls').after(box);
  const list = box.querySelector('ul');
  const count = box.querySelector('[role="status"]');

  let asked = 0;
  let timer = 0;
  const search = async () => {
    const mine = ++asked;
    try {
      const { data } = await ctx.api().request('GET', `/v1/directory?q=${seg(input.value.trim())}`);
      if (mine !== asked || input.disabled) return;
      show(data || {});
    } catch (e) {
      if (mine === asked) ctx.showProblem(e);
    }
  };
  const close = () => {
    asked++;
    box.hidden = true;
  };
  const show = (d) => {
    const rows = [];
    for (const a of d.agents || []) {
      const who = a.name ? `${a.name} (${a.id})` : a.id;
      const state = stateWords[a.state] || a.state;
      rows.push(row({ kind: 'agent', key: a.id, name: who, state: a.state,
        detail: a.reason ? `${state}: ${a.reason}` : state, body: { agent: a.id },
        why: a.state === 'READY' ? '' : `${who} is ${state}` }));
    }
    for (const s of d.services || []) {
      const ready = `${s.ready} agent${s.ready === 1 ? '' : 's'} Ready`;
      rows.push(row({ kind: 'service', key: s.name, name: `Service ${s.name}`, detail: s.agent ? `${ready}, next: ${s.agent}` : ready,
        body: s.agent ? { agent: s.agent } : null, why: s.agent ? '' : `no agent is Ready for ${s.name}` }));
    }
    for (const n of d.numbers || []) {
      const when = n.at ? new Date(n.at).toLocaleString([], { dateStyle: 'short', timeStyle: 'short' }) : '';
      rows.push(row({ kind: 'number', key: n.phone_number, name: n.phone_number,
        detail: `${n.purpose === 'transfer' ? 'Transferred' : 'Consulted'} ${when}`.trim(), body: { phone_number: n.phone_number } }));
    }
    list.replaceChildren(...rows);
    const agents = (d.agents || []).length;
    const services = (d.services || []).length;
    const numbers = (d.numbers || []).length;
    count.textContent = rows.length === 0 ? 'Nothing found. A number starting with + can still be consulted or transferred to.'
      : `${agents} agent${agents === 1 ? '' : 's'}, ${services} service${services === 1 ? '' : 's'}, ${numbers} recent number${numbers === 1 ? '' : 's'}.`;
    box.hidden = false;
  };
  const row = ({ kind, key: k, name, state, detail, body, why }) => {
    const li = document.createElement('li');
    li.dataset.team = kind;
    li.dataset.key = k;
    const n = document.createElement('span');
    n.className = 'team-name';
    n.textContent = name;
    const d = document.createElement('span');
    d.className = state ? 'team-state' : 'team-detail';
    if (state) d.dataset.state = state;
    d.textContent = detail;
    li.append(n, ' ', d);
    for (const [action, word] of [['consult', 'Consult'], ['transfer', 'Transfer']]) {
      const b = document.createElement('button');
      b.type = 'button';
      b.textContent = word;
      b.dataset.team = action;
      b.setAttribute('aria-label', `${word} ${name}`);
      if (!body || why) {
        b.disabled = true;
        b.title = why || '';
      }
      b.addEventListener('click', () => act(action, body, name));
      li.append(' ', b);
    }
    return li;
  };
  const act = async (action, body, name) => {
    const r = await ctx.run(it, action, () => ctx.api().command(it.id, action, body));
    if (r) {
      input.value = '';
      close();
      ctx.announce(`${action === 'consult' ? 'Consulting' : 'Transferring to'} ${name}.`);
    }
  };

  input.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(search, 200);
  });
  input.addEventListener('focus', () => { if (box.hidden) search(); });
  input.addEventListener('keydown', (ev) => {
    if (ev.key === 'ArrowDown' && !box.hidden) {
      ev.preventDefault();
      box.querySelector('button:not(:disabled)')?.focus();
    } else if (ev.key === 'Escape' && !box.hidden) {
      ev.preventDefault();
      close();
    }
  });
  box.addEventListener('keydown', (ev) => {
    const buttons = [...box.querySelectorAll('button:not(:disabled)')];
    const i = buttons.indexOf(document.activeElement);
    if (ev.key === 'Escape') {
      ev.preventDefault();
      close();
      input.focus();
    } else if ((ev.key === 'ArrowDown' || ev.key === 'ArrowUp') && i >= 0) {
      ev.preventDefault();
      const next = i + (ev.key === 'ArrowDown' ? 1 : -1);
      if (next < 0) input.focus();
      else buttons[Math.min(next, buttons.length - 1)].focus();
    }
  });
}

// renderTeam hides the results while the window may not consult or
// transfer (no call, a consultation under way); the focus goes back to the
// window's title rather than vanish.
export function renderTeam(it, el) {
  const box = el.querySelector('[data-field="team"]');
  const ask = el.querySelector('[data-field="party-ask"]');
  const input = el.querySelector('[data-field="party-target"]');
  if (!box || box.hidden || (!ask.hidden && !input.disabled)) return;
  const had = box.contains(document.activeElement);
  box.hidden = true;
  if (had) el.querySelector('h2').focus();
}
