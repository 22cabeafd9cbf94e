// "Chờ duyệt": media and ticker texts waiting for approval, who has approved each, and the gatecast-approve
// commands an approver runs on their own computer (docs/protocol.md §19). The console never
// signs: approver keys never reach the controller.
import { t } from './i18n.js';
import { api } from './api.js';
import { h, badge, table, langName, shortSha } from './ui.js';

function command(text) {
  return h('pre', { class: 'cmd' }, h('code', {}, text));
}

export async function approvalsPage(ctx) {
  ctx.el.append(h('h1', { id: 'page-title' }, t('nav.approvals')));
  const p = await api('GET', '/api/v1/approvals/pending');
  if (p.policy_version == null) {
    ctx.el.append(h('p', { class: 'notice', role: 'note' }, t('ap.nopolicy')));
    return null;
  }
  ctx.el.append(h('p', {}, t('ap.policy', { v: p.policy_version, m: p.media_threshold, a: p.alert_threshold })),
    h('p', { class: 'hint' }, t('ap.approvers'), ' ', p.approvers.map((a) => a.name + ' (' + a.key_id + ')').join(', ')));
  const texts = p.texts || [];
  if (!p.media.length && !texts.length) {
    ctx.el.append(h('p', { 'data-empty': 'true' }, badge('ok', t('ap.none'))));
  } else if (p.media.length) {
    const rows = p.media.map((m) => h('tr', { 'data-sha': m.sha256 },
      h('td', {}, m.kind === 'slide' ? h('img', { class: 'thumb', src: '/media/' + m.sha256, alt: '' }) : h('div', { class: 'thumb icon', 'aria-hidden': 'true' }, '▶')),
      h('td', {}, h('div', {}, m.title), h('code', { title: m.sha256 }, shortSha(m.sha256))),
      h('td', {}, t('kind.' + m.kind) + ' · ' + langName(m.lang)),
      h('td', { 'data-field': 'approved' }, m.approved_by.length
        ? h('ul', {}, m.approved_by.map((a) => h('li', {}, a.name)))
        : h('span', { class: 'muted' }, t('ap.nobody'))),
      h('td', { class: 'num' }, badge('warn', m.approved_by.length + ' / ' + m.needed))));
    ctx.el.append(table([t('media.thumb'), t('media.title'), t('media.kind'), t('ap.by'), { label: t('ap.count'), num: true }], rows));
  }
  const base = location.origin;
  if (texts.length) {
    // Ticker texts waiting (docs/protocol.md §20): the exact text, and the command that signs
    // exactly it; once approved the controller sends it by itself.
    const rows = texts.map((x) => h('tr', { 'data-text-id': x.id, 'data-lang': x.lang },
      h('td', {}, h('div', { class: 'ticker-text', lang: x.lang }, x.text), h('code', { title: x.sha256 }, shortSha(x.sha256))),
      h('td', {}, t('ap.ticker_item', { id: x.id }) + ' · ' + langName(x.lang)),
      h('td', { 'data-field': 'approved' }, x.approved_by.length
        ? h('ul', {}, x.approved_by.map((a) => h('li', {}, a.name)))
        : h('span', { class: 'muted' }, t('ap.nobody'))),
      h('td', { class: 'num' }, badge('warn', x.approved_by.length + ' / ' + x.needed))));
    ctx.el.append(h('h2', {}, t('ap.texts')), h('p', { class: 'hint' }, t('ap.texts_hint')),
      table([t('ap.text'), t('ap.where'), t('ap.by'), { label: t('ap.count'), num: true }], rows),
      h('p', {}, t('ap.text_step')),
      command('gatecast-approve sign --key ~/.gatecast/approver.key --controller ' + base + ' --token <token> '
        + texts.map((x) => "--alert-text '" + x.lang + '=' + x.text.replace(/'/g, "'\\''") + "'").join(' ')));
  }
  ctx.el.append(h('h2', {}, t('ap.howto')),
    h('p', {}, t('ap.step1')), command('gatecast-approve review --controller ' + base + ' --token <token> --out chờ-duyệt'),
    h('p', {}, t('ap.step2')), command('gatecast-approve sign --key ~/.gatecast/approver.key --controller ' + base + ' --token <token> --reviewed chờ-duyệt'
      + (p.media.length === 1 ? ' ' + p.media[0].sha256 : '')),
    h('p', { class: 'hint' }, t('ap.trust')));
  return null;
}
