// ringback proof of work (issue 12): the solver the callback form loads
// with <script src="/callback/pow.js">. Call
//
//     const proof = await ringbackProof(service, phoneNumber)
//
// just before POST /v1/callbacks, and send it, when not empty, in the
// Ringback-Proof header. It asks GET /v1/challenge; when the service needs
// no proof it answers "" at once, else it finds, in a Web Worker (the page
// stays responsive), a nonce whose SHA-256 of "CHALLENGE NUMBER NONCE"
// starts with DIFFICULTY zero bits, and answers "CHALLENGE NONCE".
// The same file is the worker's script.
"use strict";

// sha256 of an ASCII string, as 32 bytes; small and synchronous, which is
// what a hashing loop wants (crypto.subtle is async per call, and slower
// for millions of short inputs).
var RINGBACK_K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2]);

function ringbackSha256(s) {
  var n = s.length, words = ((n + 9 + 63) >> 6) << 4, m = new Uint32Array(words), w = new Uint32Array(64);
  for (var i = 0; i < n; i++) m[i >> 2] |= (s.charCodeAt(i) & 0xff) << (24 - (i & 3) * 8);
  m[n >> 2] |= 0x80 << (24 - (n & 3) * 8);
  m[words - 1] = n * 8;
  var h0 = 0x6a09e667, h1 = 0xbb67ae85, h2 = 0x3c6ef372, h3 = 0xa54ff53a,
      h4 = 0x510e527f, h5 = 0x9b05688c, h6 = 0x1f83d9ab, h7 = 0x5be0cd19;
  for (var off = 0; off < words; off += 16) {
    for (var t = 0; t < 16; t++) w[t] = m[off + t];
    for (t = 16; t < 64; t++) {
      var a15 = w[t - 15], a2 = w[t - 2];
      var s0 = ((a15 >>> 7) | (a15 << 25)) ^ ((a15 >>> 18) | (a15 << 14)) ^ (a15 >>> 3);
      var s1 = ((a2 >>> 17) | (a2 << 15)) ^ ((a2 >>> 19) | (a2 << 13)) ^ (a2 >>> 10);
      w[t] = (w[t - 16] + s0 + w[t - 7] + s1) | 0;
    }
    var a = h0, b = h1, c = h2, d = h3, e = h4, f = h5, g = h6, h = h7;
    for (t = 0; t < 64; t++) {
      var S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      var t1 = (h + S1 + ((e & f) ^ (~e & g)) + RINGBACK_K[t] + w[t]) | 0;
      var S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      var t2 = (S0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
      h = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
    }
    h0 = (h0 + a) | 0; h1 = (h1 + b) | 0; h2 = (h2 + c) | 0; h3 = (h3 + d) | 0;
    h4 = (h4 + e) | 0; h5 = (h5 + f) | 0; h6 = (h6 + g) | 0; h7 = (h7 + h) | 0;
  }
  return [h0, h1, h2, h3, h4, h5, h6, h7];
}

// ringbackSolve finds the nonce (decimal) for prefix "CHALLENGE NUMBER ".
function ringbackSolve(prefix, difficulty) {
  for (var nonce = 0; ; nonce++) {
    var h = ringbackSha256(prefix + nonce), zeros = 0;
    for (var i = 0; i < 8; i++) {
      if (h[i] === 0) { zeros += 32; continue; }
      zeros += Math.clz32(h[i]);
      break;
    }
    if (zeros >= difficulty) return String(nonce);
  }
}

if (typeof window === "undefined" && typeof self !== "undefined" && typeof importScripts === "function") {
  // In the worker.
  self.onmessage = function (ev) {
    var d = ev.data;
    self.postMessage(ringbackSolve(d.challenge + " " + d.number + " ", d.difficulty));
  };
} else if (typeof document !== "undefined") {
  var ringbackPowScript = document.currentScript ? document.currentScript.src : "/callback/pow.js";
  // ringbackProof answers the Ringback-Proof header's value for a create
  // of service for number, or "" when the service asks for none.
  window.ringbackProof = function (service, number) {
    var base = new URL(ringbackPowScript, location.href);
    return fetch(new URL("/v1/challenge?service=" + encodeURIComponent(service), base), { cache: "no-store" })
      .then(function (res) {
        if (!res.ok) throw new Error("challenge: HTTP " + res.status);
        return res.json();
      })
      .then(function (c) {
        if (!c.difficulty) return "";
        return new Promise(function (resolve, reject) {
          var worker = new Worker(ringbackPowScript);
          worker.onmessage = function (ev) { worker.terminate(); resolve(c.challenge + " " + ev.data); };
          worker.onerror = function (e) { worker.terminate(); reject(e); };
          worker.postMessage({ challenge: c.challenge, number: number, difficulty: c.difficulty });
        });
      });
  };
}
