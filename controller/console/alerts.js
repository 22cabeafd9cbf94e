// Emergency alerts: a form that starts from a ready-made template (GET /api/v1/alert-templates),
// asks only for the languages of the chosen screens, targets nothing until the operator
// chooses, ends at any chosen time at the gate, checks everything before the confirm dialog,
// and shows in that dialog every language exactly as the screens will draw it (the player's
// renderer, POST /api/v1/alerts/preview). Below: the alerts sent, and for admins the templates.
import { t, lang } from './i18n.js';
import { api, postForBlob } from './api.js';
import { h, field, flash, showError, errorText, table, badge, time, langName, gateNamer } from './ui.js';
import { dmy, addDays, DAYS, dowOf } from './resolve.js';
import { hhmmInput, HHMM } from './flow.js';

const TZ = 'Asia/Ho_Chi_Minh';
const TEMPLATE_LANGS = ['vi', 'en', 'zh-Hans', 'hmn'];

/** Offset (ms) of `tz` from UTC at instant `ms`. */
function offsetAt(tz, ms) {
  const p = Object.fromEntries(new Intl.DateTimeFormat('en-GB', { timeZone: tz, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' })
    .formatToParts(new Date(ms)).map((x) => [x.type, x.value]));
  return Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute, +p.second) - Math.floor(ms / 1000) * 1000;
}

/** The instant of wall-clock `day` (YYYY-MM-DD) `hm` (HH:MM) in `tz`. */
export function zonedInstant(day, hm, tz) {
  const [y, m, d] = day.split('-').map(Number);
  const [hh, mm] = hm.split(':').map(Number);
  const wall = Date.UTC(y, m - 1, d, hh, mm);
  let ms = wall - offsetAt(tz, wall);
  ms = wall - offsetAt(tz, ms);
  return new Date(ms);
}

/** Wall-clock day and HH:MM in `tz` at instant `d`. */
function wallOf(d, tz) {
  const p = Object.fromEntries(new Intl.DateTimeFormat('en-GB', { timeZone: tz, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' })
    .formatToParts(d).map((x) => [x.type, x.value]));
  return { day: p.year + '-' + p.month + '-' + p.day, hm: p.hour + ':' + p.minute };
}

function targetsText(tg, screens, gateName) {
  return [...(tg.gates || []).map(gateName), ...(tg.screens || []).map((id) => (screens.find((s) => s.id === id) || { name: id }).name)].join(', ');
}

export async function alertsPage(ctx) {
  ctx.el.append(h('h1', { id: 'page-title' }, t('nav.alerts')));
  const [screens, media, templates, gates] = await Promise.all([api('GET', '/api/v1/screens'), api('GET', '/api/v1/media'),
    api('GET', '/api/v1/alert-templates').catch(() => []), api('GET', '/api/v1/gates').catch(() => [])]);
  const gateName = gateNamer(gates);
  const cols = h('div', { class: 'cols' });
  const listBox = h('div');
  ctx.el.append(cols);

  async function drawList() {
    const alerts = await api('GET', '/api/v1/alerts');
    const now = Date.now();
    const tz = (screens[0] && screens[0].timezone) || TZ;
    listBox.replaceChildren(h('h2', {}, t('al.list')), alerts.length ? table([t('al.text'), t('al.targets'), t('al.expires'), t('al.state'), ''],
      alerts.map((a) => {
        const live = !a.cancelled && new Date(a.expires_at).getTime() > now;
        return h('tr', { 'data-alert': a.id },
          h('td', {}, a.text.map((x) => h('div', { lang: x.lang }, h('strong', {}, langName(x.lang) + ': '), x.text))),
          h('td', {}, targetsText(a.targets, screens, gateName)),
          h('td', {}, time(a.expires_at, tz)),
          h('td', {}, a.cancelled ? badge('off', t('al.cancelled')) : live ? badge('bad', t('al.live')) : badge('off', t('al.expired'))),
          h('td', {}, live && ctx.can('write') ? h('button', { type: 'button', class: 'small danger', onclick: async () => {
            if (!confirm(t('al.confirmcancel'))) return;
            try { await api('DELETE', '/api/v1/alerts/' + encodeURIComponent(a.id)); flash('ok', t('al.cancelled')); await drawList(); }
            catch (e) { showError(e); }
          } }, t('al.cancel')) : null));
      })) : h('p', {}, t('al.none')));
  }

  if (ctx.can('write')) cols.append(alertForm(ctx, screens, media, templates, drawList, gateName));
  else cols.append(h('div'));
  cols.append(listBox);
  if (ctx.can('admin')) ctx.el.append(templateEditor(templates));
  await drawList();
  return null;
}

function alertForm(ctx, screens, media, templates, drawList, gateName) {
  const gates = [...new Set(screens.map((s) => s.gate))].sort();
  const texts = new Map(); // lang → typed text, kept while the target changes
  const tplSel = h('select', { name: 'template', id: 'al-template' }, h('option', { value: '' }, t('al.tpl.none')),
    templates.map((x) => h('option', { value: x.id }, lang() === 'en' ? x.name_en : x.name_vi)));
  const gateChecks = gates.map((g) => h('input', { type: 'checkbox', name: 'al-gate', value: g }));
  const screenChecks = screens.map((s) => h('input', { type: 'checkbox', name: 'al-screen', value: s.id }));
  const targetBox = h('fieldset', { id: 'al-targets' }, h('legend', {}, t('al.where')),
    h('div', { class: 'checks' }, gateChecks.map((c) => h('label', {}, c, h('strong', {}, gateName(c.value))))),
    h('details', {}, h('summary', {}, t('al.orscreens')),
      h('div', { class: 'checks' }, screenChecks.map((c, i) => h('label', {}, c, screens[i].name + ' (' + gateName(screens[i].gate) + ')')))));
  const chosen = () => {
    const gs = gateChecks.filter((c) => c.checked).map((c) => c.value);
    const ss = screenChecks.filter((c) => c.checked).map((c) => c.value);
    return { targets: { gates: gs, screens: ss.filter((id) => !gs.includes((screens.find((s) => s.id === id) || {}).gate)) },
      screens: screens.filter((s) => gs.includes(s.gate) || ss.includes(s.id)) };
  };
  /** The languages shown on the chosen screens, in their rotation order (Vietnamese first). */
  const neededLangs = () => {
    const out = [];
    for (const s of chosen().screens) for (const l of s.languages || []) if (!out.includes(l)) out.push(l);
    return out.sort((a, b) => (a === 'vi' ? -1 : b === 'vi' ? 1 : 0));
  };
  const textBox = h('div', { id: 'al-texts' });
  function drawTexts() {
    const langs = neededLangs();
    if (!langs.length) { textBox.replaceChildren(h('p', { class: 'hint' }, t('al.chooseFirst'))); drawPreview(); return; }
    textBox.replaceChildren(...langs.map((l) => {
      const ta = h('textarea', { name: 'text-' + l, lang: l, maxlength: '4096', 'data-lang': l, rows: '3' }, texts.get(l) || '');
      ta.addEventListener('input', () => { texts.set(l, ta.value); ta.removeAttribute('aria-invalid'); drawPreview(); });
      return h('div', { class: 'lang-row' }, h('label', {}, langName(l) + ' (' + l + ')', ta));
    }));
    drawPreview();
  }
  for (const c of [...gateChecks, ...screenChecks]) c.addEventListener('change', () => { targetBox.removeAttribute('aria-invalid'); drawTexts(); });
  tplSel.addEventListener('change', () => {
    const tp = templates.find((x) => x.id === tplSel.value);
    if (!tp) return;
    for (const x of tp.text) texts.set(x.lang, x.text);
    setEnd(tp.hours);
    drawTexts();
  });

  // The end: any day and time at the gate; quick choices fill it in.
  const gateTz = () => { const s = chosen().screens[0] || screens[0]; return (s && s.timezone) || TZ; };
  // Days as dd/mm/yyyy whatever the browser's locale: the next 60 days at the gate.
  const endDay = h('select', { name: 'end-day', 'aria-label': t('al.endday') });
  const fillDays = () => {
    const first = wallOf(new Date(), gateTz()).day;
    const keep = endDay.value;
    endDay.replaceChildren(...Array.from({ length: 60 }, (_, i) => { const d = addDays(first, i); return h('option', { value: d }, t('day.' + DAYS[dowOf(d)]) + ' ' + dmy(d)); }));
    if (keep) endDay.value = keep;
  };
  fillDays();
  const endTime = hhmmInput('end-time', t('al.endtime'));
  const endText = h('span', { class: 'muted', id: 'al-endtext' });
  function setEnd(hours) {
    const w = wallOf(new Date(Date.now() + hours * 3600e3), gateTz());
    endDay.value = w.day; endTime.value = w.hm; drawEnd();
  }
  function endAt() { return endDay.value && HHMM.test(endTime.value) ? zonedInstant(endDay.value, endTime.value, gateTz()) : null; }
  function drawEnd() {
    const e = endAt();
    if (!e) { endText.textContent = ''; return; }
    const mins = Math.round((e.getTime() - Date.now()) / 60000);
    endText.textContent = mins <= 0 ? t('al.endpast') : t('al.endin', { d: dmy(endDay.value), hm: endTime.value, h: Math.floor(mins / 60), m: mins % 60 });
  }
  for (const x of [endDay, endTime]) for (const ev of ['change', 'input']) x.addEventListener(ev, () => { x.removeAttribute('aria-invalid'); drawEnd(); });
  const quick = [1, 2, 4, 8, 24].map((n) => h('button', { type: 'button', class: 'small secondary', onclick: () => setEnd(n) }, t('al.hours', { n })));
  const mediaSel = h('select', { name: 'media' }, h('option', { value: '' }, t('al.nomedia')), media.map((m) => h('option', { value: m.sha256 }, m.title + ' (' + langName(m.lang) + ')')));

  // The live preview: each language as the screen draws it, redrawn after typing stops.
  const preview = h('div', { class: 'alert-preview', 'aria-label': t('al.preview') });
  let urls = [], timer = null, seqNo = 0;
  function drawPreview() { clearTimeout(timer); timer = setTimeout(() => renderInto(preview), 400); }
  const filled = () => neededLangs().map((l) => ({ lang: l, text: (texts.get(l) || '').trim() })).filter((x) => x.text);
  async function renderInto(box) {
    // Only the live preview's newest draw counts; the confirm dialog draws its own copy.
    const r = filled(), seq = box === preview ? ++seqNo : 0;
    if (!r.length) { box.replaceChildren(h('p', {}, t('al.previewempty'))); return; }
    try {
      const m = media.find((x) => x.sha256 === mediaSel.value && x.kind === 'slide');
      const extra = m ? { media: m.sha256 } : {};
      const blobs = await Promise.all(r.map((x) => postForBlob('/api/v1/alerts/preview?width=960&height=540&lang=' + encodeURIComponent(x.lang), { text: [x], ...extra })));
      if (box === preview && seq !== seqNo) return;
      const made = blobs.map((b) => URL.createObjectURL(b));
      if (box === preview) { urls.forEach((u) => URL.revokeObjectURL(u)); urls = made; }
      box.replaceChildren(...made.map((u, i) => h('figure', { 'data-lang': r[i].lang }, h('img', { src: u, alt: r[i].text, lang: r[i].lang }), h('figcaption', {}, langName(r[i].lang)))));
    } catch (e) { box.replaceChildren(h('p', { class: 'error-text' }, errorText(e))); }
  }
  mediaSel.addEventListener('change', drawPreview);

  const problems = h('ul', { class: 'error-text', role: 'alert', id: 'al-problems' });
  /** Everything wrong with the form, each with the control to mark. */
  function check() {
    const out = [];
    const c = chosen();
    if (!c.screens.length) out.push([t('al.need.where'), targetBox]);
    for (const l of neededLangs()) {
      const v = (texts.get(l) || '').trim();
      const ta = textBox.querySelector(`textarea[data-lang="${l}"]`);
      if (!v) out.push([t('al.need.text', { lang: langName(l) }), ta]);
      else if (/\[[^\]]*\]/.test(v)) out.push([t('al.need.fill', { lang: langName(l), part: /\[[^\]]*\]/.exec(v)[0] }), ta]);
    }
    const e = endAt();
    if (!e) out.push([t('al.need.end'), endDay]);
    else if (e.getTime() <= Date.now() + 60000) out.push([t('al.endpast'), endTime]);
    return out;
  }

  const dialog = h('dialog', { id: 'al-confirm', 'aria-labelledby': 'al-confirm-title' });
  const form = h('form', { class: 'panel', id: 'alert-form', novalidate: true }, h('h2', {}, t('al.new')),
    h('p', { class: 'hint' }, t('al.hint')),
    h('div', { class: 'grid' }, field(t('al.tpl'), tplSel)),
    targetBox,
    h('h3', {}, t('al.texts')), textBox,
    h('fieldset', {}, h('legend', {}, t('al.end')), h('div', { class: 'actions' }, endDay, endTime, endText), h('div', { class: 'actions' }, quick)),
    h('div', { class: 'grid' }, field(t('al.media'), mediaSel)),
    h('h3', {}, t('al.preview')), preview,
    problems,
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'danger solid' }, t('al.send'))),
    dialog);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    for (const x of form.querySelectorAll('[aria-invalid]')) x.removeAttribute('aria-invalid');
    const bad = check();
    problems.replaceChildren(...bad.map(([m]) => h('li', {}, m)));
    if (bad.length) { for (const [, el] of bad) if (el) el.setAttribute('aria-invalid', 'true'); (bad[0][1] || form).focus(); return; }
    const c = chosen();
    const body = { targets: c.targets, priority: 100, text: filled(), expires_at: endAt().toISOString() };
    if (mediaSel.value) body.media = mediaSel.value;
    const shots = h('div', { class: 'alert-preview confirm' }, h('p', { class: 'muted' }, t('loading')));
    const send = h('button', { type: 'button', class: 'danger solid', id: 'al-confirm-send' }, t('al.send'));
    const back = h('button', { type: 'button', class: 'secondary', onclick: () => dialog.close() }, t('al.back'));
    dialog.replaceChildren(h('h2', { id: 'al-confirm-title' }, t('al.really')),
      h('p', {}, t('al.confirmwhere', { n: c.screens.length, list: targetsText(c.targets, screens, gateName) })),
      h('p', {}, t('al.confirmend', { d: dmy(endDay.value), hm: endTime.value })),
      shots, h('div', { class: 'actions' }, send, back));
    send.addEventListener('click', async () => {
      send.disabled = true;
      try {
        await api('POST', '/api/v1/alerts', body);
        dialog.close();
        flash('ok', t('al.sent'));
        texts.clear(); tplSel.value = ''; drawTexts();
        await drawList();
      } catch (e) { send.disabled = false; dialog.close(); problems.replaceChildren(h('li', {}, errorText(e))); }
    });
    dialog.showModal();
    await renderInto(shots);
  });
  drawTexts();
  setEnd(2);
  return form;
}

/** The admin's editor of the templates: pick one (or a new one), edit names, hours and texts. */
function templateEditor(templates) {
  const box = h('div');
  const pick = h('select', { name: 'tpl-edit' }, templates.map((x) => h('option', { value: x.id }, x.name_vi)), h('option', { value: '' }, t('al.tpl.new')));
  function draw() {
    const tp = templates.find((x) => x.id === pick.value) || { id: '', name_vi: '', name_en: '', hours: 4, text: [] };
    const id = h('input', { name: 'id', value: tp.id, readOnly: !!tp.id, pattern: '[a-z0-9][a-z0-9-]{0,63}' });
    const nv = h('input', { name: 'name_vi', value: tp.name_vi });
    const ne = h('input', { name: 'name_en', value: tp.name_en });
    const hours = h('input', { name: 'hours', type: 'number', min: '1', max: '720', value: String(tp.hours), class: 'secs' });
    const tas = TEMPLATE_LANGS.map((l) => h('textarea', { 'data-lang': l, lang: l, rows: '2' }, (tp.text.find((x) => x.lang === l) || {}).text || ''));
    const f = h('form', { id: 'tpl-form' },
      h('div', { class: 'grid' }, field(t('al.tpl.id'), id), field(t('al.tpl.namevi'), nv), field(t('al.tpl.nameen'), ne), field(t('al.tpl.hours'), hours)),
      tas.map((ta) => h('div', { class: 'lang-row' }, h('label', {}, langName(ta.dataset.lang) + ' (' + ta.dataset.lang + ')', ta))),
      h('p', { class: 'hint' }, t('al.tpl.hint')),
      h('div', { class: 'actions' }, h('button', { type: 'submit' }, t('save'))));
    f.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const body = { name_vi: nv.value.trim(), name_en: ne.value.trim(), hours: Number(hours.value),
        text: tas.filter((x) => x.value.trim()).map((x) => ({ lang: x.dataset.lang, text: x.value.trim() })) };
      try {
        const saved = await api('PUT', '/api/v1/alert-templates/' + encodeURIComponent(id.value.trim()), body);
        const i = templates.findIndex((x) => x.id === saved.id);
        if (i >= 0) templates[i] = saved; else templates.push(saved);
        flash('ok', t('saved', { name: saved.name_vi }));
      } catch (e) { showError(e); }
    });
    box.replaceChildren(f);
  }
  pick.addEventListener('change', draw);
  draw();
  return h('details', { class: 'panel', id: 'tpl-editor' }, h('summary', {}, h('strong', {}, t('al.tpl.edit'))), field(t('al.tpl'), pick), box);
}
