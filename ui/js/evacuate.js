// evacuate.js - "Evacuate host…" (administrators): the plan first (each guest -> destination,
// or why it cannot move: POST /host/evacuate with check_only), then Start; while it runs a
// banner counts the moves (each guest's row shows its own move, a task of its own) with a
// way to cancel, and at the end a summary: moved, failed, time.
import { api } from './api.js';
import { notify } from './notify.js';

const EVACUATE_URI = '/plugins/kimchi/host/evacuate';
let planSeq = 0; // the newest plan asked for: an older answer that comes late is not shown
let running = null; // the evacuation task followed, while it runs
const told = new Set(); // evacuation tasks whose end was announced

function fields() {
  const dests = document.getElementById('evacuate-dests').value.split(/[\s,]+/).filter(Boolean);
  const body = {
    max_parallel: Number(document.getElementById('evacuate-parallel').value) || 2,
    include_shutoff: document.getElementById('evacuate-shutoff').checked,
  };
  if (dests.length) body.destinations = dests;
  return body;
}

function planRow(g) {
  const tr = document.createElement('tr');
  tr.dataset.guest = g.name;
  tr.className = g.status === 'cannot-move' ? 'bad' : g.status === 'skipped' ? 'skipped' : 'ok';
  const where = g.status === 'waiting' ? `→ ${g.destination}`
    : g.status === 'skipped' ? 'stays (shut off)' : 'cannot move';
  const cells = [g.name, where, g.status === 'waiting' ? '' : g.message];
  tr.replaceChildren(...cells.map((text) => Object.assign(document.createElement('td'), { textContent: text })));
  return tr;
}

function showPlan(plan, title) {
  document.getElementById('evacuate-plan-title').textContent = title;
  document.querySelector('#evacuate-plan tbody').replaceChildren(...(plan?.guests ?? []).map(planRow));
  document.getElementById('evacuate-plan').hidden = !plan;
}

async function loadPlan() {
  const seq = ++planSeq;
  const err = document.getElementById('evacuate-error');
  err.hidden = true;
  showPlan(null, 'Checking each guest against each destination…');
  document.getElementById('evacuate-plan-title').hidden = false;
  try {
    const plan = await api('POST', '/host/evacuate', { ...fields(), check_only: true });
    if (seq !== planSeq) return;
    const moving = plan.guests.filter((g) => g.status === 'waiting').length;
    const stuck = plan.guests.filter((g) => g.status === 'cannot-move').length;
    showPlan(plan, plan.guests.length === 0 ? 'No guests on this host: nothing to move.'
      : `${moving} guest(s) will move${stuck ? `; ${stuck} cannot move and stay here` : ''}.`);
  } catch (e) {
    if (seq !== planSeq) return;
    document.getElementById('evacuate-plan-title').hidden = true;
    err.textContent = e.message;
    err.hidden = false;
  }
}

// The banner while an evacuation runs (from its task: the stream's frames or a poll).
export function showEvacuation(task) {
  if (task.target_uri !== EVACUATE_URI) return false;
  const banner = document.getElementById('evacuation');
  const p = task.progress ?? {};
  if (task.status === 'running') {
    running = task;
    document.getElementById('evacuation-text').textContent = p.guests
      ? `Evacuating this host: ${p.moved} moved, ${p.moving} moving, ${p.waiting} waiting${p.failed ? `, ${p.failed} failed` : ''}${p.cannot_move ? `, ${p.cannot_move} cannot move` : ''}.`
      : `Evacuating this host: ${task.message}`;
    banner.hidden = false;
    return true;
  }
  banner.hidden = true;
  if (running?.id === task.id) running = null;
  if (!told.has(task.id)) {
    told.add(task.id);
    notify(task.message, { error: task.status !== 'finished' });
  }
  return true;
}

// After a reload, or polled while the event stream is down: a running evacuation is shown,
// and the end of the one followed is told.
export async function findEvacuation() {
  try {
    const tasks = await api('GET', `/tasks?status=running&target_uri=${encodeURIComponent(EVACUATE_URI)}`);
    if (running && !tasks.some((t) => t.id === running.id)) {
      showEvacuation(await api('GET', `/tasks/${encodeURIComponent(running.id)}`));
    }
    for (const t of tasks) showEvacuation(t);
  } catch {
    // the banner is a convenience; the guest rows show each move anyway
  }
}

export function initEvacuateDialog(onStarted) {
  const d = document.getElementById('evacuate-dialog');
  const open = document.getElementById('evacuate-open');
  open.addEventListener('click', () => {
    document.getElementById('evacuate-error').hidden = true;
    d.showModal();
    loadPlan();
  });
  for (const id of ['evacuate-dests', 'evacuate-parallel', 'evacuate-shutoff']) {
    document.getElementById(id).addEventListener('change', loadPlan);
  }
  document.getElementById('evacuate-cancel').addEventListener('click', () => d.close());
  d.addEventListener('close', () => {
    planSeq++;
    open.focus();
  });
  document.getElementById('evacuate-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const start = document.getElementById('evacuate-start');
    start.disabled = true;
    try {
      const task = await api('POST', '/host/evacuate', fields());
      d.close();
      showEvacuation(task);
      onStarted(task);
    } catch (e) {
      const err = document.getElementById('evacuate-error');
      err.textContent = e.message;
      err.hidden = false;
    }
    start.disabled = false;
  });
  document.getElementById('evacuation-cancel').addEventListener('click', async () => {
    if (!running) return;
    try {
      await api('POST', `/tasks/${encodeURIComponent(running.id)}/cancel`);
      notify('Cancelling the evacuation: moves not started stay here; running ones are asked to stop.');
    } catch (e) {
      notify(e.message, { error: true });
    }
  });
}
