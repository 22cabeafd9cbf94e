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

/** Shows a message at the top, replacing the one before (never stacked): a success closes
 * itself after 6 s, an error stays until closed, a success or a page change. */
export function flash(kind, text) {
  const box = document.getElementById('flash');
  const close = h('button', { type: 'button', class: 'small secondary', onclick: () => msg.remove() }, t('close'));
  const msg = h('div', { class: 'msg ' + kind, role: kind === 'error' ? 'alert' : 'status' }, h('span', {}, text), close);
  box.replaceChildren(msg);
  if (kind !== 'error') setTimeout(() => msg.remove(), 6000);
}

/** Removes the message at the top (on navigation). */
export function clearFlash() { const box = document.getElementById('flash'); if (box) box.replaceChildren(); }

/** The words of a form field the API names (`items[2].media` → "Mục 3 · Nội dung"). */
export function fieldName(f) {
  if (!f) return '';
  const m = /^([a-z_.]+?)(?:\[(\d+)\])?(?:\.(.+))?$/.exec(f);
  if (!m) return f;
  const base = t('field.' + m[1]);
  const name = base === 'field.' + m[1] ? m[1] : base;
  const idx = m[2] !== undefined ? ' ' + (Number(m[2]) + 1) : '';
  if (!m[3]) return name + idx;
  return name + idx + ' · ' + fieldName(m[3].replace(/^(\w+)\[(\d+)\]$/, '$1[$2]'));
}

/** A sentence for an API error in the console's language: the reason's, else the code's,
 * filled with the names the answer carries; never the server's English or a raw code. */
export function errorText(e) {
  if (e && e.status === 0 && (!e.code || e.code === 'network')) return t('err.network');
  if (e && e.status === 401 && e.code !== 'code_required') return t('err.401');
  if (e && e.status === 403 && (!e.code || e.code === 'forbidden')) return t('err.403');
  if (!(e instanceof Error) || !('code' in e)) {
    console.error('unexpected error', e);
    return t('err.unknown');
  }
  const names = Object.assign({}, e.names || {});
  names.field = fieldName(e.field);
  for (const key of [e.reason, e.code]) {
    if (!key) continue;
    const k = 'err.' + key;
    const s = t(k, names);
    if (s !== k) return s;
  }
  if (e.message) console.warn('untranslated API error', e.status, e.code, e.message);
  return t('err.http', { status: e.status });
}

/** Marks the control named by the error's field (aria-invalid, the sentence next to it);
 * `controls` maps API field names to inputs. Returns true if one was marked. */
export function markField(form, e, controls) {
  clearMarks(form);
  if (!e || !e.field || !controls) return false;
  const key = Object.keys(controls).find((k) => e.field === k || e.field.startsWith(k + '[') || e.field.startsWith(k + '.'));
  const c = key && controls[key];
  if (!c) return false;
  c.setAttribute('aria-invalid', 'true');
  const note = h('span', { class: 'field-error', role: 'alert', id: (c.id || 'f') + '-err' }, errorText(e));
  c.setAttribute('aria-describedby', note.id);
  c.insertAdjacentElement('afterend', note);
  c.addEventListener('input', () => clearMarks(form), { once: true });
  c.focus();
  return true;
}

/** Removes what markField added. */
export function clearMarks(form) {
  if (!form) return;
  for (const n of form.querySelectorAll('.field-error')) n.remove();
  for (const c of form.querySelectorAll('[aria-invalid]')) { c.removeAttribute('aria-invalid'); c.removeAttribute('aria-describedby'); }
}

export function showError(e, form, controls) {
  if (form && markField(form, e, controls)) clearFlash();
  flash('error', errorText(e));
}

/** Shows a success: closes any error banner and marks, then the message fades. */
export function showOk(text, form) { clearMarks(form); flash('ok', text); }

/** An id suggested from a name: Vietnamese folded to ASCII (đ → d, diacritics dropped),
 * lower case, runs of anything else as one '-' ("Quốc khánh 2/9" → "quoc-khanh-2-9"). */
export function suggestId(name, max = 63) {
  return String(name || '').normalize('NFD').replace(/[\u0300-\u036f]/g, '')
    .replace(/[đĐ]/g, 'd').toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '')
    .slice(0, max).replace(/-+$/, '');
}

/** Fills `idInput` from `nameInput` while the person has not typed an id of their own. */
export function linkId(nameInput, idInput, max) {
  let own = !!idInput.value;
  idInput.addEventListener('input', () => { own = !!idInput.value; });
  nameInput.addEventListener('input', () => { if (!own) idInput.value = suggestId(nameInput.value, max); });
}

/** A number in the console's language (`2,5` in vi, `2.5` in en). */
export function num(n, digits) {
  const o = digits === undefined ? { maximumFractionDigits: 1 } : { minimumFractionDigits: digits, maximumFractionDigits: digits };
  return new Intl.NumberFormat(lang() === 'vi' ? 'vi-VN' : 'en-GB', o).format(n);
}

/** A calendar date `YYYY-MM-DD` as dd/mm/yyyy, whatever the browser's locale. */
export function dateText(iso) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(iso || '');
  return m ? m[3] + '/' + m[2] + '/' + m[1] : (iso || '—');
}

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
  return (i ? num(v, 1) : num(v, 0)) + ' ' + t('unit.' + u[i]);
}

export function secs(ms) { return ms === null || ms === undefined ? '—' : t('unit.s', { n: num(ms / 1000) }); }

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

/** A gate's display name from `GET /api/v1/gates` (its id where it has none). */
export function gateNamer(gates) {
  const names = new Map((gates || []).map((g) => [g.gate, g.name || g.gate]));
  return (id) => names.get(id) || id;
}

/** Today's date (YYYY-MM-DD) in `tz` at instant `now`: the gate's day, not the browser's. */
export function todayIn(tz, now = new Date()) {
  const parts = new Intl.DateTimeFormat('en-GB', { timeZone: tz, year: 'numeric', month: '2-digit', day: '2-digit' }).formatToParts(now);
  const g = Object.fromEntries(parts.map((p) => [p.type, p.value]));
  return g.year + '-' + g.month + '-' + g.day;
}

/** A date field that reads and writes dd/mm/yyyy whatever the browser's locale; like
 * <input type=date> its `value` is the ISO day (`YYYY-MM-DD`, '' when empty or not a date). */
export function dateInput(attrs = {}) {
  const { value, ...rest } = attrs;
  const el = h('input', Object.assign(rest, { type: 'text', inputmode: 'numeric', autocomplete: 'off',
    placeholder: t('date.placeholder'), pattern: '\\d{1,2}/\\d{1,2}/\\d{4}', class: ((rest.class || '') + ' date').trim() }));
  const own = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value');
  Object.defineProperty(el, 'value', {
    get() { return isoDay(own.get.call(el)); },
    set(v) { own.set.call(el, /^\d{4}-\d\d-\d\d$/.test(v || '') ? dateText(v) : (v || '')); },
  });
  if (value) el.value = value;
  return el;
}

/** `dd/mm/yyyy` (or an ISO day) as `YYYY-MM-DD`; '' when it is not a real day. */
function isoDay(text) {
  const s = String(text || '').trim();
  if (/^\d{4}-\d\d-\d\d$/.test(s)) return s;
  const m = /^(\d{1,2})\/(\d{1,2})\/(\d{4})$/.exec(s);
  if (!m) return '';
  const d = new Date(Date.UTC(+m[3], +m[2] - 1, +m[1]));
  if (d.getUTCDate() !== +m[1] || d.getUTCMonth() !== +m[2] - 1) return '';
  return d.toISOString().slice(0, 10);
}
