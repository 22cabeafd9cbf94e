// Small DOM helpers: elements are built with textContent only (never innerHTML with data).
import { t, lang } from './i18n.js';

/** h('div', {class: 'x', onclick: fn}, child, 'text', [more]) */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k in el && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

let uid = 0;
/** A labelled field: returns [label, control] for a .grid form. */
export function field(labelText, control) {
  if (!control.id) control.id = 'f' + (++uid);
  return [h('label', { for: control.id }, labelText), control];
}

export function select(options, value, attrs) {
  const s = h('select', attrs || {});
  for (const o of options) {
    const [v, label] = Array.isArray(o) ? o : [o, o];
    const opt = h('option', { value: v }, label);
    if (v === value) opt.selected = true;
    s.append(opt);
  }
  return s;
}

/** Shows a message at the top; errors stay until closed, successes fade. */
export function flash(kind, text) {
  const box = document.getElementById('flash');
  const close = h('button', { type: 'button', class: 'small secondary', onclick: () => msg.remove() }, t('close'));
  const msg = h('div', { class: 'msg ' + kind, role: kind === 'error' ? 'alert' : 'status' }, h('span', {}, text), close);
  box.replaceChildren(msg);
  if (kind !== 'error') setTimeout(() => msg.remove(), 6000);
}

export function errorText(e) {
  if (e && e.status === 0) return t('err.network');
  if (e && e.status === 401) return t('err.401');
  if (e && e.status === 403) return t('err.403');
  return (e && e.message) || String(e);
}

export function showError(e) { flash('error', errorText(e)); }

const fmtCache = new Map();
function fmt(tz, withZone) {
  const key = lang() + '|' + tz + '|' + withZone;
  if (!fmtCache.has(key)) {
    let f;
    const opts = { year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false };
    if (withZone) opts.timeZoneName = 'short';
    try { f = new Intl.DateTimeFormat(lang() === 'vi' ? 'vi-VN' : 'en-GB', Object.assign({ timeZone: tz || 'UTC' }, opts)); }
    catch (_) { f = new Intl.DateTimeFormat('en-GB', Object.assign({ timeZone: 'UTC' }, opts)); }
    fmtCache.set(key, f);
  }
  return fmtCache.get(key);
}

/** A <time> showing `iso` in the gate's timezone, UTC on hover. */
export function time(iso, tz) {
  if (!iso) return h('span', { class: 'muted' }, '—');
  const d = new Date(iso);
  if (isNaN(d)) return h('span', {}, iso);
  return h('time', { datetime: d.toISOString(), title: 'UTC ' + d.toISOString().replace('.000Z', 'Z'), tabindex: '0' },
    fmt(tz, true).format(d));
}

export function bytes(n) {
  if (n === null || n === undefined) return '—';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0; let v = Number(n);
  while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
  return (i ? v.toFixed(1) : String(v)) + ' ' + u[i];
}

export function secs(ms) { return ms === null || ms === undefined ? '—' : (ms / 1000).toLocaleString(lang()) + ' s'; }

export function badge(kind, text) { return h('span', { class: 'badge ' + kind }, text); }

/** Saves a Blob as a file through a temporary link. */
export function saveBlob(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = h('a', { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

/** The panel shown when an endpoint of a later release answers 404. */
export function notAvailable(what) {
  return h('p', { class: 'notice', role: 'note' }, t('err.missing', { what }));
}

export function table(headers, rows) {
  return h('div', { class: 'table-wrap' }, h('table', {},
    h('thead', {}, h('tr', {}, headers.map((x) => h('th', { scope: 'col', class: x.num ? 'num' : null }, x.label || x)))),
    h('tbody', {}, rows)));
}

export const LANGS = ['vi', 'en', 'zh-Hans', 'hmn', 'ium', 'tyz', 'pcc', 'nut', 'hni'];
export function langName(code) { const k = 'lang.' + code; const s = t(k); return s === k ? code : s; }
export function langSelect(value, attrs) { return select(LANGS.map((l) => [l, langName(l) + ' (' + l + ')']), value, attrs); }

export function shortSha(s) { return s ? s.slice(0, 12) + '…' : '—'; }

/** Date as YYYY-MM-DD (local calendar of the browser). */
export function isoDate(d) {
  const p = (n) => String(n).padStart(2, '0');
  return d.getFullYear() + '-' + p(d.getMonth() + 1) + '-' + p(d.getDate());
}

/** Today's date (YYYY-MM-DD) in `tz` at instant `now`: the gate's day, not the browser's. */
export function todayIn(tz, now = new Date()) {
  const parts = new Intl.DateTimeFormat('en-GB', { timeZone: tz, year: 'numeric', month: '2-digit', day: '2-digit' }).formatToParts(now);
  const g = Object.fromEntries(parts.map((p) => [p.type, p.value]));
  return g.year + '-' + g.month + '-' + g.day;
}

/** An id suggested from a name: Vietnamese (and other Latin) letters folded to ASCII, runs of
 * anything else turned into one hyphen, at most 64 characters ("Quốc khánh 2/9" →
 * "quoc-khanh-2-9"). Empty when the name has no letter or digit. */
export function suggestId(name) {
  return String(name || '')
    .replace(/[đĐ]/g, 'd')
    .normalize('NFD').replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 64)
    .replace(/-+$/, '');
}
