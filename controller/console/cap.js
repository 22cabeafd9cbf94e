// "Hộp thư CAP": official CAP 1.2 warnings received (docs/protocol.md §22), the gates each
// covers said in words (no map), and the operator's one click to show it or dismiss it.
import { t, lang } from './i18n.js';
import { api, upload } from './api.js';
import { h, flash, showError, table, badge, time, langName } from './ui.js';

const TZ = 'Asia/Ho_Chi_Minh';
const STATE_BADGE = { pending: 'warn', shown: 'bad', dismissed: 'off', no_gate: 'off', cancel: 'off', not_shown: 'off' };

/** Why a gate is covered, in the console's language. */
function matchWords(m) {
  const vars = { gate: m.gate, area: m.area, d: m.distance_km, r: m.radius_km, code: m.geocode };
  return t('cap.how.' + m.how, vars);
}

function gatesCell(e) {
  if (!e.matched.length) {
    return h('p', { class: 'muted' }, t('cap.nogate', { areas: e.areas.map((a) => '“' + a + '”').join(', ') || '—' }));
  }
  return h('ul', { class: 'plain' }, e.matched.map((m) => h('li', { 'data-gate': m.gate }, matchWords(m))));
}

function textCell(e) {
  const first = e.text.find((x) => x.lang === lang()) || e.text[0];
  const headline = first ? first.text.split('\n')[0] : e.event;
  return h('div', {},
    h('strong', {}, headline),
    h('div', { class: 'hint' }, t('cap.from', { sender: e.sender }) + ' · ' + t('cap.sev.' + e.severity) + ' · ' + t('cap.urg.' + e.urgency)),
    e.text.length ? h('details', {}, h('summary', {}, t('cap.texts', { n: e.text.length })),
      e.text.map((x) => h('div', { class: 'cap-text', lang: x.lang }, h('strong', {}, langName(x.lang) + ': '), x.text))) : null);
}

export async function capPage(ctx) {
  ctx.el.append(h('h1', { id: 'page-title' }, t('nav.cap')), h('p', { class: 'hint' }, t('cap.hint')));
  const listBox = h('div');
  const info = await api('GET', '/api/v1/cap');
  if (!info.gates.length) ctx.el.append(h('p', { class: 'notice', role: 'note' }, t('cap.nolocations')));

  if (ctx.can('write')) {
    const file = h('input', { type: 'file', accept: '.xml,.cap,application/xml,text/xml,application/cap+xml', 'aria-label': t('cap.file') });
    const form = h('form', { class: 'panel', id: 'cap-upload' }, h('h2', {}, t('cap.receive')),
      h('p', { class: 'hint' }, t('cap.receivehint')), file,
      h('div', { class: 'actions' }, h('button', { type: 'submit' }, t('cap.upload'))));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      if (!file.files[0]) return;
      try {
        const e = await upload('/api/v1/cap', new File([file.files[0]], 'cap.xml', { type: 'application/cap+xml' }), () => {});
        flash('ok', t('cap.received', { state: t('cap.state.' + e.state) }));
        form.reset();
        await draw();
      } catch (e) { showError(e); }
    });
    ctx.el.append(form);
  }
  ctx.el.append(listBox);

  async function decide(e, what) {
    if (what === 'confirm' && !confirm(t('cap.really', { gates: e.matched.map((m) => m.gate).join(', ') }))) return;
    try {
      await api('POST', '/api/v1/cap/' + encodeURIComponent(e.id) + '/' + what);
      flash('ok', t(what === 'confirm' ? 'cap.shown' : 'cap.dismissed'));
      await draw();
    } catch (err) { showError(err); }
  }

  async function draw() {
    const { entries } = await api('GET', '/api/v1/cap');
    const now = Date.now();
    listBox.replaceChildren(h('h2', {}, t('cap.list')), entries.length ? table(
      [t('cap.received_at'), t('cap.message'), t('cap.gates'), t('al.expires'), t('al.state'), ''],
      entries.map((e) => {
        const expired = new Date(e.expires_at).getTime() <= now;
        const stateText = expired && e.state === 'pending' ? t('al.expired') : t('cap.state.' + e.state);
        const actions = e.state === 'pending' && !expired && ctx.can('write') ? h('div', { class: 'actions' },
          h('button', { type: 'button', class: 'small danger solid', 'data-action': 'confirm', onclick: () => decide(e, 'confirm') }, t('cap.confirm')),
          h('button', { type: 'button', class: 'small secondary', 'data-action': 'dismiss', onclick: () => decide(e, 'dismiss') }, t('cap.dismiss'))) : null;
        return h('tr', { 'data-cap': e.id, 'data-state': e.state },
          h('td', {}, time(e.received_at, TZ)),
          h('td', {}, textCell(e)),
          h('td', {}, gatesCell(e)),
          h('td', {}, time(e.expires_at, TZ)),
          h('td', {}, badge(STATE_BADGE[e.state] || 'off', stateText), e.decided_by ? h('div', { class: 'hint' }, t('cap.by', { who: e.decided_by })) : null),
          h('td', {}, actions));
      })) : h('p', { 'data-empty': 'true' }, t('cap.none')));
  }
  await draw();
  return null;
}
