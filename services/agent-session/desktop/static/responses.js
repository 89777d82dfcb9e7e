// The Standard Response Library in the Web Callback interaction window
// (issue 15; the guide's "View and read standard responses"): the
// service's responses, searched as the agent types, each viewed in place
// and inserted into the note at the cursor. The responses come from the
// services file (GET /v1/responses); the page keeps only the search.

const seg = encodeURIComponent;

// wireResponses adds the Responses panel to window el, after the Note
// panel. ctx gives app.js's api(), showProblem and announce.
export function wireResponses(it, el, ctx) {
  const note = el.querySelector('[data-form="note"] textarea');
  const key = it.id;
  const panel = document.createElement('section');
  panel.className = 'panel responses';
  panel.dataset.field = 'responses';
  panel.setAttribute('aria-labelledby', `responses-title-${key}`);
  panel.innerHTML = `
    <h3 id="responses-title-${key}">Responses</h3>
    <form role="search" aria-labelledby="responses-title-${key}">
      <label for="responses-q-${key}">Search standard responses</label>
      <input id="responses-q-${key}" type="search" name="q" maxlength="100" autocomplete="off" spellcheck="false"
             aria-describedby="responses-count-${key}">
    </form>
    <p class="hint" id="responses-count-${key}" role="status"></p>
    <ul class="responses-list"></ul>`;
  const notePanel = note.closest('.panel');
  notePanel.after(panel);

  const input = panel.querySelector('input');
  const list = panel.querySelector('ul');
  const count = panel.querySelector('[role="status"]');
  // The note's caret, kept when the focus leaves it for this panel.
  let caret = null;
  const keep = () => { caret = [note.selectionStart, note.selectionEnd]; };
  note.addEventListener('blur', keep);
  note.addEventListener('select', keep);

  let asked = 0;
  let timer = 0;
  const search = async () => {
    const service = it.view?.callback?.service || '';
    if (!service) return;
    const mine = ++asked;
    try {
      const { data } = await ctx.api().request('GET', `/v1/responses?service=${seg(service)}&q=${seg(input.value.trim())}`);
      if (mine !== asked) return; // a later search answered, or will
      show(data?.responses || []);
    } catch (e) {
      if (mine === asked) ctx.showProblem(e);
    }
  };
  const show = (responses) => {
    list.replaceChildren(...responses.map((r, i) => item(r, `${key}-${i}`)));
    count.textContent = responses.length === 0
      ? (input.value.trim() ? 'No standard response matches.' : 'No standard responses for this service.')
      : `${responses.length} standard response${responses.length === 1 ? '' : 's'}.`;
  };
  const item = (r, id) => {
    const li = document.createElement('li');
    li.className = 'response';
    li.dataset.response = r.name;
    const name = document.createElement('span');
    name.className = 'response-name';
    name.id = `response-name-${id}`;
    name.textContent = r.name;
    const view = button('View', `response-view`, [name.id]);
    view.setAttribute('aria-expanded', 'false');
    view.setAttribute('aria-controls', `response-text-${id}`);
    const insert = button('Insert into note', 'response-insert', []);
    insert.setAttribute('aria-label', `Insert into note: ${r.name}`);
    const text = document.createElement('p');
    text.className = 'response-text';
    text.id = `response-text-${id}`;
    text.textContent = r.text;
    text.hidden = true;
    if (r.tags?.length) {
      const tags = document.createElement('span');
      tags.className = 'response-tags';
      tags.textContent = r.tags.join(', ');
      name.append(' ', tags);
    }
    view.setAttribute('aria-label', `View ${r.name}`);
    view.addEventListener('click', () => {
      text.hidden = !text.hidden;
      view.setAttribute('aria-expanded', String(!text.hidden));
      view.textContent = text.hidden ? 'View' : 'Hide';
      view.setAttribute('aria-label', `${view.textContent} ${r.name}`);
    });
    insert.addEventListener('click', () => insertText(r));
    li.append(name, ' ', view, ' ', insert, text);
    return li;
  };
  const insertText = (r) => {
    if (note.disabled || note.readOnly) {
      ctx.announce('The note cannot be written now.');
      return;
    }
    const [start, end] = caret || [note.value.length, note.value.length];
    const before = note.value.slice(0, start);
    // A word typed right before the cursor is kept apart from the response.
    const text = before && !/\s$/.test(before) ? ` ${r.text}` : r.text;
    if (note.value.length - (end - start) + text.length > note.maxLength && note.maxLength > 0) {
      ctx.announce('The note is too long to take this response.');
      return;
    }
    note.focus();
    note.setRangeText(text, start, end, 'end');
    caret = [note.selectionStart, note.selectionEnd];
    // Whatever listens to the note (autosave) hears the change as typing.
    note.dispatchEvent(new Event('input', { bubbles: true }));
    ctx.announce(`${r.name} inserted into the note.`);
  };
  input.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(search, 200);
  });
  panel.querySelector('form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    clearTimeout(timer);
    search();
  });
  search();
}

function button(label, name, describedBy) {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = label;
  b.dataset.response = name;
  if (describedBy.length) b.setAttribute('aria-describedby', describedBy.join(' '));
  return b;
}
