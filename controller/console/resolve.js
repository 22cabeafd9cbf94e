// What a screen's schedule resolves to, in the browser, by the rules of docs/protocol.md §10
// ("Active playlist"): among the entries active at an instant the highest priority wins, ties
// go to the smallest id (byte-wise); with none active the fallback plays (the playlist of the
// lowest-priority entry without conditions, else of the lowest-priority entry, as the
// controller builds the manifest). Times are wall-clock minutes of the gate's day.

export const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];

/** "HH:MM" as minutes of the day; `dflt` when empty. */
export function toMin(s, dflt) { if (!s) return dflt; const [a, b] = s.split(':').map(Number); return a * 60 + b; }

/** Minute ranges [start, end) the entry covers on a day (overnight windows split in two). */
export function windows(e) {
  if (!e.start && !e.end) return [[0, 1440]];
  const s = toMin(e.start, 0), en = toMin(e.end, 1440);
  if (en > s) return [[s, en]];
  return [[s, 1440], [0, en]];
}

/** Monday = 0 … Sunday = 6 of a YYYY-MM-DD date. */
export function dowOf(day) {
  const [y, m, d] = day.split('-').map(Number);
  return (new Date(Date.UTC(y, m - 1, d)).getUTCDay() + 6) % 7;
}

/** YYYY-MM-DD `n` days after `day`. */
export function addDays(day, n) {
  const [y, m, d] = day.split('-').map(Number);
  return new Date(Date.UTC(y, m - 1, d + n)).toISOString().slice(0, 10);
}

/** dd/mm/yyyy of a YYYY-MM-DD date, whatever the browser's locale. */
export function dmy(day) { if (!day) return ''; const [y, m, d] = day.split('-'); return d + '/' + m + '/' + y; }

/** Whether the entry's dates and weekdays include `day`. */
export function activeOn(e, day) {
  if (e.from && day < e.from) return false;
  if (e.until && day > e.until) return false;
  if (e.weekdays && e.weekdays.length && !e.weekdays.includes(DAYS[dowOf(day)])) return false;
  return true;
}

/** Whether the entry plays at minute `min` of `day` (an overnight window's early part belongs
 * to the day it started). */
export function playsAt(e, day, min) {
  const w = windows(e);
  if (w.length === 2 && min < w[1][1]) return activeOn(e, addDays(day, -1));
  return activeOn(e, day) && w.some(([s, en]) => min >= s && min < en);
}

/** Whether the entry reaches the screen (directly or through its gate). */
export function reaches(e, screen) {
  const tg = e.targets || {};
  return (tg.screens || []).includes(screen.id) || (tg.gates || []).includes(screen.gate);
}

/** Higher priority first, then the smaller id. */
export function byRank(a, b) { return b.priority - a.priority || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0); }

/** The fallback entry among `entries` (already the screen's). */
export function fallbackOf(entries) {
  const sorted = [...entries].sort(byRank);
  const plain = sorted.filter((e) => !e.from && !e.until && !e.weekdays && !e.start);
  return plain.length ? plain[plain.length - 1] : sorted[sorted.length - 1] || null;
}

/** The winning entry at minute `min` of `day` (`{entry, fallback}`), or null with no entry. */
export function winnerAt(entries, day, min) {
  const act = entries.filter((e) => playsAt(e, day, min)).sort(byRank);
  if (act.length) return { entry: act[0], fallback: false };
  const f = fallbackOf(entries);
  return f ? { entry: f, fallback: true } : null;
}

/** The day as runs of the same winner: [{from, to, entry, fallback}] in minutes. */
export function dayRuns(entries, day, step = 15) {
  const runs = [];
  for (let m = 0; m < 1440; m += step) {
    const w = winnerAt(entries, day, m);
    const id = w ? w.entry.id + (w.fallback ? '#f' : '') : '';
    const last = runs[runs.length - 1];
    if (last && last.key === id) last.to = m + step;
    else runs.push({ key: id, from: m, to: m + step, entry: w && w.entry, fallback: !!(w && w.fallback) });
  }
  return runs;
}

/** "HH:MM" of minutes of the day. */
export function hhmm(min) { const p = (n) => String(n).padStart(2, '0'); return p(Math.floor(min / 60)) + ':' + p(min % 60); }
