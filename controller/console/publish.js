// Publish (what will go out per screen, confirm, then each screen's received/activated
// version from its status). Alerts are in alerts.js.
import { t } from './i18n.js';
import { api } from './api.js';
import { h, field, select, flash, showError, errorText, table, badge } from './ui.js';


export function targetPicker(screens, gates, prefix) {
  const mode = select([['all', t('pub.all')], ['gates', t('pub.gates')], ['screens', t('pub.screens')]], 'all', { name: prefix + '-mode' });
  const gateChecks = gates.map((g) => h('input', { type: 'checkbox', value: g.gate, name: prefix + '-gate' }));
  const screenChecks = screens.map((s) => h('input', { type: 'checkbox', value: s.id, name: prefix + '-screen' }));
  const gBox = h('fieldset', { hidden: true }, h('legend', {}, t('pub.gates')), h('div', { class: 'checks' }, gateChecks.map((c) => h('label', {}, c, c.value))));
  const sBox = h('fieldset', { hidden: true }, h('legend', {}, t('pub.screens')), h('div', { class: 'checks' }, screenChecks.map((c, i) => h('label', {}, c, screens[i].name + ' (' + c.value + ')'))));
  const sync = () => { gBox.hidden = mode.value !== 'gates'; sBox.hidden = mode.value !== 'screens'; };
  mode.addEventListener('change', sync);
  return {
    el: h('div', {}, h('div', { class: 'grid' }, field(t('pub.target'), mode)), gBox, sBox),
    onChange(fn) { for (const c of [mode, ...gateChecks, ...screenChecks]) c.addEventListener('change', fn); },
    body() {
      if (mode.value === 'gates') return { gates: gateChecks.filter((c) => c.checked).map((c) => c.value) };
      if (mode.value === 'screens') return { screens: screenChecks.filter((c) => c.checked).map((c) => c.value) };
      return { all: true };
    },
    chosen() {
      const b = this.body();
      if (b.all) return screens;
      if (b.gates) return screens.filter((s) => b.gates.includes(s.gate));
      return screens.filter((s) => b.screens.includes(s.id));
    },
    targets() {
      const b = this.body();
      if (b.all) return { gates: gates.map((g) => g.gate), screens: [] };
      return { gates: b.gates || [], screens: b.screens || [] };
    },
  };
}

export async function publishPage(ctx) {
  ctx.el.append(h('h1', { id: 'page-title' }, t('nav.publish')));
  const [screens, gates, playlists] = await Promise.all([
    api('GET', '/api/v1/screens'), api('GET', '/api/v1/gates'), api('GET', '/api/v1/playlists')]);
  const plName = (id) => (playlists.find((p) => p.id === id) || { name: id }).name;
  const picker = targetPicker(screens, gates, 'pub');
  const planBox = h('div', { 'aria-live': 'polite' });
  const progressBox = h('div', { 'aria-live': 'polite' });
  const confirmBtn = h('button', { type: 'button', id: 'publish-confirm', class: 'danger solid', disabled: true }, t('pub.confirm'));
  ctx.el.append(h('div', { class: 'panel' }, h('p', { class: 'hint' }, t('pub.hint')), picker.el, h('h2', {}, t('pub.plan')), planBox,
    h('div', { class: 'actions' }, confirmBtn)), progressBox);

  // The plan comes from the controller's dry run (nothing is signed or stored): per screen the
  // version it would get and what changes. Only the newest answer is shown.
  let planSeq = 0;
  function changesOf(p) {
    const items = [];
    const titles = (list) => list.map((m) => m.title || m.sha256.slice(0, 12) + '…').join(', ');
    if (p.renews_expiry) items.push(t('pub.renew'));
    if (p.added_media.length) items.push(t('pub.added', { list: titles(p.added_media) }));
    if (p.removed_media.length) items.push(t('pub.removed', { list: titles(p.removed_media) }));
    if (p.playlists_changed.length) items.push(t('pub.plchanged', { list: p.playlists_changed.map(plName).join(', ') }));
    if (p.schedule_changed) items.push(t('pub.schchanged'));
    if (p.settings_changed) items.push(t('pub.setchanged'));
    return items;
  }
  async function drawPlan() {
    const seq = ++planSeq;
    confirmBtn.disabled = true;
    const body = picker.body();
    if ((body.gates && !body.gates.length) || (body.screens && !body.screens.length)) {
      planBox.replaceChildren(h('p', {}, t('pub.noscreens')));
      return;
    }
    planBox.replaceChildren(h('p', { class: 'muted' }, t('pub.planning')));
    let r;
    try { r = await api('POST', '/api/v1/publish', Object.assign({ dry_run: true }, body)); }
    catch (e) {
      if (seq === planSeq) planBox.replaceChildren(h('p', { class: 'error-text', role: 'alert' }, errorText(e)));
      return;
    }
    if (seq !== planSeq) return;
    const rows = r.plan.map((p) => {
      const s = screens.find((x) => x.id === p.screen) || {};
      const st = s.status || {};
      const changes = changesOf(p);
      let next;
      if (p.next_version === null) next = badge('off', t('pub.unchanged'));
      else if (p.current_version === null) next = badge('ok', t('screen.version', { v: p.next_version }) + ' · ' + t('pub.first'));
      else next = badge('ok', t('screen.version', { v: p.next_version }));
      return h('tr', { 'data-screen': p.screen, 'data-changed': String(p.changed) },
        h('td', {}, h('strong', {}, s.name || p.screen), h('div', { class: 'muted' }, s.gate || '')),
        h('td', { class: 'num' }, p.current_version ?? '—'),
        h('td', { class: 'num' }, st.manifest_version ?? '—'),
        h('td', { class: 'num' }, next),
        h('td', {}, changes.length ? h('ul', {}, changes.map((c) => h('li', {}, c))) : t('pub.nochange')));
    });
    const skipped = (r.skipped || []).map((k) => {
      const s = screens.find((x) => x.id === k.screen) || {};
      return h('li', { 'data-skipped': k.screen }, (s.name || k.screen) + ': ' + (k.reason === 'disabled' ? t('pub.skip.disabled') : t('pub.skip.nothing')));
    });
    planBox.replaceChildren(
      rows.length
        ? table([t('pub.screen'), { label: t('pub.published'), num: true }, { label: t('pub.active'), num: true }, { label: t('pub.next'), num: true }, t('pub.change')], rows)
        : h('p', {}, t('pub.noscreens')),
      skipped.length ? h('ul', { class: 'muted' }, skipped) : '');
    confirmBtn.disabled = !rows.length;
  }
  picker.onChange(drawPlan);
  await drawPlan();

  let timer = null, stopped = false;
  confirmBtn.addEventListener('click', async () => {
    if (!confirm(t('pub.really'))) return;
    confirmBtn.disabled = true;
    try {
      const r = await api('POST', '/api/v1/publish', picker.body());
      flash('ok', t('pub.done', { n: r.published.length }));
      const watch = r.published;
      const skipped = r.skipped || [];
      let first = true;
      const poll = async () => {
        try {
          const now = await api('GET', '/api/v1/screens');
          const rows = watch.map((p) => {
            const s = now.find((x) => x.id === p.screen) || {};
            const st = s.status || {};
            const active = st.manifest_version || 0, pending = st.pending_version || 0;
            let state;
            if (active >= p.version) state = badge('ok', t('pub.activated'));
            else if (pending >= p.version) state = badge('warn', t('pub.received'));
            else if (!s.online) state = badge('off', t('pub.waitingoffline'));
            else state = badge('off', t('pub.sent'));
            return h('tr', { 'data-screen': p.screen }, h('td', {}, s.name || p.screen), h('td', { class: 'num' }, t('screen.version', { v: p.version }) + (p.changed ? '' : ' (' + t('pub.unchanged') + ')')),
              h('td', { class: 'num' }, pending || '—'), h('td', { class: 'num' }, active || '—'), h('td', { 'data-state': 1 }, state));
          });
          progressBox.replaceChildren(h('div', { class: 'panel' }, h('h2', {}, t('pub.progress')),
            table([t('pub.screen'), { label: t('pub.version'), num: true }, { label: t('screen.pending'), num: true }, { label: t('screen.active'), num: true }, t('pub.state')], rows),
            skipped.length ? h('ul', {}, skipped.map((k) => h('li', {}, k.screen + ': ' + k.reason))) : null));
          if (first) { first = false; progressBox.scrollIntoView({ block: 'nearest' }); }
        } catch (e) { showError(e); }
        if (!stopped) timer = setTimeout(poll, 2000);
      };
      poll();
    } catch (e) { showError(e); confirmBtn.disabled = false; }
  });
  return { stop() { stopped = true; clearTimeout(timer); } };
}
