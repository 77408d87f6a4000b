// Stats: ended calls per hour or day stacked by result, the answer rate and talk time, from
// `records/get_stats`.

import * as api from './api.js';
import { timeFields, formParams, filterBody } from './calls.js';
import {
  h, s, go, table, errorBox, select, input, fmtTime, fmtDuration, fmtPercent,
  RESULTS, RESULT_NAMES, RESULT_COLORS,
} from './ui.js';

function sum(buckets) {
  const total = { total: 0, connected: 0, talkSecs: 0, byResult: Object.fromEntries(RESULTS.map((r) => [r, 0])) };
  for (const b of buckets) {
    total.total += b.total;
    total.connected += b.connected;
    total.talkSecs += b.talkSecs;
    for (const r of RESULTS) total.byResult[r] += b.byResult[r];
  }
  return total;
}

const label = (ts, bucket) => (bucket === 'hour' ? `${fmtTime(ts).slice(5, 13)}h` : fmtTime(ts).slice(0, 10));

function chart(buckets, bucket, width) {
  const left = 44, right = 40, top = 10, bottom = 34;
  const height = width < 500 ? 220 : 280;
  const plotW = width - left - right, plotH = height - top - bottom;
  const max = Math.max(1, ...buckets.map((b) => b.total));
  const step = niceStep(max);
  const yMax = Math.ceil(max / step) * step;
  const y = (v) => top + plotH - (v / yMax) * plotH;
  const slot = plotW / Math.max(1, buckets.length);
  const barW = Math.max(1, slot * 0.8);
  const svg = s('svg', { viewBox: `0 0 ${width} ${height}`, width, height, role: 'img', id: 'stats-chart', 'aria-label': `Calls per ${bucket}, stacked by result` });
  for (let v = 0; v <= yMax; v += step) {
    svg.append(s('line', { x1: left, x2: left + plotW, y1: y(v), y2: y(v), stroke: '#d0d7de' }),
      s('text', { x: left - 6, y: y(v) + 4, 'text-anchor': 'end' }, v));
  }
  buckets.forEach((b, i) => {
    const x = left + i * slot + (slot - barW) / 2;
    let acc = 0;
    const g = s('g', { class: 'bar', 'data-start': b.startTs, 'data-total': b.total });
    for (const r of RESULTS) {
      const n = b.byResult[r];
      if (!n) continue;
      g.append(s('rect', { x, y: y(acc + n), width: barW, height: y(acc) - y(acc + n), fill: RESULT_COLORS[r] },
        s('title', {}, `${label(b.startTs, bucket)}: ${n} ${RESULT_NAMES[r]}`)));
      acc += n;
    }
    svg.append(g);
  });
  // The answer rate as a line on a 0–100 % scale at the right.
  const ry = (f) => top + plotH - f * plotH;
  const points = buckets.map((b, i) => (b.total ? `${left + i * slot + slot / 2},${ry(b.answerRate)}` : null)).filter(Boolean);
  if (points.length > 1) svg.append(s('polyline', { points: points.join(' '), fill: 'none', stroke: '#1f5fbf', 'stroke-width': 2, id: 'answer-rate-line' }));
  svg.append(s('text', { x: left + plotW + 4, y: ry(1) + 4 }, '100%'), s('text', { x: left + plotW + 4, y: ry(0) + 4 }, '0%'));
  const every = Math.ceil(buckets.length / Math.max(2, Math.floor(plotW / 90)));
  buckets.forEach((b, i) => {
    if (i % every) return;
    svg.append(s('text', { x: left + i * slot + slot / 2, y: height - bottom + 16, 'text-anchor': 'middle' }, label(b.startTs, bucket)));
  });
  return svg;
}

function niceStep(max) {
  const raw = max / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * mag).find((m) => m >= raw) ?? raw;
}

/** Renders the Stats view; returns nothing to clean up. */
export async function render(main, { params }) {
  const bucket = params.get('bucket') ?? (params.get('preset') === '7d' ? 'day' : 'hour');
  const form = h('form', { class: 'filters', id: 'stats-filter', 'aria-label': 'Stats range' },
    ...timeFields(params, '24h'),
    select('Per', 'bucket', [['hour', 'Hour'], ['day', 'Day']], bucket),
    select('Type', 'type', [['', 'Any'], ['single', 'Single'], ['group', 'Group']], params.get('type') ?? ''),
    select('Media', 'media', [['', 'Any'], ['audio', 'Audio'], ['video', 'Video']], params.get('media') ?? ''),
    input('User', 'user', params.get('user') ?? ''),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Apply')));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    go(`#/stats?${formParams(form)}`);
  });
  const out = h('div', { id: 'stats-body' }, h('p', { class: 'muted' }, 'Loading…'));
  main.append(h('h1', {}, 'Stats'), form, out);

  let data;
  try {
    data = await api.v1('records/get_stats', { ...filterBody(params), bucket });
  } catch (e) {
    out.replaceChildren(errorBox(e));
    return null;
  }
  const { buckets } = data;
  const t = sum(buckets);
  const card = (k, v, id) => h('div', { class: 'card' }, h('div', { class: 'v', id }, v), h('div', { class: 'k' }, k));
  const chartBox = h('div', { class: 'chart', id: 'chart' });
  out.replaceChildren(
    h('div', { class: 'cards' },
      card('ended calls', t.total, 'stat-total'),
      card('connected', t.connected, 'stat-connected'),
      card('answer rate', t.total ? fmtPercent(t.connected / t.total) : '—', 'stat-answer-rate'),
      card('talk time', fmtDuration(t.talkSecs), 'stat-talk'),
      card('average talk', t.connected ? fmtDuration(t.talkSecs / t.connected) : '—', 'stat-avg-talk')),
    h('h2', {}, `Calls per ${bucket} (UTC), by result`),
    h('ul', { class: 'legend' },
      RESULTS.map((r) => h('li', {}, h('i', { class: `swatch-${r}` }), RESULT_NAMES[r])),
      h('li', {}, h('i', { class: 'swatch-rate' }), 'answer rate (right scale)')),
    chartBox,
    h('h2', {}, 'Per bucket'),
    table([
      [bucket === 'hour' ? 'Hour (UTC)' : 'Day (UTC)', (b) => label(b.startTs, bucket), 'time'],
      ['Calls', (b) => b.total, 'num'],
      ['Connected', (b) => b.connected, 'num'],
      ['Answer rate', (b) => (b.total ? fmtPercent(b.answerRate) : '—'), 'num'],
      ['Talk', (b) => fmtDuration(b.talkSecs), 'num hide-narrow'],
      ['Avg talk', (b) => (b.connected ? fmtDuration(b.avgTalkSecs) : '—'), 'num hide-narrow'],
      ...RESULTS.map((r) => [RESULT_NAMES[r], (b) => b.byResult[r], 'num hide-narrow']),
    ], [...buckets].reverse().filter((b) => b.total > 0)));
  let drawn = 0;
  const draw = () => {
    const width = Math.max(300, Math.floor(chartBox.clientWidth || main.clientWidth));
    if (width === drawn) return;
    drawn = width;
    chartBox.replaceChildren(chart(buckets, bucket, width));
  };
  const observer = new ResizeObserver(draw);
  observer.observe(chartBox);
  draw();
  return () => observer.disconnect();
}
