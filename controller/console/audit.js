// Auditor pages: playback log (filters, paging, CSV), compliance report, export bundle.
// These use the audit API (docs/auditing.md); an endpoint that answers 404 is shown as "not available
// on this controller yet" instead of an error.
import { t, lang } from './i18n.js';
import { api, download } from './api.js';
import { h, field, select, showError, errorText, table, badge, time, saveBlob, notAvailable, langName, shortSha, flash, todayIn, dateInput, gateNamer } from './ui.js';

const PAGE = 50;
/** The API's largest page; a CSV with more rows says so (narrow the period). */
const CSV_LIMIT = 100000;

/** Midnight of day `ymd` (YYYY-MM-DD) in `tz`, as an RFC 3339 UTC instant. */
export function dayStart(ymd, tz) {
  const guess = new Date(ymd + 'T00:00:00Z');
  const parts = new Intl.DateTimeFormat('en-GB', { timeZone: tz, hour12: false, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' }).formatToParts(guess);
  const g = Object.fromEntries(parts.map((p) => [p.type, p.value]));
  const asLocal = Date.UTC(+g.year, +g.month - 1, +g.day, +g.hour % 24, +g.minute);
  const offset = asLocal - guess.getTime();
  return new Date(guess.getTime() - offset).toISOString().replace('.000Z', 'Z');
}

/** The date `n` days after `ymd` (YYYY-MM-DD; `n` may be negative). */
export function addDays(ymd, n) {
  const d = new Date(ymd + 'T00:00:00Z');
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

/**
 * The API period for the days `fromYmd` … `toYmd` in `tz`, both days included: from the
 * start of the first day to the start of the day after the last (RFC 3339 UTC instants).
 */
export function dayRange(fromYmd, toYmd, tz) {
  return { from: dayStart(fromYmd, tz), to: dayStart(addDays(toYmd, 1), tz) };
}

/** Rows and paging hints from whatever list shape the API answers. */
function rowsOf(j) {
  if (Array.isArray(j)) return { rows: j, total: null, next: null };
  const rows = j.receipts || j.items || j.rows || j.plays || [];
  return { rows, total: j.total ?? null, next: j.next ?? j.next_offset ?? j.next_cursor ?? null };
}

export async function logPage(ctx) {
  ctx.el.append(h('h1', { id: 'page-title' }, t('nav.log')));
  const [screens, gates, media, playlists] = await Promise.all([api('GET', '/api/v1/screens'), api('GET', '/api/v1/gates'), api('GET', '/api/v1/media'),
    api('GET', '/api/v1/playlists').catch(() => [])]);
  const playlistName = new Map(playlists.map((p) => [p.id, p.name]));
  const tzOf = new Map(screens.map((s) => [s.id, s.timezone]));
  const titleOf = new Map(media.map((m) => [m.sha256, m.title]));
  const screenName = new Map(screens.map((s) => [s.id, s.name]));
  const tz0 = (screens[0] && screens[0].timezone) || 'UTC';
  const f = {
    screen: select([['', t('all')], ...screens.map((s) => [s.id, s.name])], '', { name: 'screen' }),
    gate: select([['', t('all')], ...gates.map((g) => [g.gate, g.name || g.gate])], '', { name: 'gate' }),
    media: select([['', t('all')], ...media.map((m) => [m.sha256, m.title])], '', { name: 'media' }),
    lang: select([['', t('all')], ...['vi', 'en', 'zh-Hans', 'hmn', 'ium', 'tyz', 'pcc', 'nut', 'hni'].map((l) => [l, langName(l)])], '', { name: 'lang' }),
    outcome: select([['', t('all')], ['completed', t('out.completed')], ['interrupted', t('out.interrupted')], ['failed', t('out.failed')]], '', { name: 'outcome' }),
    backend: select([['', t('all')], ['mpv', 'mpv'], ['null', 'null (' + t('log.notshown') + ')']], '', { name: 'backend' }),
    from: dateInput({ name: 'from', value: addDays(todayIn(tz0), -7) }),
    to: dateInput({ name: 'to', value: todayIn(tz0) }),
  };
  const labels = { screen: 'log.screen', gate: 'log.gate', media: 'log.media', lang: 'media.lang', outcome: 'log.outcome', backend: 'log.backend', from: 'log.from', to: 'log.to' };
  const result = h('div', { 'aria-live': 'polite' });
  const pager = h('div', { class: 'pager' });
  // Cursor paging: `cursors[i]` starts page i (undefined for the first page).
  let cursors = [undefined];
  let pageNo = 0;
  const form = h('form', { class: 'panel', id: 'log-filters' },
    h('div', { class: 'filters' }, Object.entries(f).map(([k, c]) => { const [l, ctl] = field(t(labels[k]), c); return h('div', {}, l, ctl); }),
      h('div', {}, h('button', { type: 'submit', id: 'log-search' }, t('log.search'))),
      h('div', {}, h('button', { type: 'button', id: 'log-csv', class: 'secondary', onclick: csv }, t('log.csv')))),
    h('p', { class: 'hint' }, t('log.hint')));
  ctx.el.append(form, pager, result);

  // Dates are days in the gate's timezone (of the chosen screen or gate, else the first screen).
  function tzFilter() {
    const s = screens.find((x) => x.id === f.screen.value) || screens.find((x) => x.gate === f.gate.value) || screens[0];
    return (s && s.timezone) || 'UTC';
  }

  function query(extra) {
    const q = new URLSearchParams();
    const tz = tzFilter();
    for (const [k, c] of Object.entries(f)) {
      if (!c.value) continue;
      // `to` is the last day shown, included: the period ends at the start of the next day.
      q.set(k, k === 'from' ? dayStart(c.value, tz) : k === 'to' ? dayStart(addDays(c.value, 1), tz) : c.value);
    }
    for (const [k, v] of Object.entries(extra)) q.set(k, v);
    return q;
  }

  async function load() {
    try {
      const extra = { limit: PAGE, format: 'json', order: 'desc' }; // newest first
      if (cursors[pageNo]) extra.cursor = cursors[pageNo];
      const j = await api('GET', '/api/v1/receipts?' + query(extra));
      const { rows, total, next } = rowsOf(j);
      cursors[pageNo + 1] = next || undefined;
      const offset = pageNo * PAGE;
      result.replaceChildren(rows.length ? table([t('log.started'), t('log.ended'), t('log.screen'), t('log.media'), t('media.lang'), t('log.playlist'), t('log.outcome'), t('log.backend'), { label: t('col.version'), num: true }, { label: t('col.seq'), num: true }],
        rows.map((r) => {
          const tz = r.timezone || tzOf.get(r.screen) || 'UTC';
          const sha = r.media_sha256 || r.media;
          return h('tr', { 'data-seq': r.seq }, h('td', {}, time(r.started_at_utc || r.started_at, tz)), h('td', {}, time(r.ended_at_utc || r.ended_at, tz)), h('td', { title: r.screen }, screenName.get(r.screen) || r.screen),
            h('td', { title: sha, 'data-kind': r.kind || null }, r.kind === 'alert' ? [badge('bad', t('log.alert')), ' '] : null, r.media_title || titleOf.get(sha) || shortSha(sha)),
            h('td', {}, r.lang ? langName(r.lang) : '—'),
            h('td', { title: r.playlist || null }, !r.playlist ? '—' : r.playlist.startsWith('alert:') ? t('log.alert') : playlistName.get(r.playlist) || r.playlist),
            h('td', {}, badge(r.outcome === 'completed' ? 'ok' : r.outcome === 'failed' ? 'bad' : 'warn', t('out.' + r.outcome))),
            h('td', {}, r.backend === 'null' ? badge('off', t('backend.null')) : r.backend || '—'),
            h('td', { class: 'num' }, r.manifest_version ?? '—'), h('td', { class: 'num' }, r.seq ?? '—'));
        })) : h('p', {}, t('log.none')));
      const hasNext = !!next;
      pager.replaceChildren(
        h('button', { type: 'button', class: 'secondary', disabled: pageNo === 0, onclick: () => { pageNo = Math.max(0, pageNo - 1); load(); } }, '← ' + t('prev')),
        h('span', {}, t('log.range', { a: rows.length ? offset + 1 : 0, b: offset + rows.length }) + (total !== null ? ' / ' + total : '')),
        h('button', { type: 'button', class: 'secondary', disabled: !hasNext, onclick: () => { pageNo += 1; load(); } }, t('next') + ' →'));
    } catch (e) {
      pager.replaceChildren();
      result.replaceChildren(e.status === 404 ? notAvailable(t('nav.log')) : h('p', { class: 'error-text', role: 'alert' }, errorText(e)));
    }
  }

  async function csv() {
    try {
      const r = await download('/api/v1/receipts?' + query({ format: 'csv', bom: 'true', limit: CSV_LIMIT }));
      saveBlob(r.blob, 'gatecast-plays-' + f.from.value + '-' + f.to.value + '.csv');
      flash('ok', r.next ? t('log.csvpartial', { n: CSV_LIMIT }) : t('log.csvok'));
    } catch (e) {
      if (e.status === 404) result.replaceChildren(notAvailable(t('log.csv'))); else showError(e);
    }
  }

  form.addEventListener('submit', (ev) => { ev.preventDefault(); cursors = [undefined]; pageNo = 0; load(); });
  await load();
  return null;
}

/** Renders any JSON value readably: arrays of objects as tables, objects as key/value lists. */
function render(v, tz) {
  if (v === null || v === undefined) return h('span', { class: 'muted' }, '—');
  if (Array.isArray(v)) {
    if (!v.length) return h('span', { class: 'muted' }, t('none'));
    if (v.every((x) => x && typeof x === 'object' && !Array.isArray(x))) {
      const keys = [...new Set(v.flatMap((x) => Object.keys(x)))];
      return table(keys.map((k) => t('rep.' + k) === 'rep.' + k ? k : t('rep.' + k)), v.map((x) => h('tr', {}, keys.map((k) => h('td', {}, render(x[k], tz))))));
    }
    return h('span', {}, v.map((x) => (typeof x === 'object' ? JSON.stringify(x) : String(x))).join(', '));
  }
  if (typeof v === 'object') {
    return h('dl', { class: 'kv' }, Object.entries(v).map(([k, x]) => [h('dt', {}, t('rep.' + k) === 'rep.' + k ? k : t('rep.' + k)), h('dd', {}, render(x, tz))]));
  }
  if (typeof v === 'boolean') return v ? badge('ok', t('yes')) : badge('bad', t('no'));
  if (typeof v === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d/.test(v)) return time(v, tz);
  return h('span', {}, String(v));
}

/** A code in words (`prefix + code` in i18n.js), else the code. */
function words(prefix, code) { const k = prefix + code; const w = t(k); return w === k ? code : w; }

/** A note of the compliance report (an English sentence of the API) in the page's language. */
function noteText(n) {
  if (/^no manifest was ever published/.test(n)) return t('note.never');
  if (/^no manifest governed/.test(n)) return t('note.none');
  const m = /^playlist "(.*)" has an item without a known duration/.exec(n);
  if (m) return t('note.noduration', { playlist: m[1] });
  return n;
}

function dur(sec) {
  const s = Math.round(Number(sec) || 0);
  const hh = Math.floor(s / 3600), mm = Math.floor((s % 3600) / 60);
  return hh ? t('unit.h', { n: hh }) + ' ' + t('unit.min', { n: mm }) : mm ? t('unit.min', { n: mm }) + ' ' + t('unit.s', { n: s % 60 }) : t('unit.s', { n: s });
}

/** A day `YYYY-MM-DD` as dd/mm/yyyy, whatever the browser's locale. */
export function dmy(ymd) {
  const m = /^(\d{4})-(\d\d)-(\d\d)/.exec(ymd || '');
  return m ? m[3] + '/' + m[2] + '/' + m[1] : '—';
}

function reasonText(r) {
  const k = 'rep.reason.' + r;
  return t(k) === k ? r : t(k);
}

/** The compliance report (docs/auditing.md): one panel per screen. Falls back to `render`. */
function renderCompliance(r, period, gateName = (g) => g) {
  if (!r || !Array.isArray(r.screens)) return render(r, 'UTC');
  const ptz = (period && period.tz) || 'UTC';
  return h('div', {},
    h('p', { class: 'muted', id: 'compliance-period' }, t('rep.period') + ': ',
      period ? t('rep.gatedays', { a: dmy(period.from), b: dmy(period.to), tz: ptz }) : [time(r.from, ptz), ' → ', time(r.to, ptz)],
      ' · ' + t('rep.generated_at') + ': ', time(r.generated_at, ptz)),
    r.screens.length ? r.screens.map((sc) => {
      const tz = sc.timezone || 'UTC';
      const chain = sc.chain || {};
      return h('div', { class: 'panel', 'data-screen': sc.screen },
        h('h2', {}, (sc.name || sc.screen) + ' · ' + (sc.gate ? gateName(sc.gate) : ''), ' ', h('code', {}, sc.screen)),
        h('dl', { class: 'kv' },
          h('dt', {}, t('rep.expected')), h('dd', {}, String(sc.expected ?? '—')),
          h('dt', {}, t('rep.recorded')), h('dd', {}, String(sc.recorded ?? '—')),
          h('dt', {}, t('rep.shortfall')), h('dd', {}, sc.shortfall ? badge('bad', String(sc.shortfall)) : badge('ok', '0')),
          h('dt', {}, t('rep.unscheduled')), h('dd', {}, String(sc.unscheduled ?? 0)),
          h('dt', {}, t('rep.dark')), h('dd', {}, sc.dark_s ? badge('warn', dur(sc.dark_s)) : badge('ok', '0')),
          h('dt', {}, t('rep.chain_intact')), h('dd', {}, chain.intact ? badge('ok', t('yes')) : badge('bad', t('no')),
            ' ', chain.receipts != null ? t('rep.chainrange', { n: chain.receipts, a: chain.first_seq ?? '—', b: chain.last_seq ?? '—' }) : '',
            (chain.problems || []).length ? h('ul', {}, chain.problems.map((p) => h('li', { class: 'error-text' }, p))) : null)),
        (sc.entries || []).length ? table([t('rep.schedule'), t('rep.playlist'), t('rep.versions'), t('rep.active_s'), { label: t('rep.expected'), num: true }, { label: t('rep.recorded'), num: true }, { label: t('rep.shortfall'), num: true }, { label: t('out.interrupted'), num: true }, { label: t('out.failed'), num: true }, { label: t('backend.null'), num: true }],
          sc.entries.map((e) => h('tr', {}, h('td', {}, e.entry || t('rep.fallback')), h('td', {}, e.playlist), h('td', {}, (e.manifest_versions || []).map((v) => t('screen.version', { v })).join(', ')),
            h('td', {}, dur(e.active_s)), h('td', { class: 'num' }, String(e.expected ?? '—')), h('td', { class: 'num' }, String(e.recorded)),
            h('td', { class: 'num' }, e.shortfall ? badge('bad', String(e.shortfall)) : String(e.shortfall ?? '—')),
            h('td', { class: 'num' }, String(e.interrupted)), h('td', { class: 'num' }, String(e.failed)), h('td', { class: 'num' }, String(e.null_backend))))) : null,
        (sc.dark_periods || []).some((d) => d.seconds >= 1) ? [h('h3', {}, t('rep.dark')), table([t('rep.from'), t('rep.to'), { label: t('rep.duration'), num: true }, t('rep.reason')],
          sc.dark_periods.filter((d) => d.seconds >= 1).map((d) => h('tr', {}, h('td', {}, time(d.from, tz)), h('td', {}, time(d.to, tz)), h('td', { class: 'num' }, dur(d.seconds)), h('td', { 'data-reason': d.reason }, reasonText(d.reason)))))] : null,
        (sc.notes || []).length ? h('ul', { class: 'muted' }, sc.notes.map((n) => h('li', {}, noteText(n)))) : null);
    }) : h('p', {}, t('none')));
}

/** The plays report: one row per group (its counts are members of the group itself, beside
 * `key`; a media group is shown by its title, the hash only when it has none). Falls back to
 * `render`. */
function renderPlays(r, names) {
  if (!r || !Array.isArray(r.groups)) return render(r, 'UTC');
  const keys = r.group_by || [];
  const cols = ['plays', 'shown', 'completed', 'interrupted', 'failed', 'null_backend'];
  const nm = names || {};
  const label = (key, k) => {
    const v = key[k];
    if (k === 'media') return key.media_title || (nm.media && nm.media.get(v)) || shortSha(v);
    if (k === 'lang') return langName(v);
    if (k === 'screen') return (nm.screen && nm.screen.get(v)) || v;
    if (k === 'gate') return nm.gate ? nm.gate(v) : v;
    if (k === 'day') return dmy(v);
    if (k === 'playlist') return !v ? '—' : v.startsWith('alert:') ? t('log.alert') : ((nm.playlist && nm.playlist.get(v)) || v);
    return v;
  };
  const row = (key, c, strong) => h('tr', { 'data-total': strong ? 'true' : null }, keys.map((k) => h('td', {}, strong ? h('strong', {}, key[k] ?? '') : (label(key, k) ?? '—'))),
    cols.map((k) => h('td', { class: 'num', 'data-col': k }, String(c[k] ?? 0))), h('td', { class: 'num' }, dur(c.duration_s)));
  return table([...keys.map((k) => t('rep.' + k)), ...cols.map((k) => ({ label: t('rep.c.' + k), num: true })), { label: t('rep.duration'), num: true }],
    [...r.groups.map((g) => row(g.key || {}, g, false)), row(Object.fromEntries(keys.slice(0, 1).map((k) => [k, t('rep.total')])), r.total || {}, true)]);
}

const SVGNS = 'http://www.w3.org/2000/svg';
/** An SVG element (presentation attributes only: the strict CSP allows no inline style). */
function svg(tag, attrs, ...children) {
  const e = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined) e.setAttribute(k, String(v));
  for (const c of children.flat()) if (c !== null && c !== undefined) e.append(typeof c === 'string' ? document.createTextNode(c) : c);
  return e;
}
const COLOURS = ['#1a5fb4', '#c64600', '#26a269', '#813d9c', '#a51d2d', '#986a44', '#1c71d8', '#5e5c64'];

function legend(series) {
  return h('ul', { class: 'legend' }, series.map((name, i) => h('li', {},
    svg('svg', { width: 12, height: 12, viewBox: '0 0 12 12', 'aria-hidden': 'true', class: 'swatch' }, svg('rect', { width: 12, height: 12, fill: COLOURS[i % COLOURS.length] })), name)));
}

/** Stacked bars: one bar per `x`, one colour per series (named by `seriesName`); `fmt`
 * writes a value. */
export function stackedBars(title, xs, series, value, fmt, xLabel, seriesName = (s) => s) {
  const W = 560, H = 240, L = 60, B = 36, T = 12;
  const totals = xs.map((x) => series.reduce((a, s) => a + value(x, s), 0));
  const max = Math.max(1, ...totals);
  const bw = Math.max(4, Math.min(40, (W - L - 10) / Math.max(1, xs.length) - 6));
  const step = (W - L - 10) / Math.max(1, xs.length);
  const y = (v) => T + (H - T - B) * (1 - v / max);
  const bars = xs.map((x, i) => {
    let acc = 0;
    const cx = L + i * step + (step - bw) / 2;
    const parts = series.map((s, j) => {
      const v = value(x, s);
      if (!v) return null;
      const r = svg('rect', { x: cx.toFixed(1), y: y(acc + v).toFixed(1), width: bw.toFixed(1), height: (y(acc) - y(acc + v)).toFixed(1), fill: COLOURS[j % COLOURS.length] },
        svg('title', {}, xLabel(x) + ' · ' + seriesName(s) + ': ' + fmt(v)));
      acc += v;
      return r;
    });
    const every = Math.ceil(xs.length / 8);
    return svg('g', {}, parts, i % every === 0 ? svg('text', { x: (cx + bw / 2).toFixed(1), y: H - B + 14, 'text-anchor': 'middle', fill: '#333' }, xLabel(x)) : null);
  });
  const axis = [0, 0.5, 1].map((f) => svg('g', {}, svg('line', { x1: L, x2: W - 6, y1: y(max * f), y2: y(max * f), stroke: '#d0d4da' }),
    svg('text', { x: L - 4, y: y(max * f) + 4, 'text-anchor': 'end', fill: '#333' }, fmt(max * f))));
  return h('figure', { class: 'chart panel' }, h('figcaption', {}, h('strong', {}, title)),
    svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': title }, axis, bars), legend(series.map(seriesName)));
}

/** One bar split by share (the languages played). */
export function shareBar(title, parts) {
  const total = parts.reduce((a, p) => a + p.value, 0) || 1;
  let x = 0;
  const W = 560;
  const rects = parts.map((p, i) => {
    const w = (W * p.value) / total;
    const r = svg('rect', { x: x.toFixed(1), y: 0, width: w.toFixed(1), height: 36, fill: COLOURS[i % COLOURS.length] },
      svg('title', {}, p.name + ': ' + pct(p.value / total)));
    x += w;
    return r;
  });
  return h('figure', { class: 'chart panel' }, h('figcaption', {}, h('strong', {}, title)),
    svg('svg', { viewBox: `0 0 ${W} 36`, role: 'img', 'aria-label': title }, rects),
    legend(parts.map((p) => p.name + ' ' + pct(p.value / total))));
}

function pct(f) { return (Math.round(f * 1000) / 10).toLocaleString(lang()) + ' %'; }

/** Plays per day per gate, share of languages and hours on air, from the plays report. */
async function drawCharts(box, range, period, gateName) {
  box.replaceChildren(h('p', { class: 'muted' }, t('loading')));
  try {
    const q1 = range(); q1.set('group_by', 'day,gate');
    const q2 = range(); q2.set('group_by', 'lang');
    const [byDay, byLang] = await Promise.all([api('GET', '/api/v1/reports/plays?' + q1), api('GET', '/api/v1/reports/plays?' + q2)]);
    const days = [];
    for (let d = period.from; d <= period.to; d = addDays(d, 1)) days.push(d);
    const gates = [...new Set(byDay.groups.map((g) => g.key.gate))].sort();
    const cell = new Map(byDay.groups.map((g) => [g.key.day + '|' + g.key.gate, g]));
    const get = (d, gname, k) => { const g = cell.get(d + '|' + gname); return g ? Number(g[k]) || 0 : 0; };
    const num = (v) => Math.round(v).toLocaleString(lang());
    const hours = (v) => (Math.round(v * 10) / 10).toLocaleString(lang()) + ' ' + t('rep.u.hshort');
    const dd = (d) => dmy(d).slice(0, 5);
    if (!byDay.groups.length) { box.replaceChildren(h('p', { class: 'muted' }, t('chart.none'))); return; }
    box.replaceChildren(h('div', { class: 'charts' },
      stackedBars(t('chart.playsday'), days, gates, (d, gname) => get(d, gname, 'plays'), num, dd, gateName),
      stackedBars(t('chart.hours'), days, gates, (d, gname) => get(d, gname, 'duration_s') / 3600, hours, dd, gateName),
      shareBar(t('chart.langs'), byLang.groups.map((g) => ({ name: langName(g.key.lang), value: g.plays })).filter((p) => p.value > 0))));
  } catch (e) {
    box.replaceChildren(e.status === 404 ? notAvailable(t('chart.title')) : h('p', { class: 'error-text', role: 'alert' }, errorText(e)));
  }
}

export async function compliancePage(ctx) {
  ctx.el.append(h('h1', { id: 'page-title' }, t('nav.compliance')));
  const screens = await api('GET', '/api/v1/screens');
  const tz = (screens[0] && screens[0].timezone) || 'Asia/Ho_Chi_Minh';
  const from = dateInput({ value: addDays(todayIn(tz), -7), required: true });
  const to = dateInput({ value: todayIn(tz), required: true });
  const group = select([['media', t('log.media')], ['lang', t('media.lang')], ['gate', t('log.gate')], ['screen', t('log.screen')], ['day', t('rep.day')], ['playlist', t('log.playlist')]], 'media', { name: 'group' });
  const out = h('div', { 'aria-live': 'polite' });
  const plays = h('div', { 'aria-live': 'polite', id: 'plays-report' });
  const form = h('form', { class: 'panel', id: 'compliance-form' },
    h('div', { class: 'filters' }, h('div', {}, ...field(t('log.from'), from)), h('div', {}, ...field(t('log.to'), to)),
      h('div', {}, h('button', { type: 'submit' }, t('rep.run')))),
    h('p', { class: 'hint' }, t('rep.hint')));
  const playsForm = h('form', { class: 'panel', id: 'plays-form' }, h('div', { class: 'filters' }, h('div', {}, ...field(t('rep.groupby'), group)), h('div', {}, h('button', { type: 'submit', id: 'plays-run' }, t('rep.plays')))));
  ctx.el.append(form, out, h('h2', {}, t('rep.plays')), playsForm, plays);
  const range = () => new URLSearchParams(dayRange(from.value, to.value, tz));
  async function run(target, path, view) {
    target.replaceChildren(h('p', { class: 'muted' }, t('loading')));
    try { target.replaceChildren(view(await api('GET', path))); }
    catch (e) { target.replaceChildren(e.status === 404 ? notAvailable(t('nav.compliance')) : h('p', { class: 'error-text', role: 'alert' }, errorText(e))); }
  }
  const [media, playlists, gates] = await Promise.all([api('GET', '/api/v1/media').catch(() => []), api('GET', '/api/v1/playlists').catch(() => []),
    api('GET', '/api/v1/gates').catch(() => [])]);
  const names = { gate: gateNamer(gates), media: new Map(media.map((m) => [m.sha256, m.title])), screen: new Map(screens.map((s) => [s.id, s.name])),
    playlist: new Map(playlists.map((p) => [p.id, p.name])) };
  const period = () => ({ from: from.value, to: to.value, tz });
  const charts = h('div', { id: 'audit-charts', 'aria-live': 'polite' });
  ctx.el.append(h('h2', {}, t('chart.title')), charts);
  const compliance = () => { const p = period(); return run(out, '/api/v1/reports/compliance?' + range(), (j) => renderCompliance(j, p, names.gate)); };
  const playsRun = () => { const q = range(); q.set('group_by', group.value); return run(plays, '/api/v1/reports/plays?' + q, (j) => h('div', { class: 'panel' }, renderPlays(j, names))); };
  const chartsRun = () => drawCharts(charts, range, period(), names.gate);
  form.addEventListener('submit', (ev) => { ev.preventDefault(); compliance(); playsRun(); chartsRun(); });
  playsForm.addEventListener('submit', (ev) => { ev.preventDefault(); playsRun(); });
  await Promise.all([compliance(), playsRun(), chartsRun()]);
  return null;
}

export async function exportPage(ctx) {
  ctx.el.append(h('h1', { id: 'page-title' }, t('nav.export')));
  const [screens, keys] = await Promise.all([api('GET', '/api/v1/screens'), api('GET', '/api/v1/keys')]);
  const tz = (screens[0] && screens[0].timezone) || 'Asia/Ho_Chi_Minh';
  const from = dateInput({ value: addDays(todayIn(tz), -30), required: true });
  const to = dateInput({ value: todayIn(tz), required: true });
  const checks = screens.map((s) => h('input', { type: 'checkbox', value: s.id }));
  const status = h('div', { 'aria-live': 'polite' });
  const cp = h('div');
  const form = h('form', { class: 'panel', id: 'export-form' },
    h('div', { class: 'filters' }, h('div', {}, ...field(t('log.from'), from)), h('div', {}, ...field(t('log.to'), to))),
    h('fieldset', {}, h('legend', {}, t('exp.screens')), h('div', { class: 'checks' }, checks.map((c, i) => h('label', {}, c, screens[i].name)))),
    h('div', { class: 'actions' }, h('button', { type: 'submit', id: 'export-download' }, t('exp.download'))), status);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams(dayRange(from.value, to.value, tz));
    const chosen = checks.filter((c) => c.checked).map((c) => c.value);
    if (chosen.length) q.set('screens', chosen.join(','));
    status.replaceChildren(h('p', { class: 'muted' }, t('loading')));
    try {
      const r = await download('/api/v1/audit/export?' + q);
      const name = r.name || ('gatecast-audit-' + from.value + '-' + to.value + '.json');
      saveBlob(r.blob, name);
      bundleName = name;
      drawCommands();
      status.replaceChildren(h('p', {}, badge('ok', t('exp.saved')), ' ', h('code', { 'data-file': name }, name)));
    } catch (e) { status.replaceChildren(e.status === 404 ? notAvailable(t('nav.export')) : h('p', { class: 'error-text', role: 'alert' }, errorText(e))); }
  });
  // The commands name the files exactly as saved: the bundle just downloaded (or the name it
  // will get) and the checkpoint saved with the button below.
  // The bundle's name comes with the download (gatecast-audit-<time of export>.json).
  let bundleName = t('exp.bundlefile');
  let checkpointName = 'checkpoint-' + todayIn(tz) + '.json';
  const cmd1 = h('pre', { class: 'cmd', id: 'verify-cmd' });
  const cmd2 = h('pre', { class: 'cmd', id: 'verify-cmd-checkpoint' });
  const copyBtn = (pre) => h('button', { type: 'button', class: 'small secondary', onclick: async () => {
    try { await navigator.clipboard.writeText(pre.textContent); flash('ok', t('exp.copied')); } catch (_) { flash('error', t('exp.nocopy')); }
  } }, t('exp.copy'));
  function drawCommands() {
    cmd1.textContent = 'gatecast-audit verify ' + bundleName + ' --controller-key ' + keys.controller_key;
    cmd2.textContent = 'gatecast-audit verify ' + bundleName + ' --controller-key ' + keys.controller_key + ' --previous-checkpoint ' + checkpointName;
  }
  drawCommands();
  const saveCp = h('button', { type: 'button', id: 'save-checkpoint', onclick: async () => {
    try {
      const r = await download('/api/v1/log/checkpoint');
      checkpointName = 'checkpoint-' + todayIn(tz) + '.json';
      saveBlob(r.blob, checkpointName);
      drawCommands();
      flash('ok', t('exp.cpsaved', { name: checkpointName }));
    } catch (e) { showError(e); }
  } }, t('exp.savecp'));
  ctx.el.append(form,
    h('div', { class: 'panel' }, h('h2', {}, t('exp.how')), h('p', {}, t('exp.how1')),
      cmd1, copyBtn(cmd1),
      h('p', {}, t('exp.how2')), h('ul', {}, ['exp.c1', 'exp.c2', 'exp.c3', 'exp.c4'].map((k) => h('li', {}, t(k)))),
      h('p', {}, t('exp.how3')),
      cmd2, copyBtn(cmd2),
      h('dl', { class: 'kv' }, h('dt', {}, t('exp.keyid')), h('dd', {}, h('code', {}, keys.controller_key_id)))),
    h('div', { class: 'panel' }, h('h2', {}, t('exp.checkpoint')), h('p', {}, t('exp.cphint')), h('div', { class: 'actions' }, saveCp), cp));
  try { cp.replaceChildren(render(await api('GET', '/api/v1/log/checkpoint'), tz)); }
  catch (e) { cp.replaceChildren(e.status === 404 ? notAvailable(t('exp.checkpoint')) : h('p', { class: 'error-text' }, errorText(e))); }
  return null;
}
