// Screens: the live wall (short polling every 2.5 s), and registering a screen (admin).
import { t } from './i18n.js';
import { api } from './api.js';
import { h, field, time, bytes, badge, showError, errorText } from './ui.js';

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

function nowPlaying(s, media) {
  const cur = s.online && s.status && str(s.status.current);
  if (!cur) return h('div', { class: 'now' }, h('div', { class: 'thumb icon', 'aria-hidden': 'true' }, '■'), h('span', { class: 'muted' }, t('screen.nothing')));
  const m = media.get(cur);
  let pic;
  if (m && m.kind === 'slide') pic = h('img', { class: 'thumb', src: '/media/' + cur, alt: '' });
  else pic = h('div', { class: 'thumb icon', 'aria-hidden': 'true' }, m && m.kind === 'clip' ? '♪' : '▶');
  return h('div', { class: 'now', 'data-now': cur },
    pic,
    h('div', {}, h('div', { class: 'now-title' }, m ? m.title : cur.slice(0, 12) + '…'),
      m ? h('div', { class: 'muted' }, t('kind.' + m.kind) + ' · ' + m.lang) : null));
}

function card(s, media) {
  const st = (s.status && typeof s.status === 'object') ? s.status : {};
  const cache = (st.cache && typeof st.cache === 'object') ? st.cache : {};
  const need = num(cache.need_bytes) || 0, have = num(cache.have_bytes) || 0;
  const rej = (st.last_rejection && typeof st.last_rejection === 'object') ? st.last_rejection : null;
  return h('article', { class: 'card' + (s.online ? ' online' : ''), 'data-screen': s.id, 'aria-label': s.name },
    h('header', {}, h('h3', {}, s.name), stateBadge(s)),
    h('div', { class: 'gate' }, s.gate, ' · ', h('code', {}, s.id), s.disabled ? [' ', badge('bad', t('screen.disabled'))] : null),
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
      h('dt', {}, t('screen.rejection')), h('dd', {}, rej ? h('span', { class: 'error-text' }, (num(rej.version) != null ? 'v' + rej.version + ': ' : '') + (str(rej.reason) || '') + (str(rej.detail) ? ' — ' + rej.detail : '')) : '—'),
      st.manifest_expired === true ? [h('dt', {}, t('screen.expired')), h('dd', {}, badge('warn', t('yes')))] : null,
      str(st.last_error) ? [h('dt', {}, t('screen.error')), h('dd', {}, st.last_error)] : null,
      !s.device_key ? [h('dt', {}, t('screen.enrolled')), h('dd', {}, badge('warn', t('screen.notenrolled')))] : null));
}

// One card that cannot be drawn must not stop the wall: it is shown as a card saying so, in
// the operator's language (the script error goes to the browser's console, not on the card).
function safeCard(s, media) {
  try {
    return card(s, media);
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
    } catch (e) { showError(e); }
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
  let stopped = false, timer = null;
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
      wall.replaceChildren(...(screens.length ? screens.map((s) => safeCard(s, media)) : [h('p', {}, t('screen.none'))]));
      err.textContent = '';
    } catch (e) {
      err.textContent = errorText(e);
    }
    if (!stopped) timer = setTimeout(tick, POLL_MS);
  }
  await tick();
  return { stop() { stopped = true; clearTimeout(timer); } };
}
