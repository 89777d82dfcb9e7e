// Transfer, consultation and conference in the Web Callback interaction
// window: the "Agent or number" input with Transfer and Consult; during a
// consultation Complete Transfer, Conference and End Consultation; in a
// conference Transfer and Drop Party. The server decides; this wires the
// controls and shows where the third party is.

import { Problem } from './api.js';
import * as R from './rules.js';

// ends maps the ending buttons to their commands.
const ends = {
  'complete-transfer': 'consult/transfer',
  conference: 'consult/conference',
  'end-consultation': 'consult/cancel',
};

// wireParty connects the party controls of window el. ctx gives app.js's
// api(), run, showProblem and announce.
export function wireParty(it, el, ctx) {
  const input = el.querySelector('[data-field="party-target"]');
  const ask = async (name) => {
    const body = R.partyTarget(input.value);
    if (!body) {
      ctx.showProblem(new Problem({ detail: 'Enter an agent ID, or a number such as +14155550100.', field: 'party' }));
      input.focus();
      return;
    }
    const r = await ctx.run(it, name, () => ctx.api().command(it.id, name, body));
    if (r) input.value = '';
  };
  el.querySelector('[data-action="transfer"]').addEventListener('click', () => ask('transfer'));
  // Enter in the input consults: the step the agent can still take back.
  el.querySelector('[data-form="party"]').addEventListener('submit', (ev) => {
    ev.preventDefault();
    ask('consult');
  });
  for (const [action, path] of Object.entries(ends)) {
    el.querySelector(`[data-action="${action}"]`).addEventListener('click', () =>
      ctx.run(it, action, () => ctx.api().command(it.id, path)));
  }
}

// renderParty shows the party controls that apply and where the party is;
// a change is read out.
export function renderParty(it, el, may, announce) {
  const v = it.view;
  const shown = R.partyShown(v);
  const ask = el.querySelector('[data-field="party-ask"]');
  const end = el.querySelector('[data-field="party-end"]');
  const hiding = (!shown.ask && !ask.hidden && ask.contains(document.activeElement)) ||
    (!shown.end && !end.hidden && end.contains(document.activeElement));
  ask.hidden = !shown.ask;
  end.hidden = !shown.end;
  el.querySelector('[data-field="party-target"]').disabled = !may['party-target'];
  for (const [action, label] of Object.entries(R.partyLabels(v))) {
    const b = el.querySelector(`[data-action="${action}"]`);
    if (b.textContent !== label) b.textContent = label;
  }
  // The focus must not vanish with the controls it was on.
  if (hiding) {
    const next = (shown.end ? end : ask).querySelector('button:not(:disabled), input:not(:disabled)');
    (next || el.querySelector('h2')).focus();
  }

  const text = R.partyText(v) || v.party_reason || '';
  const badge = el.querySelector('[data-field="party"]');
  badge.dataset.partyStatus = v.party_purpose ? v.party_status || 'asked' : '';
  if (badge.textContent !== text) {
    badge.textContent = text;
    if (text && it.partyText !== undefined) announce(`${R.contactName(v, it.recordName)}: ${text}.`);
  }
  it.partyText = text;
}
