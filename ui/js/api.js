// api.js - calls to kimchid's REST API; errors carry the server's reason.
const BASE = '/plugins/kimchi';

export class ApiError extends Error {
  constructor(status, reason) {
    super(reason);
    this.status = status;
  }
}

export async function api(method, path, body) {
  const opts = { method, headers: { 'X-Requested-With': 'kimchid-ui' }, credentials: 'same-origin' };
  if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(BASE + path, opts);
  } catch {
    throw new ApiError(0, 'kimchid cannot be reached. Check that it is running and reload.');
  }
  if (res.status === 204) return null;
  const data = await res.json().catch(() => null);
  if (!res.ok) throw new ApiError(res.status, data?.reason ?? `${res.status} ${res.statusText}`);
  return data;
}

export const vmPath = (name) => `/vms/${encodeURIComponent(name)}`;
