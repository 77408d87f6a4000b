// Calls: the filter as a form, the matching records with cursor paging, and a live table of the
// calls going on now (refreshed every 2 s).

import * as api from './api.js';
import {
  h, fill, go, table, errorBox, select, input, resultBadge, fmtTime, fmtDuration, nowSecs,
  toInputValue, fromInputValue, RESULTS, RESULT_NAMES,
} from './ui.js';

const DEFAULT_PAGE = 50;
const PRESETS = { '1h': 3600, '24h': 86400, '7d': 7 * 86400 };

/** The range a `#/calls?…` or `#/stats?…` asks for: [start, end] Unix seconds. */
export function rangeOf(params, fallback = '24h') {
  const preset = params.get('preset') ?? fallback;
  if (preset === 'custom') {
    const from = Number(params.get('from'));
    const to = Number(params.get('to'));
    const end = Number.isFinite(to) && to > 0 ? to : nowSecs();
    return [Number.isFinite(from) && from > 0 ? from : end - 86400, end];
  }
  const end = nowSecs();
  return [end - (PRESETS[preset] ?? 86400), end];
}

/** The time fields of a filter form: preset, from and to (shown for a custom range). */
export function timeFields(params, fallback = '24h', presets = [['1h', 'Last hour'], ['24h', 'Last 24 hours'], ['7d', 'Last 7 days']]) {
  const preset = params.get('preset') ?? fallback;
  const [start, end] = rangeOf(params, fallback);
  const from = input('From (UTC)', 'from', toInputValue(start), { type: 'datetime-local' });
  const to = input('To (UTC)', 'to', toInputValue(end), { type: 'datetime-local' });
  const presetSelect = select('Time', 'preset', [...presets, ['custom', 'Custom range']], preset);
  const sync = () => {
    const custom = presetSelect.querySelector('select').value === 'custom';
    from.hidden = !custom;
    to.hidden = !custom;
  };
  presetSelect.querySelector('select').addEventListener('change', sync);
  sync();
  return [presetSelect, from, to];
}

/** The form's values as fragment parameters (empty fields left out). */
export function formParams(form) {
  const params = new URLSearchParams();
  const data = new FormData(form);
  const preset = data.get('preset');
  for (const [key, value] of data.entries()) {
    const v = String(value).trim();
    if (!v || key === 'from' || key === 'to') continue;
    params.set(key, v);
  }
  if (preset === 'custom') {
    const from = fromInputValue(String(data.get('from')));
    const to = fromInputValue(String(data.get('to')));
    if (from !== null) params.set('from', String(from));
    if (to !== null) params.set('to', String(to));
  }
  return params;
}

/** The API's filter fields from the fragment's parameters. */
export function filterBody(params, fallback = '24h') {
  const [startTimestamp, endTimestamp] = rangeOf(params, fallback);
  const body = { startTimestamp, endTimestamp };
  const map = { result: 'callResult', type: 'callType', media: 'mediaType', user: 'userId', room: 'roomId' };
  for (const [key, field] of Object.entries(map)) {
    const v = params.get(key);
    if (v) body[field] = v;
  }
  return body;
}

const duration = (r) => (r.acceptTs && r.endTs ? fmtDuration(r.endTs - r.acceptTs) : '—');
const callLink = (r) => h('a', { href: `#/call/${encodeURIComponent(r.callId)}` }, r.callId);

function recordsTable(records, id, live = false) {
  const columns = [
    ['Call ID', callLink, 'id'],
    ['Started (UTC)', (r) => h('time', { title: `startCallTs ${r.startCallTs}` }, fmtTime(r.startCallTs)), 'time'],
    ['Caller', (r) => r.caller],
    ['Callees', (r) => r.callees.join(', '), 'hide-narrow'],
    ['Type', (r) => r.callType, 'hide-narrow'],
    ['Media', (r) => r.mediaType, 'hide-narrow'],
    ['Result', (r) => resultBadge(r.callResult)],
    live ? ['Running', (r) => fmtDuration(nowSecs() - r.startCallTs), 'num hide-narrow'] : ['Talk', duration, 'num hide-narrow'],
  ];
  const wrap = table(columns, records, (r) => ({ dataset: { callId: r.callId, result: r.callResult } }));
  wrap.id = id;
  return wrap;
}

/** Renders the Calls view; returns its clean-up. */
export async function render(main, { params }) {
  const resultOptions = [['', 'Any ended'], ...RESULTS.map((r) => [r, RESULT_NAMES[r]]), ['ongoing', 'ongoing']];
  const form = h('form', { class: 'filters', id: 'calls-filter', 'aria-label': 'Filter calls' },
    ...timeFields(params),
    select('Result', 'result', resultOptions, params.get('result') ?? ''),
    select('Type', 'type', [['', 'Any'], ['single', 'Single'], ['group', 'Group']], params.get('type') ?? ''),
    select('Media', 'media', [['', 'Any'], ['audio', 'Audio'], ['video', 'Video']], params.get('media') ?? ''),
    input('User', 'user', params.get('user') ?? '', { placeholder: 'caller or callee' }),
    input('Room', 'room', params.get('room') ?? ''),
    params.get('per') ? h('input', { type: 'hidden', name: 'per', value: params.get('per') }) : null,
    h('div', { class: 'actions' },
      h('button', { type: 'submit' }, 'Apply'),
      h('button', { type: 'button', class: 'quiet', onclick: () => { location.hash = '#/calls'; } }, 'Reset')));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    go(`#/calls?${formParams(form)}`);
  });

  const liveBox = h('div', { id: 'live-calls' }, h('p', { class: 'muted' }, 'Loading…'));
  const liveStamp = h('span', { class: 'muted', id: 'live-updated' });
  const liveToggle = h('input', { type: 'checkbox', checked: true, id: 'live-toggle' });
  const results = h('div', { id: 'calls-results' }, h('p', { class: 'muted' }, 'Loading…'));

  main.append(
    h('h1', {}, 'Calls'),
    h('section', { class: 'panel', 'aria-labelledby': 'live-title' },
      h('div', { class: 'live-head' },
        h('h2', { id: 'live-title' }, 'Ongoing now'),
        h('label', { class: 'check' }, liveToggle, 'Refresh every 2 s'),
        liveStamp),
      liveBox),
    form,
    results);

  // The live view: every call not ended yet, whenever it started (within the retention).
  let liveTimer = null;
  let stopped = false;
  const refreshLive = async () => {
    if (stopped) return;
    // A tab in the background asks nothing; it catches up within 2 s of being shown again.
    if (document.hidden) {
      liveTimer = setTimeout(refreshLive, 2000);
      return;
    }
    try {
      const data = await api.v1('records/get_records_by_filter',
        { startTimestamp: 0, callResult: 'ongoing', numberPerPage: 100 });
      if (stopped) return;
      const list = data.callRecordList;
      liveBox.replaceChildren(list.length
        ? recordsTable(list, 'live-table', true)
        : h('p', { class: 'muted', id: 'live-none' }, 'No call is going on.'));
      if (data.totalNum > list.length) liveBox.append(h('p', { class: 'muted' }, `Showing 100 of ${data.totalNum}.`));
      liveStamp.textContent = `${data.totalNum} ongoing · updated ${fmtTime(nowSecs())} UTC`;
    } catch (e) {
      if (!stopped) liveBox.replaceChildren(errorBox(e));
    }
    if (!stopped && liveToggle.checked) liveTimer = setTimeout(refreshLive, 2000);
  };
  liveToggle.addEventListener('change', () => {
    clearTimeout(liveTimer);
    if (liveToggle.checked) refreshLive();
  });
  refreshLive();

  // The records, page by page: cursors[i] is the cursor of page i + 1 (null for the first).
  const per = Number(params.get('per'));
  const PAGE = Number.isInteger(per) && per >= 1 && per <= 1000 ? per : DEFAULT_PAGE;
  const filter = { ...filterBody(params), numberPerPage: PAGE, withCursor: true };
  const cursors = [null];
  let total = null;
  const showPage = async (index) => {
    results.setAttribute('aria-busy', 'true');
    let data;
    try {
      const body = cursors[index] ? { ...filter, cursor: cursors[index], withTotal: false } : filter;
      data = await api.v1('records/get_records_by_filter', body);
    } catch (e) {
      results.replaceChildren(errorBox(e));
      return;
    } finally {
      results.removeAttribute('aria-busy');
    }
    if (stopped) return;
    if (data.totalNum !== undefined) total = data.totalNum;
    if (data.nextCursor) cursors[index + 1] = data.nextCursor;
    const list = data.callRecordList;
    const first = index * PAGE + 1;
    const summary = list.length
      ? `Calls ${first}–${first + list.length - 1} of ${total ?? '?'}`
      : (index === 0 ? 'No call matches.' : 'No more calls.');
    const older = h('button', { type: 'button', id: 'page-older', disabled: !data.nextCursor, onclick: () => showPage(index + 1) }, 'Older →');
    const newer = h('button', { type: 'button', class: 'quiet', id: 'page-newer', disabled: index === 0, onclick: () => showPage(index - 1) }, '← Newer');
    fill(results,
      h('p', { id: 'calls-summary', 'aria-live': 'polite' }, summary),
      list.length ? recordsTable(list, 'calls-table') : null,
      h('div', { class: 'pager' }, newer, older, h('span', { class: 'muted' }, `page ${index + 1}`)));
  };
  await showPage(0);

  return () => {
    stopped = true;
    clearTimeout(liveTimer);
  };
}
