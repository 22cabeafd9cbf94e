// Ticker texts (the gate's languages, validity window, priority, list and remove) and the
// screens' layouts (template picker with a live preview of the regions), docs/protocol.md §20.
import { t } from './i18n.js';
import { api } from './api.js';
import { h, field, select, flash, showError, table, badge, time, langSelect, langName, gateNamer } from './ui.js';
import { targetPicker } from './publish.js';

const SVG = 'http://www.w3.org/2000/svg';
function s(tag, attrs, text) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text) el.textContent = text;
  return el;
}

/** The layout's regions as labelled boxes on a screen of its orientation (SVG, no styles inline). */
export function layoutPreview(layout) {
  const portrait = layout.orientation === 'portrait';
  const [w, h2] = portrait ? [90, 160] : [160, 90];
  const svg = s('svg', { viewBox: `0 0 ${w} ${h2}`, class: 'layout-preview ' + (portrait ? 'portrait' : 'landscape'), role: 'img',
    'aria-label': t('lay.previewof', { name: t('lay.t.' + layout.template) }) });
  svg.append(s('rect', { x: 0, y: 0, width: w, height: h2, class: 'lay-screen' }));
  for (const r of layout.regions) {
    const [x, y, rw, rh] = [r.x * w, r.y * h2, r.w * w, r.h * h2];
    svg.append(s('rect', { x: x + 0.6, y: y + 0.6, width: Math.max(rw - 1.2, 0.5), height: Math.max(rh - 1.2, 0.5), rx: 1.5, class: 'lay-region lay-' + r.name + (r.media && r.media.length ? ' lay-image' : ''), 'data-region': r.name }));
    const size = Math.max(3, Math.min(9, rh * 0.45, rw / 6));
    if (r.media && r.media.length) {
      // The side's first image (or the logo) fitted in its box, as the screen shows it.
      svg.append(s('image', { x: x + 0.6, y: y + 0.6, width: Math.max(rw - 1.2, 0.5), height: Math.max(rh - 1.2, 0.5), href: '/media/' + r.media[0], preserveAspectRatio: 'xMidYMid meet', 'data-image': r.name }));
    } else {
      svg.append(s('text', { x: x + rw / 2, y: y + rh / 2, 'font-size': size.toFixed(1), 'text-anchor': 'middle', 'dominant-baseline': 'central', class: 'lay-label' }, t('lay.r.' + r.name)));
    }
  }
  return svg;
}

/** Share of the screen the logo takes in `main`'s top-left corner (as the controller adds it). */
const LOGO_SIZE = [0.12, 0.1];

/** `layout` with the side images and the logo the operator picked (the screen's preview). */
function withImages(layout, side, every, logo) {
  const regions = layout.regions.map((r) => (r.name === 'side' ? { ...r, media: side, every_secs: every } : r));
  const main = layout.regions.find((r) => r.name === 'main');
  if (logo && main) regions.push({ name: 'logo', x: main.x, y: main.y, w: Math.min(LOGO_SIZE[0], main.w), h: Math.min(LOGO_SIZE[1], main.h), media: [logo] });
  return { ...layout, regions };
}

/** The side images (checkboxes with thumbnails), their time each, and the logo (one image). */
function imagePicker(slides, onChange) {
  const boxes = slides.map((m) => {
    const cb = h('input', { type: 'checkbox', value: m.sha256, 'data-side': m.sha256, onchange: onChange });
    return { cb, row: h('label', { class: 'pick-image' }, cb, h('img', { class: 'media-thumb', src: '/media/' + m.sha256, alt: '' }), h('span', {}, m.title || m.sha256.slice(0, 12))) };
  });
  const every = h('input', { type: 'number', min: '3', max: '3600', value: '10', class: 'secs', id: 'side-every', onchange: onChange });
  const logo = select([['', t('lay.nologo')], ...slides.map((m) => [m.sha256, m.title || m.sha256.slice(0, 12)])], '', { id: 'logo-pick' });
  logo.addEventListener('change', onChange);
  const sideBox = h('fieldset', { class: 'pick-images', id: 'side-pick' }, h('legend', {}, t('lay.sideimages')),
    slides.length ? h('div', { class: 'pick-list' }, ...boxes.map((b) => b.row)) : h('p', { class: 'hint' }, t('lay.noslides')),
    field(t('lay.every'), every));
  return {
    side: () => boxes.filter((b) => b.cb.checked).map((b) => b.cb.value),
    every: () => Number(every.value || 10),
    logo: () => logo.value,
    /** Shows what a screen has saved. */
    set(side, secs, logoSha) {
      for (const b of boxes) b.cb.checked = side.includes(b.cb.value);
      every.value = String(secs || 10);
      logo.value = slides.some((m) => m.sha256 === logoSha) ? logoSha : '';
    },
    sideBox,
    logoField: field(t('lay.logo'), logo),
  };
}

export async function layoutsPage(ctx) {
  ctx.el.append(h('h1', { id: 'page-title' }, t('nav.layouts')));
  const [screens, templates, media, gates] = await Promise.all([api('GET', '/api/v1/screens'), api('GET', '/api/v1/layouts'),
    api('GET', '/api/v1/media').catch(() => []), api('GET', '/api/v1/gates').catch(() => [])]);
  const gateName = gateNamer(gates);
  const slides = media.filter((m) => m.kind === 'slide' && !m.deleted);
  ctx.el.append(h('p', { class: 'hint' }, t('lay.hint')));
  if (!screens.length) { ctx.el.append(h('p', {}, t('lay.noscreens'))); return null; }
  const screenSel = select(screens.map((x) => [x.id, x.name + ' — ' + gateName(x.gate)]), screens[0].id, {});
  const orient = select([['landscape', t('lay.landscape')], ['portrait', t('lay.portrait')]], 'landscape', {});
  const speed = h('input', { type: 'number', min: '10', max: '2000', value: '120', class: 'secs' });
  let chosen = templates[1] ? templates[1].template : templates[0].template;
  const cards = h('div', { class: 'layout-cards', role: 'radiogroup', 'aria-label': t('lay.template') });
  const big = h('div', { class: 'layout-big' });
  const pick = imagePicker(slides, () => draw());
  function current() {
    const base = templates.find((x) => x.template === chosen);
    return withImages({ ...base, orientation: orient.value }, pick.side(), pick.every(), pick.logo());
  }
  function draw() {
    cards.replaceChildren(...templates.map((tp) => {
      const on = tp.template === chosen;
      return h('button', { type: 'button', class: 'layout-card' + (on ? ' chosen' : ''), role: 'radio', 'aria-checked': on ? 'true' : 'false', 'data-template': tp.template,
        onclick: () => { chosen = tp.template; orient.value = tp.orientation; draw(); } },
      layoutPreview(tp), h('span', {}, t('lay.t.' + tp.template)));
    }));
    big.replaceChildren(h('h3', {}, t('lay.preview')), layoutPreview(current()));
    pick.sideBox.hidden = !templates.find((x) => x.template === chosen).regions.some((r) => r.name === 'side');
  }
  orient.addEventListener('change', draw);
  // The chosen screen's saved layout fills the form: saving changes it, never blindly replaces it.
  async function loadSaved() {
    try {
      const l = await api('GET', '/api/v1/screens/' + encodeURIComponent(screenSel.value) + '/layout');
      if (templates.some((x) => x.template === l.template)) chosen = l.template;
      orient.value = l.orientation || 'landscape';
      speed.value = String(l.ticker_speed || 120);
      const region = (n) => (l.regions || []).find((r) => r.name === n) || {};
      pick.set(region('side').media || [], region('side').every_secs, (region('logo').media || [])[0]);
      draw();
    } catch (e) { showError(e); }
  }
  screenSel.addEventListener('change', loadSaved);
  const form = h('form', { class: 'panel', id: 'layout-form' },
    h('div', { class: 'grid' }, field(t('lay.screen'), screenSel), field(t('lay.orientation'), orient), field(t('lay.speed'), speed)),
    h('h3', {}, t('lay.template')), cards, big, pick.sideBox, h('div', { class: 'grid' }, pick.logoField),
    h('div', { class: 'actions' }, ctx.can('write') ? h('button', { type: 'submit' }, t('lay.save')) : null));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      await api('PUT', '/api/v1/screens/' + encodeURIComponent(screenSel.value) + '/layout',
        { template: chosen, orientation: orient.value, ticker_speed: Number(speed.value || 120),
          ...(pick.sideBox.hidden ? {} : { side_media: pick.side(), side_every_secs: pick.every() }),
          logo_media: pick.logo() ? [pick.logo()] : [] });
      flash('ok', t('lay.saved'));
    } catch (e) { showError(e); }
  });
  draw();
  ctx.el.append(form);
  await loadSaved();
  return null;
}

export async function tickerPage(ctx) {
  ctx.el.append(h('h1', { id: 'page-title' }, t('nav.ticker')));
  const [screens, gates] = await Promise.all([api('GET', '/api/v1/screens'), api('GET', '/api/v1/gates')]);
  const cols = h('div', { class: 'cols' });
  const listBox = h('div');
  ctx.el.append(cols);
  const tz = (screens[0] && screens[0].timezone) || 'Asia/Ho_Chi_Minh';

  async function drawList() {
    const items = await api('GET', '/api/v1/ticker');
    const now = Date.now();
    listBox.replaceChildren(h('h2', {}, t('tk.list')), items.length ? table([t('al.id'), t('tk.text'), t('al.targets'), t('tk.window'), t('sch.priority'), t('al.state'), ''],
      items.map((x) => {
        const started = !x.starts_at || new Date(x.starts_at).getTime() <= now;
        const live = !x.cancelled && new Date(x.expires_at).getTime() > now;
        const state = x.cancelled ? badge('off', t('tk.removed')) : !live ? badge('off', t('al.expired')) : x.awaiting_approval ? badge('warn', t('tk.awaiting')) : started ? badge('ok', t('tk.live')) : badge('warn', t('tk.waiting'));
        return h('tr', { 'data-ticker': x.id }, h('td', {}, h('code', {}, x.id)),
          h('td', {}, x.text.map((y) => h('div', { lang: y.lang }, h('strong', {}, langName(y.lang) + ': '), y.text))),
          h('td', {}, [...(x.targets.gates || []), ...(x.targets.screens || [])].join(', ')),
          h('td', {}, x.starts_at ? time(x.starts_at, tz) : t('tk.now'), ' → ', time(x.expires_at, tz)),
          h('td', {}, String(x.priority)), h('td', {}, state),
          h('td', {}, live && ctx.can('write') ? h('button', { type: 'button', class: 'small danger', onclick: async () => {
            if (!confirm(t('tk.confirmremove'))) return;
            try { await api('DELETE', '/api/v1/ticker/' + encodeURIComponent(x.id)); flash('ok', t('tk.removed')); await drawList(); }
            catch (e) { showError(e); }
          } }, t('tk.remove')) : null));
      })) : h('p', {}, t('tk.none')));
  }

  if (ctx.can('write')) {
    const texts = h('div', { id: 'ticker-texts' });
    const addRow = (lang, text) => {
      const l = langSelect(lang, { 'aria-label': t('media.lang') });
      const inp = h('input', { type: 'text', 'aria-label': t('tk.text'), maxlength: '1000', value: text || '', lang });
      l.addEventListener('change', () => inp.setAttribute('lang', l.value));
      const row = h('div', { class: 'lang-row' }, l, inp, h('button', { type: 'button', class: 'small danger', 'aria-label': t('remove'), onclick: () => row.remove() }, '×'));
      texts.append(row);
    };
    const rows = () => [...texts.querySelectorAll('.lang-row')].map((r) => ({ lang: r.querySelector('select').value, text: r.querySelector('input').value.trim() })).filter((x) => x.text);
    const picker = targetPicker(screens, gates, 'tk');
    const langsNote = h('p', { class: 'hint', id: 'ticker-langs' });
    // The languages of the chosen gates' screens, in the order the screens rotate them.
    function gateLangs() {
      const out = [];
      for (const sc of picker.chosen()) for (const l of sc.languages || []) if (!out.includes(l)) out.push(l);
      return out.length ? out : ['vi', 'en'];
    }
    function syncLangs() {
      const want = gateLangs();
      langsNote.textContent = t('tk.gatelangs', { langs: want.map(langName).join(', ') });
      const kept = new Map(rows().map((x) => [x.lang, x.text]));
      texts.replaceChildren();
      for (const l of want) addRow(l, kept.get(l) || '');
    }
    picker.onChange(syncLangs);
    const starts = h('input', { type: 'datetime-local', 'aria-label': t('tk.starts') });
    const hours = select([...[1, 2, 4, 8, 24, 72].map((n) => [String(n), t('al.hours', { n })]), ['168', t('tk.days', { n: 7 })]], '8', {});
    const prio = h('input', { type: 'number', value: '10', class: 'secs' });
    const form = h('form', { class: 'panel', id: 'ticker-form' }, h('h2', {}, t('tk.new')),
      h('p', { class: 'hint' }, t('tk.hint')), picker.el, langsNote, texts,
      h('div', { class: 'actions' }, h('button', { type: 'button', class: 'secondary', onclick: () => addRow('hmn', '') }, t('al.addlang'))),
      h('div', { class: 'grid' }, field(t('tk.starts'), starts), field(t('tk.expiresin'), hours), field(t('sch.priority'), prio)),
      h('div', { class: 'actions' }, h('button', { type: 'submit' }, t('tk.send'))));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const from = starts.value ? new Date(starts.value) : new Date();
      const body = { targets: picker.targets(), priority: Number(prio.value || 0), text: rows(),
        expires_at: new Date(from.getTime() + Number(hours.value) * 3600e3).toISOString() };
      if (starts.value) body.starts_at = from.toISOString();
      try { await api('POST', '/api/v1/ticker', body); flash('ok', t('tk.sent')); await drawList(); }
      catch (e) { showError(e); }
    });
    syncLangs();
    cols.append(form);
  } else cols.append(h('div'));
  cols.append(listBox);
  await drawList();
  return null;
}
