// api.js - calls to kimchid's REST API; errors carry the server's reason.
const BASE = '/plugins/kimchi';

export class ApiError extends Error {
  constructor(status, reason) {
    super(reason);
    this.status = status;
  }
}

// Called when kimchid answers 401 to anything but a login: the session is gone.
let onUnauthorized = () => {};
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

export async function api(method, path, body, { base = BASE } = {}) {
  const opts = { method, headers: { 'X-Requested-With': 'kimchid-ui' }, credentials: 'same-origin' };
  if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(base + path, opts);
  } catch {
    throw new ApiError(0, 'kimchid cannot be reached. Check that it is running and reload.');
  }
  if (res.status === 204) return null;
  const data = await res.json().catch(() => null);
  if (res.status === 401 && path !== '/login') onUnauthorized();
  if (!res.ok) throw new ApiError(res.status, data?.reason ?? `${res.status} ${res.statusText}`);
  return data;
}

export const vmPath = (name) => `/vms/${encodeURIComponent(name)}`;
