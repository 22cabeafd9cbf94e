// HTTP client of the console: bearer token from sessionStorage, JSON errors turned into
// ApiError with the server's message, uploads with progress through XMLHttpRequest.

const KEY = 'gatecast.token';

export function token() { return sessionStorage.getItem(KEY); }
export function setToken(t) { sessionStorage.setItem(KEY, t); }
export function clearToken() { sessionStorage.removeItem(KEY); }

/** An answer with status >= 400. `status` 404 on an audit path means "not built here". */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code || ('HTTP ' + status));
    this.status = status;
    this.code = code || '';
  }
}

function headers(extra) {
  const h = Object.assign({}, extra || {});
  const t = token();
  if (t) h['Authorization'] = 'Bearer ' + t;
  return h;
}

async function errorOf(resp) {
  let code = '', message = '';
  try {
    const j = await resp.json();
    code = j.error || '';
    message = j.message || '';
    if (j.field && message && !message.includes(j.field)) message = j.field + ': ' + message;
  } catch (_) { /* not JSON */ }
  return new ApiError(resp.status, code, message);
}

/** JSON request; resolves to the parsed body. */
export async function api(method, path, body) {
  const init = { method, headers: headers(), cache: 'no-store' };
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
    headers: headers({ 'Content-Type': 'application/json' }), body: JSON.stringify(body) });
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

/** Raw upload with progress; onProgress(loaded, total). Resolves to the parsed JSON answer. */
export function upload(path, file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', path);
    const h = headers({ 'Content-Type': file.type || 'application/octet-stream' });
    for (const k of Object.keys(h)) xhr.setRequestHeader(k, h[k]);
    xhr.upload.addEventListener('progress', (e) => { if (e.lengthComputable) onProgress(e.loaded, e.total); });
    xhr.addEventListener('load', () => {
      let j = null;
      try { j = JSON.parse(xhr.responseText); } catch (_) { /* not JSON */ }
      if (xhr.status >= 200 && xhr.status < 300) resolve(j);
      else reject(new ApiError(xhr.status, j && j.error, j && j.message));
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
