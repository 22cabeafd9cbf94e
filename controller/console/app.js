// gatecast console: sign-in, role-aware navigation, hash routing, page lifecycle.
import { t, lang, setLang } from './i18n.js';
import { token, setToken, clearToken, detectRole, signIn, currentSession, signOutSession } from './api.js';
import { h, field, flash, errorText, clearFlash } from './ui.js';
import { manageScreensPage, tokensPage, actionsPage } from './admin.js';
import { screensPage } from './screens.js';
import { mediaPage, playlistsPage } from './content.js';
import { schedulePage } from './schedule.js';
import { publishPage } from './publish.js';
import { alertsPage } from './alerts.js';
import { logPage, compliancePage, exportPage } from './audit.js';
import { approvalsPage } from './approvals.js';
import { capPage } from './cap.js';
import { tickerPage, layoutsPage } from './ticker.js';
import { reportPage } from './report.js';
import { usersPage, passwordPage } from './users.js';
import { flowPage } from './flow.js';

const WRITE = ['admin', 'operator'];
const ALL = ['admin', 'operator', 'auditor'];
// `group`: the menu's section (its heading is `nav.g.<group>`), in this order.
const PAGES = [
  { id: 'screens', label: 'nav.screens', roles: ALL, group: 'content', render: screensPage },
  { id: 'media', label: 'nav.media', roles: ALL, group: 'content', render: mediaPage },
  { id: 'playlists', label: 'nav.playlists', roles: ALL, group: 'content', render: playlistsPage },
  { id: 'schedule', label: 'nav.schedule', roles: ALL, group: 'content', render: schedulePage },
  { id: 'layouts', label: 'nav.layouts', roles: ALL, group: 'content', render: layoutsPage },
  { id: 'publish', label: 'nav.publish', roles: WRITE, group: 'content', render: publishPage },
  { id: 'approvals', label: 'nav.approvals', roles: ALL, group: 'content', render: approvalsPage },
  { id: 'flow', label: 'flow.title', roles: WRITE, nav: false, render: flowPage },
  { id: 'alerts', label: 'nav.alerts', roles: ALL, group: 'urgent', render: alertsPage },
  { id: 'ticker', label: 'nav.ticker', roles: ALL, group: 'urgent', render: tickerPage },
  { id: 'cap', label: 'nav.cap', roles: ALL, group: 'urgent', render: capPage },
  { id: 'log', label: 'nav.log', roles: ALL, group: 'audit', render: logPage },
  { id: 'compliance', label: 'nav.compliance', roles: ALL, group: 'audit', render: compliancePage },
  { id: 'report', label: 'nav.report', roles: ALL, group: 'audit', render: reportPage },
  { id: 'export', label: 'nav.export', roles: ALL, group: 'audit', render: exportPage },
  { id: 'manage', label: 'nav.manage', roles: ['admin'], group: 'admin', render: manageScreensPage },
  { id: 'users', label: 'nav.users', roles: ['admin'], group: 'admin', render: usersPage },
  { id: 'tokens', label: 'nav.tokens', roles: ['admin'], group: 'admin', render: tokensPage },
  { id: 'actions', label: 'nav.actions', roles: ALL, group: 'admin', render: actionsPage },
  { id: 'password', label: 'nav.password', roles: ALL, user: true, group: 'admin', render: passwordPage },
];
const GROUPS = ['content', 'urgent', 'audit', 'admin'];

// role: of the token or the signed-in user; login/name: only for a named account's session.
const session = { role: null, login: null, name: null };

/** The pages this session may open. */
function pages() { return PAGES.filter((p) => p.roles.includes(session.role) && (!p.user || session.login)); }
let current = null; // { stop() } of the page on screen

/** What the signed-in role may do. */
export function can(what) {
  const r = session.role;
  if (what === 'write') return r === 'admin' || r === 'operator';
  if (what === 'admin') return r === 'admin';
  return !!r;
}

function stopCurrent() {
  if (current && current.stop) current.stop();
  current = null;
}

function renderChrome() {
  document.documentElement.lang = lang();
  document.title = 'gatecast — ' + t('app.subtitle');
  document.getElementById('skip-link').textContent = t('skip');
  document.getElementById('lang-switch').textContent = lang() === 'vi' ? 'English' : 'Tiếng Việt';
  document.getElementById('lang-switch').setAttribute('aria-label', t('lang.switch'));
  const out = document.getElementById('sign-out');
  out.textContent = t('signout');
  out.hidden = !session.role;
  const role = session.role ? t('role.' + session.role) : '';
  document.getElementById('who').textContent = session.login ? (session.name || session.login) + ' · ' + role : role;
  const nav = document.getElementById('nav');
  nav.setAttribute('aria-label', t('nav.label'));
  nav.hidden = !session.role;
  document.body.classList.toggle('with-nav', !!session.role);
  const shown = pages().filter((p) => p.nav !== false);
  nav.replaceChildren(...GROUPS.map((g) => [g, shown.filter((p) => p.group === g)]).filter(([, ps]) => ps.length)
    .map(([g, ps]) => h('div', { class: 'nav-group', role: 'group', 'aria-labelledby': 'nav-g-' + g },
      h('span', { class: 'nav-head', id: 'nav-g-' + g }, t('nav.g.' + g)),
      ps.map((p) => h('a', { href: '#/' + p.id, 'data-page': p.id }, t(p.label))))));
  const menu = document.getElementById('menu-button');
  menu.textContent = t('menu.open');
  menu.setAttribute('aria-label', t('menu.label'));
  menu.hidden = !session.role;
}

/** The collapsing menu (under ~900 px): the button opens and closes it; choosing a page or
 * pressing Escape closes it. */
function setMenu(open) {
  const menu = document.getElementById('menu-button');
  menu.setAttribute('aria-expanded', open ? 'true' : 'false');
  document.body.classList.toggle('menu-open', open);
}

/** What is typed in the page's forms, by field name (or position), so a language switch
 * redraws the page in the other language without losing it. */
function fieldKey(el) {
  // A form editing a record is told apart by its fixed id, so a new page state that opens
  // another record (or a new one) never takes what was typed for this one.
  const f = el.form;
  const fixed = f && f.querySelector('input[name="id"]');
  return (f ? f.id + ':' + (fixed && fixed.readOnly ? fixed.value : '') : '') + '|' + (el.name || '');
}

function formValues() {
  const vals = [];
  for (const el of document.querySelectorAll('#main input, #main textarea, #main select')) {
    if (el.type === 'file' || el.type === 'password' || el.readOnly) { vals.push(null); continue; }
    vals.push({ key: fieldKey(el), value: el.type === 'checkbox' || el.type === 'radio' ? el.checked : el.value });
  }
  const open = [...document.querySelectorAll('#main details')].map((d) => d.open);
  return { vals, open };
}

function restoreValues(saved) {
  const els = [...document.querySelectorAll('#main input, #main textarea, #main select')];
  els.forEach((el, i) => {
    const v = saved.vals[i];
    if (!v || v.key !== fieldKey(el)) return;
    if (el.type === 'checkbox' || el.type === 'radio') { if (el.checked !== v.value) { el.checked = v.value; el.dispatchEvent(new Event('change')); } }
    else if (el.value !== v.value && !el.readOnly) { el.value = v.value; el.dispatchEvent(new Event('input')); el.dispatchEvent(new Event('change')); }
  });
  [...document.querySelectorAll('#main details')].forEach((d, i) => { if (saved.open[i] !== undefined) d.open = saved.open[i]; });
}

function signedIn() {
  renderChrome();
  if (!location.hash || location.hash === '#/' || location.hash === '#') location.hash = '#/screens';
  else route();
}

/** Why a sign-in failed, in words: wrong credentials, locked out (with the wait), code needed. */
function signInError(e) {
  if (e.status === 429) {
    const m = /(\d+)\s*s\b/.exec(e.message || '');
    return t('signin.locked', { s: e.retryAfter || (m ? m[1] : '?') });
  }
  if (e.code === 'code_required') return t('signin.codeneeded');
  if (e.status === 401) return t('signin.wrong');
  return errorText(e);
}

function signInPage() {
  const main = document.getElementById('main');
  const login = h('input', { type: 'text', autocomplete: 'username', required: true, spellcheck: 'false', name: 'login' });
  const password = h('input', { type: 'password', autocomplete: 'current-password', required: true, name: 'password' });
  const code = h('input', { type: 'text', inputmode: 'numeric', autocomplete: 'one-time-code', pattern: '[0-9]{6}', maxlength: '6', name: 'code', spellcheck: 'false' });
  const codeRow = h('div', { class: 'code-row', hidden: true },
    h('div', { class: 'grid' }, field(t('signin.code'), code)), h('p', { class: 'hint' }, t('signin.codehint')));
  const err = h('p', { class: 'error-text', role: 'alert' });
  const tokenBtn = h('button', { type: 'button', class: 'linkish', id: 'use-token' }, t('signin.usetoken'));
  const form = h('form', { class: 'panel signin', id: 'signin' },
    h('h1', {}, t('signin.title')),
    h('div', { class: 'grid' }, field(t('signin.login'), login), field(t('signin.password'), password)),
    codeRow,
    err,
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, t('signin.button'))),
    h('p', { class: 'alt' }, tokenBtn));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    err.textContent = '';
    clearToken();
    try {
      const me = await signIn(login.value.trim(), password.value, codeRow.hidden ? '' : code.value.trim());
      Object.assign(session, { role: me.role, login: me.login, name: me.name });
      signedIn();
    } catch (e) {
      Object.assign(session, { role: null, login: null, name: null });
      if (e.code === 'code_required') { codeRow.hidden = false; code.focus(); }
      else if (!codeRow.hidden) code.value = '';
      err.textContent = signInError(e);
      console.warn('sign-in refused:', e.status, e.code);
    }
  });
  tokenBtn.addEventListener('click', tokenSignInPage);
  main.replaceChildren(form);
  login.focus();
}

/** The secondary sign-in with an API token, for scripts and older setups. */
function tokenSignInPage() {
  const main = document.getElementById('main');
  const input = h('input', { type: 'password', autocomplete: 'off', required: true, spellcheck: 'false', name: 'token' });
  const err = h('p', { class: 'error-text', role: 'alert' });
  const back = h('button', { type: 'button', class: 'linkish' }, t('signin.usepassword'));
  const form = h('form', { class: 'panel signin', id: 'signin-token' },
    h('h1', {}, t('signin.tokentitle')),
    h('p', { class: 'hint' }, t('signin.hint')),
    field(t('signin.token'), input),
    err,
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, t('signin.button'))),
    h('p', { class: 'alt' }, back));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    err.textContent = '';
    setToken(input.value.trim());
    try {
      Object.assign(session, { role: await detectRole(), login: null, name: null });
      signedIn();
    } catch (e) {
      clearToken();
      session.role = null;
      err.textContent = errorText(e);
    }
  });
  back.addEventListener('click', signInPage);
  main.replaceChildren(form);
  input.focus();
}

async function route() {
  stopCurrent();
  clearFlash();
  setMenu(false);
  if (!session.role) { signInPage(); return; }
  const id = (location.hash.replace(/^#\/?/, '').split('?')[0]) || 'screens';
  let page = pages().find((p) => p.id === id);
  if (!page) page = PAGES[0];
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.dataset.page === page.id) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const main = document.getElementById('main');
  const container = h('section', { 'aria-labelledby': 'page-title', 'data-page': page.id });
  main.replaceChildren(container);
  const ctx = { can, el: container, session: Object.assign({}, session), signOut: signOutAndShow };
  try {
    current = (await page.render(ctx)) || null;
  } catch (e) {
    if (e.status === 401) { signOut(); flash('error', t('err.401')); return; }
    container.append(h('p', { class: 'error-text', role: 'alert' }, errorText(e)));
  }
  container.dataset.ready = '1'; // the page has drawn what it loaded (tests wait on this)
}

function signOut() {
  stopCurrent();
  clearToken();
  Object.assign(session, { role: null, login: null, name: null });
  document.getElementById('flash').replaceChildren();
  renderChrome();
  signInPage();
}

/** "Đăng xuất": ends the cookie session on the server too, then shows the sign-in page. */
async function signOutAndShow() {
  const named = !!session.login;
  stopCurrent();
  if (named) await signOutSession();
  history.replaceState(null, '', location.pathname);
  signOut();
}

async function boot() {
  document.getElementById('lang-switch').addEventListener('click', async () => {
    const saved = formValues();
    setLang(lang() === 'vi' ? 'en' : 'vi');
    renderChrome();
    if (!session.role) { signInPage(); return; }
    await route();
    restoreValues(saved);
  });
  const menu = document.getElementById('menu-button');
  menu.addEventListener('click', () => setMenu(menu.getAttribute('aria-expanded') !== 'true'));
  document.addEventListener('keydown', (ev) => { if (ev.key === 'Escape' && document.body.classList.contains('menu-open')) { setMenu(false); menu.focus(); } });
  document.getElementById('sign-out').addEventListener('click', signOutAndShow);
  window.addEventListener('hashchange', route);
  if (token()) {
    try { session.role = await detectRole(); } catch (_) { clearToken(); session.role = null; }
  } else {
    // Another tab of this browser signed in: its cookie carries this tab too.
    try {
      const me = await currentSession();
      if (me) Object.assign(session, { role: me.role, login: me.login, name: me.name });
    } catch (e) { console.warn('session check failed:', e.message); }
  }
  renderChrome();
  route();
}

boot();
