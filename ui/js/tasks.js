// tasks.js - follows kimchid's running tasks (so a reload keeps showing them) and
// announces how each one ended, once, whether the end came from the event stream or a poll.
import { api } from './api.js';
import { notify } from './notify.js';

const MIGRATE_RE = /^\/plugins\/kimchi\/vms\/(.+)\/migrate$/;
const CLONE_RE = /^\/plugins\/kimchi\/vms\/(.+)\/clone$/; // Kimchi's: the new guest, + /clone
const watched = new Map(); // task id -> { kind, guest, task }
const cloneSources = new Map(); // task id -> source guest (clones started from this page)
const ended = new Map(); // task id -> its final state, for ends seen before the POST answered
const announced = new Set(); // task ids whose end was told
const REMEMBER = 200; // ended and announced keep this many (a page may stay open for weeks)

function remember(collection, add) {
  add();
  if (collection.size > REMEMBER) collection.delete(collection.keys().next().value);
}

// A guest name from a task's target_uri: kimchid percent-encodes it; a record written by an
// older kimchid holds it raw ("50%off" is not valid encoding: taken as it is).
function nameFromUri(segment) {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

// The guest a task works on, and what it does.
function describe(task) {
  const m = MIGRATE_RE.exec(task.target_uri ?? '');
  if (m) return { kind: 'migrate', guest: nameFromUri(m[1]) };
  const source = cloneSources.get(task.id);
  if (source) return { kind: 'clone', guest: source };
  return null;
}

// A task started from this page: followed until it ends (the stream may have brought its
// end before the request that started it answered).
function track(task, w) {
  if (ended.has(task.id)) announce(w, ended.get(task.id));
  else watched.set(task.id, { ...w, task });
}

export function trackClone(task, source) {
  cloneSources.set(task.id, source);
  track(task, { kind: 'clone', guest: source });
}

export function trackMigration(task, guest) {
  track(task, { kind: 'migrate', guest });
}

// Running task per guest name, for the rows.
export function tasksByGuest() {
  const out = new Map();
  for (const w of watched.values()) if (w.task.status === 'running') out.set(w.guest, w);
  return out;
}

function announce(w, task) {
  watched.delete(task.id);
  if (announced.has(task.id)) return;
  remember(announced, () => announced.add(task.id));
  const ok = task.status === 'finished';
  if (w.kind === 'migrate') {
    const what = task.message.replace(/^OK: /, '');
    notify(ok ? `Migration finished: ${what}.` : task.message, { error: !ok });
  } else {
    const name = nameFromUri(CLONE_RE.exec(task.target_uri ?? '')?.[1] ?? '');
    notify(ok ? `"${w.guest}" was cloned as "${name}".` : task.message, { error: !ok });
  }
}

// A task's new state from the event stream.
export function applyTask(task) {
  const w = watched.get(task.id) ?? describe(task);
  if (task.status === 'running') {
    if (w) watched.set(task.id, { ...w, task });
  } else {
    remember(ended, () => ended.set(task.id, task));
    if (w) announce(w, task);
  }
}

// One poll: refresh running tasks, announce the ones that ended.
export async function pollTasks() {
  const running = await api('GET', '/tasks?status=running');
  const ids = new Set();
  for (const task of running) {
    ids.add(task.id);
    const d = describe(task);
    if (d) watched.set(task.id, { ...d, task });
  }
  for (const [id, w] of watched) {
    if (ids.has(id)) continue;
    const task = await api('GET', `/tasks/${encodeURIComponent(id)}`).catch(() => null);
    if (task) announce(w, task);
    else watched.delete(id);
  }
}
