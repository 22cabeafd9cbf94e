// HTTP client of the console: the session cookie of a signed-in user (with the session's CSRF
// token in X-CSRF-Token on every request that changes something), or else a bearer token from
// sessionStorage; JSON errors turned into ApiError with the server's message, uploads with
// progress through XMLHttpRequest.

const KEY = 'gatecast.token';
let csrf = null; // CSRF token of the cookie session, from the sign-in answer or GET /api/v1/session

/** Remembers the CSRF token of the cookie session (null after sign-out). */
export function setCsrf(c) { csrf = c || null; }

export function token() { return sessionStorage.getItem(KEY); }
export function setToken(t) { sessionStorage.setItem(KEY, t); }
export function clearToken() { sessionStorage.removeItem(KEY); }

/** An answer with status >= 400. `status` 404 on an audit path means "not built here". */
export class ApiError extends Error {
  constructor(status, code, message, body) {
    super(message || code || ('HTTP ' + status));
    this.status = status;
    this.code = code || '';
    this.retryAfter = null; // seconds, from Retry-After on a 429
    const b = body && typeof body === 'object' ? body : {};
    this.field = typeof b.field === 'string' ? b.field : null; // the request field at fault
    this.reason = typeof b.reason === 'string' ? b.reason : null; // what is wrong with it
    // The names the error refers to (id, value, …), for the sentence in the console's words.
    this.names = {};
    for (const [k, v] of Object.entries(b)) {
      if (!['error', 'message', 'field', 'reason'].includes(k) && (typeof v === 'string' || typeof v === 'number')) this.names[k] = v;
    }
  }
}

function headers(extra, method) {
  const h = Object.assign({}, extra || {});
  const t = token();
  if (t) h['Authorization'] = 'Bearer ' + t;
  else if (csrf && method && method !== 'GET' && method !== 'HEAD') h['X-CSRF-Token'] = csrf;
  return h;
}

async function errorOf(resp) {
  let code = '', message = '', j = null;
  try {
    j = await resp.json();
    code = j.error || '';
    message = j.message || '';
    if (j.field && message && !message.includes(j.field)) message = j.field + ': ' + message;
  } catch (_) { /* not JSON */ }
  const e = new ApiError(resp.status, code, message, j);
  const ra = Number(resp.headers.get('Retry-After'));
  if (ra > 0) e.retryAfter = ra;
  return e;
}

/** JSON request; resolves to the parsed body. */
export async function api(method, path, body) {
  const init = { method, headers: headers({}, method), cache: 'no-store' };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(path, init);
  if (!resp.ok) throw await errorOf(resp);
  const text = await resp.text();
  return text ? JSON.parse(text) : null;
}

/** POST of a JSON body answered by an image (the alert preview); resolves to the Blob. */
export async function postForBlob(path, body) {
  const resp = await fetch(path, { method: 'POST', cache: 'no-store',
    headers: headers({ 'Content-Type': 'application/json' }, 'POST'), body: JSON.stringify(body) });
  if (!resp.ok) throw await errorOf(resp);
  return resp.blob();
}

/** GET returning a Blob and the file name from Content-Disposition (if any). */
export async function download(path) {
  const resp = await fetch(path, { headers: headers(), cache: 'no-store' });
  if (!resp.ok) throw await errorOf(resp);
  const cd = resp.headers.get('Content-Disposition') || '';
  const m = /filename="?([^";]+)"?/.exec(cd);
  return { blob: await resp.blob(), name: m ? m[1] : null, type: resp.headers.get('Content-Type') || '', next: resp.headers.get('X-Next-Cursor') };
}

/** Raw upload with progress; onProgress(loaded, total). Resolves to the parsed JSON answer.
 * An AbortSignal `signal` cancels it (rejects with code `aborted`). */
export function upload(path, file, onProgress, signal) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    if (signal) {
      if (signal.aborted) { reject(new ApiError(0, 'aborted', '')); return; }
      signal.addEventListener('abort', () => xhr.abort(), { once: true });
    }
    xhr.open('POST', path);
    const h = headers({ 'Content-Type': file.type || 'application/octet-stream' }, 'POST');
    for (const k of Object.keys(h)) xhr.setRequestHeader(k, h[k]);
    xhr.upload.addEventListener('progress', (e) => { if (e.lengthComputable) onProgress(e.loaded, e.total); });
    xhr.addEventListener('load', () => {
      let j = null;
      try { j = JSON.parse(xhr.responseText); } catch (_) { /* not JSON */ }
      if (xhr.status >= 200 && xhr.status < 300) resolve(j);
      else reject(new ApiError(xhr.status, j && j.error, j && j.message, j));
    });
    xhr.addEventListener('error', () => reject(new ApiError(0, 'network', '')));
    xhr.addEventListener('abort', () => reject(new ApiError(0, 'aborted', '')));
    xhr.send(file);
  });
}

/** The role of the current token from `GET /api/v1/whoami` (one request, no side effect);
 * an invalid token rejects with the 401 ApiError. */
export async function detectRole() {
  const me = await api('GET', '/api/v1/whoami');
  if (!me || !me.role) throw new ApiError(0, 'bad_answer', 'whoami');
  return me.role;
}

/** Signs in with login, password and (for two-factor users) the 6-digit code; the answer
 * `{login, name, role, csrf}` sets the session cookie. A 401 with code `code_required` means
 * "ask for the code". */
export async function signIn(login, password, code) {
  const body = { login, password };
  if (code) body.code = code;
  const me = await api('POST', '/api/v1/session', body);
  setCsrf(me.csrf);
  return me;
}

/** The user of this browser's session cookie (another tab signed in), or null. */
export async function currentSession() {
  try {
    const me = await api('GET', '/api/v1/session');
    setCsrf(me.csrf);
    return me;
  } catch (e) {
    if (e.status === 401) return null;
    throw e;
  }
}

/** Ends the cookie session on the server (best effort) and forgets its CSRF token. */
export async function signOutSession() {
  try { await api('DELETE', '/api/v1/session'); } catch (e) { console.warn('sign-out', e.message); }
  setCsrf(null);
}
