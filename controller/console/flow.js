// "Đưa nội dung lên màn hình": the common task in one page. From a media item (a playlist
// wrapping it is made) or a playlist: choose gates or screens, a period (today, 1 week,
// 2 weeks, a campaign's dates, or chosen dates), optional daily hours; the preview shows per screen what it will
// play today, hour by hour, and which screens change or are skipped and why; publishing
// creates the playlist and the schedule entry and publishes to exactly the chosen screens.
import { t } from './i18n.js';
import { api } from './api.js';
import { h, flash, showError, errorText, badge, todayIn, suggestId, langName, dateInput, gateNamer } from './ui.js';
import { reaches, dayRuns, addDays, dmy, hhmm, toMin } from './resolve.js';

const TZ = 'Asia/Ho_Chi_Minh';
const PRESETS = [['today', 1], ['week1', 7], ['week2', 14], ['campaign', 0], ['custom', 0]];

/** The anniversaries of the province's campaign calendar (the anniversaries named in the plan 8/KH-UBND):
 * month-day and the words key of its name. A campaign runs the two weeks up to and
 * including its day. */
const ANNIVERSARIES = [['01-06', 'election'], ['01-28', 'return'], ['02-03', 'party'], ['03-26', 'youth'],
  ['04-30', 'reunification'], ['05-01', 'labour'], ['05-19', 'hcm'], ['06-05', 'departure'], ['08-19', 'revolution'],
  ['09-02', 'national'], ['10-23', 'trail'], ['12-19', 'resistance']];
const CAMPAIGN_DAYS = 14;

/** Campaign periods to choose from: those of the schedule's entries (by playlist, earliest
 * start to latest end, not yet over) and the calendar's next anniversaries, soonest first. */
export function campaignPeriods(schedules, plName, today) {
  const byPl = new Map();
  for (const e of schedules) {
    if (!e.from || !e.until || e.until < today) continue;
    const p = byPl.get(e.playlist);
    byPl.set(e.playlist, p ? { from: e.from < p.from ? e.from : p.from, until: e.until > p.until ? e.until : p.until } : { from: e.from, until: e.until });
  }
  const out = [...byPl].map(([pl, p]) => ({ key: 'pl:' + pl, name: plName(pl), from: p.from, until: p.until }));
  const year = Number(today.slice(0, 4));
  for (const [md, key] of ANNIVERSARIES) {
    const day = [year, year + 1].map((y) => y + '-' + md).find((d) => d >= today);
    out.push({ key: 'cal:' + key, name: t('camp.' + key), from: addDays(day, 1 - CAMPAIGN_DAYS), until: day });
  }
  return out.sort((a, b) => (a.until < b.until ? -1 : a.until > b.until ? 1 : 0));
}
const COLOURS = ['#0b5d6b', '#7a8288', '#9a5b00', '#5b3f8c', '#1e7a34', '#8c3f5b'];

/** Hours and minutes, 24-hour, as the gates read them (a native time field would show
 * "09:05 PM" in an English browser). */
export const HHMM = /^([01][0-9]|2[0-3]):[0-5][0-9]$/;

/** A 24-hour HH:MM text field. */
export function hhmmInput(name, label) {
  return h('input', { type: 'text', name, inputmode: 'numeric', maxlength: '5', placeholder: 'HH:MM', class: 'hhmm',
    pattern: '([01][0-9]|2[0-3]):[0-5][0-9]', 'aria-label': label, autocomplete: 'off' });
}

/** An id not yet in `taken`: `base`, else `base-2`, `base-3`, … */
function freeId(base, taken) {
  const b = (base || 'noi-dung').slice(0, 56);
  if (!taken.includes(b)) return b;
  for (let i = 2; ; i++) if (!taken.includes(b + '-' + i)) return b + '-' + i;
}

/** The priority of the new entry: above every entry of the chosen screens that plays in the
 * period (the everyday loop), never equal to another of their entries. Alerts are not
 * schedule entries: they always come first (docs/protocol.md §10, "Alerts override"). */
export function choosePriority(entries, from, until) {
  const inPeriod = entries.filter((e) => (!e.until || e.until >= from) && (!e.from || e.from <= until));
  let p = inPeriod.length ? Math.max(...inPeriod.map((e) => e.priority)) + 10 : 10;
  while (entries.some((e) => e.priority === p)) p++;
  return { priority: p, below: inPeriod };
}

/** The first item's picture: the slide itself, a video's poster (drawn on upload when ffmpeg
 * is installed), else an icon of its kind. */
function thumbOf(pl, mediaBySha) {
  const first = pl && pl.items && pl.items[0] && mediaBySha.get(pl.items[0].media);
  if (first && first.kind === 'slide') return h('img', { class: 'tl-thumb', src: '/media/' + first.sha256, alt: '' });
  if (first && first.poster) return h('img', { class: 'tl-thumb', src: first.poster, alt: '', 'data-poster': 'true' });
  return h('span', { class: 'tl-thumb icon', 'aria-hidden': 'true' }, first && first.kind === 'clip' ? '♪' : '▶');
}

/** The day of one screen as an SVG bar (24 h) with the hours under it. */
function timelineSvg(runs, colourOf, labelOf) {
  const NS = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(NS, 'svg');
  svg.setAttribute('viewBox', '0 0 1440 64');
  svg.setAttribute('class', 'timeline');
  svg.setAttribute('role', 'img');
  svg.setAttribute('preserveAspectRatio', 'none');
  const el = (tag, attrs, text) => {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text) e.textContent = text;
    return e;
  };
  for (const r of runs) {
    const g = el('g', {});
    g.append(el('rect', { x: r.from, y: 0, width: r.to - r.from, height: 36, fill: r.entry ? colourOf(r) : '#e6eaec', 'fill-opacity': r.fallback ? '0.55' : '1' }));
    g.append(el('title', {}, hhmm(r.from) + '–' + hhmm(r.to) + ' ' + labelOf(r)));
    svg.append(g);
  }
  for (let hr = 0; hr <= 24; hr += 3) {
    svg.append(el('line', { x1: hr * 60, y1: 36, x2: hr * 60, y2: 44, stroke: '#5b6870', 'stroke-width': 2 }));
    const anchor = hr === 0 ? 'start' : hr === 24 ? 'end' : 'middle';
    svg.append(el('text', { x: hr * 60, y: 60, 'text-anchor': anchor, 'font-size': 15, fill: '#5b6870' }, String(hr).padStart(2, '0') + ':00'));
  }
  svg.setAttribute('aria-label', runs.map((r) => hhmm(r.from) + '–' + hhmm(r.to) + ' ' + labelOf(r)).join('; '));
  return svg;
}

export async function flowPage(ctx) {
  ctx.el.append(h('h1', { id: 'page-title' }, t('flow.title')));
  const q = new URLSearchParams(location.hash.split('?')[1] || '');
  const [screens, media, playlists, schedules, gateList] = await Promise.all([
    api('GET', '/api/v1/screens'), api('GET', '/api/v1/media'), api('GET', '/api/v1/playlists'), api('GET', '/api/v1/schedules'),
    api('GET', '/api/v1/gates')]);
  const gateName = gateNamer(gateList);
  const mediaBySha = new Map(media.map((m) => [m.sha256, m]));
  const plById = new Map(playlists.map((p) => [p.id, p]));

  // 1. What: the media item or playlist of the link, else a choice.
  const what = h('select', { id: 'flow-what', name: 'what' },
    h('option', { value: '' }, t('flow.choose')),
    h('optgroup', { label: t('nav.media') }, media.map((m) => h('option', { value: 'm:' + m.sha256 }, m.title + ' (' + t('kind.' + m.kind) + ', ' + langName(m.lang) + ')'))),
    h('optgroup', { label: t('nav.playlists') }, playlists.map((p) => h('option', { value: 'p:' + p.id }, p.name || p.id))));
  if (q.get('media') && mediaBySha.has(q.get('media'))) what.value = 'm:' + q.get('media');
  else if (q.get('playlist') && plById.has(q.get('playlist'))) what.value = 'p:' + q.get('playlist');
  const chosenContent = () => {
    const [k, v] = [what.value.slice(0, 1), what.value.slice(2)];
    if (k === 'm') return { media: mediaBySha.get(v) };
    if (k === 'p') return { playlist: plById.get(v) };
    return null;
  };

  // 2. Where: gates with their screens.
  const gates = [...new Set(screens.map((s) => s.gate))].sort();
  const screenBox = new Map();
  const gateBoxes = gates.map((g) => {
    const own = screens.filter((s) => s.gate === g);
    const gb = h('input', { type: 'checkbox', name: 'gate', value: g });
    const sbs = own.map((s) => {
      const b = h('input', { type: 'checkbox', name: 'screen', value: s.id, disabled: s.disabled });
      screenBox.set(s.id, b);
      b.addEventListener('change', () => { gb.checked = own.filter((x) => !x.disabled).every((x) => screenBox.get(x.id).checked); changed(); });
      return h('label', { class: s.disabled ? 'muted' : null }, b, s.name + (s.disabled ? ' — ' + t('flow.disabled') : ''));
    });
    gb.addEventListener('change', () => { for (const s of own) if (!s.disabled) screenBox.get(s.id).checked = gb.checked; changed(); });
    return h('fieldset', { class: 'flow-gate', 'data-gate': g },
      h('legend', {}, h('label', {}, gb, h('strong', {}, gateName(g)), ' ', h('span', { class: 'muted' }, t('flow.nscreens', { n: own.length })))),
      h('div', { class: 'checks' }, sbs));
  });

  // 3. When: a preset or chosen dates, and optional daily hours (at the gate).
  const presetRadios = PRESETS.map(([id]) => h('input', { type: 'radio', name: 'period', value: id }));
  const campaign = h('select', { name: 'campaign', id: 'flow-campaign', hidden: true, 'aria-label': t('flow.p.campaign') });
  const from = dateInput({ name: 'from', hidden: true, 'aria-label': t('sch.from') });
  const until = dateInput({ name: 'until', hidden: true, 'aria-label': t('sch.until') });
  const periodText = h('p', { class: 'hint', id: 'flow-period', 'aria-live': 'polite' });
  const start = hhmmInput('start', t('flow.hourfrom'));
  const end = hhmmInput('end', t('flow.hourto'));
  const tz = () => { const s = chosenScreens()[0] || screens[0]; return (s && s.timezone) || TZ; };
  function period() {
    const p = presetRadios.find((r) => r.checked);
    if (!p) return null;
    if (p.value === 'custom') return from.value && until.value && until.value >= from.value ? { from: from.value, until: until.value } : null;
    const today = todayIn(tz());
    if (p.value === 'campaign') {
      const c = campaignPeriods(schedules, plName, today).find((x) => x.key === campaign.value);
      return c ? { from: c.from < today ? today : c.from, until: c.until } : null;
    }
    return { from: today, until: addDays(today, PRESETS.find(([id]) => id === p.value)[1] - 1) };
  }
  function plName(id) { const pl = plById.get(id); return pl ? pl.name || pl.id : id; }
  function fillCampaigns() {
    const was = campaign.value;
    campaign.replaceChildren(h('option', { value: '' }, t('flow.choose')),
      ...campaignPeriods(schedules, plName, todayIn(tz())).map((c) => h('option', { value: c.key }, t('flow.campaign', { name: c.name, from: dmy(c.from), until: dmy(c.until) }))));
    campaign.value = was;
  }
  fillCampaigns();
  function chosenScreens() { return screens.filter((s) => !s.disabled && screenBox.get(s.id) && screenBox.get(s.id).checked); }

  const previewBtn = h('button', { type: 'button', id: 'flow-preview' }, t('flow.preview'));
  const problems = h('ul', { class: 'error-text', role: 'alert' });
  const previewBox = h('div', { id: 'flow-plan', 'aria-live': 'polite' });
  const progressBox = h('div', { 'aria-live': 'polite' });
  ctx.el.append(
    h('p', { class: 'hint' }, t('flow.hint')),
    h('section', { class: 'panel flow-step' }, h('h2', {}, '1. ' + t('flow.what')), what),
    h('section', { class: 'panel flow-step' }, h('h2', {}, '2. ' + t('flow.where')), gates.length ? gateBoxes : h('p', {}, t('flow.noscreens'))),
    h('section', { class: 'panel flow-step' }, h('h2', {}, '3. ' + t('flow.when')),
      h('div', { class: 'checks', role: 'radiogroup', 'aria-label': t('flow.when') }, presetRadios.map((r) => h('label', {}, r, t('flow.p.' + r.value)))),
      h('div', { class: 'actions' }, campaign, from, until), periodText,
      h('div', { class: 'actions' }, h('span', {}, t('flow.hours')), start, '–', end, h('span', { class: 'muted' }, t('flow.hourshint')))),
    h('div', { class: 'actions' }, previewBtn), problems, previewBox, progressBox);
  for (const r of presetRadios) r.addEventListener('change', () => { from.hidden = until.hidden = r.value !== 'custom'; campaign.hidden = r.value !== 'campaign'; changed(); });
  for (const x of [what, campaign, from, until, start, end]) x.addEventListener('change', changed);

  let plan = null;
  function changed() {
    plan = null;
    previewBox.replaceChildren();
    problems.replaceChildren();
    const p = period();
    periodText.textContent = p ? t('flow.period', { from: dmy(p.from), until: dmy(p.until), n: Math.round((Date.parse(p.until) - Date.parse(p.from)) / 864e5) + 1 }) : '';
  }

  /** What is missing, in words; empty when the plan can be drawn. */
  function check() {
    const out = [];
    if (!chosenContent()) out.push(t('flow.need.what'));
    if (!chosenScreens().length) out.push(t('flow.need.where'));
    if (!period()) out.push(t('flow.need.when'));
    if ([start, end].some((x) => x.value && !HHMM.test(x.value))) out.push(t('flow.need.hhmm'));
    else if (!!start.value !== !!end.value) out.push(t('flow.need.hours'));
    else if (start.value && start.value === end.value) out.push(t('flow.need.hoursdiff'));
    return out;
  }

  previewBtn.addEventListener('click', async () => {
    const miss = check();
    problems.replaceChildren(...miss.map((m) => h('li', {}, m)));
    if (miss.length) return;
    try { await drawPlan(); } catch (e) { showError(e); }
  });

  async function drawPlan() {
    const c = chosenContent();
    const chosen = chosenScreens();
    const p = period();
    // Whole gates become a gate target (screens added to the gate later get it too).
    const fullGates = gates.filter((g) => chosen.some((s) => s.gate === g) && screens.filter((s) => s.gate === g && !s.disabled).every((s) => chosen.includes(s)));
    const targets = { gates: fullGates, screens: chosen.filter((s) => !fullGates.includes(s.gate)).map((s) => s.id) };
    const name = c.media ? c.media.title : (c.playlist.name || c.playlist.id);
    const plId = c.media ? freeId(suggestId(name), playlists.map((x) => x.id)) : c.playlist.id;
    const theirs = schedules.filter((e) => chosen.some((s) => reaches(e, s)));
    const { priority, below } = choosePriority(theirs, p.from, p.until);
    const entry = { id: freeId(suggestId(name + ' ' + p.from), schedules.map((x) => x.id)), playlist: plId, priority, targets, from: p.from, until: p.until };
    if (start.value) { entry.start = start.value; entry.end = end.value; if (toMin(end.value) < toMin(start.value)) entry.overnight = true; }
    const newPl = c.media ? { id: plId, name, items: [c.media.duration_ms ? { media: c.media.sha256 } : { media: c.media.sha256, duration_ms: c.media.kind === 'slide' ? 10000 : 30000 }] } : null;
    const plOf = (id) => (newPl && id === newPl.id ? newPl : plById.get(id));
    // The screens' unpublished changes from before (the controller's dry run, nothing sent).
    let before = { plan: [], skipped: [] };
    try { before = await api('POST', '/api/v1/publish', { screens: chosen.map((s) => s.id), dry_run: true }); } catch (_) { /* a screen with nothing scheduled yet */ }
    plan = { entry, newPl, screens: chosen.map((s) => s.id) };

    const colours = new Map([[entry.id, '#c8102e']]);
    const colourOf = (r) => { if (!colours.has(r.entry.id)) colours.set(r.entry.id, COLOURS[(colours.size - 1) % COLOURS.length]); return colours.get(r.entry.id); };
    const labelOf = (r) => { if (!r.entry) return t('flow.dark'); const pl = plOf(r.entry.playlist); return (pl ? pl.name || pl.id : r.entry.playlist) + (r.fallback ? ' ' + t('flow.fallback') : ''); };
    const rows = chosen.map((s) => {
      const day = todayIn(s.timezone || TZ);
      const runs = dayRuns([...theirs.filter((e) => reaches(e, s)), entry], day);
      const old = (before.plan || []).find((x) => x.screen === s.id);
      const other = old && old.changed && old.current_version !== null;
      return h('div', { class: 'tl-row', 'data-screen': s.id },
        h('h3', {}, s.name, ' ', h('span', { class: 'muted' }, gateName(s.gate) + ' · ' + t('flow.today', { d: dmy(day) }))),
        timelineSvg(runs, colourOf, labelOf),
        h('ul', { class: 'tl-legend' }, runs.filter((r) => r.entry).map((r) => h('li', { 'data-entry': r.entry.id, class: r.entry === entry ? 'new' : null },
          h('span', { class: 'swatch', 'data-colour': colourOf(r) }), thumbOf(plOf(r.entry.playlist), mediaBySha),
          h('span', {}, hhmm(r.from) + '–' + hhmm(r.to) + ' ', h('strong', {}, labelOf(r)), r.entry === entry ? ' ' + t('flow.newmark') : '')))),
        other ? h('p', { class: 'notice' }, t('flow.otherchanges')) : null);
    });
    const skipped = screens.filter((s) => screenBox.get(s.id) && (s.disabled)).filter((s) => targets.gates.includes(s.gate) || (screenBox.get(s.id).checked))
      .map((s) => h('li', { 'data-skipped': s.id }, t('flow.skip.disabled', { name: s.name })));
    const hours = entry.start ? t('flow.daily', { s: entry.start, e: entry.end }) : t('flow.allday');
    const prioText = below.length
      ? t('flow.prio.above', { list: [...new Set(below.map((e) => { const pl = plOf(e.playlist); return '“' + (pl ? pl.name || pl.id : e.playlist) + '”'; }))].join(', ') })
      : t('flow.prio.alone');
    const idIn = h('input', { name: 'schedule-id', value: entry.id, pattern: '[a-z0-9][a-z0-9-]{0,63}', 'aria-describedby': 'flow-idrule' });
    idIn.addEventListener('change', () => { plan.entry.id = idIn.value.trim(); });
    previewBox.replaceChildren(h('section', { class: 'panel' },
      h('h2', {}, '4. ' + t('flow.check')),
      h('p', { class: 'flow-summary' }, t('flow.summary', { name, n: chosen.length, from: dmy(p.from), until: dmy(p.until), hours })),
      h('p', {}, badge('ok', t('flow.prio')), ' ', prioText, ' ', t('flow.prio.alerts')),
      h('h3', {}, t('flow.change', { n: chosen.length })),
      rows,
      skipped.length ? h('div', {}, h('h3', {}, t('flow.skipped')), h('ul', {}, skipped)) : null,
      h('details', {}, h('summary', {}, t('flow.ids')),
        h('p', {}, c.media ? t('flow.newpl', { id: plId }) : t('flow.usepl', { id: plId })),
        h('label', {}, t('flow.scheduleid') + ' ', idIn), h('p', { class: 'hint', id: 'flow-idrule' }, t('flow.idrule'))),
      h('div', { class: 'actions' }, h('button', { type: 'button', id: 'flow-publish', class: 'danger solid', onclick: publish }, t('flow.publish', { n: chosen.length })))));
    for (const sw of previewBox.querySelectorAll('.swatch')) sw.style.background = sw.dataset.colour;
    previewBox.scrollIntoView({ block: 'start' });
  }

  let watcher = null;
  async function publish(ev) {
    if (!plan) return;
    ev.target.disabled = true;
    const { entry, newPl } = plan;
    let madePl = false;
    try {
      if (newPl) { await api('POST', '/api/v1/playlists', newPl); madePl = true; }
      const body = Object.assign({}, entry);
      await api('POST', '/api/v1/schedules', body);
    } catch (e) {
      // Nothing half-made stays behind: the playlist made for this entry goes again.
      if (madePl) await api('DELETE', '/api/v1/playlists/' + encodeURIComponent(newPl.id)).catch(() => {});
      ev.target.disabled = false;
      problems.replaceChildren(h('li', {}, errorText(e)));
      return;
    }
    let r;
    try { r = await api('POST', '/api/v1/publish', { screens: plan.screens }); }
    catch (e) { showError(e); return; }
    flash('ok', t('flow.done', { n: r.published.length }));
    watcher = watchProgress(progressBox, r.published);
  }
  changed();
  return { stop() { if (watcher) watcher.stop(); } };
}

/** Each published screen's state from its status, every 2 s, until stopped: sent, received,
 * playing the new version. */
function watchProgress(box, watch) {
  let timer = null, stopped = false, first = true;
  const poll = async () => {
    try {
      const now = await api('GET', '/api/v1/screens');
      box.replaceChildren(h('section', { class: 'panel', id: 'flow-progress' }, h('h2', {}, t('flow.progress')),
        h('ul', {}, watch.map((p) => {
          const s = now.find((x) => x.id === p.screen) || {};
          const st = s.status || {};
          let state;
          if ((st.manifest_version || 0) >= p.version) state = badge('ok', t('flow.playing'));
          else if ((st.pending_version || 0) >= p.version) state = badge('warn', t('pub.received'));
          else if (!s.online) state = badge('off', t('pub.waitingoffline'));
          else state = badge('off', t('pub.sent'));
          return h('li', { 'data-screen': p.screen }, (s.name || p.screen) + ': ', state);
        })),
        h('p', {}, h('a', { href: '#/screens' }, t('flow.wall')))));
      if (first) { first = false; box.scrollIntoView({ block: 'nearest' }); }
    } catch (e) { showError(e); }
    if (!stopped) timer = setTimeout(poll, 2000);
  };
  poll();
  return { stop() { stopped = true; clearTimeout(timer); } };
}
