// Screens: the live wall (short polling every 2.5 s), and registering a screen (admin).
// Each card shows the screen's latest signed screenshot (fetched with the token as a blob:
// an <img src> cannot send it) with its age, what it shows by title (never a hash), an
// emergency badge while an alert is on it, a warning when it reports an error, and a button
// that asks it for a screenshot now. Offline screens come first.
import { t, lang } from './i18n.js';
import { api, download } from './api.js';
import { h, field, time, bytes, badge, showError, showOk, errorText, langName, linkId } from './ui.js';

const POLL_MS = 2500;

function stateBadge(s) {
  if (!s.online) return badge('off', t('screen.offline'));
  const st = s.status && str(s.status.state);
  const kind = st === 'playing' ? 'ok' : st === 'syncing' ? 'warn' : 'ok';
  return h('span', {}, badge('ok', t('screen.online')), ' ', st ? badge(kind, t('state.' + st)) : null);
}

// A status may be of any shape (one stored before the controller checked status fields):
// only a string counts as a media hash, only a number as a count.
const str = (v) => (typeof v === 'string' ? v : null);
const num = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : null);

// What is on the screen, by title: the controller resolves `current` into `showing` (a
// library item, or an alert by its first line); the library is the fallback for an older
// controller. A hash is never shown.
function nowPlaying(s, media) {
  const cur = s.online && s.status && str(s.status.current);
  if (!cur) return h('div', { class: 'now' }, h('span', { class: 'muted' }, t('screen.nothing')));
  const sh = (s.showing && typeof s.showing === 'object') ? s.showing : {};
  if (sh.kind === 'alert') {
    return h('div', { class: 'now alert-now', 'data-now': cur, 'data-showing': 'alert' },
      badge('alert', t('screen.alert')),
      h('div', { class: 'now-title' }, str(sh.title) || '—'),
      str(sh.lang) ? h('div', { class: 'muted' }, langName(sh.lang)) : null);
  }
  const m = media.get(cur);
  const title = str(sh.title) || (m && m.title);
  const kind = str(sh.kind) !== 'unknown' ? (str(sh.kind) || (m && m.kind)) : null;
  const lng = str(sh.lang) || (m && m.lang);
  const pic = m && m.kind === 'slide'
    ? h('img', { class: 'thumb', src: '/media/' + cur, alt: '' })
    : h('div', { class: 'thumb icon', 'aria-hidden': 'true' }, kind === 'clip' ? '♪' : '▶');
  return h('div', { class: 'now', 'data-now': cur, 'data-showing': kind || 'unknown' },
    pic,
    h('div', {}, h('div', { class: 'now-title' }, title || t('screen.unknownitem')),
      kind ? h('div', { class: 'muted' }, t('kind.' + kind) + (lng ? ' · ' + langName(lng) : '')) : null));
}

// Screenshots: per screen the last seq fetched, its blob URL, and a request waiting for its
// answer. Kept across polls (the wall is redrawn every tick).
const shots = new Map();

function ago(iso) {
  const ms = Date.now() - Date.parse(iso);
  if (!Number.isFinite(ms)) return '';
  const rtf = new Intl.RelativeTimeFormat(lang(), { numeric: 'auto' });
  const s = Math.round(ms / 1000);
  if (s < 60) return rtf.format(-Math.max(s, 0), 'second');
  if (s < 3600) return rtf.format(-Math.round(s / 60), 'minute');
  if (s < 86400) return rtf.format(-Math.round(s / 3600), 'hour');
  return rtf.format(-Math.round(s / 86400), 'day');
}

// Fetches the newest image of a screen when its seq changed since the last fetch.
async function refreshShot(s) {
  const meta = s.screenshot && typeof s.screenshot === 'object' ? s.screenshot : null;
  if (!meta) return;
  const have = shots.get(s.id) || {};
  if (have.seq === meta.seq) return;
  const { blob } = await download('/api/v1/screens/' + encodeURIComponent(s.id) + '/screenshots/latest');
  if (have.url) URL.revokeObjectURL(have.url);
  const done = have.pending && meta.request === have.pending;
  shots.set(s.id, { seq: meta.seq, url: URL.createObjectURL(blob), pending: done ? null : have.pending, since: have.since, late: have.late && !done });
}

// A command lives 60 s (docs/protocol.md §18): after that no answer will come.
const REQUEST_WAIT_MS = 65000;

function shotBlock(s, canRequest, redraw) {
  const meta = s.screenshot && typeof s.screenshot === 'object' ? s.screenshot : null;
  const have = shots.get(s.id) || {};
  if (have.pending && Date.now() - have.since > REQUEST_WAIT_MS) {
    have.pending = null;
    have.late = true;
  }
  const pic = have.url && meta
    ? h('img', { class: 'shot', src: have.url, alt: t('screen.shotalt', { name: s.name }), 'data-seq': meta.seq })
    : h('div', { class: 'shot none' }, t('screen.noshot'));
  const age = meta ? h('div', { class: 'shot-age muted', title: meta.taken_at }, t('screen.shotage', { ago: ago(meta.taken_at) })) : null;
  const button = canRequest && s.device_key
    ? h('button', {
      type: 'button', class: 'small secondary', 'data-action': 'screenshot', disabled: !!have.pending,
      onclick: async () => {
        try {
          const r = await api('POST', '/api/v1/screens/' + encodeURIComponent(s.id) + '/screenshots/request');
          shots.set(s.id, Object.assign({}, shots.get(s.id) || {}, { pending: r.request, since: Date.now(), late: false }));
          redraw();
        } catch (e) { showError(e); }
      },
    }, have.pending ? t('screen.shotwaiting') : t('screen.shotnow'))
    : null;
  const late = have.late ? h('div', { class: 'error-text', role: 'status' }, t('screen.shotlate')) : null;
  return h('figure', { class: 'shot-box' }, pic, h('figcaption', {}, age, button), late);
}

function card(s, media, canRequest, redraw) {
  const st = (s.status && typeof s.status === 'object') ? s.status : {};
  const cache = (st.cache && typeof st.cache === 'object') ? st.cache : {};
  const need = num(cache.need_bytes) || 0, have = num(cache.have_bytes) || 0;
  const rej = (st.last_rejection && typeof st.last_rejection === 'object') ? st.last_rejection : null;
  const alert = s.online && s.showing && s.showing.kind === 'alert';
  const failing = !!str(st.last_error);
  return h('article', { class: 'card' + (s.online ? ' online' : '') + (alert ? ' alerting' : ''), 'data-screen': s.id, 'aria-label': s.name },
    h('header', {}, h('h3', {}, s.name), stateBadge(s)),
    h('div', { class: 'gate' }, s.gate, ' · ', h('code', {}, s.id), s.disabled ? [' ', badge('bad', t('screen.disabled'))] : null,
      failing ? [' ', h('span', { 'data-badge': 'failing' }, badge('warn', '⚠ ' + t('screen.failing')))] : null),
    shotBlock(s, canRequest, redraw),
    nowPlaying(s, media),
    h('dl', {},
      h('dt', {}, t('screen.active')), h('dd', { 'data-field': 'active' }, num(st.manifest_version) ?? '—'),
      h('dt', {}, t('screen.pending')), h('dd', {}, num(st.pending_version) ?? '—'),
      h('dt', {}, t('screen.published')), h('dd', {}, s.published_version ?? '—'),
      h('dt', {}, t('screen.cache')), h('dd', {}, need > 0
        ? [h('progress', { max: need, value: Math.min(have, need), 'aria-label': t('screen.cache') }), ' ', bytes(have) + ' / ' + bytes(need)]
        : '—'),
      h('dt', {}, t('screen.backlog')), h('dd', {}, num(st.journal_backlog) ?? '—', st.backlog_warning === true ? [' ', badge('warn', '!')] : null),
      h('dt', {}, t('screen.lastseen')), h('dd', {}, time(s.last_seen, s.timezone)),
      h('dt', {}, t('screen.rejection')), h('dd', {}, rej ? h('span', { class: 'error-text' }, (num(rej.version) != null ? t('screen.version', { v: rej.version }) + ': ' : '') + (str(rej.reason) || '') + (str(rej.detail) ? ' — ' + rej.detail : '')) : '—'),
      st.manifest_expired === true ? [h('dt', {}, t('screen.expired')), h('dd', {}, badge('warn', t('yes')))] : null,
      str(st.last_error) ? [h('dt', {}, t('screen.error')), h('dd', {}, st.last_error)] : null,
      !s.device_key ? [h('dt', {}, t('screen.enrolled')), h('dd', {}, badge('warn', t('screen.notenrolled')))] : null));
}

// One card that cannot be drawn must not stop the wall: it is shown as a card saying so, in
// the operator's language (the script error goes to the browser's console, not on the card).
function safeCard(s, media, canRequest, redraw) {
  try {
    return card(s, media, canRequest, redraw);
  } catch (e) {
    console.warn('screen card', e);
    const id = s && typeof s.id === 'string' ? s.id : '?';
    return h('article', { class: 'card', 'data-screen': id },
      h('header', {}, h('h3', {}, String((s && s.name) || id))),
      h('p', { class: 'error-text' }, t('screen.baddata')));
  }
}

function registerForm(onDone) {
  const id = h('input', { required: true, pattern: '[a-z0-9][a-z0-9\\-]{0,62}', placeholder: 'lc-hk-1' });
  const name = h('input', { required: true });
  const gate = h('input', { required: true, placeholder: 'Lào Cai – Hà Khẩu' });
  const tz = h('input', { required: true, value: 'Asia/Ho_Chi_Minh' });
  const langs = h('input', { value: 'vi, en, zh-Hans' });
  const out = h('div', { role: 'status' });
  linkId(name, id, 63);
  const form = h('form', { class: 'grid' },
    field(t('screen.id'), id), field(t('screen.name'), name), field(t('screen.gate'), gate),
    field(t('screen.tz'), tz), field(t('screen.langs'), langs),
    h('div', { class: 'full actions' }, h('button', { type: 'submit' }, t('screen.register'))), h('div', { class: 'full' }, out));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      const r = await api('POST', '/api/v1/screens', {
        id: id.value.trim(), name: name.value.trim(), gate: gate.value.trim(), timezone: tz.value.trim(),
        languages: langs.value.split(',').map((x) => x.trim()).filter(Boolean),
      });
      out.replaceChildren(h('p', { class: 'notice' }, t('screen.codeonce')),
        h('pre', { class: 'cmd' }, 'gatecast-player enroll --controller ' + location.origin + ' --screen ' + r.id + ' --code ' + r.enrollment_code));
      onDone();
    } catch (e) { showError(e, form, { id, name, gate, timezone: tz, languages: langs }); }
  });
  return h('details', { class: 'panel' }, h('summary', {}, t('screen.register')), form);
}

export async function screensPage(ctx) {
  const wall = h('div', { class: 'wall', 'aria-live': 'off' });
  const summary = h('p', { class: 'muted', 'aria-live': 'polite' });
  const err = h('p', { class: 'error-text', role: 'alert' });
  ctx.el.append(h('h1', { id: 'page-title' }, t('nav.screens')), summary, err, wall);
  if (ctx.can('admin')) ctx.el.append(registerForm(() => {}));
  let media = new Map();
  let stopped = false, timer = null, last = [];
  const canRequest = ctx.can('write');
  const draw = () => wall.replaceChildren(...(last.length ? last.map((s) => safeCard(s, media, canRequest, draw)) : [h('p', {}, t('screen.none'))]));
  async function tick() {
    try {
      const [screens, list] = await Promise.all([api('GET', '/api/v1/screens'), media.size ? null : api('GET', '/api/v1/media')]);
      if (list) media = new Map(list.map((m) => [m.sha256, m]));
      // Unknown hash on a screen: refresh the library once.
      if (screens.some((s) => s.status && str(s.status.current) && !media.has(s.status.current))) {
        media = new Map((await api('GET', '/api/v1/media')).map((m) => [m.sha256, m]));
      }
      const online = screens.filter((s) => s.online).length;
      summary.textContent = t('screen.summary', { online, total: screens.length });
      // Offline screens first: they are the ones to act on.
      screens.sort((a, b) => (a.online === b.online ? String(a.name).localeCompare(String(b.name), lang()) : a.online ? 1 : -1));
      await Promise.all(screens.map((s) => refreshShot(s).catch((e) => console.warn('screenshot', s.id, e))));
      last = screens;
      draw();
      err.textContent = '';
    } catch (e) {
      err.textContent = errorText(e);
    }
    if (!stopped) timer = setTimeout(tick, POLL_MS);
  }
  await tick();
  return { stop() { stopped = true; clearTimeout(timer); } };
}
