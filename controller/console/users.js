// "Người dùng" (admin): named accounts — list, create (the one-time password, the otpauth link
// and its QR code shown once), disable, reset password; and "Đổi mật khẩu" for the signed-in
// user (docs/operations.md "Accounts").
import { t } from './i18n.js';
import { api } from './api.js';
import { h, field, select, flash, showError, errorText, badge, table, time } from './ui.js';

const ROLES = ['operator', 'auditor', 'admin'];

/** The panel shown once after a create or a reset: password, otpauth link, QR code. */
function once(r) {
  const parts = [h('p', { class: 'notice' }, t('users.once'))];
  if (r.password) {
    parts.push(h('p', {}, t('users.password'), ' ', h('code', { class: 'secret', 'data-field': 'password' }, r.password)));
  }
  if (r.otpauth) {
    parts.push(h('p', {}, t('users.otpauth')), h('p', {}, h('a', { href: r.otpauth, 'data-field': 'otpauth' }, r.otpauth)));
    if (r.otpauth_svg) {
      parts.push(h('img', { class: 'qr', 'data-field': 'qr', alt: t('users.qralt', { login: r.login }), width: '240', height: '240',
        src: 'data:image/svg+xml;charset=utf-8,' + encodeURIComponent(r.otpauth_svg) }));
    }
  }
  return h('div', { class: 'panel once', 'data-once': r.login }, parts);
}

function createForm(out, onDone) {
  const login = h('input', { type: 'text', required: true, name: 'login', spellcheck: 'false', autocomplete: 'off', pattern: '[a-z0-9._\\-]+' });
  const name = h('input', { type: 'text', required: true, name: 'name', autocomplete: 'off' });
  const role = select(ROLES.map((r) => [r, t('role.' + r)]), 'operator', { name: 'role' });
  const totp = h('input', { type: 'checkbox', name: 'totp', checked: '' }); // default on, kept by form.reset()
  const form = h('form', { class: 'grid', id: 'user-new' },
    field(t('users.login'), login), field(t('users.name'), name), field(t('users.role'), role), field(t('users.totp'), totp),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, t('users.create'))));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      const r = await api('POST', '/api/v1/users', { login: login.value.trim(), name: name.value.trim(), role: role.value, totp: totp.checked });
      out.replaceChildren(once(r));
      flash('ok', t('users.created', { login: r.login }));
      form.reset();
      onDone();
    } catch (e) { showError(e, form, { login, name, role }); }
  });
  return h('details', { class: 'panel', open: true }, h('summary', {}, t('users.new')), form);
}

export async function usersPage(ctx) {
  const out = h('div', { 'aria-live': 'polite' });
  const list = h('div', {});
  async function load() {
    const users = await api('GET', '/api/v1/users');
    if (!users.length) { list.replaceChildren(h('p', {}, t('users.none'))); return; }
    const rows = users.map((u) => {
      const disable = h('button', { type: 'button', class: 'small secondary', hidden: u.disabled }, t('users.disable'));
      disable.addEventListener('click', async () => {
        if (!confirm(t('users.confirmdisable', { login: u.login }))) return;
        try { await api('POST', '/api/v1/users/' + encodeURIComponent(u.login) + '/disable', {}); await load(); } catch (e) { showError(e); }
      });
      const reset = h('button', { type: 'button', class: 'small secondary' }, t('users.reset'));
      reset.addEventListener('click', async () => {
        if (!confirm(t('users.confirmreset', { login: u.login }))) return;
        try { const r = await api('POST', '/api/v1/users/' + encodeURIComponent(u.login) + '/password', {}); out.replaceChildren(once(r)); } catch (e) { showError(e); }
      });
      return h('tr', { 'data-login': u.login },
        h('td', {}, h('code', {}, u.login)), h('td', {}, u.name), h('td', {}, t('role.' + u.role)),
        h('td', {}, u.totp ? badge('ok', t('users.totpon')) : badge('warn', t('users.totpoff'))),
        h('td', { 'data-field': 'state' }, u.disabled ? badge('bad', t('users.disabled')) : badge('ok', t('users.active'))),
        h('td', {}, time(u.created_at)),
        h('td', {}, h('div', { class: 'actions' }, disable, reset)));
    });
    list.replaceChildren(table([t('users.login'), t('users.name'), t('users.role'), t('users.totp'), t('users.state'), t('users.created_at'), ''], rows));
  }
  ctx.el.append(h('h1', { id: 'page-title' }, t('nav.users')), h('p', { class: 'hint' }, t('users.hint')),
    createForm(out, () => load().catch(showError)), out, list);
  await load();
  return null;
}

export async function passwordPage(ctx) {
  const old = h('input', { type: 'password', required: true, autocomplete: 'current-password', name: 'old_password' });
  const pw = h('input', { type: 'password', required: true, autocomplete: 'new-password', name: 'password', minlength: '12' });
  const again = h('input', { type: 'password', required: true, autocomplete: 'new-password', name: 'again' });
  const err = h('p', { class: 'error-text', role: 'alert' });
  const form = h('form', { class: 'grid panel', id: 'password-change' },
    field(t('pw.old'), old), field(t('pw.new'), pw), field(t('pw.again'), again), err,
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, t('pw.change'))));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    err.textContent = '';
    if (pw.value !== again.value) { err.textContent = t('pw.mismatch'); return; }
    try {
      await api('POST', '/api/v1/me/password', { old_password: old.value, password: pw.value });
      flash('ok', t('pw.changed'));
      ctx.signOut();
    } catch (e) {
      err.textContent = e.field === 'old_password' || /old_password/.test(e.message) ? t('pw.wrongold') : errorText(e);
      console.warn('password change refused:', e.status);
    }
  });
  ctx.el.append(h('h1', { id: 'page-title' }, t('nav.password')), h('p', { class: 'hint' }, t('pw.hint', { login: ctx.session.login })), form);
  return null;
}
