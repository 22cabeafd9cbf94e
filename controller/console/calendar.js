// The schedule calendar of one gate: a week with a time grid (hours at the gate) or a month;
// each entry drawn where it plays, overlaps named with the entry that wins and when (the rules
// of resolve.js), and an entry opened to edit it or to copy it as a new one. Dates read
// dd/mm/yyyy and weekday names come from i18n.js, whatever the browser's locale.
import { t } from './i18n.js';
import { api } from './api.js';
import { h, flash, errorText, todayIn, suggestId, dateInput } from './ui.js';
import { hhmmInput } from './flow.js';
import { DAYS, windows, activeOn, addDays, dowOf, dmy, hhmm, byRank, playsAt } from './resolve.js';

const TZ = 'Asia/Ho_Chi_Minh';

/** Whether the entry reaches the gate (directly or through one of its screens). */
function atGate(e, gate, screens) {
  const tg = e.targets || {};
  return (tg.gates || []).includes(gate) || (tg.screens || []).some((id) => screens.some((s) => s.id === id && s.gate === gate));
}

/** The blocks [from, to) in minutes the entry plays on `day` (the tail of last night's
 * overnight window included). */
function blocksOn(e, day) {
  const w = windows(e);
  const out = [];
  if (w.length === 2) {
    if (activeOn(e, addDays(day, -1))) out.push([0, w[1][1]]);
    if (activeOn(e, day)) out.push([w[0][0], 1440]);
  } else if (activeOn(e, day)) out.push(w[0]);
  return out;
}

/** Overlaps of `day`: for each pair of entries playing at the same time, the span and the
 * entry that wins it (`same` when the priorities tie and the id decides). */
export function overlapsOn(entries, day) {
  const out = [];
  for (let i = 0; i < entries.length; i++) {
    for (let j = i + 1; j < entries.length; j++) {
      const [a, b] = [entries[i], entries[j]].sort(byRank);
      let from = null;
      for (let m = 0; m <= 1440; m += 15) {
        const both = m < 1440 && playsAt(a, day, m) && playsAt(b, day, m);
        if (both && from === null) from = m;
        if (!both && from !== null) { out.push({ winner: a, loser: b, from, to: m, same: a.priority === b.priority }); from = null; }
      }
    }
  }
  return out;
}

function monday(day) { return addDays(day, -dowOf(day)); }

export function calendar(ctx, data, reload) {
  const { screens, playlists } = data;
  const gateName = data.gateName || ((g) => g);
  const plName = (id) => { const p = playlists.find((x) => x.id === id); return p ? p.name || p.id : id; };
  const gates = [...new Set(screens.map((s) => s.gate))].sort();
  const gateSel = h('select', { id: 'week-gate', 'aria-label': t('sch.gate') }, gates.map((g) => h('option', { value: g }, gateName(g))));
  const tz = () => { const s = screens.find((x) => x.gate === gateSel.value); return (s && s.timezone) || TZ; };
  let view = 'week';
  let anchor = todayIn(tz());
  const title = h('strong', { 'aria-live': 'polite', id: 'cal-title' });
  const box = h('div', { class: 'cal' });
  const detail = h('div', { id: 'cal-detail', 'aria-live': 'polite' });
  const viewBtns = ['week', 'month'].map((v) => h('button', { type: 'button', class: 'secondary small', 'data-view': v, 'aria-pressed': String(v === view), onclick: () => { view = v; draw(); } }, t('cal.' + v)));
  const step = (n) => { anchor = view === 'week' ? addDays(anchor, 7 * n) : monthShift(anchor, n); draw(); };
  const panel = h('div', { class: 'panel' },
    h('div', { class: 'actions' }, h('label', {}, t('sch.gate') + ' ', gateSel), viewBtns,
      h('button', { type: 'button', class: 'secondary small', onclick: () => step(-1) }, '← ' + t('cal.prev')),
      title,
      h('button', { type: 'button', class: 'secondary small', onclick: () => step(1) }, t('cal.next') + ' →'),
      h('button', { type: 'button', class: 'secondary small', onclick: () => { anchor = todayIn(tz()); draw(); } }, t('cal.today'))),
    h('p', { class: 'hint' }, t('cal.legend', { tz: tz() === TZ ? t('cal.tzvn') : tz() })),
    box, detail);
  gateSel.addEventListener('change', draw);

  function entries() { return data.schedules.filter((e) => atGate(e, gateSel.value, screens)); }

  function label(e) { return plName(e.playlist); }

  function draw() {
    for (const b of viewBtns) b.setAttribute('aria-pressed', String(b.dataset.view === view));
    if (view === 'week') drawWeek(); else drawMonth();
  }

  function entryBlock(e, from, to, overl) {
    const lost = overl.filter((o) => o.loser === e);
    const won = overl.filter((o) => o.winner === e);
    const el = h('button', { type: 'button', class: 'entry' + (lost.length ? ' shadowed' : '') + (overl.some((o) => o.same && (o.loser === e || o.winner === e)) ? ' conflict' : ''),
      'data-schedule': e.id, onclick: () => open(e) },
    h('strong', {}, label(e)), h('span', {}, hhmm(from) + '–' + hhmm(to)),
    won.map((o) => h('span', { class: 'ov win', 'data-overlap': o.loser.id }, t('cal.wins', { other: label(o.loser), from: hhmm(o.from), to: hhmm(o.to) }))),
    lost.map((o) => h('span', { class: 'ov lose', 'data-overlap': o.winner.id }, t(o.same ? 'cal.losesid' : 'cal.loses', { other: label(o.winner), from: hhmm(o.from), to: hhmm(o.to) }))));
    return el;
  }

  function drawWeek() {
    const first = monday(anchor);
    title.textContent = dmy(first) + ' – ' + dmy(addDays(first, 6));
    const es = entries();
    const today = todayIn(tz());
    const hours = h('div', { class: 'cal-hours', 'aria-hidden': 'true' });
    for (let i = 0; i <= 24; i += 3) {
      const l = h('span', {}, String(i).padStart(2, '0') + ':00');
      l.style.top = 'calc(2rem + ' + (i * 1.5) + 'rem)';
      hours.append(l);
    }
    const cols = [];
    for (let i = 0; i < 7; i++) {
      const day = addDays(first, i);
      const act = es.filter((e) => blocksOn(e, day).length).sort(byRank);
      const overl = overlapsOn(act, day);
      const lane = new Map(act.map((e, k) => [e.id, k]));
      const grid = h('div', { class: 'cal-grid' });
      for (const e of act) {
        for (const [from, to] of blocksOn(e, day)) {
          const b = entryBlock(e, from, to, overl.filter((o) => o.from < to && o.to > from));
          b.style.top = (from / 14.4) + '%';
          b.style.height = Math.max((to - from) / 14.4, 4) + '%';
          b.style.left = (lane.get(e.id) * 100 / act.length) + '%';
          b.style.width = (100 / act.length) + '%';
          grid.append(b);
        }
      }
      cols.push(h('div', { class: 'day' + (day === today ? ' today' : ''), role: 'listitem', 'data-day': day },
        h('h3', {}, t('day.' + DAYS[i]) + ' ' + dmy(day).slice(0, 5)), grid,
        act.length ? null : h('p', { class: 'muted empty' }, t('sch.fallback'))));
    }
    box.replaceChildren(h('div', { class: 'cal-week' }, hours, h('div', { class: 'week', role: 'list' }, cols)));
  }

  function drawMonth() {
    const [y, m] = anchor.split('-');
    const first = y + '-' + m + '-01';
    title.textContent = t('cal.monthof', { m: String(Number(m)), y });
    const es = entries();
    const today = todayIn(tz());
    const cells = [];
    for (let d = monday(first); d.slice(0, 7) <= anchor.slice(0, 7) || dowOf(d) !== 0; d = addDays(d, 1)) {
      const act = es.filter((e) => blocksOn(e, d).length).sort(byRank);
      const overl = overlapsOn(act, d);
      cells.push(h('div', { class: 'mday' + (d.slice(0, 7) !== anchor.slice(0, 7) ? ' other' : '') + (d === today ? ' today' : ''), 'data-day': d },
        h('span', { class: 'num' }, dmy(d).slice(0, 5)),
        act.map((e) => h('button', { type: 'button', class: 'chip' + (overl.some((o) => o.loser === e) ? ' shadowed' : ''), 'data-schedule': e.id, onclick: () => open(e) },
          label(e) + (e.start ? ' ' + e.start + '–' + e.end : ''))),
        overl.map((o) => h('span', { class: 'ov win', 'data-overlap': o.loser.id }, t('cal.monthwin', { win: label(o.winner), other: label(o.loser), from: hhmm(o.from), to: hhmm(o.to) })))));
    }
    box.replaceChildren(h('div', { class: 'month' },
      DAYS.map((d) => h('div', { class: 'mhead' }, t('day.' + d))), cells));
  }

  /** The opened entry: what it is, and edit or copy. */
  function open(e) {
    const where = [...((e.targets || {}).gates || []), ...((e.targets || {}).screens || [])].join(', ');
    detail.replaceChildren(h('div', { class: 'panel cal-open', 'data-open': e.id },
      h('h3', {}, label(e)),
      h('p', {}, t('cal.desc', { from: e.from ? dmy(e.from) : t('cal.always'), until: e.until ? dmy(e.until) : t('cal.always'),
        hours: e.start ? e.start + '–' + e.end : t('flow.allday'), where })),
      h('p', { class: 'muted' }, t('cal.rank', { p: e.priority, id: e.id })),
      ctx.can('write') ? h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'secondary', id: 'cal-edit', onclick: () => editor(e, false) }, t('cal.edit')),
        h('button', { type: 'button', class: 'secondary', id: 'cal-copy', onclick: () => editor(e, true) }, t('cal.copy'))) : null));
  }

  /** The entry's editor: `copy` makes a new entry (suggested id) from it. */
  function editor(e, copy) {
    const id = h('input', { name: 'id', value: copy ? suggestId(label(e) + ' ' + (e.from || todayIn(tz()))) + '-2' : e.id, readOnly: !copy });
    const from = dateInput({ name: 'from', value: e.from || '' });
    const until = dateInput({ name: 'until', value: e.until || '' });
    const start = hhmmInput('start', t('sch.start')); start.value = e.start || '';
    const end = hhmmInput('end', t('sch.end')); end.value = e.end || '';
    const prio = h('input', { type: 'number', name: 'priority', value: String(e.priority), class: 'secs' });
    const err = h('p', { class: 'error-text', role: 'alert' });
    const f = h('form', { class: 'grid', id: 'cal-editor' },
      h('label', {}, t('sch.id')), id, h('label', {}, t('sch.from')), from, h('label', {}, t('sch.until')), until,
      h('label', {}, t('sch.start')), start, h('label', {}, t('sch.end')), end, h('label', {}, t('cal.prio')), prio,
      h('span', { class: 'full' }, err),
      h('div', { class: 'actions full' }, h('button', { type: 'submit' }, copy ? t('cal.savecopy') : t('save'))));
    f.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const body = { id: id.value.trim(), playlist: e.playlist, targets: e.targets, priority: Number(prio.value) };
      if (from.value) body.from = from.value;
      if (until.value) body.until = until.value;
      if (e.weekdays) body.weekdays = e.weekdays;
      if (start.value && end.value) { body.start = start.value; body.end = end.value; if (end.value < start.value) body.overnight = true; }
      try {
        if (copy) await api('POST', '/api/v1/schedules', body);
        else await api('PUT', '/api/v1/schedules/' + encodeURIComponent(e.id), body);
        flash('ok', t('saved', { name: body.id }));
        await reload();
        if (body.from) anchor = body.from;
        draw();
        const again = data.schedules.find((x) => x.id === body.id);
        if (again) open(again);
      } catch (x) { err.textContent = x.status === 405 ? t('cal.noedit') : errorText(x); }
    });
    detail.firstChild.append(h('h4', {}, copy ? t('cal.copying') : t('cal.editing')), f);
  }

  draw();
  return { el: panel, draw };
}

function monthShift(day, n) {
  const [y, m] = day.split('-').map(Number);
  return new Date(Date.UTC(y, m - 1 + n, 1)).toISOString().slice(0, 10);
}
