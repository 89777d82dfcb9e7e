// The platform's HTTP API and the agent's event stream, as the desktop uses
// them (api/openapi.yaml). Every request carries the agent's bearer token.

// Problem is an RFC 9457 problem the server answered, or one made up here
// when the server could not be reached or did not answer with one.
export class Problem extends Error {
  constructor({ status = 0, title = '', detail = '', field = '' } = {}) {
    super(detail || title || 'request failed');
    this.status = status;
    this.title = title;
    this.detail = detail || title || 'request failed';
    this.field = field;
  }

  // text is what the agent reads.
  text() {
    return this.field ? `${this.detail} (${this.field})` : this.detail;
  }
}

// uuid makes an Idempotency-Key; crypto.randomUUID exists only in secure
// contexts, getRandomValues everywhere.
export function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

const seg = encodeURIComponent;

export class API {
  constructor(agent, token) {
    this.agent = agent;
    this.token = token;
  }

  // request sends one request and returns the decoded answer, or throws a
  // Problem.
  async request(method, path, body, headers = {}, extra = {}) {
    // Signed in with single sign-on, there is no token: the browser sends
    // the session cookie, which no script can read.
    const auth = this.token ? { Authorization: `Bearer ${this.token}` } : {};
    const h = { Accept: 'application/json, application/problem+json', ...auth,
      'X-Ringback-Agent': this.agent, ...headers };
    const init = { method, headers: h, cache: 'no-store', ...extra };
    if (body !== undefined) {
      h['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(path, init);
    } catch (e) {
      throw new Problem({ detail: `The server cannot be reached (${e.message}). Check the connection and try again.` });
    }
    const text = await res.text();
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = null;
      }
    }
    if (!res.ok) {
      if (data && (data.detail || data.title)) throw new Problem({ ...data, status: res.status });
      const why = res.status === 404 || res.status === 405 ? 'this server does not offer it' : (text.trim() || res.statusText);
      throw new Problem({ status: res.status, detail: `${method} ${path.split('?')[0]}: ${res.status} ${why}` });
    }
    return { status: res.status, data };
  }

  login(phoneURI) {
    return this.request('POST', `/v1/agents/${seg(this.agent)}/session`, { phone_uri: phoneURI });
  }

  logout() {
    return this.request('DELETE', `/v1/agents/${seg(this.agent)}/session`);
  }

  me() {
    return this.request('GET', `/v1/agents/${seg(this.agent)}`);
  }

  setState(state, reason = '') {
    return this.request('PUT', `/v1/agents/${seg(this.agent)}/state`, { channel: 'webcallback', state, reason });
  }

  interaction(id) {
    return this.request('GET', `/v1/interactions/${seg(id)}`);
  }

  // command posts one of the interaction commands: accept, reject, call,
  // end-call, hold, retrieve, mute, unmute, record, stop-recording, done,
  // dtmf, reschedule, transfer, consult, consult/transfer,
  // consult/conference, consult/cancel.
  command(id, name, body) {
    return this.request('POST', `/v1/interactions/${seg(id)}/${name}`, body);
  }

  dispositions() {
    return this.request('GET', '/v1/dispositions');
  }

  setDisposition(id, code) {
    return this.request('PUT', `/v1/interactions/${seg(id)}/disposition`, { code });
  }

  addNote(id, text) {
    return this.request('POST', `/v1/interactions/${seg(id)}/notes`, { agent_id: this.agent, text },
      { 'Idempotency-Key': uuid() });
  }

  // saveDraft keeps what the agent typed (issue 15); keepalive lets it
  // finish while the page unloads.
  saveDraft(id, draft, { keepalive = false } = {}) {
    return this.request('PUT', `/v1/interactions/${seg(id)}/draft`, draft, {}, { keepalive });
  }

  editCaseData(id, caseData) {
    return this.request('PUT', `/v1/interactions/${seg(id)}/case-data`, { agent_id: this.agent, case_data: caseData });
  }

  matrix(phone, exclude) {
    return this.request('GET', `/v1/contacts/${seg(phone)}/matrix?exclude=${seg(exclude)}`);
  }

  history(phone) {
    return this.request('GET', `/v1/contacts/${seg(phone)}/history`);
  }

  // events opens the agent's push stream. EventSource cannot send headers,
  // so the token goes as ?access_token=; it reconnects by itself with
  // Last-Event-ID, and onclosed runs when it gave up (an HTTP error such
  // as 401), so the caller can open a fresh one.
  events(handlers) {
    const token = this.token ? `?access_token=${seg(this.token)}` : '';
    const url = `/v1/agents/${seg(this.agent)}/events${token}`;
    const es = new EventSource(url);
    for (const name of ['state', 'offer', 'interaction']) {
      es.addEventListener(name, (ev) => {
        let data;
        try {
          data = JSON.parse(ev.data);
        } catch {
          return;
        }
        handlers[name]?.(data);
      });
    }
    es.onopen = () => handlers.open?.();
    es.onerror = () => {
      if (es.readyState === EventSource.CLOSED) handlers.closed?.();
      else handlers.reconnecting?.();
    };
    return es;
  }
}
