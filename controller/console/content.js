// Media library (upload with progress, preview, usage, delete) and playlists (build, reorder,
// durations, language variants).
import { t } from './i18n.js';
import { api, upload } from './api.js';
import { subtitlePanel } from './subtitles.js';
import { h, field, select, flash, showError, time, bytes, secs, badge, table, langSelect, langName, shortSha } from './ui.js';

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
  return h('div', { class: 'media-thumb thumb icon', 'aria-hidden': 'true' }, m.kind === 'clip' ? '♪' : '▶');
}

function previewOf(m) {
  const src = '/media/' + m.sha256;
  if (m.kind === 'slide') return h('img', { class: 'preview', src, alt: m.title });
  if (m.mime.startsWith('audio/')) return h('audio', { controls: true, src, preload: 'none' });
  return h('video', { class: 'preview', controls: true, src, preload: 'metadata' });
}

export async function mediaPage(ctx) {
  const listBox = h('div');
  const previewBox = h('div', { 'aria-live': 'polite' });
  ctx.el.append(h('h1', { id: 'page-title' }, t('nav.media')));
  const cols = h('div', { class: 'cols' });
  ctx.el.append(cols);
  const left = h('div');
  cols.append(left, h('div', {}, listBox, previewBox));

  async function refresh() {
    const [media, playlists, schedules] = await Promise.all([
      api('GET', '/api/v1/media'), api('GET', '/api/v1/playlists'), api('GET', '/api/v1/schedules')]);
    media.sort((a, b) => (b.uploaded_at || '').localeCompare(a.uploaded_at || ''));
    const rows = media.map((m) => {
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
      return h('tr', { 'data-sha': m.sha256 },
        h('td', {}, mediaThumb(m)),
        h('td', {}, h('strong', {}, m.title), h('div', { class: 'muted mono', title: m.sha256 }, shortSha(m.sha256))),
        h('td', {}, t('kind.' + m.kind), h('div', { class: 'muted' }, m.mime)),
        h('td', {}, langName(m.lang)),
        h('td', { class: 'num' }, bytes(m.bytes), h('div', { class: 'muted' }, secs(m.duration_ms))),
        h('td', {}, useCell),
        h('td', {}, time(m.uploaded_at, 'Asia/Ho_Chi_Minh')),
        h('td', {}, h('div', { class: 'actions' },
          h('button', { type: 'button', class: 'small secondary', 'aria-label': t('media.preview') + ': ' + m.title,
            onclick: () => { previewBox.replaceChildren(h('h2', {}, t('media.preview') + ': ' + m.title), previewOf(m)); } }, t('media.preview')),
          m.kind !== 'slide' ? h('button', { type: 'button', class: 'small secondary', 'data-action': 'subtitles', 'aria-label': t('sub.title') + ': ' + m.title,
            onclick: () => { previewBox.replaceChildren(subtitlePanel(m, ctx.can('write'))); } }, t('sub.title')) : null,
          del)));
    });
    listBox.replaceChildren(media.length
      ? table([t('media.thumb'), t('media.title'), t('media.kind'), t('media.lang'), { label: t('media.size'), num: true }, t('media.usage'), t('media.uploaded'), ''], rows)
      : h('p', {}, t('media.none')));
  }

  if (ctx.can('write')) {
    const file = h('input', { type: 'file', required: true, accept: 'image/*,video/*,audio/*', name: 'file' });
    const kind = select(KINDS.map((k) => [k, t('kind.' + k)]), 'slide', { name: 'kind' });
    const lang = langSelect('vi', { name: 'lang' });
    const title = h('input', { maxlength: '200', name: 'title' });
    const dur = h('input', { type: 'number', min: '1', step: '1', class: 'secs', name: 'duration' });
    const bar = h('progress', { max: '100', value: '0', 'aria-label': t('media.progress') });
    const barText = h('span', { 'aria-live': 'polite' });
    const button = h('button', { type: 'submit' }, t('media.upload'));
    file.addEventListener('change', () => {
      const f = file.files[0];
      if (!f) return;
      kind.value = kindOfMime(f.type || '');
      if (!title.value) title.value = f.name.replace(/\.[^.]+$/, '');
    });
    const form = h('form', { class: 'grid', id: 'upload-form' },
      field(t('media.file'), file), field(t('media.kind'), kind), field(t('media.lang'), lang),
      field(t('media.title'), title), field(t('media.duration'), dur),
      h('div', { class: 'full' }, bar, ' ', barText),
      h('div', { class: 'full actions' }, button));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const f = file.files[0];
      if (!f) return;
      const q = new URLSearchParams({ kind: kind.value, lang: lang.value, title: title.value.trim() });
      if (dur.value) q.set('duration_ms', String(Math.round(Number(dur.value) * 1000)));
      button.disabled = true;
      bar.value = 0;
      try {
        const m = await upload('/api/v1/media?' + q, f, (done, total) => {
          bar.value = Math.round(done * 100 / total);
          barText.textContent = bytes(done) + ' / ' + bytes(total);
        });
        bar.value = 100;
        flash('ok', t('media.uploaded.ok', { title: m.title }));
        form.reset();
        await refresh();
      } catch (e) { showError(e); }
      finally { button.disabled = false; }
    });
    left.append(h('div', { class: 'panel' }, h('h2', {}, t('media.new')), form));
  }
  left.append(h('p', { class: 'hint' }, t('media.hint')));
  await refresh();
  return null;
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
        ' ', h('span', { class: 'muted' }, t('pl.count', { n: p.items.length }) + ' · ' +
          secs(p.items.reduce((a, i) => a + (i.duration_ms || (byId.get(i.media) || {}).duration_ms || 0), 0)))))) : h('p', {}, t('pl.none')),
      ctx.can('write') ? h('div', { class: 'actions' }, h('button', { type: 'button', id: 'new-playlist', onclick: () => edit(null) }, t('pl.new'))) : null);
  }

  function edit(p) {
    const items = p ? p.items.map((i) => ({ media: i.media, duration_ms: i.duration_ms, variants: [...(i.variants || [])] })) : [];
    const id = h('input', { required: true, value: p ? p.id : '', readOnly: !!p, name: 'id', pattern: '[A-Za-z0-9][A-Za-z0-9._:\\-]{0,127}' });
    const name = h('input', { required: true, value: p ? p.name : '', name: 'name', maxlength: '200' });
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
            h('label', {}, t('pl.duration'), ' ', d, ' s'),
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
      media.map((m) => h('option', { value: m.sha256 }, m.title + ' — ' + t('kind.' + m.kind) + ', ' + m.lang)));
    const form = h('form', { id: 'playlist-form' },
      h('h2', {}, p ? t('pl.edit', { name: p.name }) : t('pl.new')),
      h('div', { class: 'grid' }, field(t('pl.id'), id), field(t('pl.name'), name)),
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
        await api('PUT', '/api/v1/playlists/' + encodeURIComponent(body.id), body);
        flash('ok', t('saved', { name: body.name }));
        await refresh();
        edit(playlists.find((x) => x.id === body.id) || null);
      } catch (e) { showError(e); }
    });
    draw();
    editBox.replaceChildren(form);
    (p ? name : id).focus();
  }

  await refresh();
  if (playlists.length) edit(playlists[0]); else if (ctx.can('write')) edit(null); else editBox.hidden = true;
  return null;
}
