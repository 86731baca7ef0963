// history.js - the Tasks page: recent tasks from kimchid's records (they survive restarts),
// newest first, with how long each took and, for a migration, its average speed and the
// guest's downtime; filtered by guest, kind and outcome. New ends arrive from the event stream.
import { api, setUnauthorizedHandler } from './api.js';
import { duration, rate } from './format.js';
import { startLive } from './live.js';
import { askLogin, ensureLogin, initLogin } from './login.js';

const KIND_RE = /^\/plugins\/kimchi\/vms\/(.+)\/(migrate|clone)$/;
let tasks = new Map(); // id -> task

function guestAndKind(task) {
  const m = KIND_RE.exec(task.target_uri ?? '');
  if (!m) return { guest: '', kind: 'other' };
  let guest = m[1];
  try {
    guest = decodeURIComponent(guest);
  } catch {
    // an older record holds the name raw
  }
  // a clone's target_uri names the new guest, as Kimchi's does
  return { guest, kind: m[2] };
}

// Average speed of a finished migration: the data it moved over the time it took.
function speed(task) {
  const p = task.progress;
  if (!p || !(p.elapsed_ms > 0) || p.data_processed == null) return '';
  return rate((p.data_processed * 1000) / p.elapsed_ms) ?? '';
}

function took(task) {
  const a = Date.parse(task.created);
  const b = Date.parse(task.updated);
  if (Number.isNaN(a) || Number.isNaN(b)) return '';
  const ms = b - a;
  return ms < 10000 ? `${(ms / 1000).toFixed(1)} s` : duration(ms);
}

function cell(tr, text, cls) {
  const td = document.createElement('td');
  if (cls) td.className = cls;
  td.textContent = text;
  tr.append(td);
  return td;
}

// A move that left its guest split between two hosts: its recovery, run again on request
// (once whatever kept the halves apart is fixed); the new task arrives from the stream.
function recoverButton(task) {
  const b = document.createElement('button');
  b.type = 'button';
  b.className = 'recover';
  b.textContent = 'Recover';
  b.title = 'Run the post-copy recovery again, to join the halves of the guest';
  b.addEventListener('click', async () => {
    b.disabled = true;
    const banner = document.getElementById('load-error');
    try {
      const t = await api('POST', `/tasks/${encodeURIComponent(task.id)}/recover`);
      tasks.set(t.id, t);
      banner.hidden = true;
      render();
    } catch (err) {
      banner.textContent = err.message;
      banner.hidden = false;
      b.disabled = false;
    }
  });
  return b;
}

function render() {
  const guestFilter = document.getElementById('f-guest').value.trim().toLowerCase();
  const kindFilter = document.getElementById('f-kind').value;
  const outcomeFilter = document.getElementById('f-outcome').value;
  const body = document.querySelector('#history tbody');
  const rows = [];
  const list = [...tasks.values()].sort((x, y) => (x.created < y.created ? 1 : x.created > y.created ? -1 : 0));
  for (const task of list) {
    const { guest, kind } = guestAndKind(task);
    if (guestFilter && !guest.toLowerCase().includes(guestFilter)) continue;
    if (kindFilter && kind !== kindFilter) continue;
    if (outcomeFilter && task.status !== outcomeFilter) continue;
    const tr = document.createElement('tr');
    tr.dataset.id = task.id;
    const when = new Date(task.created);
    cell(tr, Number.isNaN(when.getTime()) ? '' : when.toLocaleString(), 'when');
    cell(tr, guest, 'name');
    cell(tr, kind === 'migrate' ? 'migration' : kind, 'kind');
    const badge = document.createElement('span');
    badge.className = `badge outcome-${task.status}`;
    badge.textContent = task.status;
    cell(tr, '', 'outcome').append(badge);
    cell(tr, took(task), 'duration');
    cell(tr, kind === 'migrate' ? speed(task) : '', 'speed');
    const down = task.progress?.downtime_ms;
    cell(tr, kind === 'migrate' && down != null ? `${down} ms` : '', 'downtime');
    const msg = cell(tr, task.message, 'message');
    if (task.recoverable) msg.append(' ', recoverButton(task));
    rows.push(tr);
  }
  body.replaceChildren(...rows);
  document.getElementById('empty').hidden = rows.length > 0;
}

async function load() {
  const banner = document.getElementById('load-error');
  try {
    tasks = new Map((await api('GET', '/tasks')).map((t) => [t.id, t]));
    banner.hidden = true;
  } catch (err) {
    banner.textContent = err.message;
    banner.hidden = false;
  }
  render();
}

for (const id of ['f-guest', 'f-kind', 'f-outcome'])
  document.getElementById(id).addEventListener('input', render);
document.getElementById('task-filters').addEventListener('submit', (ev) => ev.preventDefault());

setUnauthorizedHandler(async () => {
  await askLogin(true);
  load();
});
initLogin(async () => {
  await askLogin(false);
  load();
});
ensureLogin().then(() => {
  load();
  startLive({
    ready(reload) {
      if (reload) load();
    },
    vm() {},
    task(task) {
      tasks.set(task.id, task);
      render();
    },
    down() {},
  });
});
