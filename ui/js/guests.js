// guests.js - the guests table: one row per guest, kept in place between refreshes so an
// open menu survives, with an actions menu whose items follow the guest's state.
import { kbps, mib, progressLine } from './format.js';

const ACTIVE = ['running', 'paused', 'blocked', 'shutdown', 'pmsuspended', 'nostate'];

// The menu's items, [{name, label}] in kimchid's order (its route table, read once from
// /config/capabilities); each guest's "actions" says which its state allows now.
let items = [];

export function setMenuItems(list) {
  items = list;
}

let onAction = () => {};
const rows = new Map(); // guest name -> <tr>

export function setActionHandler(fn) {
  onAction = fn;
}

function closeMenu(menu, focusButton) {
  const list = menu.querySelector('ul');
  if (list.hidden) return;
  list.hidden = true;
  menu.querySelector('.menu-button').setAttribute('aria-expanded', 'false');
  if (focusButton) menu.querySelector('.menu-button').focus();
}

export function closeAllMenus() {
  document.querySelectorAll('.menu').forEach((m) => closeMenu(m, false));
}

function enabledItems(menu) {
  return [...menu.querySelectorAll('li button:not(:disabled)')];
}

function openMenu(menu) {
  closeAllMenus();
  menu.querySelector('ul').hidden = false;
  menu.querySelector('.menu-button').setAttribute('aria-expanded', 'true');
  enabledItems(menu)[0]?.focus();
}

function menuKeys(menu, ev) {
  const items = enabledItems(menu);
  const i = items.indexOf(document.activeElement);
  if (ev.key === 'Escape') {
    ev.preventDefault();
    closeMenu(menu, true);
  } else if (ev.key === 'ArrowDown' || ev.key === 'ArrowUp') {
    ev.preventDefault();
    const step = ev.key === 'ArrowDown' ? 1 : -1;
    items[(i + step + items.length) % items.length]?.focus();
  } else if (ev.key === 'Tab') {
    closeMenu(menu, false);
  }
}

function buildMenu(name) {
  const menu = document.createElement('div');
  menu.className = 'menu';
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'menu-button';
  button.textContent = 'Actions ▾';
  button.setAttribute('aria-haspopup', 'menu');
  button.setAttribute('aria-expanded', 'false');
  button.setAttribute('aria-label', `Actions for ${name}`);
  const list = document.createElement('ul');
  list.setAttribute('role', 'menu');
  list.hidden = true;
  for (const { name: action, label } of items) {
    const li = document.createElement('li');
    li.setAttribute('role', 'none');
    const item = document.createElement('button');
    item.type = 'button';
    item.setAttribute('role', 'menuitem');
    item.dataset.action = action;
    item.textContent = label;
    item.addEventListener('click', () => {
      // Focus goes back to the Actions button before the action runs (a hidden item cannot
      // keep it): a dialog opened by the action then records the button as the element the
      // browser gives focus back to when the dialog closes.
      closeMenu(menu, true);
      onAction(item.dataset.action, name, button);
    });
    li.append(item);
    list.append(li);
  }
  button.addEventListener('click', () => (list.hidden ? openMenu(menu) : closeMenu(menu, true)));
  button.addEventListener('keydown', (ev) => {
    if (ev.key === 'ArrowDown') {
      ev.preventDefault();
      openMenu(menu);
    }
  });
  list.addEventListener('keydown', (ev) => menuKeys(menu, ev));
  menu.append(button, list);
  return menu;
}

function buildRow(name) {
  const tr = document.createElement('tr');
  tr.dataset.name = name;
  for (const cls of ['name', 'state', 'mem', 'cpus', 'usage', 'task', 'actions']) {
    const td = document.createElement('td');
    td.className = cls;
    tr.append(td);
  }
  tr.querySelector('.name').textContent = name;
  tr.querySelector('.actions').append(buildMenu(name));
  return tr;
}

function renderTask(td, running) {
  if (!running) {
    td.replaceChildren();
    return;
  }
  let box = td.querySelector('.progress');
  if (!box) {
    box = document.createElement('div');
    box.className = 'progress';
    const bar = document.createElement('progress');
    bar.max = 100;
    const figures = document.createElement('span');
    figures.className = 'figures';
    const step = document.createElement('span');
    step.className = 'step';
    box.append(bar, figures, step);
    td.replaceChildren(box);
  }
  const { task, kind } = running;
  const bar = box.querySelector('progress');
  if (task.progress?.percent != null) bar.value = task.progress.percent;
  else bar.removeAttribute('value'); // indeterminate until figures arrive
  bar.setAttribute('aria-label', kind === 'migrate' ? 'Migration progress' : 'Clone progress');
  // a local disk is copied before memory moves: say which part is being copied
  const phase = task.progress?.phase;
  const what = phase === 'disks' ? 'Copying disks'
    : phase === 'postcopy' ? 'Post-copy (the guest runs on the destination)'
      : phase === 'finishing' ? 'Switching over' : 'Migrating';
  box.querySelector('.figures').textContent =
    kind === 'migrate' ? `${what}: ${progressLine(task.progress)}` : 'Cloning';
  box.querySelector('.step').textContent = task.message;
}

// One small bar with its figure: "CPU 12%".
function meter(label, percent) {
  const span = document.createElement('span');
  span.className = 'meter';
  const bar = document.createElement('meter');
  bar.min = 0;
  bar.max = 100;
  bar.value = percent;
  bar.setAttribute('aria-label', `${label} use`);
  span.append(`${label} `, bar, ` ${Math.round(percent)}%`);
  return span;
}

// What the guest uses now (Kimchi's stats: percentages and KB/s), read at a glance.
function renderUsage(td, vm) {
  const s = vm.stats;
  if (!ACTIVE.includes(vm.state) || !s) {
    td.replaceChildren('—');
    return;
  }
  const io = document.createElement('span');
  io.className = 'io';
  io.textContent = `disk ${kbps(s.io_throughput)} · net ${kbps(s.net_throughput)}`;
  td.replaceChildren(meter('CPU', s.cpu_utilization), meter('Mem', s.mem_utilization), io);
}

function updateRow(tr, vm, running) {
  const stateTd = tr.querySelector('.state');
  const key = `${vm.state} ${vm.moved_to?.host ?? ''}`;
  if (stateTd.dataset.key !== key) {
    stateTd.dataset.key = key;
    const badge = document.createElement('span');
    badge.className = `badge state-${vm.state}`;
    badge.textContent = vm.state;
    stateTd.replaceChildren(badge);
    if (vm.moved_to) { // the guest runs elsewhere: this is its old definition
      const moved = document.createElement('span');
      moved.className = 'moved';
      moved.textContent = `moved to ${vm.moved_to.host}`;
      stateTd.append(' ', moved);
    }
  }
  tr.querySelector('.mem').textContent = mib(vm.memory.current);
  tr.querySelector('.cpus').textContent = String(vm.cpu_info.vcpus);
  renderUsage(tr.querySelector('.usage'), vm);
  renderTask(tr.querySelector('.task'), running);
  const allowed = new Set(vm.actions ?? []);
  for (const item of tr.querySelectorAll('[data-action]'))
    item.disabled = Boolean(running) || !allowed.has(item.dataset.action);
}

// Brings the table in line with `vms`; `running` maps guest name -> running task.
export function renderGuests(vms, running) {
  const body = document.querySelector('#guests tbody');
  const seen = new Set();
  vms.forEach((vm, i) => {
    seen.add(vm.name);
    let tr = rows.get(vm.name);
    if (!tr) {
      tr = buildRow(vm.name);
      rows.set(vm.name, tr);
    }
    if (body.children[i] !== tr) body.insertBefore(tr, body.children[i] ?? null);
    updateRow(tr, vm, running.get(vm.name));
  });
  for (const [name, tr] of rows)
    if (!seen.has(name)) {
      tr.remove();
      rows.delete(name);
    }
  document.getElementById('empty').hidden = vms.length > 0;
}

export function menuButtonFor(name) {
  return rows.get(name)?.querySelector('.menu-button') ?? null;
}
