// "Báo cáo": the period report (GET /api/v1/reports/period) for gate days and gates; shows the
// printable HTML and downloads the PDF, the XLSX and the bundle it was computed from.
import { t } from './i18n.js';
import { api, download } from './api.js';
import { h, field, errorText, saveBlob, notAvailable, todayIn, badge, dateInput, gateNamer } from './ui.js';
import { addDays } from './audit.js';

export async function reportPage(ctx) {
  ctx.el.append(h('h1', { id: 'page-title' }, t('nav.report')));
  const [screens, gates] = await Promise.all([api('GET', '/api/v1/screens'), api('GET', '/api/v1/gates')]);
  const tz = (screens[0] && screens[0].timezone) || 'Asia/Ho_Chi_Minh';
  const today = todayIn(tz);
  const from = dateInput({ id: 'report-from', value: today.slice(0, 4) + '-01-01', required: true });
  const to = dateInput({ id: 'report-to', value: addDays(today, -1) < today.slice(0, 4) + '-01-01' ? today : addDays(today, -1), required: true });
  const names = (Array.isArray(gates) ? gates : []).map((g) => (typeof g === 'string' ? g : g.gate || g.id)).filter(Boolean);
  const gateName = gateNamer(Array.isArray(gates) ? gates.filter((g) => typeof g === 'object') : []);
  const checks = names.map((g) => h('input', { type: 'checkbox', value: g }));
  const status = h('div', { 'aria-live': 'polite' });
  const view = h('div', { class: 'panel report-view', id: 'report-view' });
  // The bundle of the report on screen: its PDF and XLSX are computed from the same evidence.
  let shown = null;
  const query = (format) => {
    const q = new URLSearchParams({ from: from.value, to: to.value, format });
    const chosen = checks.filter((c) => c.checked).map((c) => c.value);
    if (chosen.length) q.set('gates', chosen.join(','));
    if (shown && format !== 'html') q.set('bundle', shown);
    return '/api/v1/reports/period?' + q;
  };
  const fail = (e) => status.replaceChildren(e.status === 404 ? notAvailable(t('nav.report'))
    : h('p', { class: 'error-text', role: 'alert' }, errorText(e)));
  const save = async (format) => {
    status.replaceChildren(h('p', { class: 'muted' }, t('rep.working')));
    try {
      const r = await download(query(format));
      const name = r.name || ('bao-cao-' + from.value + '-' + to.value + '.' + format);
      saveBlob(r.blob, name);
      status.replaceChildren(h('p', {}, badge('ok', t('exp.saved')), ' ', name));
    } catch (e) { fail(e); }
  };
  const show = async () => {
    status.replaceChildren(h('p', { class: 'muted' }, t('rep.working')));
    try {
      const r = await download(query('html'));
      // The page's own <style> is for the printed file; the console's stylesheet styles it here
      // (its CSP allows no inline style, even in a parsed document).
      const html = (await r.blob.text()).replace(/<style[\s\S]*?<\/style>/g, '');
      const doc = new DOMParser().parseFromString(html, 'text/html');
      doc.querySelectorAll('script,style,link').forEach((n) => n.remove());
      doc.querySelectorAll('[style]').forEach((n) => n.removeAttribute('style'));
      view.replaceChildren(...Array.from(doc.body.childNodes).map((n) => document.importNode(n, true)));
      const sha = (doc.body.textContent.match(/SHA-256[^:]*: ([0-9a-f]{64})/) || [])[1];
      shown = sha || null;
      status.replaceChildren(h('p', {}, badge('ok', t('rep.ready')), ' ',
        sha ? h('button', { type: 'button', id: 'report-bundle', onclick: () => saveBundle(sha) }, t('rep.bundle')) : ''));
    } catch (e) { fail(e); }
  };
  const saveBundle = async (sha) => {
    try { const r = await download('/api/v1/reports/bundles/' + sha); saveBlob(r.blob, r.name || sha + '.json'); } catch (e) { fail(e); }
  };
  const form = h('form', { class: 'panel', id: 'report-form' },
    h('p', { class: 'muted' }, t('rep.days', { tz })),
    h('div', { class: 'filters' }, h('div', {}, ...field(t('log.from'), from)), h('div', {}, ...field(t('log.to'), to))),
    h('fieldset', {}, h('legend', {}, t('rep.gates')), h('div', { class: 'checks' }, checks.map((c, i) => h('label', {}, c, gateName(names[i]))))),
    h('div', { class: 'actions' },
      h('button', { type: 'submit', id: 'report-show' }, t('rep.show')),
      h('button', { type: 'button', id: 'report-pdf', onclick: () => save('pdf') }, t('rep.pdf')),
      h('button', { type: 'button', id: 'report-xlsx', onclick: () => save('xlsx') }, t('rep.xlsx'))),
    status);
  form.addEventListener('submit', (ev) => { ev.preventDefault(); shown = null; show(); });
  form.addEventListener('change', () => { shown = null; });
  ctx.el.append(form, view,
    h('div', { class: 'panel' }, h('h2', {}, t('rep.check')), h('p', {}, t('rep.check1')),
      h('pre', { class: 'cmd' }, 'gatecast-audit verify BUNDLE.json --controller-key KEY\ngatecast-audit report BUNDLE.json --check REPORT.json')));
  return null;
}
