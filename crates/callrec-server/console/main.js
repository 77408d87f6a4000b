// The console's entry point: sign-in, the header, and a router over the URL fragment
// (`#/calls?…`, `#/call/<callId>`, `#/stats?…`, `#/callbacks`).

import * as api from './api.js';
import * as session from './session.js';
import { h, errorBox, fmtTime } from './ui.js';
import * as calls from './calls.js';
import * as call from './call.js';
import * as stats from './stats.js';
import * as callbacks from './callbacks.js';

const views = { calls, call, stats, callbacks };
const main = document.getElementById('main');
const nav = document.getElementById('nav');
const who = document.getElementById('who');
const signout = document.getElementById('signout');

let stopView = null; // the current view's clean-up (timers)
let expiryTimer = null;
let signinMessage = null; // why the sign-in form is shown

/** The fragment as [view, rest, params]: `#/call/abc?x=1` → ['call', 'abc', {x: '1'}]. */
function parseRoute() {
  const hash = location.hash.replace(/^#\/?/, '');
  const [path, q = ''] = hash.split('?');
  const [name, ...rest] = path.split('/');
  return [name || 'calls', rest.map(decodeURIComponent).join('/'), new URLSearchParams(q)];
}

async function route() {
  if (stopView) stopView();
  stopView = null;
  const s = session.current();
  if (!s) return showSignIn();
  const [name, rest, params] = parseRoute();
  const view = views[name];
  nav.hidden = false;
  signout.hidden = false;
  for (const a of nav.querySelectorAll('a')) {
    const active = a.dataset.view === name || (name === 'call' && a.dataset.view === 'calls');
    if (active) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  main.replaceChildren();
  if (!view) {
    main.append(h('h1', {}, 'Not found'), h('p', {}, h('a', { href: '#/calls' }, 'Go to Calls')));
    return;
  }
  try {
    stopView = (await view.render(main, { rest, params })) ?? null;
  } catch (e) {
    main.append(errorBox(e));
  }
}

function showSignIn() {
  if (stopView) stopView();
  stopView = null;
  nav.hidden = true;
  signout.hidden = true;
  who.textContent = '';
  const status = h('div', { 'aria-live': 'polite' }, signinMessage ? h('p', { class: 'error', role: 'alert' }, signinMessage) : null);
  const form = h('form', { id: 'signin-form' },
    h('label', {}, 'SDKAppID', h('input', { name: 'sdkappid', required: true, inputmode: 'numeric', autocomplete: 'off' })),
    h('label', {}, 'Identifier (an admin of the app)', h('input', { name: 'identifier', required: true, autocomplete: 'username' })),
    h('label', {}, 'UserSig', h('textarea', { name: 'usersig', required: true, spellcheck: 'false' })),
    h('div', {}, h('button', { type: 'submit' }, 'Sign in')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const data = new FormData(form);
    const candidate = {
      sdkappid: String(data.get('sdkappid')).trim(),
      identifier: String(data.get('identifier')).trim(),
      usersig: String(data.get('usersig')).trim(),
    };
    status.replaceChildren(h('p', { class: 'muted' }, 'Checking…'));
    try {
      // Any admin API proves the sign-in; this one reads nothing.
      await api.v1('callback/get_deliveries', { limit: 1 }, candidate);
    } catch (e) {
      status.replaceChildren(errorBox(e));
      return;
    }
    session.save(candidate);
    signinMessage = null;
    await signedIn();
  });
  main.replaceChildren(h('section', { class: 'signin' },
    h('h1', {}, 'Sign in'),
    h('p', {}, 'Run ', h('code', {}, 'callrec console'), ' on the server and open the link it prints, or enter an admin’s UserSig (', h('code', {}, 'callrec usersig'), ').'),
    status, form));
  form.querySelector('input').focus();
}

async function signedIn() {
  const s = session.current();
  clearTimeout(expiryTimer);
  const expires = await session.expiresAt(s.usersig);
  who.textContent = `${s.identifier} · app ${s.sdkappid}` + (expires ? ` · until ${fmtTime(expires)} UTC` : '');
  if (expires) {
    const ms = expires * 1000 - Date.now() + 1000;
    if (ms <= 0) return expired('Your sign-in has expired.');
    // setTimeout holds at most ~24.8 days.
    expiryTimer = setTimeout(() => expired('Your sign-in has expired.'), Math.min(ms, 2 ** 31 - 1));
  }
  if (!location.hash.startsWith('#/')) history.replaceState(null, '', `${location.pathname}#/calls`);
  await route();
}

function expired(message) {
  session.clear();
  clearTimeout(expiryTimer);
  signinMessage = `${message} Run callrec console for a new link, or sign in below.`;
  showSignIn();
}

window.addEventListener('callrec:signin', (ev) => {
  const { reason, message } = ev.detail;
  if (reason === 'expired') expired('Your sign-in has expired.');
  else if (session.current()) expired(`The server refused the sign-in: ${message}.`);
});

signout.addEventListener('click', () => {
  session.clear();
  clearTimeout(expiryTimer);
  signinMessage = null;
  history.replaceState(null, '', location.pathname);
  showSignIn();
});

window.addEventListener('hashchange', () => {
  if (session.takeFromFragment()) signedIn();
  else route();
});

session.takeFromFragment();
if (session.current()) signedIn();
else showSignIn();
