// Admin pages: "Quản lý màn hình" (register, edit, disable, delete with a confirmation, a new
// enrolment code; gates with their display names), "Mã truy cập API" (create with a label and
// role, rename, revoke) and "Nhật ký thao tác" (the operator action log, newest first, who and
// what in words). Every form marks the field an API error names.
import { t } from './i18n.js';
import { api } from './api.js';
import { h, field, select, showError, showOk, table, badge, time, linkId, clearMarks, langName } from './ui.js';

const TZ = 'Asia/Ho_Chi_Minh';
const enc = encodeURIComponent;

/** The form that registers a screen, or edits `s` (its id then fixed). */
function screenForm(s, gates, onDone, onCancel) {
  const id = h('input', { required: true, name: 'id', value: s ? s.id : '', readOnly: !!s, maxlength: '63', spellcheck: 'false', 'aria-describedby': 'screen-id-rule' });
  const name = h('input', { required: true, name: 'name', value: s ? s.name : '', maxlength: '200' });
  const gate = h('input', { required: true, name: 'gate', value: s ? s.gate : '', list: 'gate-list', maxlength: '100' });
  const tz = h('input', { required: true, name: 'timezone', value: s ? s.timezone : TZ });
  const langs = h('input', { name: 'languages', value: s ? s.languages.join(', ') : 'vi, en, zh-Hans' });
  const out = h('div', { role: 'status' });
  if (!s) linkId(name, id, 63);
  const controls = { id, name, gate, timezone: tz, languages: langs };
  const form = h('form', { class: 'grid', id: s ? 'screen-edit' : 'screen-new' },
    field(t('screen.name'), name), field(t('screen.id'), id),
    h('p', { class: 'hint full', id: 'screen-id-rule' }, t('id.screenrule')),
    field(t('screen.gate'), gate),
    h('datalist', { id: 'gate-list' }, gates.map((g) => h('option', { value: g.gate }, g.name || g.gate))),
    field(t('screen.tz'), tz), field(t('screen.langs'), langs),
    h('div', { class: 'full actions' }, h('button', { type: 'submit' }, s ? t('save') : t('screen.register')),
      s ? h('button', { type: 'button', class: 'secondary', onclick: onCancel }, t('mg.cancel')) : null),
    h('div', { class: 'full' }, out));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const body = { name: name.value.trim(), gate: gate.value.trim(), timezone: tz.value.trim(),
      languages: langs.value.split(',').map((x) => x.trim()).filter(Boolean) };
    try {
      if (s) {
        await api('PATCH', '/api/v1/screens/' + enc(s.id), body);
        showOk(t('mg.saved', { name: body.name }), form);
      } else {
        const r = await api('POST', '/api/v1/screens', Object.assign({ id: id.value.trim() }, body));
        showOk(t('mg.saved', { name: body.name }), form);
        out.replaceChildren(h('p', { class: 'notice' }, t('screen.codeonce')),
          h('pre', { class: 'cmd' }, 'gatecast-player enroll --controller ' + location.origin + ' --screen ' + r.id + ' --code ' + r.enrollment_code));
      }
      await onDone();
    } catch (e) { showError(e, form, controls); }
  });
  return form;
}

export async function manageScreensPage(ctx) {
  const listBox = h('div');
  const gatesBox = h('div');
  const editBox = h('div', { 'aria-live': 'polite' });
  const codeBox = h('div', { 'aria-live': 'polite' });
  let gates = [];
  async function load() {
    const [screens, gs] = await Promise.all([api('GET', '/api/v1/screens'), api('GET', '/api/v1/gates')]);
    gates = gs;
    const gateName = (g) => (gates.find((x) => x.gate === g) || {}).name || g;
    const act = (label, cls, fn) => h('button', { type: 'button', class: 'small ' + cls, onclick: fn }, label);
    const rows = screens.map((s) => h('tr', { 'data-screen': s.id },
      h('td', {}, h('strong', {}, s.name), h('div', { class: 'muted' }, h('code', {}, s.id))),
      h('td', {}, gateName(s.gate)),
      h('td', {}, s.languages.map((l) => langName(l)).join(', ')),
      h('td', { 'data-field': 'state' }, s.disabled ? badge('bad', t('screen.disabled')) : badge('ok', t('mg.active')),
        ' ', s.device_key ? badge('ok', t('mg.yes')) : badge('warn', t('screen.notenrolled'))),
      h('td', {}, h('div', { class: 'actions' },
        act(t('mg.edit'), 'secondary', () => {
          editBox.replaceChildren(h('div', { class: 'panel' }, h('h2', {}, t('mg.editing', { name: s.name })),
            screenForm(s, gates, async () => { editBox.replaceChildren(); await load(); }, () => editBox.replaceChildren())));
          editBox.querySelector('input[name="name"]').focus();
        }),
        s.disabled
          ? act(t('mg.enable'), 'secondary', () => post(s, 'enable', 'mg.enabled'))
          : act(t('mg.disable'), 'secondary', () => { if (confirm(t('mg.confirmdisable', { name: s.name }))) post(s, 'disable', 'mg.disabled'); }),
        act(t('mg.code'), 'secondary', async () => {
          if (!confirm(t('mg.confirmcode', { name: s.name }))) return;
          try {
            const r = await api('POST', '/api/v1/screens/' + enc(s.id) + '/enrollment-code', {});
            codeBox.replaceChildren(h('div', { class: 'panel once' }, h('p', { class: 'notice' }, t('mg.newcode', { name: s.name })),
              h('pre', { class: 'cmd' }, 'gatecast-player enroll --controller ' + location.origin + ' --screen ' + r.id + ' --code ' + r.enrollment_code)));
          } catch (e) { showError(e); }
        }),
        act(t('mg.delete'), 'danger', async () => {
          if (!confirm(t('mg.confirmdelete', { name: s.name }))) return;
          try { await api('DELETE', '/api/v1/screens/' + enc(s.id)); showOk(t('mg.deleted', { name: s.name })); await load(); }
          catch (e) { showError(e); }
        })))));
    listBox.replaceChildren(h('h2', {}, t('mg.screens')), screens.length
      ? table([t('screen.name'), t('screen.gate'), t('field.languages'), t('mg.state'), ''], rows)
      : h('p', {}, t('mg.none')));
    gatesBox.replaceChildren(h('h2', {}, t('mg.gates')), gates.length ? table([t('mg.gate'), t('mg.gatename'), { label: t('mg.count'), num: true }],
      gates.map((g) => {
        const input = h('input', { name: 'gate-name', value: g.name || g.gate, maxlength: '200', 'aria-label': t('mg.gatename') + ': ' + g.gate });
        const form = h('form', { class: 'actions', 'data-gate': g.gate }, input, h('button', { type: 'submit', class: 'small' }, t('save')));
        form.addEventListener('submit', async (ev) => {
          ev.preventDefault();
          try { await api('PUT', '/api/v1/gates/' + enc(g.gate), { name: input.value.trim() }); showOk(t('mg.gatesaved', { name: input.value.trim() }), form); await load(); }
          catch (e) { showError(e, form, { name: input }); }
        });
        return h('tr', {}, h('td', {}, g.gate), h('td', {}, form), h('td', { class: 'num' }, String(g.screens.length)));
      })) : h('p', {}, t('mg.none')));
  }
  async function post(s, what, ok) {
    try { await api('POST', '/api/v1/screens/' + enc(s.id) + '/' + what, {}); showOk(t(ok, { name: s.name })); await load(); }
    catch (e) { showError(e); }
  }
  await load();
  ctx.el.append(h('h1', { id: 'page-title' }, t('nav.manage')), h('p', { class: 'hint' }, t('mg.hint')), codeBox, editBox, listBox,
    h('details', { class: 'panel', id: 'register' }, h('summary', {}, t('screen.register')), screenForm(null, gates, load)), gatesBox);
  return null;
}

// ---------------------------------------------------------------- tokens

export async function tokensPage(ctx) {
  const out = h('div', { 'aria-live': 'polite' });
  const list = h('div');
  const label = h('input', { required: true, name: 'label', maxlength: '200', 'aria-describedby': 'token-label-rule' });
  const role = select(['operator', 'auditor', 'admin'].map((r) => [r, t('role.' + r)]), 'auditor', { name: 'role' });
  const form = h('form', { class: 'grid', id: 'token-new' },
    field(t('tok.label'), label), h('p', { class: 'hint full', id: 'token-label-rule' }, t('tok.labelrule')),
    field(t('tok.role'), role),
    h('div', { class: 'full actions' }, h('button', { type: 'submit' }, t('tok.create'))));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      const r = await api('POST', '/api/v1/tokens', { role: role.value, label: label.value.trim() });
      out.replaceChildren(h('div', { class: 'panel once' }, h('p', { class: 'notice' }, t('tok.once')),
        h('p', {}, h('code', { class: 'secret', 'data-field': 'token' }, r.token))));
      showOk(t('tok.created', { label: r.label }), form);
      form.reset();
      await load();
    } catch (e) { showError(e, form, { label, role }); }
  });
  async function load() {
    const tokens = await api('GET', '/api/v1/tokens');
    tokens.sort((a, b) => String(b.created_at).localeCompare(String(a.created_at)));
    list.replaceChildren(h('h2', {}, t('tok.list')), tokens.length ? table(
      [t('tok.label'), t('tok.role'), t('tok.id'), t('tok.owner'), t('tok.created_at'), t('tok.state'), ''],
      tokens.map((k) => {
        const name = k.label || t('tok.nolabel');
        const rename = h('button', { type: 'button', class: 'small secondary', hidden: k.revoked, onclick: () => {
          const input = h('input', { name: 'label', value: k.label || '', maxlength: '200', 'aria-label': t('tok.label') });
          const f = h('form', { class: 'actions' }, input, h('button', { type: 'submit', class: 'small' }, t('save')));
          f.addEventListener('submit', async (ev) => {
            ev.preventDefault();
            try { await api('PATCH', '/api/v1/tokens/' + enc(k.id), { label: input.value.trim() }); showOk(t('tok.renamed', { label: input.value.trim() }), f); await load(); }
            catch (e) { showError(e, f, { label: input }); }
          });
          cell.replaceChildren(f);
          input.focus();
        } }, t('tok.rename'));
        const revoke = h('button', { type: 'button', class: 'small danger', hidden: k.revoked, onclick: async () => {
          if (!confirm(t('tok.confirmrevoke', { label: name }))) return;
          try { await api('DELETE', '/api/v1/tokens/' + enc(k.id)); showOk(t('tok.revokedok', { label: name })); await load(); }
          catch (e) { showError(e); }
        } }, t('tok.revoke'));
        const cell = h('td', {}, k.label ? h('strong', {}, k.label) : h('span', { class: 'muted' }, name));
        return h('tr', { 'data-token': k.id }, cell, h('td', {}, t('role.' + k.role)), h('td', {}, h('code', {}, k.id)),
          h('td', {}, k.owner || '—'), h('td', {}, time(k.created_at, TZ)),
          h('td', { 'data-field': 'state' }, k.revoked ? badge('off', t('tok.revoked')) : badge('ok', t('tok.live'))),
          h('td', {}, h('div', { class: 'actions' }, rename, revoke)));
      })) : h('p', {}, t('tok.none')));
  }
  ctx.el.append(h('h1', { id: 'page-title' }, t('nav.tokens')), h('p', { class: 'hint' }, t('tok.hint')),
    h('div', { class: 'panel' }, h('h2', {}, t('tok.new')), form), out, list);
  clearMarks(form);
  await load();
  return null;
}

// ---------------------------------------------------------------- action log

/** Who acted, in words: a user's login, "API token …", "screen …". */
function who(actor, labels) {
  const a = String(actor || '');
  const m = /^(.+) \(token ([0-9a-f]+)\)$/.exec(a);
  if (m) return m[1] + ' · ' + t('act.token', { id: labels.get(m[2]) || m[2] });
  if (/^[0-9a-f]{16}$/.test(a)) return t('act.token', { id: labels.get(a) || a });
  if (a.startsWith('screen:')) return t('act.screen', { id: a.slice(7) });
  if (a === 'cli') return t('act.system');
  return a;
}

/** The details of an action that people read: names and ids, not the whole JSON. */
function detail(a, names) {
  const d = a.detail && typeof a.detail === 'object' ? a.detail : {};
  const parts = [];
  for (const k of ['name', 'title', 'label', 'id', 'gate', 'login', 'role']) {
    const v = d[k];
    if (typeof v !== 'string' || !v) continue;
    const w = k === 'role' ? t('role.' + v) : k === 'id' && names.has(v) ? names.get(v) : v;
    if (!parts.includes(w)) parts.push(w);
  }
  if (typeof d.sha256 === 'string') {
    const w = names.get(d.sha256) || d.sha256.slice(0, 12) + '…';
    if (!parts.includes(w)) parts.push(w);
  }
  if (a.versions && a.versions.length) parts.push(a.versions.map((v) => v.screen + ' · ' + t('screen.version', { v: v.version })).join(', '));
  return parts.join(' · ') || '—';
}

export async function actionsPage(ctx) {
  const [actions, media, screens, playlists] = await Promise.all([api('GET', '/api/v1/actions'),
    api('GET', '/api/v1/media').catch(() => []), api('GET', '/api/v1/screens').catch(() => []),
    api('GET', '/api/v1/playlists').catch(() => [])]);
  let labels = new Map();
  if (ctx.can('admin')) {
    try { labels = new Map((await api('GET', '/api/v1/tokens')).filter((k) => k.label).map((k) => [k.id, k.label])); }
    catch (e) { console.warn('tokens', e.status); }
  }
  const names = new Map([...media.map((m) => [m.sha256, m.title]), ...playlists.map((p) => [p.id, p.name]), ...screens.map((s) => [s.id, s.name])]);
  const kinds = [...new Set(actions.map((a) => a.action))].sort();
  const actionName = (x) => { const k = 'act.' + x; const s = t(k); return s === k ? t('act.other') : s; };
  const filter = select([['', t('all')], ...kinds.map((k) => [k, actionName(k)])], '', { name: 'action', id: 'action-filter' });
  const box = h('div');
  const PAGE = 100;
  let shown = PAGE;
  function draw() {
    const rows = actions.filter((a) => !filter.value || a.action === filter.value).sort((a, b) => b.seq - a.seq);
    const more = rows.length > shown ? h('button', { type: 'button', class: 'secondary', onclick: () => { shown += PAGE; draw(); } }, t('act.more')) : null;
    box.replaceChildren(rows.length ? table([t('act.at'), t('act.who'), t('act.what'), t('act.detail')], rows.slice(0, shown).map((a) =>
      h('tr', { 'data-seq': a.seq, 'data-action': a.action },
        h('td', {}, time(a.at, TZ)), h('td', {}, who(a.actor, labels), a.role ? h('div', { class: 'muted' }, t('role.' + a.role)) : null),
        h('td', {}, actionName(a.action)), h('td', {}, detail(a, names))))) : h('p', {}, t('act.none')),more || '');
  }
  filter.addEventListener('change', () => { shown = PAGE; draw(); });
  ctx.el.append(h('h1', { id: 'page-title' }, t('nav.actions')), h('p', { class: 'hint' }, t('act.hint')),
    h('div', { class: 'filters' }, field(t('act.filter'), filter)), box);
  draw();
  return null;
}
