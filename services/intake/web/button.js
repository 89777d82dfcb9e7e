/* ringback's "Call me back" button. One tag on any page:
 *   <script src="https://YOUR-RINGBACK/callback/button.js" data-service="support" async></script>
 * adds a button that opens the callback form of that service in a modal
 * dialog (an iframe of /callback on ringback's origin): keyboard
 * accessible, focus kept in the dialog and given back to the button when
 * it closes, Escape closes. Optional attributes: data-label (the button's
 * text), data-target (a CSS selector of the element to put the button in;
 * default: fixed at the bottom right of the page).
 * No inline styles or markup are written into the page as HTML, so a page
 * whose Content-Security-Policy allows this script needs nothing else for
 * it but frame-src for ringback's origin. */
(function () {
  'use strict';
  var script = document.currentScript;
  if (!script) return;
  var origin = new URL(script.src, location.href).origin;
  var service = script.getAttribute('data-service') || 'support';
  var label = script.getAttribute('data-label') || 'Call me back';
  var formURL = origin + '/callback?service=' + encodeURIComponent(service);

  function css(el, props) { for (var k in props) el.style[k] = props[k]; return el; }

  function start() {
    var button = document.createElement('button');
    button.type = 'button';
    button.textContent = label;
    button.setAttribute('aria-haspopup', 'dialog');
    button.className = 'ringback-callback-button';
    css(button, {font: '600 1rem system-ui, sans-serif', padding: '.7rem 1.2rem', borderRadius: '2rem', border: '2px solid #0b5cad',
      background: '#0b5cad', color: '#fff', cursor: 'pointer', minHeight: '2.75rem'});
    var target = script.getAttribute('data-target') && document.querySelector(script.getAttribute('data-target'));
    if (target) {
      target.appendChild(button);
    } else {
      css(button, {position: 'fixed', right: '1.25rem', bottom: '1.25rem', zIndex: '2147483000', boxShadow: '0 .3rem 1rem rgba(0,0,0,.25)'});
      document.body.appendChild(button);
    }

    var dialog = document.createElement('dialog');
    dialog.setAttribute('aria-label', 'Request a callback');
    dialog.className = 'ringback-callback-dialog';
    css(dialog, {padding: '0', border: '0', borderRadius: '.6rem', width: 'min(40rem, 96vw)', height: 'min(46rem, 92vh)',
      boxShadow: '0 .5rem 2rem rgba(0,0,0,.35)', overflow: 'hidden'});
    var bar = css(document.createElement('div'), {display: 'flex', justifyContent: 'flex-end', background: '#16304d', padding: '.35rem'});
    var close = document.createElement('button');
    close.type = 'button';
    close.textContent = 'Close';
    close.setAttribute('aria-label', 'Close the callback form');
    css(close, {font: '600 1rem system-ui, sans-serif', padding: '.4rem .9rem', borderRadius: '.35rem', border: '1px solid #fff',
      background: '#16304d', color: '#fff', cursor: 'pointer', minHeight: '2.5rem'});
    bar.appendChild(close);
    var frame = document.createElement('iframe');
    frame.title = 'Request a callback';
    css(frame, {border: '0', width: '100%', height: 'calc(100% - 3.2rem)', display: 'block', background: '#eef2f6'});
    dialog.appendChild(bar);
    dialog.appendChild(frame);
    document.body.appendChild(dialog);

    var opener = null;
    button.addEventListener('click', function () {
      opener = document.activeElement || button;
      // A fresh form at each opening: a new request, not the last one.
      frame.removeAttribute('data-ready');
      frame.src = formURL;
      if (typeof dialog.showModal === 'function') {
        // Modal: the rest of the page is inert, so focus stays in the
        // dialog (its close button and the form), and Escape closes it.
        dialog.showModal();
        close.focus();
      } else {
        window.open(formURL, '_blank', 'noopener'); // no <dialog>: a new window
      }
    });
    // The form says when it is up; only ringback's origin, from our frame.
    window.addEventListener('message', function (e) {
      if (e.origin === origin && e.source === frame.contentWindow && e.data && e.data.ringback === 'form-ready') {
        frame.setAttribute('data-ready', 'true');
      }
    });
    close.addEventListener('click', function () { dialog.close(); });
    dialog.addEventListener('close', function () {
      frame.src = 'about:blank';
      (opener && opener.focus ? opener : button).focus();
    });
  }
  if (document.body) start(); else document.addEventListener('DOMContentLoaded', start);
})();
