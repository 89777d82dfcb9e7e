// An interaction changes hands (issue 15): a call transferred to another
// agent takes its interaction with it. The desktop that gave it away gets
// the interaction once more, now the receiving agent's, and closes its
// window saying to whom it went.

// handedTo is the agent the interaction went to from me, or '' when view v
// is not a transfer away from me.
export function handedTo(v, me) {
  if (!v || !v.agent_id || v.agent_id === me || v.transferred_from !== me) return '';
  return v.agent_id;
}

// showHandover says, where the window was, that the interaction went to
// agent `to`; hideHandover takes the words away once another interaction
// comes.
export function showHandover(to, who) {
  const el = document.getElementById('handover');
  if (!el) return;
  el.textContent = `Transferred to ${to}: the web callback for ${who} is theirs now.`;
  el.hidden = false;
}

export function hideHandover() {
  const el = document.getElementById('handover');
  if (el) el.hidden = true;
}
