// gatecast console: sign-in, role-aware navigation, hash routing, page lifecycle.
import { t, lang, setLang } from './i18n.js';
import { api, token, setToken, clearToken, detectRole } from './api.js';
import { h, field, flash, errorText } from './ui.js';
import { screensPage } from './screens.js';
import { mediaPage, playlistsPage } from './content.js';
import { schedulePage } from './schedule.js';
import { publishPage, alertsPage } from './publish.js';
import { logPage, compliancePage, exportPage } from './audit.js';
import { approvalsPage } from './approvals.js';
import { reportPage } from './report.js';

const WRITE = ['admin', 'operator'];
const ALL = ['admin', 'operator', 'auditor'];
const PAGES = [
  { id: 'screens', label: 'nav.screens', roles: ALL, render: screensPage },
  { id: 'media', label: 'nav.media', roles: ALL, render: mediaPage },
  { id: 'playlists', label: 'nav.playlists', roles: ALL, render: playlistsPage },
  { id: 'schedule', label: 'nav.schedule', roles: ALL, render: schedulePage },
  { id: 'publish', label: 'nav.publish', roles: WRITE, render: publishPage },
  { id: 'alerts', label: 'nav.alerts', roles: ALL, render: alertsPage },
  { id: 'approvals', label: 'nav.approvals', roles: ALL, render: approvalsPage },
  { id: 'log', label: 'nav.log', roles: ALL, render: logPage },
  { id: 'compliance', label: 'nav.compliance', roles: ALL, render: compliancePage },
  { id: 'export', label: 'nav.export', roles: ALL, render: exportPage },
  { id: 'report', label: 'nav.report', roles: ALL, render: reportPage },
];

const session = { role: null };
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
  document.getElementById('who').textContent = session.role ? t('role.' + session.role) : '';
  const nav = document.getElementById('nav');
  nav.setAttribute('aria-label', t('nav.label'));
  nav.hidden = !session.role;
  nav.replaceChildren(...PAGES.filter((p) => p.roles.includes(session.role))
    .map((p) => h('a', { href: '#/' + p.id, 'data-page': p.id }, t(p.label))));
}

function signInPage() {
  const main = document.getElementById('main');
  const input = h('input', { type: 'password', autocomplete: 'off', required: true, spellcheck: 'false', name: 'token' });
  const err = h('p', { class: 'error-text', role: 'alert' });
  const form = h('form', { class: 'panel signin', id: 'signin' },
    h('h1', {}, t('signin.title')),
    h('p', { class: 'hint' }, t('signin.hint')),
    field(t('signin.token'), input),
    err,
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, t('signin.button'))));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    err.textContent = '';
    setToken(input.value.trim());
    try {
      session.role = await detectRole();
      renderChrome();
      if (!location.hash || location.hash === '#/' || location.hash === '#') location.hash = '#/screens';
      else route();
    } catch (e) {
      clearToken();
      session.role = null;
      err.textContent = errorText(e);
    }
  });
  main.replaceChildren(form);
  input.focus();
}

async function route() {
  stopCurrent();
  if (!session.role) { signInPage(); return; }
  const id = (location.hash.replace(/^#\/?/, '').split('?')[0]) || 'screens';
  let page = PAGES.find((p) => p.id === id && p.roles.includes(session.role));
  if (!page) page = PAGES[0];
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.dataset.page === page.id) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const main = document.getElementById('main');
  const container = h('section', { 'aria-labelledby': 'page-title', 'data-page': page.id });
  main.replaceChildren(container);
  const ctx = { can, el: container };
  try {
    current = (await page.render(ctx)) || null;
  } catch (e) {
    if (e.status === 401) { signOut(); flash('error', t('err.401')); return; }
    container.append(h('p', { class: 'error-text', role: 'alert' }, errorText(e)));
  }
}

function signOut() {
  stopCurrent();
  clearToken();
  session.role = null;
  renderChrome();
  signInPage();
}

async function boot() {
  document.getElementById('lang-switch').addEventListener('click', () => {
    setLang(lang() === 'vi' ? 'en' : 'vi');
    renderChrome();
    route();
  });
  document.getElementById('sign-out').addEventListener('click', () => { location.hash = ''; signOut(); });
  window.addEventListener('hashchange', route);
  if (token()) {
    try { session.role = await detectRole(); } catch (_) { clearToken(); session.role = null; }
  }
  renderChrome();
  route();
}

boot();
