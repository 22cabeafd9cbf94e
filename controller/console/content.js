// Media library (upload with progress, preview, usage, delete) and playlists (build, reorder,
// durations, language variants).
import { t, lang } from './i18n.js';
import { api, upload } from './api.js';
import { subtitlePanel } from './subtitles.js';
import { h, field, select, flash, showError, showOk, errorText, time, bytes, secs, badge, table, langSelect, langName, shortSha, linkId } from './ui.js';

const KINDS = ['slide', 'video', 'clip'];

function kindOfMime(mime) {
  if (mime.startsWith('image/')) return 'slide';
  if (mime.startsWith('audio/')) return 'clip';
  return 'video';
}

function usageOf(sha, playlists, schedules) {
  const pls = playlists.filter((p) => p.items.some((i) => i.media === sha || (i.variants || []).includes(sha)));
  return pls.map((p) => ({ playlist: p, schedules: schedules.filter((s) => s.playlist === p.id) }));
}

function mediaThumb(m) {
  if (m.kind === 'slide') return h('img', { class: 'media-thumb', src: '/media/' + m.sha256, alt: '', loading: 'lazy' });
  if (m.poster) return h('img', { class: 'media-thumb', src: m.poster, alt: '', loading: 'lazy', 'data-poster': 'true' });
  return h('div', { class: 'media-thumb thumb icon', 'aria-hidden': 'true' }, m.kind === 'clip' ? '♪' : '▶');
}

function previewOf(m) {
  const src = '/media/' + m.sha256;
  if (m.kind === 'slide') return h('img', { class: 'preview', src, alt: m.title });
  if (m.mime.startsWith('audio/')) return h('audio', { controls: true, src, preload: 'none' });
  return h('video', { class: 'preview', controls: true, src, preload: 'metadata', poster: m.poster || null });
}

/** Duration in words of the language ("12 giây", "1 phút 5 giây"); "—" when unknown. */
export function playTime(ms) {
  if (ms === null || ms === undefined) return t('media.durunknown');
  const s = Math.round(ms / 100) / 10;
  if (s < 60) return t('media.u.s', { n: s.toLocaleString(lang()) });
  const m = Math.floor(s / 60), r = Math.round(s - m * 60);
  return t('media.u.min', { n: m }) + (r ? ' ' + t('media.u.s', { n: r }) : '');
}

/** Filters and sorts the library: `f` holds q (title words), kind, lang, use, sort. */
export function filterMedia(media, f, used) {
  const q = (f.q || '').trim().toLocaleLowerCase('vi').normalize('NFC');
  const out = media.filter((m) => (!f.kind || m.kind === f.kind) && (!f.lang || m.lang === f.lang)
    && (!f.use || (f.use === 'unused') === !used(m.sha256))
    && (!q || m.title.toLocaleLowerCase('vi').normalize('NFC').includes(q)));
  const byTitle = (a, b) => a.title.localeCompare(b.title, 'vi');
  const byDate = (a, b) => (b.uploaded_at || '').localeCompare(a.uploaded_at || '');
  out.sort(f.sort === 'title' ? byTitle : f.sort === 'oldest' ? (a, b) => byDate(b, a) : byDate);
  return out;
}

/** Renames a media item or corrects its language (`PATCH /api/v1/media/{sha}`). */
function mediaEditForm(m, onDone) {
  const title = h('input', { name: 'title', value: m.title, maxlength: '200', required: true });
  const lng = langSelect(m.lang, { name: 'lang' });
  const form = h('form', { class: 'grid panel', id: 'media-edit' }, h('h2', { class: 'full' }, t('media.editing', { title: m.title })),
    field(t('media.title'), title), field(t('media.lang'), lng),
    h('div', { class: 'full actions' }, h('button', { type: 'submit' }, t('save'))));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      await api('PATCH', '/api/v1/media/' + m.sha256, { title: title.value.trim(), lang: lng.value });
      showOk(t('saved', { name: title.value.trim() }), form);
      form.remove();
      await onDone();
    } catch (e) { showError(e, form, { title, lang: lng }); }
  });
  setTimeout(() => title.focus(), 0);
  return form;
}

export async function mediaPage(ctx) {
  const listBox = h('div', { id: 'media-list' });
  const previewBox = h('div', { 'aria-live': 'polite' });
  ctx.el.append(h('h1', { id: 'page-title' }, t('nav.media')));
  const cols = h('div', { class: 'cols' });
  ctx.el.append(cols);
  const left = h('div');
  const f = {
    q: h('input', { type: 'search', name: 'q', placeholder: t('media.search'), 'aria-label': t('media.search') }),
    kind: select([['', t('all')], ...KINDS.map((k) => [k, t('kind.' + k)])], '', { name: 'f-kind' }),
    lang: select([['', t('all')]], '', { name: 'f-lang' }),
    use: select([['', t('all')], ['unused', t('media.f.unused')], ['used', t('media.f.used')]], '', { name: 'f-use' }),
    sort: select([['newest', t('media.sort.newest')], ['oldest', t('media.sort.oldest')], ['title', t('media.sort.title')]], 'newest', { name: 'f-sort' }),
  };
  const fl = { q: 'media.search', kind: 'media.kind', lang: 'media.lang', use: 'media.usage', sort: 'media.sort' };
  const filters = h('div', { class: 'filters', id: 'media-filters' }, Object.entries(f).map(([k, c]) => { const [l, ctl] = field(t(fl[k]), c); return h('div', {}, l, ctl); }));
  cols.append(left, h('div', {}, filters, listBox, previewBox));
  let all = [], playlists = [], schedules = [];

  function draw() {
    const used = (sha) => usageOf(sha, playlists, schedules).length > 0;
    const shown = filterMedia(all, { q: f.q.value, kind: f.kind.value, lang: f.lang.value, use: f.use.value, sort: f.sort.value }, used);
    const rows = shown.map((m) => {
      const use = usageOf(m.sha256, playlists, schedules);
      const useCell = use.length
        ? h('ul', {}, use.map((u) => h('li', {}, t('media.inplaylist', { name: u.playlist.name }),
          u.schedules.length ? ' (' + u.schedules.map((s) => s.id).join(', ') + ')' : '')))
        : h('span', { class: 'muted' }, t('media.unused'));
      const del = ctx.can('write') ? h('button', {
        type: 'button', class: 'small danger', disabled: use.length > 0,
        title: use.length ? t('media.inuse') : null,
        'aria-label': t('delete') + ': ' + m.title,
        onclick: async () => {
          if (!confirm(t('media.confirmdelete', { title: m.title }))) return;
          try { await api('DELETE', '/api/v1/media/' + m.sha256); flash('ok', t('deleted')); await refresh(); }
          catch (e) { showError(e); }
        },
      }, t('delete')) : null;
      const dims = m.width && m.height ? m.width + '×' + m.height : null;
      return h('tr', { 'data-sha': m.sha256 },
        h('td', {}, mediaThumb(m)),
        h('td', {}, h('strong', {}, m.title), h('div', { class: 'muted mono', title: m.sha256 }, shortSha(m.sha256))),
        h('td', {}, t('kind.' + m.kind), h('div', { class: 'muted' }, m.mime)),
        h('td', {}, langName(m.lang)),
        h('td', { class: 'num' }, bytes(m.bytes), h('div', { class: 'muted', 'data-duration': m.duration_ms ?? '' },
          m.kind === 'slide' && m.duration_ms == null ? '' : playTime(m.duration_ms)), dims ? h('div', { class: 'muted' }, dims) : null),
        h('td', {}, useCell),
        h('td', {}, time(m.uploaded_at, 'Asia/Ho_Chi_Minh')),
        h('td', {}, h('div', { class: 'actions' },
          h('button', { type: 'button', class: 'small secondary', 'aria-label': t('media.preview') + ': ' + m.title,
            onclick: () => { previewBox.replaceChildren(h('h2', {}, t('media.preview') + ': ' + m.title), previewOf(m)); } }, t('media.preview')),
          ctx.can('write') ? h('button', { type: 'button', class: 'small secondary', 'data-action': 'edit-media', 'aria-label': t('media.edit') + ': ' + m.title,
            onclick: () => { previewBox.replaceChildren(mediaEditForm(m, refresh)); } }, t('media.edit')) : null,
          ctx.can('write') ? h('a', { class: 'button small', href: '#/flow?media=' + m.sha256, 'data-flow': m.sha256 }, t('flow.start')) : null,
          m.kind !== 'slide' ? h('button', { type: 'button', class: 'small secondary', 'data-action': 'subtitles', 'aria-label': t('sub.title') + ': ' + m.title,
            onclick: () => { previewBox.replaceChildren(subtitlePanel(m, ctx.can('write'))); } }, t('sub.title')) : null,
          del)));
    });
    listBox.replaceChildren(
      h('p', { class: 'muted', id: 'media-count' }, t('media.count', { n: shown.length, all: all.length })),
      shown.length
        ? table([t('media.thumb'), t('media.title'), t('media.kind'), t('media.lang'), { label: t('media.size'), num: true }, t('media.usage'), t('media.uploaded'), ''], rows)
        : h('p', {}, all.length ? t('media.nomatch') : t('media.none')));
  }

  async function refresh() {
    [all, playlists, schedules] = await Promise.all([
      api('GET', '/api/v1/media'), api('GET', '/api/v1/playlists'), api('GET', '/api/v1/schedules')]);
    const langs = [...new Set(all.map((m) => m.lang))].sort();
    const keep = f.lang.value;
    f.lang.replaceChildren(h('option', { value: '' }, t('all')), ...langs.map((l) => h('option', { value: l }, langName(l))));
    f.lang.value = langs.includes(keep) ? keep : '';
    draw();
  }
  for (const c of Object.values(f)) c.addEventListener(c === f.q ? 'input' : 'change', draw);

  if (ctx.can('write')) left.append(uploadPanel(refresh));
  left.append(h('p', { class: 'hint' }, t('media.hint')));
  await refresh();
  return null;
}

/** The upload form: several files at once (picker or drag-and-drop), each with its own
 * progress (percentage, speed) and cancel button; one title applies only to a single file. */
function uploadPanel(refresh) {
  // The browser's own file button speaks the browser's language: it is hidden, and the drop
  // zone (a button in the console's language) opens it.
  const file = h('input', { type: 'file', multiple: true, accept: 'image/*,video/*,audio/*', name: 'file', class: 'file-hidden', tabindex: '-1', 'aria-hidden': 'true' });
  const kind = select(KINDS.map((k) => [k, t('kind.' + k)]), 'slide', { name: 'kind' });
  const lang = langSelect('vi', { name: 'lang' });
  const title = h('input', { maxlength: '200', name: 'title' });
  const dur = h('input', { type: 'number', min: '1', step: '1', class: 'secs', name: 'duration' });
  const bar = h('progress', { max: '100', value: '0', 'aria-label': t('media.progress') });
  const barText = h('span', { 'aria-live': 'polite' });
  const queue = h('ul', { class: 'upload-queue', id: 'upload-queue' });
  const button = h('button', { type: 'submit' }, t('media.upload'));
  const drop = h('div', { class: 'dropzone', id: 'media-drop', tabindex: '0', role: 'button', 'aria-label': t('media.file') + ': ' + t('media.drop') }, t('media.drop'));
  let dropped = null; // files given by drag-and-drop (the input's list cannot be set)
  const chosen = () => (dropped && dropped.length ? dropped : [...file.files]);
  const onFiles = () => {
    const fs = chosen();
    if (!fs.length) return;
    kind.value = kindOfMime(fs[0].type || '');
    if (fs.length === 1 && !title.value) title.value = fs[0].name.replace(/\.[^.]+$/, '');
    title.disabled = fs.length > 1;
    drop.textContent = fs.length > 1 ? t('media.nfiles', { n: fs.length }) : fs[0].name;
  };
  file.addEventListener('change', () => { dropped = null; onFiles(); });
  drop.addEventListener('dragover', (ev) => { ev.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (ev) => {
    ev.preventDefault();
    drop.classList.remove('over');
    dropped = [...(ev.dataTransfer ? ev.dataTransfer.files : [])];
    onFiles();
  });
  drop.addEventListener('click', () => file.click());
  drop.addEventListener('keydown', (ev) => { if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); file.click(); } });
  const form = h('form', { class: 'grid', id: 'upload-form' },
    h('div', { class: 'full' }, drop, file), field(t('media.kind'), kind), field(t('media.lang'), lang),
    field(t('media.title'), title), field(t('media.duration'), dur),
    h('div', { class: 'full' }, bar, ' ', barText), h('div', { class: 'full' }, queue),
    h('div', { class: 'full actions' }, button));

  async function one(fl, single, onBytes) {
    const k = single ? kind.value : kindOfMime(fl.type || '');
    const q = new URLSearchParams({ kind: k, lang: lang.value, title: single ? title.value.trim() : fl.name.replace(/\.[^.]+$/, '') });
    if (dur.value) q.set('duration_ms', String(Math.round(Number(dur.value) * 1000)));
    const ctl = new AbortController();
    const pct = h('span', { class: 'pct' }, '0 %');
    const speed = h('span', { class: 'muted' });
    const cancel = h('button', { type: 'button', class: 'small secondary', 'aria-label': t('media.cancel') + ': ' + fl.name, onclick: () => ctl.abort() }, t('media.cancel'));
    const li = h('li', {}, h('span', { class: 'title' }, fl.name), ' ', pct, ' ', speed, ' ', cancel);
    queue.append(li);
    const t0 = performance.now();
    try {
      const m = await upload('/api/v1/media?' + q, fl, (done, total) => {
        pct.textContent = Math.round(done * 100 / total) + ' %';
        const secsGone = (performance.now() - t0) / 1000;
        if (secsGone > 0.2) speed.textContent = t('media.speed', { v: bytes(done / secsGone) });
        onBytes(done);
      }, ctl.signal);
      pct.textContent = '100 %';
      cancel.remove();
      li.append(' ', badge('ok', t('media.done')), ' ', h('span', { class: 'muted' }, playTime(m.duration_ms)));
      return m;
    } catch (e) {
      cancel.remove();
      li.append(' ', badge(e.code === 'aborted' ? 'warn' : 'bad', e.code === 'aborted' ? t('media.cancelled') : errorText(e)));
      if (e.code !== 'aborted') throw e;
      return null;
    }
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const fs = chosen();
    if (!fs.length) { flash('error', t('media.pickfile')); return; }
    button.disabled = true;
    bar.value = 0;
    queue.replaceChildren();
    const total = fs.reduce((a, x) => a + x.size, 0) || 1;
    let before = 0;
    const ok = [];
    for (const fl of fs) {
      try {
        const m = await one(fl, fs.length === 1, (done) => {
          bar.value = Math.round((before + done) * 100 / total);
          barText.textContent = bytes(before + done) + ' / ' + bytes(total);
        });
        if (m) ok.push(m);
      } catch (e) { showError(e); }
      before += fl.size;
    }
    bar.value = 100;
    if (ok.length) flash('ok', ok.length === 1 ? t('media.uploaded.ok', { title: ok[0].title }) : t('media.uploaded.n', { n: ok.length }));
    form.reset();
    dropped = null;
    title.disabled = false;
    drop.textContent = t('media.drop');
    button.disabled = false;
    await refresh();
  });
  return h('div', { class: 'panel' }, h('h2', {}, t('media.new')), form);
}

// ---------------------------------------------------------------- playlists

export async function playlistsPage(ctx) {
  ctx.el.append(h('h1', { id: 'page-title' }, t('nav.playlists')));
  const cols = h('div', { class: 'cols' });
  const listBox = h('div', { class: 'panel' });
  const editBox = h('div', { class: 'panel' });
  cols.append(listBox, editBox);
  ctx.el.append(cols);
  let media = [], playlists = [];

  async function refresh() {
    [media, playlists] = await Promise.all([api('GET', '/api/v1/media'), api('GET', '/api/v1/playlists')]);
    const byId = new Map(media.map((m) => [m.sha256, m]));
    listBox.replaceChildren(h('h2', {}, t('pl.list')),
      playlists.length ? h('ul', { class: 'pl-list' }, playlists.map((p) => h('li', {},
        h('button', { type: 'button', class: 'small secondary', onclick: () => edit(p) }, p.name),
        ' ', (() => {
          const total = p.items.reduce((a, i) => a + (i.duration_ms || (byId.get(i.media) || {}).duration_ms || 0), 0);
          return h('span', { class: 'muted', 'data-total-ms': total, 'data-playlist': p.id }, t('pl.count', { n: p.items.length }) + ' · ' + playTime(total));
        })(),
        ctx.can('write') ? [' ', h('a', { class: 'button small secondary', href: '#/flow?playlist=' + encodeURIComponent(p.id), 'data-flow': p.id }, t('flow.start'))] : null))) : h('p', {}, t('pl.none')),
      ctx.can('write') ? h('div', { class: 'actions' }, h('button', { type: 'button', id: 'new-playlist', onclick: () => edit(null) }, t('pl.new'))) :'');
  }

  function edit(p) {
    const items = p ? p.items.map((i) => ({ media: i.media, duration_ms: i.duration_ms, variants: [...(i.variants || [])] })) : [];
    const id = h('input', { required: true, value: p ? p.id : '', readOnly: !!p, name: 'id', pattern: '[A-Za-z0-9][A-Za-z0-9._:\\-]{0,127}', spellcheck: 'false', 'aria-describedby': 'playlist-id-rule' });
    const name = h('input', { required: true, value: p ? p.name : '', name: 'name', maxlength: '200' });
    if (!p) linkId(name, id, 128);
    const ol = h('ol', { class: 'items' });
    const byId = new Map(media.map((m) => [m.sha256, m]));
    const ro = !ctx.can('write');

    function draw() {
      ol.replaceChildren(...items.map((it, i) => {
        const m = byId.get(it.media);
        const d = h('input', { type: 'number', min: '1', step: '1', class: 'secs', value: it.duration_ms ? String(it.duration_ms / 1000) : '',
          'aria-label': t('pl.duration'), disabled: ro, placeholder: m && m.duration_ms ? String(m.duration_ms / 1000) : '',
          onchange: () => { it.duration_ms = d.value ? Math.round(Number(d.value) * 1000) : null; } });
        const others = media.filter((x) => x.sha256 !== it.media && !it.variants.includes(x.sha256) && m && x.kind === m.kind && x.lang !== m.lang);
        const addVar = h('select', { 'aria-label': t('pl.addvariant'), disabled: ro || !others.length },
          h('option', { value: '' }, t('pl.addvariant')), others.map((x) => h('option', { value: x.sha256 }, x.title + ' (' + x.lang + ')')));
        addVar.addEventListener('change', () => { if (addVar.value) { it.variants.push(addVar.value); draw(); } });
        return h('li', {},
          h('div', { class: 'row' },
            h('span', { class: 'title' }, m ? m.title : shortSha(it.media)),
            m ? badge('off', m.lang) : null,
            h('label', {}, t('pl.duration'), ' ', d, ' ', t('unit.s', { n: '' }).trim()),
            ro ? null : [
              h('button', { type: 'button', class: 'small secondary', disabled: i === 0, 'aria-label': t('pl.up'), onclick: () => { [items[i - 1], items[i]] = [items[i], items[i - 1]]; draw(); } }, '↑'),
              h('button', { type: 'button', class: 'small secondary', disabled: i === items.length - 1, 'aria-label': t('pl.down'), onclick: () => { [items[i + 1], items[i]] = [items[i], items[i + 1]]; draw(); } }, '↓'),
              h('button', { type: 'button', class: 'small danger', 'aria-label': t('remove'), onclick: () => { items.splice(i, 1); draw(); } }, t('remove')),
            ]),
          h('div', { class: 'row muted' }, t('pl.variants') + ': ',
            it.variants.length ? it.variants.map((v) => {
              const vm = byId.get(v);
              return h('span', {}, badge('ok', vm ? vm.lang + ' · ' + vm.title : shortSha(v)),
                ro ? null : h('button', { type: 'button', class: 'small secondary', 'aria-label': t('remove') + ' ' + (vm ? vm.lang : ''), onclick: () => { it.variants = it.variants.filter((x) => x !== v); draw(); } }, '×'));
            }) : '—',
            ro ? null : addVar));
      }));
      if (!items.length) ol.append(h('li', { class: 'muted' }, t('pl.empty')));
    }

    const pick = h('select', { name: 'add-media', 'aria-label': t('pl.additem') },
      [...media].sort((a, b) => a.title.localeCompare(b.title, 'vi')).map((m) => h('option', { value: m.sha256 }, m.title + ' — ' + t('kind.' + m.kind) + ', ' + langName(m.lang) + (m.duration_ms ? ', ' + playTime(m.duration_ms) : ''))));
    const form = h('form', { id: 'playlist-form' },
      h('h2', {}, p ? t('pl.edit', { name: p.name }) : t('pl.new')),
      h('div', { class: 'grid' }, field(t('pl.name'), name), field(t('pl.id'), id),
        p ? null : h('p', { class: 'hint full', id: 'playlist-id-rule' }, t('id.rule'))),
      h('h3', {}, t('pl.items')), ol,
      ro ? null : h('div', { class: 'actions' }, pick,
        h('button', { type: 'button', class: 'secondary', id: 'add-item', disabled: !media.length, onclick: () => {
          const m = byId.get(pick.value);
          if (!m) return;
          items.push({ media: m.sha256, duration_ms: m.kind === 'slide' && !m.duration_ms ? 10000 : null, variants: [] });
          draw();
        } }, t('pl.additem'))),
      h('p', { class: 'hint' }, t('pl.hint')),
      ro ? null : h('div', { class: 'actions' }, h('button', { type: 'submit' }, t('save')),
        p ? h('button', { type: 'button', class: 'danger', onclick: async () => {
          if (!confirm(t('pl.confirmdelete', { name: p.name }))) return;
          try { await api('DELETE', '/api/v1/playlists/' + encodeURIComponent(p.id)); flash('ok', t('deleted')); editBox.replaceChildren(); await refresh(); }
          catch (e) { showError(e); }
        } }, t('delete')) : null));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const body = { id: id.value.trim(), name: name.value.trim(),
        items: items.map((i) => { const o = { media: i.media }; if (i.duration_ms) o.duration_ms = i.duration_ms; if (i.variants.length) o.variants = i.variants; return o; }) };
      try {
        // Creating never overwrites (POST answers 409 id_exists); saving an open one edits it.
        if (p) await api('PUT', '/api/v1/playlists/' + encodeURIComponent(body.id), body);
        else await api('POST', '/api/v1/playlists', body);
        await refresh();
        edit(playlists.find((x) => x.id === body.id) || null);
        showOk(p ? t('saved', { name: body.name }) : t('pl.created', { name: body.name }));
      } catch (e) { showError(e, form, { id, name, items: ol }); }
    });
    draw();
    editBox.replaceChildren(form);
    (p ? name : id).focus();
  }

  await refresh();
  if (playlists.length) edit(playlists[0]); else if (ctx.can('write')) edit(null); else editBox.hidden = true;
  return null;
}
