// main.js - the guests page: follows guests and tasks from kimchid's event stream (polling
// every second only while the stream is down), wires menus and dialogs.
import { api, setUnauthorizedHandler, vmPath } from './api.js';
import {
  initDeleteDialog, initMigrateDialog, openDeleteDialog, openMigrateDialog, setHostSuggestions,
} from './dialogs.js';
import { findEvacuation, initEvacuateDialog, showEvacuation } from './evacuate.js';
import { mib } from './format.js';
import {
  closeAllMenus, menuButtonFor, renderGuests, setActionHandler, setMenuItems,
} from './guests.js';
import { askLogin, ensureLogin, initLogin } from './login.js';
import { notify } from './notify.js';
import { startLive, stopLive, streamUp } from './live.js';
import { applyTask, pollTasks, tasksByGuest, trackClone, trackMigration } from './tasks.js';

const POLL_MS = 1000;
let timer = null;

let loggedOut = false;
let started = false; // the first login is ensureLogin's; later 401s mean a session ended

let polling = false; // one poll at a time: a refresh asked for meanwhile runs right after
let pollAgain = false;
let vms = []; // what the page shows, sorted by name as kimchid lists them

const render = () => renderGuests(vms, tasksByGuest());

// Brings one guest change from the stream into the list.
function applyVm(change) {
  const rest = vms.filter((vm) => vm.name !== change.name);
  if (change.change !== 'removed' && change.vm) rest.push(change.vm);
  vms = rest.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  render();
}

// The header's facts about this host, and the Migrate dialog's suggestions: read when the
// page (re)loads what it shows and when a migration ends (a new host may log in now).
async function loadHost() {
  try {
    const h = await api('GET', '/host');
    const used = h.memory?.used != null ? `${mib(h.memory.used)} of ` : '';
    document.getElementById('host-facts').textContent = [
      h.name, `${h.cpus} CPUs`, `${used}${mib(h.memory?.total ?? 0)} memory`,
      `libvirt ${h.libvirt_version}`, `QEMU ${h.qemu_version}`,
    ].join(' · ');
    setHostSuggestions(h.peers ?? []);
    showMaintenance(h);
  } catch {
    // the facts are a convenience: the guest list says when kimchid cannot be reached
  }
}

// This host in maintenance (POST /host/maintenance, or an evacuation): said under the header,
// with the way out for an administrator (anyone else is told why not by the 403).
function showMaintenance(h) {
  document.getElementById('maintenance-text').textContent = h.maintenance
    ? `This host is in maintenance since ${h.maintenance_since} (by ${h.maintenance_by}): guests are not started here, and other kimchids move none here.`
    : '';
  document.getElementById('maintenance').hidden = !h.maintenance;
}

document.getElementById('end-maintenance').addEventListener('click', async () => {
  try {
    showMaintenance(await api('POST', '/host/maintenance', { enabled: false }));
    notify('Maintenance ended: guests can start here again.');
  } catch (err) {
    notify(err.message, { error: true });
  }
});

const POLLING = 'Meanwhile the page checks for changes every second.';

function reconnecting(yes, why = 'The live connection to kimchid was lost; reconnecting.') {
  const banner = document.getElementById('stream-state');
  banner.textContent = `${why} ${POLLING}`;
  banner.hidden = !yes;
}

async function refresh() {
  clearTimeout(timer);
  if (loggedOut) return; // resumes after the login dialog closes
  if (polling) {
    pollAgain = true;
    return;
  }
  polling = true;
  const banner = document.getElementById('load-error');
  try {
    await pollTasks();
    if (!streamUp()) await findEvacuation();
    vms = await api('GET', '/vms');
    render();
    banner.hidden = true;
  } catch (err) {
    if (!loggedOut) {
      banner.textContent = err.message;
      banner.hidden = false;
    }
  }
  polling = false;
  if (pollAgain) {
    pollAgain = false;
    refresh();
  } else if (!loggedOut && !streamUp()) {
    timer = setTimeout(refresh, POLL_MS); // the stream is down: poll until it is back
  }
}

// After a change made from this page: the stream brings its effect; without it, look now.
function refreshUnlessLive() {
  if (streamUp()) render();
  else refresh();
}

function goLive() {
  startLive({
    ready(reload) {
      reconnecting(false);
      clearTimeout(timer);
      if (reload) { // a first connection, or events were missed: fetch it all once
        refresh();
        loadHost();
        findEvacuation();
      } else render();
    },
    vm: applyVm,
    task(task) {
      if (showEvacuation(task)) {
        if (task.status !== 'running') loadHost(); // in maintenance now
        return;
      }
      applyTask(task);
      render();
      if (task.status !== 'running' && task.target_uri?.endsWith('/migrate')) loadHost();
    },
    down() {
      reconnecting(true);
      refresh();
    },
    closed(message) {
      reconnecting(true, message);
      refresh();
    },
  });
  refresh(); // and polls until the stream is up (a proxy may hold it back)
}

// Pauses polling until someone logs in (again).
async function loginAgain(expired) {
  if (!started || loggedOut) return;
  loggedOut = true;
  clearTimeout(timer);
  stopLive();
  await askLogin(expired);
  loggedOut = false;
  goLive();
}

setUnauthorizedHandler(() => loginAgain(true));

async function lifecycle(action, name) {
  try {
    await api('POST', `${vmPath(name)}/${action}`);
  } catch (err) {
    notify(err.message, { error: true });
  }
  refreshUnlessLive();
}

async function clone(name) {
  try {
    trackClone(await api('POST', `${vmPath(name)}/clone`), name);
  } catch (err) {
    notify(err.message, { error: true });
  }
  refreshUnlessLive();
}

setActionHandler((action, name, button) => {
  if (action === 'migrate') openMigrateDialog(name, () => menuButtonFor(name) ?? button);
  else if (action === 'delete') openDeleteDialog(name, () => menuButtonFor(name) ?? button);
  else if (action === 'clone') clone(name);
  else lifecycle(action, name);
});

document.addEventListener('click', (ev) => {
  if (!ev.target.closest('.menu')) closeAllMenus();
});

initMigrateDialog((task, name) => {
  trackMigration(task, name);
  refreshUnlessLive();
});
initDeleteDialog(() => refreshUnlessLive());
initEvacuateDialog(() => {
  loadHost(); // this host is in maintenance from the start
  refreshUnlessLive();
});
initLogin(() => loginAgain(false));
// The guests' menu comes from kimchid's route table: an action added there shows up here.
async function loadMenu() {
  for (;;) {
    try {
      setMenuItems((await api('GET', '/config/capabilities')).vm_actions);
      return;
    } catch (err) {
      notify(`The guests' actions could not be read: ${err.message}`, { error: true });
      await new Promise((r) => { setTimeout(r, POLL_MS * 5); });
    }
  }
}

ensureLogin().then(async () => {
  await loadMenu();
  started = true;
  goLive();
});
