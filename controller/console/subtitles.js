// Subtitle tracks of a video (docs/protocol.md §21): the tracks by language, an SRT or WebVTT
// upload per language (checked by the controller: UTF-8, ≤ 1 MiB, cue structure), removal.
import { t } from './i18n.js';
import { api, upload } from './api.js';
import { h, field, flash, showError, table, bytes, time, langSelect, langName, shortSha } from './ui.js';

/** The panel for video `m` (shown in the media page's preview box). */
export function subtitlePanel(m, canWrite) {
  const box = h('div', { class: 'panel', id: 'subtitles', 'data-video': m.sha256 });
  const list = h('div');
  async function draw() {
    const { subtitles } = await api('GET', '/api/v1/media/' + m.sha256 + '/subtitles');
    list.replaceChildren(subtitles.length ? table([t('media.lang'), t('sub.format'), t('sub.cues'), t('media.size'), t('media.uploaded'), ''],
      subtitles.map((s) => h('tr', { 'data-lang': s.lang },
        h('td', {}, langName(s.lang) + ' (' + s.lang + ')', h('div', { class: 'muted mono', title: s.sha256 }, shortSha(s.sha256))),
        h('td', {}, s.format === 'vtt' ? 'WebVTT' : 'SRT'),
        h('td', { class: 'num' }, String(s.cues)),
        h('td', { class: 'num' }, bytes(s.bytes)),
        h('td', {}, time(s.uploaded_at, 'Asia/Ho_Chi_Minh')),
        h('td', {}, canWrite ? h('button', { type: 'button', class: 'small danger', onclick: async () => {
          if (!confirm(t('sub.confirmdelete', { lang: langName(s.lang) }))) return;
          try { await api('DELETE', '/api/v1/media/' + m.sha256 + '/subtitles/' + encodeURIComponent(s.lang)); flash('ok', t('deleted')); await draw(); }
          catch (e) { showError(e); }
        } }, t('delete')) : null)))) : h('p', { 'data-empty': 'true' }, t('sub.none')));
  }
  box.append(h('h2', {}, t('sub.title') + ': ' + m.title), h('p', { class: 'hint' }, t('sub.hint')), list);
  if (canWrite) {
    const lang = langSelect('hmn', { name: 'lang' });
    const file = h('input', { type: 'file', required: true, accept: '.srt,.vtt,text/vtt,application/x-subrip', name: 'file' });
    const form = h('form', { class: 'grid', id: 'subtitle-upload' },
      field(t('media.lang'), lang), field(t('sub.file'), file),
      h('div', { class: 'full actions' }, h('button', { type: 'submit' }, t('sub.upload'))));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const f = file.files[0];
      if (!f) return;
      try {
        const type = /\.vtt$/i.test(f.name) ? 'text/vtt' : 'application/x-subrip';
        const r = await upload('/api/v1/media/' + m.sha256 + '/subtitles?lang=' + encodeURIComponent(lang.value), new File([f], f.name, { type }), () => {});
        flash('ok', t('sub.uploaded', { lang: langName(r.lang), n: r.cues }));
        form.reset();
        await draw();
      } catch (e) { showError(e); }
    });
    box.append(form);
  }
  draw().catch(showError);
  return box;
}
