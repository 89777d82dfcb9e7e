// Case Information as the agent reads it: values are only ever text
// (nothing in them is parsed as HTML); http(s) addresses and anchor text
// ([words](https://…), <a href="https://…">words</a>) become links that
// open a new window. Hovering or focusing a link shows its preview card:
// its words, the site it leads to and the address, as the guide's preview
// of the page; the page itself is not loaded here (the desktop's CSP
// frames nothing and fetches nothing but its own API).

import * as R from './rules.js';

let cards = 0;

// renderCase fills dl with the case information data.
export function renderCase(dl, data) {
  const entries = Object.entries(data || {}).sort(([a], [b]) => a.localeCompare(b));
  const sig = JSON.stringify(entries);
  if (dl.dataset.sig === sig) return;
  dl.dataset.sig = sig;
  const nodes = [];
  if (entries.length === 0) {
    // A <dd> needs its <dt> (axe: definition-list); the term is for
    // screen readers, the sighted read the muted line alone.
    const dt = document.createElement('dt');
    dt.className = 'visually-hidden';
    dt.textContent = 'Case information';
    const dd = document.createElement('dd');
    dd.className = 'none';
    dd.textContent = 'No case information.';
    nodes.push(dt, dd);
  }
  for (const [k, val] of entries) {
    const dt = document.createElement('dt');
    dt.textContent = k;
    const dd = document.createElement('dd');
    for (const part of R.linkParts(val)) {
      if (part.href) dd.append(...link(part));
      else dd.append(part.text);
    }
    nodes.push(dt, dd);
  }
  dl.replaceChildren(...nodes);
}

function link(part) {
  const a = document.createElement('a');
  a.href = part.href;
  a.target = '_blank';
  a.rel = 'noopener noreferrer';
  a.textContent = part.text;
  const hint = document.createElement('span');
  hint.className = 'visually-hidden';
  hint.textContent = ' (opens in a new window)';
  a.append(hint);

  const c = R.linkCard(part.href, part.text);
  const card = document.createElement('span');
  card.className = 'link-card';
  card.id = `link-card-${++cards}`;
  card.setAttribute('role', 'tooltip');
  const title = document.createElement('strong');
  title.textContent = c.title;
  const site = document.createElement('span');
  site.className = 'site';
  site.textContent = c.site;
  const address = document.createElement('span');
  address.className = 'address';
  address.textContent = c.address;
  card.append(title, site, address);
  a.setAttribute('aria-describedby', card.id);
  // Escape hides the card without moving the focus (WCAG 1.4.13); it
  // shows again at the next hover or focus.
  a.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape') card.classList.add('dismissed');
  });
  const again = () => card.classList.remove('dismissed');
  a.addEventListener('mouseenter', again);
  a.addEventListener('focus', again);
  return [a, card];
}
