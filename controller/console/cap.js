// "Hộp thư CAP": official CAP 1.2 warnings received (docs/protocol.md §22), the gates each
// covers said in words (no map), and the operator's one click to show it or dismiss it.
import { t, lang } from './i18n.js';
import { api, upload } from './api.js';
import { h, flash, showError, table, badge, time, langName, select } from './ui.js';

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

/** Why the default display is what it is, in words. */
function defaultWords(e) {
  return t('cap.as.default.' + e.default_as, { sev: t('cap.sev.' + e.severity), urg: t('cap.urg.' + e.urgency) });
}

/** The polled feeds' states ("last fetched … / error: …"). */
function feedsBox(feeds) {
  if (!feeds || !feeds.length) return null;
  return h('section', { class: 'panel', id: 'cap-feeds' }, h('h2', {}, t('cap.feeds')),
    h('p', { class: 'hint' }, t('cap.feedshint')),
    h('ul', { class: 'plain' }, feeds.map((f) => h('li', { 'data-feed': f.url, 'data-feed-ok': f.error ? 'false' : 'true' },
      h('strong', {}, f.url), ' ',
      f.error ? badge('bad', t('cap.feed.failing')) : f.last_ok ? badge('ok', t('cap.feed.ok')) : badge('off', t('cap.feed.waiting')),
      h('div', { class: 'muted' }, f.last_fetched ? t('cap.feed.fetched', { at: time(f.last_fetched, TZ).textContent, n: f.taken }) : t('cap.feed.never')),
      f.error ? h('div', { class: 'feed-error', role: 'note' },
        t('cap.feed.error', { why: t('cap.feed.err.' + f.error.code) === 'cap.feed.err.' + f.error.code ? f.error.code : t('cap.feed.err.' + f.error.code) }),
        h('div', { class: 'muted' }, f.error.message),
        f.last_ok ? h('div', { class: 'muted' }, t('cap.feed.lastok', { at: time(f.last_ok, TZ).textContent })) : null) : null))));
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
  const feedBox = h('div');
  ctx.el.append(feedBox, listBox);

  async function decide(e, what, as) {
    const gates = e.matched.map((m) => m.gate).join(', ');
    if (what === 'confirm' && !confirm(t(as === 'ticker' ? 'cap.reallyticker' : 'cap.really', { gates }))) return;
    try {
      await api('POST', '/api/v1/cap/' + encodeURIComponent(e.id) + '/' + what + (what === 'confirm' ? '?as=' + as : ''));
      flash('ok', t(what === 'confirm' ? (as === 'ticker' ? 'cap.shownticker' : 'cap.shown') : 'cap.dismissed'));
      await draw();
    } catch (err) { showError(err); }
  }

  async function draw() {
    const { entries, feeds } = await api('GET', '/api/v1/cap');
    feedBox.replaceChildren(...[feedsBox(feeds)].filter(Boolean));
    const now = Date.now();
    listBox.replaceChildren(h('h2', {}, t('cap.list')), entries.length ? table(
      [t('cap.received_at'), t('cap.message'), t('cap.gates'), t('al.expires'), t('al.state'), ''],
      entries.map((e) => {
        const expired = new Date(e.expires_at).getTime() <= now;
        const stateText = expired && e.state === 'pending' ? t('al.expired')
          : e.state === 'shown' && e.shown_as === 'ticker' ? t('cap.state.shown_ticker') : t('cap.state.' + e.state);
        const as = select([['alert', t('cap.as.alert')], ['ticker', t('cap.as.ticker')]], e.default_as, { 'data-as': e.id, 'aria-label': t('cap.as') });
        const actions = e.state === 'pending' && !expired && ctx.can('write') ? h('div', {},
          h('label', { class: 'hint' }, t('cap.as'), ' ', as),
          h('p', { class: 'hint', 'data-default': e.default_as }, defaultWords(e)),
          h('div', { class: 'actions' },
            h('button', { type: 'button', class: 'small danger solid', 'data-action': 'confirm', onclick: () => decide(e, 'confirm', as.value) }, t('cap.confirm')),
            h('button', { type: 'button', class: 'small secondary', 'data-action': 'dismiss', onclick: () => decide(e, 'dismiss') }, t('cap.dismiss')))) : null;
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
