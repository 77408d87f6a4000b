// Callbacks: both generations' configurations (editable), and the callbacks produced, with their
// delivery state, a status filter, the last error and redelivery.

import * as api from './api.js';
import { h, fill, go, table, errorBox, select, input, fmtShortMs } from './ui.js';

const V1_STATUS = ['cancel', 'reject', 'not_answer', 'normal_end', 'call_busy', 'interrupt'];
const V1_EVENTS = [
  'caller_start_call', 'caller_call_accepted', 'caller_call_missed', 'caller_call_rejected',
  'caller_call_busy', 'caller_cancel_call', 'caller_call_failed', 'caller_call_end',
  'caller_call_interrupted', 'callee_receive_call', 'callee_accept_call', 'callee_not_answer_call',
  'callee_reject_call', 'callee_ignore_call', 'callee_call_canceled', 'callee_call_end',
  'callee_call_interrupted', 'invite_user', 'join_in_group_call',
];
const V4_COMMANDS = ['Call.CallbackAfterStartCall', 'Call.CallbackAfterMemberChanged', 'Call.CallbackAfterEndCall'];

function commandBoxes(name, words, chosen) {
  return h('div', { class: 'commands' }, words.map((w) =>
    h('label', { class: 'check' }, h('input', { type: 'checkbox', name, value: w, checked: chosen.includes(w) }), w)));
}

/**
 * One generation's configuration form. `get` resolves to {url, commands} or null (none), `set`
 * and `remove` to nothing.
 */
function configPanel({ id, title, groups, get, set, remove }) {
  const status = h('div', { 'aria-live': 'polite', class: 'status' });
  const panel = h('section', { class: 'panel config', id, 'aria-labelledby': `${id}-title` },
    h('h3', { id: `${id}-title` }, title), h('p', { class: 'muted' }, 'Loading…'));
  const show = (config) => {
    const chosen = config ? config.commands : [];
    const form = h('form', {},
      input('URL', 'url', config ? config.url : '', { type: 'url', placeholder: 'https://app.example.com/callbacks', required: true }),
      groups.map(([legend, words]) => h('fieldset', {}, h('legend', {}, legend), commandBoxes('command', words, chosen))),
      h('div', { class: 'buttons' },
        h('button', { type: 'submit' }, 'Save'),
        h('button', { type: 'button', class: 'quiet', onclick: () => form.querySelectorAll('input[type=checkbox]').forEach((c) => { c.checked = true; }) }, 'All commands'),
        h('button', { type: 'button', class: 'danger', disabled: !config, onclick: async () => {
          try {
            await remove();
            show(null);
            status.replaceChildren(h('p', { class: 'note' }, 'Deleted.'));
          } catch (e) {
            status.replaceChildren(errorBox(e));
          }
        } }, 'Delete')));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const data = new FormData(form);
      const next = { url: String(data.get('url')).trim(), commands: data.getAll('command').map(String) };
      try {
        await set(next);
        show(next);
        status.replaceChildren(h('p', { class: 'note' }, 'Saved.'));
      } catch (e) {
        status.replaceChildren(errorBox(e));
      }
    });
    panel.replaceChildren(panel.firstChild,
      h('p', { class: 'muted' }, config ? 'Configured.' : 'Not configured: no callbacks of this generation are produced.'),
      form, status);
  };
  get().then(show, (e) => panel.replaceChildren(panel.firstChild, errorBox(e)));
  return panel;
}

const v1Panel = () => configPanel({
  id: 'config-v1',
  title: 'v1 callbacks (call status and call events)',
  groups: [['Status commands (one per call)', V1_STATUS], ['Event commands (one per user concerned)', V1_EVENTS]],
  get: async () => {
    try {
      const data = await api.v1('callback/get', {});
      return { url: data.address, commands: data.actions };
    } catch (e) {
      if (e.code === 999) return null;
      throw e;
    }
  },
  set: ({ url, commands }) => api.v1('callback/set', { address: url, actions: commands }),
  remove: () => api.v1('callback/delete', {}),
});

const v4Panel = () => configPanel({
  id: 'config-v4',
  title: 'v4 callbacks',
  groups: [['Commands', V4_COMMANDS]],
  get: async () => {
    try {
      const data = await api.v4('call_config/get_callback', {});
      return { url: data.Url, commands: data.CallbackCommandList };
    } catch (e) {
      if (e.code === 100301) return null;
      throw e;
    }
  },
  set: ({ url, commands }) => api.v4('call_config/set_callback', { Url: url, CallbackCommandList: commands }),
  remove: () => api.v4('call_config/delete_callback', {}),
});

/** Renders the Callbacks view; returns its clean-up. */
export async function render(main, { params }) {
  let stopped = false;
  let timer = null;
  const form = h('form', { class: 'filters', id: 'deliveries-filter', 'aria-label': 'Filter deliveries' },
    select('Status', 'status', [['', 'Any'], ['pending', 'Pending'], ['delivered', 'Delivered'], ['failed', 'Failed']], params.get('status') ?? ''),
    input('Call ID', 'call', params.get('call') ?? ''),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Apply')));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams();
    const data = new FormData(form);
    for (const key of ['status', 'call']) if (String(data.get(key)).trim()) q.set(key, String(data.get(key)).trim());
    go(`#/callbacks?${q}`);
  });
  const status = h('div', { 'aria-live': 'polite', id: 'deliveries-status' });
  const list = h('div', { id: 'deliveries' }, h('p', { class: 'muted' }, 'Loading…'));
  const redeliverFailed = h('button', { type: 'button', class: 'quiet', id: 'redeliver-failed', onclick: async () => {
    try {
      const data = await api.v1('callback/redeliver', { status: 'failed', sinceMs: 0 });
      status.replaceChildren(h('p', { class: 'note' }, `Queued ${data.queued} failed callbacks again.`));
      load();
    } catch (e) {
      status.replaceChildren(errorBox(e));
    }
  } }, 'Redeliver every failed one');

  main.append(h('h1', {}, 'Callbacks'),
    h('section', { 'aria-labelledby': 'deliveries-title' },
      h('h2', { id: 'deliveries-title' }, 'Deliveries'),
      form, h('div', { class: 'row' }, redeliverFailed), status, list),
    h('h2', {}, 'Configuration'),
    h('div', { class: 'configs' }, v1Panel(), v4Panel()));

  const filter = {};
  if (params.get('status')) filter.status = params.get('status');
  if (params.get('call')) filter.callId = params.get('call');
  const shown = [];
  let nextCursor = null;

  const redeliver = async (d) => {
    try {
      const data = await api.v1('callback/redeliver', { ids: [d.id] });
      status.replaceChildren(h('p', { class: 'note' }, `Queued ${d.id} again (${data.queued}).`));
      load();
    } catch (e) {
      status.replaceChildren(errorBox(e));
    }
  };
  const draw = () => {
    fill(list,
      shown.length ? table([
        ['Produced (UTC)', (d) => fmtShortMs(d.createdMs), 'time hide-narrow'],
        ['Callback', (d) => [h('div', {}, `${d.generation} ${d.command}`), h('div', { class: 'muted small url' }, d.url)]],
        ['Call', (d) => h('a', { href: `#/call/${encodeURIComponent(d.callId)}`, class: 'short', title: d.callId }, d.callId), 'id hide-narrow'],
        ['Status', (d) => h('span', { class: `badge ${d.status}`, dataset: { status: d.status } }, d.status)],
        ['Tries', (d) => d.attempts, 'num hide-narrow'],
        ['Last attempt', (d) => fmtShortMs(d.lastAttemptMs), 'time hide-narrow'],
        ['Next attempt', (d) => fmtShortMs(d.nextAttemptMs), 'time hide-narrow'],
        ['Last error', (d) => d.lastError ?? '—'],
        ['', (d) => h('button', { type: 'button', class: 'quiet redeliver', 'aria-label': `Redeliver ${d.id}`, onclick: () => redeliver(d) }, 'Redeliver')],
      ], shown, (d) => ({ dataset: { id: d.id, status: d.status } })) : h('p', { class: 'muted' }, 'No callback matches.'),
      nextCursor ? h('div', { class: 'pager' }, h('button', { type: 'button', class: 'quiet', id: 'deliveries-more', onclick: more }, 'More')) : null);
  };
  // The first page again (after a redelivery, and every 2 s while a shown one is pending).
  const load = async () => {
    clearTimeout(timer);
    let data;
    try {
      data = await api.v1('callback/get_deliveries', { ...filter, limit: 50 });
    } catch (e) {
      if (!stopped) list.replaceChildren(errorBox(e));
      return;
    }
    if (stopped) return;
    shown.splice(0, shown.length, ...data.deliveries);
    nextCursor = data.nextCursor;
    draw();
    if (shown.some((d) => d.status === 'pending')) timer = setTimeout(load, 2000);
  };
  async function more() {
    try {
      const data = await api.v1('callback/get_deliveries', { ...filter, limit: 50, cursor: nextCursor });
      shown.push(...data.deliveries);
      nextCursor = data.nextCursor;
      draw();
    } catch (e) {
      status.replaceChildren(errorBox(e));
    }
  }
  await load();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
