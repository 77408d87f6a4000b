// Call: one call's record, its participants, a timeline with one lane per participant (ringing
// and connected spans, every event as a mark) and its events, from `records/get_call_detail`.

import * as api from './api.js';
import { h, s, table, errorBox, resultBadge, fmtTime, fmtMs, fmtDuration } from './ui.js';

// Events that put their user into the call, and that take them out of it.
const CONNECTS = new Set(['accept', 'join']);
const DISCONNECTS = new Set(['hangup', 'offline']);
// Events with which a ringing callee answers (or stops ringing) themselves.
const ANSWERS = new Set(['accept', 'join', 'reject', 'busy', 'no_answer', 'hangup', 'offline']);
const MARK_COLORS = {
  start: '#1f5fbf', invite: '#1f5fbf', join: '#2e8b57', accept: '#2e8b57', reject: '#cf222e',
  busy: '#e16f24', no_answer: '#9a6700', cancel: '#57606a', hangup: '#1b1f24', offline: '#8250df',
  end: '#1b1f24',
};

/**
 * The spans of each participant's lane: ringing from their invitation until they connected or
 * answered otherwise (or the call ended), connected from each accept/join (the caller from the
 * start) until they hung up, went offline or the call ended.
 */
export function lanes(detail, nowMs) {
  const { record, participants, events } = detail;
  const endMs = record.endTs ? Math.max(record.endTs * 1000, ...events.map((e) => e.time)) : nowMs;
  const effective = events.filter((e) => e.effective);
  return participants.map((p) => {
    const mine = effective.filter((e) => e.userId === p.userId);
    const ringing = [];
    if (p.role !== 'caller' && p.invitedMs) {
      const answer = mine.find((e) => e.time >= p.invitedMs && ANSWERS.has(e.type));
      const stop = p.connectedMs || (answer ? answer.time : endMs);
      if (stop > p.invitedMs) ringing.push([p.invitedMs, stop]);
    }
    const connected = [];
    let open = p.role === 'caller' && p.connectedMs ? p.connectedMs : null;
    for (const e of mine) {
      if (CONNECTS.has(e.type) && open === null) open = e.time;
      else if ((DISCONNECTS.has(e.type) || e.type === 'cancel') && open !== null) {
        connected.push([open, e.time]);
        open = null;
      }
    }
    if (open !== null) connected.push([open, p.leftMs || endMs]);
    if (!connected.length && p.connectedMs) connected.push([p.connectedMs, p.leftMs || endMs]);
    const marks = events.filter((e) => e.userId === p.userId);
    return { participant: p, ringing, connected, marks };
  });
}

function timeline(detail, width) {
  const nowMs = Date.now();
  const rows = lanes(detail, nowMs);
  const times = detail.events.map((e) => e.time);
  const t0 = Math.min(detail.record.startCallTs * 1000, ...times);
  const t1 = Math.max(detail.record.endTs ? detail.record.endTs * 1000 : nowMs, ...times, t0 + 1000);
  const label = width < 500 ? 80 : 130;
  const laneH = 30, top = 8, axisH = 26;
  const plotW = Math.max(100, width - label - 12);
  const x = (t) => label + ((t - t0) / (t1 - t0)) * plotW;
  const height = top + rows.length * laneH + axisH;
  const svg = s('svg', { viewBox: `0 0 ${width} ${height}`, width, height, role: 'img', 'aria-label': `Timeline of ${rows.length} participants`, id: 'timeline-svg' });
  rows.forEach((row, i) => {
    const y = top + i * laneH;
    const lane = s('g', { class: 'lane', 'data-user': row.participant.userId });
    lane.append(
      s('rect', { x: label, y: y + 4, width: plotW, height: laneH - 8, fill: '#f6f8fa' }),
      s('text', { x: 4, y: y + laneH / 2 + 4 }, shorten(row.participant.userId, width < 500 ? 10 : 17)));
    for (const [a, b] of row.ringing) {
      lane.append(s('rect', { class: 'span-ringing', x: x(a), y: y + 8, width: Math.max(1, x(b) - x(a)), height: laneH - 16, fill: '#f2cc60' },
        s('title', {}, `${row.participant.userId} ringing ${fmtDuration((b - a) / 1000)}`)));
    }
    for (const [a, b] of row.connected) {
      lane.append(s('rect', { class: 'span-connected', x: x(a), y: y + 6, width: Math.max(1, x(b) - x(a)), height: laneH - 12, fill: '#2e8b57' },
        s('title', {}, `${row.participant.userId} connected ${fmtDuration((b - a) / 1000)}`)));
    }
    for (const e of row.marks) {
      const cx = x(e.time);
      lane.append(s('path', {
        class: 'mark', d: `M${cx} ${y + 3} l4 5 l-4 5 l-4 -5 z`, fill: MARK_COLORS[e.type] ?? '#1b1f24',
        'fill-opacity': e.effective ? 1 : 0.35,
      }, s('title', {}, `${e.type} by ${e.userId} at ${fmtMs(e.time)}${e.effective ? '' : ' (no effect)'}`)));
    }
    svg.append(lane);
  });
  // The time axis: a few ticks, seconds from the start.
  const axisY = top + rows.length * laneH + 4;
  svg.append(s('line', { x1: label, x2: label + plotW, y1: axisY, y2: axisY, stroke: '#8c959f' }));
  const ticks = width < 500 ? 3 : 6;
  for (let k = 0; k <= ticks; k++) {
    const t = t0 + ((t1 - t0) * k) / ticks;
    const tx = x(t);
    svg.append(s('line', { x1: tx, x2: tx, y1: axisY, y2: axisY + 4, stroke: '#8c959f' }),
      s('text', { x: tx, y: axisY + 17, 'text-anchor': k === 0 ? 'start' : k === ticks ? 'end' : 'middle' }, `+${fmtDuration((t - t0) / 1000)}`));
  }
  return svg;
}

const shorten = (text, n) => (text.length > n ? `${text.slice(0, n - 1)}…` : text);

function facts(record, userData) {
  const pairs = [
    ['Result', resultBadge(record.callResult)],
    ['Type', `${record.callType} · ${record.mediaType}`],
    ['Caller', record.caller],
    ['Callees', record.callees.join(', ')],
    ['Started', `${fmtTime(record.startCallTs)} UTC`],
    ['Connected', record.acceptTs ? `${fmtTime(record.acceptTs)} UTC` : 'never'],
    ['Ended', record.endTs ? `${fmtTime(record.endTs)} UTC` : 'not yet'],
    ['Talk', record.acceptTs && record.endTs ? fmtDuration(record.endTs - record.acceptTs) : '—'],
    ['Room', record.roomId || '—'],
    ['User data', userData ?? '—'],
  ];
  return h('dl', { class: 'facts' }, pairs.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

/** Renders the Call view for `#/call/<callId>`; returns its clean-up. */
export async function render(main, { rest: callId }) {
  const body = h('div', { id: 'call-body' }, h('p', { class: 'muted' }, 'Loading…'));
  main.append(h('p', {}, h('a', { href: '#/calls' }, '← Calls')),
    h('h1', {}, 'Call ', h('span', { id: 'call-id' }, callId)), body);
  let stopped = false;
  let timer = null;
  let observer = null;
  const load = async () => {
    let detail;
    try {
      detail = await api.v1('records/get_call_detail', { callId });
    } catch (e) {
      if (!stopped) body.replaceChildren(errorBox(e));
      return;
    }
    if (stopped) return;
    const lanesBox = h('div', { class: 'timeline', id: 'timeline' });
    let drawn = 0;
    const draw = () => {
      const width = Math.max(300, Math.floor(lanesBox.clientWidth || main.clientWidth));
      if (width === drawn) return;
      drawn = width;
      lanesBox.replaceChildren(timeline(detail, width));
    };
    observer?.disconnect();
    observer = new ResizeObserver(draw);
    body.replaceChildren(
      facts(detail.record, detail.userData),
      h('h2', {}, 'Timeline'),
      h('ul', { class: 'legend' },
        h('li', {}, h('i', { class: 'swatch-ringing' }), 'ringing'),
        h('li', {}, h('i', { class: 'swatch-connected' }), 'connected'),
        h('li', {}, '◆ an event (faded: no effect)')),
      lanesBox,
      h('h2', {}, 'Participants'),
      table([
        ['User', (p) => p.userId],
        ['Role', (p) => p.role],
        ['Invited', (p) => fmtMs(p.invitedMs), 'time hide-narrow'],
        ['Connected', (p) => fmtMs(p.connectedMs), 'time hide-narrow'],
        ['Left', (p) => fmtMs(p.leftMs), 'time hide-narrow'],
        ['Talk', (p) => fmtDuration(p.talkSecs), 'num'],
        ['Outcome', (p) => p.outcome],
      ], detail.participants, (p) => ({ dataset: { user: p.userId } })),
      h('h2', {}, 'Events'),
      table([
        ['Time (UTC)', (e) => fmtMs(e.time), 'time'],
        ['Type', (e) => e.type],
        ['User', (e) => e.userId],
        ['Event ID', (e) => e.eventId ?? '—', 'id hide-narrow'],
        ['Effect', (e) => (e.effective ? 'changed the call' : 'none')],
      ], detail.events),
      h('h2', {}, 'The record, as get_record_by_callId answers it'),
      h('pre', { class: 'json', id: 'record-json', tabindex: '0' }, JSON.stringify(detail.record, null, 2)));
    observer.observe(lanesBox);
    draw();
    // A call that goes on is shown as it goes.
    if (detail.record.callResult === 'ongoing') timer = setTimeout(load, 2000);
  };
  await load();
  return () => {
    stopped = true;
    clearTimeout(timer);
    observer?.disconnect();
  };
}
