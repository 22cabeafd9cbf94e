// Schedule: the calendar of a gate (calendar.js: week and month, overlaps and who wins, edit
// and copy), and the list/creation of entries.
import { t } from './i18n.js';
import { api } from './api.js';
import { h, field, select, flash, showError, showOk, table, badge, isoDate, todayIn, dateText, suggestId, dateInput, gateNamer } from './ui.js';
import { calendar } from './calendar.js';

const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];

/** An entry's dates in words: both ends, one end, or none (it always applies). */
function datesText(e) {
  if (e.from && e.until) return dateText(e.from) + ' → ' + dateText(e.until);
  if (e.from) return t('sch.fromonly', { d: dateText(e.from) });
  if (e.until) return t('sch.untilonly', { d: dateText(e.until) });
  return t('sch.always');
}

export async function schedulePage(ctx) {
  ctx.el.append(h('h1', { id: 'page-title' }, t('nav.schedule')));
  const [screens, gates, playlists] = await Promise.all([api('GET', '/api/v1/screens'), api('GET', '/api/v1/gates'), api('GET', '/api/v1/playlists')]);
  let schedules = await api('GET', '/api/v1/schedules');
  const plName = (id) => (playlists.find((p) => p.id === id) || { name: id }).name;
  const gateNames = gates.map((g) => g.gate);
  const gateName = gateNamer(gates);
  const screenName = (id) => (screens.find((s) => s.id === id) || { name: id }).name;
  const listBox = h('div');
  const data = { screens, playlists, schedules, gateName };
  const reload = async () => { schedules = await api('GET', '/api/v1/schedules'); data.schedules = schedules; drawList(); };
  const cal = calendar(ctx, data, reload);
  ctx.el.append(cal.el);
  const drawWeek = () => { data.schedules = schedules; cal.draw(); };

  function drawList() {
    const rows = schedules.map((e) => h('tr', { 'data-schedule': e.id },
      h('td', {}, h('code', {}, e.id)), h('td', {}, plName(e.playlist)),
      h('td', {}, [...(e.targets.gates || []).map(gateName), ...(e.targets.screens || []).map(screenName)].join(', ')),
      h('td', { class: 'num' }, String(e.priority)),
      h('td', {}, datesText(e)),
      h('td', {}, e.weekdays ? e.weekdays.map((d) => t('day.' + d)).join(' ') : t('sch.everyday')),
      h('td', {}, (e.start || '00:00') + '–' + (e.end || '24:00')),
      h('td', {}, ctx.can('write') ? h('button', { type: 'button', class: 'small secondary', 'data-action': 'edit-schedule', 'aria-label': t('sch.editbtn') + ' ' + e.id,
        onclick: () => editEntry(e) }, t('sch.editbtn')) : null, ' ',
      ctx.can('write') ? h('button', { type: 'button', class: 'small danger', 'aria-label': t('delete') + ' ' + e.id, onclick: async () => {
        if (!confirm(t('sch.confirmdelete', { id: e.id }))) return;
        try { await api('DELETE', '/api/v1/schedules/' + encodeURIComponent(e.id)); schedules = await api('GET', '/api/v1/schedules'); drawList(); drawWeek(); flash('ok', t('deleted')); }
        catch (err) { showError(err); }
      } }, t('delete')) : null)));
    listBox.replaceChildren(h('h2', {}, t('sch.list')), schedules.length
      ? table([t('sch.id'), t('sch.playlist'), t('sch.targets'), { label: t('sch.priority'), num: true }, t('sch.dates'), t('sch.days'), t('sch.hours'), ''], rows)
      : h('p', {}, t('sch.none')));
  }

  drawWeek();
  const cols = h('div', { class: 'cols' });
  ctx.el.append(cols);
  let editEntry = () => {};
  if (ctx.can('write')) cols.append(createForm()); else cols.append(h('div'));
  cols.append(listBox);
  drawList();

  function createForm() {
    const id = h('input', { required: true, name: 'id', pattern: '[A-Za-z0-9][A-Za-z0-9._:\\-]{0,127}', spellcheck: 'false', 'aria-describedby': 'schedule-id-rule' });
    const pl = select(playlists.map((p) => [p.id, p.name]), playlists[0] && playlists[0].id, { name: 'playlist', required: true });
    // The id is suggested from the playlist's name until the person types one.
    let ownId = false;
    id.addEventListener('input', () => { ownId = !!id.value; });
    const suggest = () => { if (!ownId && !editing) id.value = suggestFrom(plName(pl.value)); };
    pl.addEventListener('change', suggest);
    let editing = null;
    const heading = h('h2', {}, t('sch.new'));
    const cancel = h('button', { type: 'button', class: 'secondary', hidden: true, onclick: () => reset() }, t('sch.cancel'));
    function reset() {
      editing = null; form.reset(); id.readOnly = false; ownId = false; heading.textContent = t('sch.new'); cancel.hidden = true; suggest();
    }
    const gateChecks = gateNames.map((g) => h('input', { type: 'checkbox', value: g, name: 'gate' }));
    const screenChecks = screens.map((s) => h('input', { type: 'checkbox', value: s.id, name: 'screen' }));
    const prio = h('input', { type: 'number', value: '10', step: '1', name: 'priority', class: 'secs' });
    const from = dateInput({ name: 'from' });
    const until = dateInput({ name: 'until' });
    const dayChecks = DAYS.map((d) => h('input', { type: 'checkbox', value: d, name: 'weekday' }));
    const start = h('input', { type: 'text', name: 'start', class: 'hhmm', inputmode: 'numeric', autocomplete: 'off', pattern: '([01]\\d|2[0-3]):[0-5]\\d|24:00', placeholder: t('time.placeholder') });
    const end = h('input', { type: 'text', name: 'end', class: 'hhmm', inputmode: 'numeric', autocomplete: 'off', pattern: '([01]\\d|2[0-3]):[0-5]\\d|24:00', placeholder: t('time.placeholder') });
    const form = h('form', { class: 'panel', id: 'schedule-form' }, heading,
      h('div', { class: 'grid' },
        field(t('sch.playlist'), pl), field(t('sch.id'), id), h('p', { class: 'hint full', id: 'schedule-id-rule' }, t('id.rule')),
        h('span', { class: 'full' }, h('fieldset', {}, h('legend', {}, t('sch.gates')), h('div', { class: 'checks' }, gateChecks.map((c) => h('label', {}, c, gateName(c.value)))))),
        h('span', { class: 'full' }, h('fieldset', {}, h('legend', {}, t('sch.screens')), h('div', { class: 'checks' }, screenChecks.map((c) => h('label', {}, c, c.value))))),
        field(t('sch.priority'), prio), field(t('sch.from'), from), field(t('sch.until'), until),
        h('span', { class: 'full' }, h('fieldset', {}, h('legend', {}, t('sch.days') + ' — ' + t('sch.daysHint')), h('div', { class: 'checks' }, dayChecks.map((c) => h('label', {}, c, t('day.' + c.value)))))),
        field(t('sch.start'), start), field(t('sch.end'), end)),
      h('p', { class: 'hint' }, t('sch.hint')),
      h('div', { class: 'actions' }, h('button', { type: 'submit' }, t('save')), cancel));
    editEntry = (e) => {
      reset();
      editing = e;
      heading.textContent = t('sch.edit', { id: e.id });
      cancel.hidden = false;
      id.value = e.id; id.readOnly = true; pl.value = e.playlist; prio.value = String(e.priority);
      for (const c of gateChecks) c.checked = (e.targets.gates || []).includes(c.value);
      for (const c of screenChecks) c.checked = (e.targets.screens || []).includes(c.value);
      from.value = e.from || ''; until.value = e.until || '';
      for (const c of dayChecks) c.checked = (e.weekdays || []).includes(c.value);
      start.value = e.start || ''; end.value = e.end || '';
      form.scrollIntoView({ block: 'start' });
      pl.focus();
    };
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const body = { id: id.value.trim(), playlist: pl.value, priority: Number(prio.value || 0),
        targets: { gates: gateChecks.filter((c) => c.checked).map((c) => c.value), screens: screenChecks.filter((c) => c.checked).map((c) => c.value) } };
      if (from.value) body.from = from.value;
      if (until.value) body.until = until.value;
      const wd = dayChecks.filter((c) => c.checked).map((c) => c.value);
      if (wd.length) body.weekdays = wd;
      if (start.value || end.value) { body.start = start.value || '00:00'; body.end = end.value || '23:59'; if (body.end < body.start) body.overnight = true; }
      try {
        // Creating never overwrites (POST answers 409 id_exists); an entry opened for editing is PUT.
        if (editing) await api('PUT', '/api/v1/schedules/' + encodeURIComponent(body.id), body);
        else await api('POST', '/api/v1/schedules', body);
        schedules = await api('GET', '/api/v1/schedules');
        showOk(t('saved', { name: body.id }), form);
        reset();
        drawList(); drawWeek();
      } catch (e) {
        showError(e, form, { id, playlist: pl, 'targets.gates': gateChecks[0], 'targets.screens': screenChecks[0], targets: gateChecks[0] || screenChecks[0],
          priority: prio, from, until, weekdays: dayChecks[0], start, end });
      }
    });
    suggest();
    return form;
  }
  return null;
}

/** A schedule id from a playlist's name and today's date ("quoc-khanh-2-9-20261207"). */
function suggestFrom(name) {
  return (suggestId(name, 110) || 'lich') + '-' + todayIn('Asia/Ho_Chi_Minh').replace(/-/g, '');
}
