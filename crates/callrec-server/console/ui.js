// Small DOM and formatting helpers shared by the views.

/** Creates an element: h('a', {href: '#', class: 'x', onclick: f}, 'text', child, …). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key === 'class') el.className = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (value === true) el.setAttribute(key, '');
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

/** Replaces `el`'s children; null, undefined and false children are left out. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

const SVG = 'http://www.w3.org/2000/svg';

/** An SVG element with attributes and children. */
export function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null) continue;
    el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

/** The ended results, in the order the API lists them, and `ongoing`. */
export const RESULTS = ['normal_end', 'interrupt', 'cancel', 'reject', 'not_answer', 'call_busy'];
/** What the views call each result: the API's own word, as in the records and the CLI. */
export const RESULT_NAMES = Object.fromEntries([...RESULTS, 'ongoing'].map((r) => [r, r]));
/** Chart colours per result (the same as the stylesheet's). */
export const RESULT_COLORS = {
  normal_end: '#2e8b57', interrupt: '#8250df', cancel: '#8c959f', reject: '#cf222e',
  not_answer: '#d4a72c', call_busy: '#e16f24',
};

/** A result as a coloured badge with the API's word (also in `data-result`). */
export function resultBadge(result) {
  return h('span', { class: `badge ${result}`, dataset: { result } }, RESULT_NAMES[result] ?? result);
}

const pad = (n) => String(n).padStart(2, '0');

/** Unix seconds as `YYYY-MM-DD HH:MM:SS` (UTC), or `—` for 0. */
export function fmtTime(secs) {
  if (!secs) return '—';
  const d = new Date(secs * 1000);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
}

/** Unix milliseconds as `HH:MM:SS.mmm` (UTC) after the date, or `—` for 0/null. */
export function fmtMs(ms) {
  if (!ms) return '—';
  return `${fmtTime(Math.floor(ms / 1000))}.${String(ms % 1000).padStart(3, '0')}`;
}

/** Unix milliseconds as `MM-DD HH:MM:SS.mmm` (UTC, this year's dates shortened), or `—`. */
export function fmtShortMs(ms) {
  if (!ms) return '—';
  const full = fmtMs(ms);
  return full.startsWith(String(new Date().getUTCFullYear())) ? full.slice(5) : full;
}

/** Seconds as `2d 03h 04m`, `1h 02m 03s`, `2m 05s` or `45s`. */
export function fmtDuration(secs) {
  secs = Math.max(0, Math.round(secs));
  const dd = Math.floor(secs / 86400);
  const hh = Math.floor((secs % 86400) / 3600), mm = Math.floor((secs % 3600) / 60), ss = secs % 60;
  if (dd) return `${dd}d ${pad(hh)}h ${pad(mm)}m`;
  if (hh) return `${hh}h ${pad(mm)}m ${pad(ss)}s`;
  if (mm) return `${mm}m ${pad(ss)}s`;
  return `${ss}s`;
}

/** A fraction as a percentage with one decimal. */
export function fmtPercent(fraction) {
  return `${(fraction * 100).toFixed(1)} %`;
}

/** Unix seconds as the value of an `<input type="datetime-local">` read as UTC. */
export function toInputValue(secs) {
  const d = new Date(secs * 1000);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}T` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
}

/** The value of an `<input type="datetime-local">` (UTC) as Unix seconds, or null. */
export function fromInputValue(value) {
  if (!value) return null;
  const ms = Date.parse(value.length === 16 ? `${value}:00Z` : `${value}Z`);
  return Number.isFinite(ms) ? Math.floor(ms / 1000) : null;
}

/** Shows the view at `hash` (`#/calls?…`), reloading it when the address already is that. */
export function go(hash) {
  if (location.hash === hash) window.dispatchEvent(new HashChangeEvent('hashchange'));
  else location.hash = hash;
}

/** Now, Unix seconds. */
export const nowSecs = () => Math.floor(Date.now() / 1000);

/** A table: `columns` are [heading, cell(row) → node|string, className?]. */
export function table(columns, rows, rowAttrs = () => ({})) {
  return h('div', { class: 'table-wrap' },
    h('table', {},
      h('thead', {}, h('tr', {}, columns.map(([name, , cls]) => h('th', { class: cls, scope: 'col' }, name)))),
      h('tbody', {}, rows.map((row) =>
        h('tr', rowAttrs(row), columns.map(([, cell, cls]) => h('td', { class: cls }, cell(row))))))));
}

/** An error box for a failed API call. */
export function errorBox(err) {
  const code = err && err.code ? ` (error ${err.code})` : '';
  return h('p', { class: 'error', role: 'alert' }, `${err.message ?? err}${code}`);
}

/** A labelled `<select>` with [value, text] options. */
export function select(label, name, options, value) {
  return h('label', {}, label,
    h('select', { name }, options.map(([v, t]) => h('option', { value: v, selected: v === value }, t))));
}

/** A labelled text input. */
export function input(label, name, value = '', attrs = {}) {
  return h('label', {}, label, h('input', { name, value, autocomplete: 'off', ...attrs }));
}
