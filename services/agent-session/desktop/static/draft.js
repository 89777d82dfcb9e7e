// Nothing typed is lost (issue 15): the note and the case form of the
// interaction window are sent to the server a moment after the agent stops
// typing, and before Done. The draft belongs to the interaction (its
// event stream), so a reload of the page, on any replica, shows it, and
// Done files a note never saved by hand in the contact history.

import * as R from './rules.js';

// DRAFT_DELAY is the pause after the last key before the draft is sent.
export const DRAFT_DELAY = 1000;

// readDraft is the draft as the window shows it now.
export function readDraft(it) {
  const el = it.win;
  const note = el.querySelector('[data-form="note"] textarea').value;
  const form = el.querySelector('[data-form="case"]');
  const fields = {};
  for (const input of el.querySelectorAll('[data-field="case-inputs"] input')) fields[input.dataset.key] = input.value;
  return R.draftBody(note, it.editing, fields, form.elements['new-key'].value, form.elements['new-value'].value);
}

// wireDraft sends the draft as the agent types in window el; api() is the
// page's API client.
export function wireDraft(it, el, api) {
  const later = () => scheduleDraft(it, api);
  el.querySelector('[data-form="note"]').addEventListener('input', later);
  el.querySelector('[data-form="case"]').addEventListener('input', later);
}

export function scheduleDraft(it, api) {
  clearTimeout(it.draftTimer);
  it.draftTimer = setTimeout(() => flushDraft(it, api).catch(() => {}), DRAFT_DELAY);
}

// flushDraft sends the draft now unless the server has it already. Saves
// go one at a time, in order, so the last one is the agent's latest text.
// It rejects with the server's refusal (Done shows it and waits).
export function flushDraft(it, api, { keepalive = false } = {}) {
  clearTimeout(it.draftTimer);
  it.draftTimer = 0;
  const next = (it.draftChain || Promise.resolve()).catch(() => {}).then(async () => {
    if (!it.win) return;
    const d = readDraft(it);
    const key = JSON.stringify(d);
    if (key === it.draftSent) return;
    try {
      await api().saveDraft(it.id, d, { keepalive });
    } catch (e) {
      state(it, `Not saved yet: ${e.detail || e.message}. It is sent again as you type, and at Done.`);
      throw e;
    }
    it.draftSent = key;
    state(it, d.note || d.case_editing ? 'Draft kept: it is filed at Done if you do not save it.' : '');
  });
  it.draftChain = next;
  return next;
}

// restoreDraft puts back what the server kept (after a reload) and notes
// it as sent; startCaseEdit(data) opens the case form with the kept values.
export function restoreDraft(it, startCaseEdit) {
  const d = it.view.draft;
  const textarea = it.win.querySelector('[data-form="note"] textarea');
  if (d?.note && !textarea.value) textarea.value = d.note;
  if (d?.case_editing && !it.editing) startCaseEdit(d.case_data || {}, false);
  it.draftSent = JSON.stringify(readDraft(it)); // what the server holds now
  if (d?.note || d?.case_editing) state(it, 'Draft kept: it is filed at Done if you do not save it.');
}

function state(it, text) {
  const p = it.win?.querySelector('[data-field="draft-state"]');
  if (p && p.textContent !== text) p.textContent = text;
}
