// The browser as the agent's phone (issue 15). An agent who ticks "This
// browser is my phone" logs in with phone_uri webrtc:; when a call rings
// their phone, the interaction view carries browser_ring and this page
// rings. Answer posts a WebRTC offer (the microphone, through a gain and a
// level meter) to the ringing gateway instance, and plays what comes back
// at the speaker volume chosen. Hold, DTMF and the call's mute stay the
// interaction window's (the gateway does them, as for any phone); this
// panel adds answer, decline, hang up, a local mute, microphone and
// speaker volume, and meters.
//
// A colleague's call rings here too when they consult or transfer to this
// agent (issue 15): the agent's own state carries party_call, answered the
// same way; after a transfer the interaction, and so the call, is theirs.
//
// It hooks the agent's event stream (API.events) rather than app.js, so
// that the workspace needs nothing of it.

import { API, Problem } from './api.js';

const SESSION_KEY = 'ringback.desktop.session';
const BROWSER_PHONE = 'webrtc:';
const seg = encodeURIComponent;

const phone = {
  api: null,
  panel: null,
  ctx: null, // AudioContext, made on the first gesture or ring
  mic: null, // the microphone stream, once allowed
  asking: null, // the request for it in progress
  micError: '',
  gain: null,
  micMeter: null,
  out: null, // the stream sent: the microphone after the gain
  spkMeter: null,
  audio: null, // plays the call
  pc: null,
  call: '', // the call ringing or answered here
  ringURL: '',
  state: 'idle', // idle, ringing, answering, connected
  // party: the call is a colleague's, who consults or transfers to this
  // agent (from, purpose); it ends with their party_call.
  party: false,
  from: '',
  purpose: '',
  ringer: null,
  declined: new Set(), // calls this page declined or hung up
  retaken: new Set(), // calls up elsewhere this page took back (once each)
  muted: false,
  meterTimer: 0,
};

function browserPhone() {
  try {
    return JSON.parse(sessionStorage.getItem(SESSION_KEY) || 'null')?.phone === BROWSER_PHONE;
  } catch {
    return false;
  }
}

// ---- the login form: "This browser is my phone" ----------------------------

function wireLogin() {
  const input = document.getElementById('login-phone');
  const form = document.getElementById('login-form');
  if (!input || !form) return;
  const label = document.createElement('label');
  label.className = 'browser-phone-choice';
  label.innerHTML = '<input type="checkbox" id="login-browser-phone"> This browser is my phone (microphone and speakers)';
  form.querySelector('button[type=submit]').before(label);
  const box = label.querySelector('input');
  const sync = () => {
    input.readOnly = box.checked;
    if (box.checked) input.value = BROWSER_PHONE;
    else if (input.value === BROWSER_PHONE) input.value = '';
  };
  box.addEventListener('change', () => {
    sync();
    if (box.checked) ensureMic(); // ask now: a refusal shows before the first call
  });
  // The form filled from a saved session (app.js sets the value, which no
  // event tells): look again whenever the login section shows.
  const look = () => {
    box.checked = input.value === BROWSER_PHONE;
    sync();
    if (!document.getElementById('login')?.hidden) loggedOut();
  };
  const login = document.getElementById('login');
  if (login) new MutationObserver(look).observe(login, { attributes: true, attributeFilter: ['hidden'] });
  input.addEventListener('input', look);
  // phone.js runs before app.js (index.html), which fills the form next.
  setTimeout(look, 0);
}

// loggedOut ends any call here, hides the panel and lets the microphone go
// (the browser's recording indicator goes off).
function loggedOut() {
  if (!phone.panel) return;
  reset();
  phone.panel.hidden = true;
  for (const t of phone.mic?.getTracks() || []) t.stop();
  phone.mic = null;
  phone.out = null;
  phone.gain = null;
  phone.micMeter = null;
}

// ---- the panel ------------------------------------------------------------

function buildPanel() {
  const el = document.createElement('section');
  el.id = 'browser-phone';
  el.className = 'browser-phone';
  el.setAttribute('aria-label', 'Browser phone');
  el.hidden = true;
  el.innerHTML = `
    <h2>Phone: this browser</h2>
    <p data-ref="status" role="status" aria-live="assertive">Ready</p>
    <p data-ref="error" class="phone-error" role="alert" hidden></p>
    <div class="phone-buttons">
      <button type="button" class="primary" data-action="answer" disabled>Answer</button>
      <button type="button" class="danger" data-action="hangup" disabled>Decline</button>
      <button type="button" data-action="mute" aria-pressed="false" disabled>Mute microphone</button>
    </div>
    <div class="phone-levels">
      <label>Microphone volume <input type="range" data-ref="mic-volume" min="0" max="200" value="100"></label>
      <label>Microphone level <meter data-ref="mic-level" min="0" max="1" low="0.6" high="0.9" optimum="0.3" value="0"></meter></label>
      <label>Speaker volume <input type="range" data-ref="speaker-volume" min="0" max="100" value="80"></label>
      <label>Speaker level <meter data-ref="speaker-level" min="0" max="1" value="0"></meter></label>
    </div>
    <audio data-ref="audio" autoplay></audio>`;
  document.querySelector('main')?.before(el);
  const ref = (name) => el.querySelector(`[data-ref="${name}"]`);
  el.querySelector('[data-action="answer"]').addEventListener('click', answer);
  el.querySelector('[data-action="hangup"]').addEventListener('click', hangup);
  el.querySelector('[data-action="mute"]').addEventListener('click', toggleMute);
  ref('mic-volume').addEventListener('input', (ev) => {
    if (phone.gain) phone.gain.gain.value = Number(ev.target.value) / 100;
  });
  ref('speaker-volume').addEventListener('input', (ev) => {
    phone.audio.volume = Number(ev.target.value) / 100;
  });
  phone.panel = el;
  phone.audio = ref('audio');
  phone.audio.volume = 0.8;
  return el;
}

function ref(name) {
  return phone.panel?.querySelector(`[data-ref="${name}"]`) ?? null;
}

function button(action) {
  return phone.panel.querySelector(`[data-action="${action}"]`);
}

function render() {
  const p = phone.panel;
  if (!p) return;
  const words = { idle: 'Ready', ringing: 'Ringing: a call for you', answering: 'Answering…', connected: 'On a call' };
  if (phone.party) {
    const asks = phone.purpose === 'transfer' ? 'transfers a call to you' : 'consults you';
    words.ringing = `Ringing: ${phone.from} ${asks}`;
    words.connected = `On a call with ${phone.from}`;
  }
  ref('status').textContent = words[phone.state];
  p.classList.toggle('ringing', phone.state === 'ringing');
  button('answer').disabled = phone.state !== 'ringing' || !!phone.micError;
  const hang = button('hangup');
  hang.disabled = phone.state === 'idle';
  hang.textContent = phone.state === 'ringing' ? 'Decline' : 'Hang up';
  const mute = button('mute');
  mute.disabled = phone.state !== 'connected';
  mute.setAttribute('aria-pressed', String(phone.muted));
  mute.textContent = phone.muted ? 'Unmute microphone' : 'Mute microphone';
  const err = ref('error');
  err.hidden = !phone.micError;
  err.textContent = phone.micError;
}

function showError(text) {
  phone.micError = text;
  render();
}

// ---- audio ----------------------------------------------------------------

function audioContext() {
  if (!phone.ctx) phone.ctx = new AudioContext();
  if (phone.ctx.state === 'suspended') phone.ctx.resume().catch(() => {});
  return phone.ctx;
}

// ensureMic asks for the microphone once; a refusal is said plainly, with
// what to do.
async function ensureMic() {
  if (phone.mic) return true;
  if (!navigator.mediaDevices?.getUserMedia) {
    showError('This browser cannot use a microphone here (the page must be served over HTTPS or from localhost).');
    return false;
  }
  if (phone.asking) return phone.asking;
  phone.asking = openMic().finally(() => { phone.asking = null; });
  return phone.asking;
}

// openMic asks for the microphone and builds the graph it goes through:
// the gain (microphone volume), the meter, the stream sent.
async function openMic() {
  let mic;
  try {
    // Noise suppression and automatic gain would fight the volume the
    // agent sets and the meter they watch; echo cancellation stays.
    mic = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: true, noiseSuppression: false, autoGainControl: false }, video: false,
    });
  } catch (e) {
    const refused = e && (e.name === 'NotAllowedError' || e.name === 'SecurityError');
    const missing = e && (e.name === 'NotFoundError' || e.name === 'OverconstrainedError');
    showError(refused
      ? 'The microphone was refused, so this browser cannot be your phone. Allow the microphone for this site (the icon in the address bar), then reload the page.'
      : missing
        ? 'No microphone was found. Plug one in, then reload the page.'
        : `The microphone cannot be used: ${e?.message || e}`);
    return false;
  }
  phone.micError = '';
  const ctx = audioContext();
  const src = ctx.createMediaStreamSource(mic);
  phone.gain = ctx.createGain();
  phone.gain.gain.value = Number(ref('mic-volume')?.value || 100) / 100;
  phone.micMeter = ctx.createAnalyser();
  phone.micMeter.fftSize = 2048;
  const dest = ctx.createMediaStreamDestination();
  src.connect(phone.gain);
  phone.gain.connect(phone.micMeter);
  phone.gain.connect(dest);
  phone.out = dest.stream;
  phone.mic = mic;
  startMeters();
  render();
  return true;
}

function level(analyser) {
  if (!analyser) return 0;
  const buf = new Float32Array(analyser.fftSize);
  analyser.getFloatTimeDomainData(buf);
  let sum = 0;
  for (const v of buf) sum += v * v;
  return Math.min(1, Math.sqrt(sum / buf.length) * 3); // RMS, scaled so speech sits mid-meter
}

function startMeters() {
  if (phone.meterTimer) return;
  phone.meterTimer = setInterval(() => {
    if (!phone.panel) return;
    ref('mic-level').value = phone.muted ? 0 : level(phone.micMeter);
    ref('speaker-level').value = level(phone.spkMeter) * phone.audio.volume;
  }, 100);
}

// The ring: the North American cadence (2 s of 440 + 480 Hz, 4 s off),
// quiet, until answered or over.
function startRinger() {
  stopRinger();
  let ctx;
  try {
    ctx = audioContext();
  } catch {
    return;
  }
  const gain = ctx.createGain();
  gain.gain.value = 0;
  gain.connect(ctx.destination);
  const oscs = [440, 480].map((f) => {
    const o = ctx.createOscillator();
    o.frequency.value = f;
    o.connect(gain);
    o.start();
    return o;
  });
  const cycle = () => {
    const t = ctx.currentTime;
    gain.gain.setValueAtTime(0.08, t);
    gain.gain.setValueAtTime(0, t + 2);
  };
  cycle();
  const timer = setInterval(cycle, 6000);
  phone.ringer = () => {
    clearInterval(timer);
    oscs.forEach((o) => o.stop());
    gain.disconnect();
  };
}

function stopRinger() {
  if (phone.ringer) phone.ringer();
  phone.ringer = null;
}

// ---- the call -------------------------------------------------------------

// onInteraction follows the interaction views of the event stream: a
// browser_ring rings; its end (connected elsewhere, failed, ended) stops
// the ring, and the end of the call closes the peer connection.
function onInteraction(v) {
  if (phone.party && v.call_id === phone.call && v.agent_id === phone.api.agent) {
    // Transferred here: the call is this agent's own interaction's now.
    phone.party = false;
    render();
  }
  const up = v.browser_call;
  if (up && up.call_id && phone.state === 'idle' && !phone.declined.has(up.call_id) && !phone.retaken.has(up.call_id)) {
    // The call was answered in this browser before a reload: the gateway
    // holds it for a while; a new offer takes its audio back, unasked.
    phone.retaken.add(up.call_id);
    phone.call = up.call_id;
    phone.ringURL = up.url || '';
    phone.state = 'ringing';
    phone.panel.hidden = false;
    answer();
    return;
  }
  const ring = v.browser_ring;
  if (ring && ring.call_id && !phone.declined.has(ring.call_id) && phone.state === 'idle') {
    phone.call = ring.call_id;
    phone.ringURL = ring.url || '';
    phone.state = 'ringing';
    phone.panel.hidden = false;
    startRinger();
    render();
    button('answer').focus();
    return;
  }
  if (v.call_id !== phone.call) return;
  if (phone.state === 'ringing' && !ring) {
    stopRinger();
    reset(); // answered nowhere: the attempt failed or was cancelled
    return;
  }
  if (phone.state === 'connected' && (v.status === 'Ready to Call' || v.phase === 'done')) reset();
}

// onAgent follows the agent's own state: a colleague's call rings this
// browser (party_call, Ringing) or is up on it (taken back after a reload);
// its end, or an answer elsewhere, stops it.
function onAgent(me) {
  const pc = me.party_call;
  if (pc && pc.call_id) {
    if (phone.state !== 'idle' || phone.declined.has(pc.call_id)) return;
    phone.call = pc.call_id;
    phone.ringURL = pc.url || '';
    phone.party = true;
    phone.from = pc.from || 'a colleague';
    phone.purpose = pc.purpose || '';
    phone.state = 'ringing';
    phone.panel.hidden = false;
    if (pc.status !== 'Ringing') {
      // Answered here before a reload: take the audio back, unasked.
      if (phone.retaken.has(pc.call_id)) {
        reset();
        return;
      }
      phone.retaken.add(pc.call_id);
      answer();
      return;
    }
    startRinger();
    render();
    button('answer').focus();
    return;
  }
  if (phone.party && phone.call) reset(); // the colleague's call is over here
}

function path() {
  return `${phone.ringURL.replace(/\/$/, '')}/v1/agents/${seg(phone.api.agent)}/phone/calls/${seg(phone.call)}`;
}

async function answer() {
  if (phone.state !== 'ringing') return;
  stopRinger();
  phone.state = 'answering';
  render();
  if (!(await ensureMic())) {
    phone.state = 'ringing';
    render();
    return;
  }
  const pc = new RTCPeerConnection({ iceServers: [] });
  phone.pc = pc;
  for (const track of phone.out.getAudioTracks()) pc.addTrack(track, phone.out);
  pc.ontrack = (ev) => {
    const stream = ev.streams[0] || new MediaStream([ev.track]);
    phone.audio.srcObject = stream;
    phone.audio.play().catch(() => {});
    const ctx = audioContext();
    phone.spkMeter = ctx.createAnalyser();
    phone.spkMeter.fftSize = 8192;
    ctx.createMediaStreamSource(stream).connect(phone.spkMeter);
  };
  pc.onconnectionstatechange = () => {
    if (pc !== phone.pc) return;
    if (pc.connectionState === 'connected') {
      phone.state = 'connected';
      render();
    }
    if (pc.connectionState === 'failed') {
      showError('The call\'s audio connection failed (a firewall between this browser and the media gateway?).');
      reset();
    }
  };
  try {
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    const { data } = await phone.api.request('POST', path(), { type: 'offer', sdp: pc.localDescription.sdp });
    if (pc !== phone.pc) return;
    await pc.setRemoteDescription({ type: 'answer', sdp: data.sdp });
  } catch (e) {
    if (pc !== phone.pc) return;
    showError(`The call could not be answered here: ${e instanceof Problem ? e.text() : e.message}`);
    reset();
  }
}

// gathered waits for the ICE candidates (the gateway takes no trickle).
function gathered(pc) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      if (pc.iceGatheringState === 'complete') resolve();
    };
    pc.addEventListener('icegatheringstatechange', done);
    setTimeout(resolve, 3000);
  });
}

async function hangup() {
  const call = phone.call;
  if (!call) return;
  phone.declined.add(call);
  const url = path();
  reset();
  try {
    await phone.api.request('DELETE', url);
  } catch (e) {
    if (e.status !== 404) showError(`Hang up: ${e.text ? e.text() : e.message}`);
  }
}

function toggleMute() {
  phone.muted = !phone.muted;
  for (const t of phone.out?.getAudioTracks() || []) t.enabled = !phone.muted;
  render();
}

function reset() {
  stopRinger();
  if (phone.pc) phone.pc.close();
  phone.pc = null;
  phone.spkMeter = null;
  if (phone.audio) phone.audio.srcObject = null;
  phone.call = '';
  phone.state = 'idle';
  phone.party = false;
  if (phone.muted) toggleMute();
  render();
}

// ---- hooks ----------------------------------------------------------------

const events = API.prototype.events;
API.prototype.events = function hooked(handlers) {
  if (browserPhone()) {
    phone.api = this;
    if (!phone.panel) buildPanel();
    phone.panel.hidden = false;
    ensureMic();
    const app = handlers;
    const wrap = (name) => (v) => {
      try {
        onInteraction(v);
      } catch (e) {
        console.error('browser phone', e);
      }
      app[name]?.(v);
    };
    const agentState = (v) => {
      try {
        onAgent(v);
      } catch (e) {
        console.error('browser phone', e);
      }
      app.state?.(v);
    };
    handlers = { ...app, interaction: wrap('interaction'), offer: wrap('offer'), state: agentState };
  } else if (phone.panel) {
    reset();
    phone.panel.hidden = true;
  }
  return events.call(this, handlers);
};

// For tests and diagnosis: the call's state and the dominant pitch the
// speaker plays (Hz, from the speaker meter's spectrum).
window.ringbackPhone = {
  state: () => phone.state,
  error: () => phone.micError,
  pitch: () => {
    const a = phone.spkMeter;
    if (!a) return 0;
    const bins = new Float32Array(a.frequencyBinCount);
    a.getFloatFrequencyData(bins);
    let best = 0;
    for (let i = 1; i < bins.length; i++) if (bins[i] > bins[best]) best = i;
    return bins[best] < -90 ? 0 : (best * a.context.sampleRate) / a.fftSize;
  },
  level: () => level(phone.spkMeter),
  micLevel: () => level(phone.micMeter),
};

wireLogin();
