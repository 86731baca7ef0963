// main.js - the guests page: polls guests and running tasks, wires menus and dialogs.
import { api, setUnauthorizedHandler, vmPath } from './api.js';
import { initDeleteDialog, initMigrateDialog, openDeleteDialog, openMigrateDialog } from './dialogs.js';
import { closeAllMenus, menuButtonFor, renderGuests, setActionHandler } from './guests.js';
import { askLogin, ensureLogin, initLogin } from './login.js';
import { notify } from './notify.js';
import { pollTasks, tasksByGuest, trackClone, trackMigration } from './tasks.js';

const POLL_MS = 1000;
let timer = null;

let loggedOut = false;
let started = false; // the first login is ensureLogin's; later 401s mean a session ended

let polling = false; // one poll at a time: a refresh asked for meanwhile runs right after
let pollAgain = false;

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
    const vms = await api('GET', '/vms');
    renderGuests(vms, tasksByGuest());
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
  } else if (!loggedOut) {
    timer = setTimeout(refresh, POLL_MS);
  }
}

// Pauses polling until someone logs in (again).
async function loginAgain(expired) {
  if (!started || loggedOut) return;
  loggedOut = true;
  clearTimeout(timer);
  await askLogin(expired);
  loggedOut = false;
  refresh();
}

setUnauthorizedHandler(() => loginAgain(true));

async function lifecycle(action, name) {
  const path = action === 'pause' ? null : `${vmPath(name)}/${action}`;
  try {
    if (path) await api('POST', path);
    else {
      const vm = await api('GET', vmPath(name));
      await api('POST', `${vmPath(name)}/${vm.state === 'paused' ? 'resume' : 'suspend'}`);
    }
  } catch (err) {
    notify(err.message, { error: true });
  }
  refresh();
}

async function clone(name) {
  try {
    trackClone(await api('POST', `${vmPath(name)}/clone`), name);
  } catch (err) {
    notify(err.message, { error: true });
  }
  refresh();
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
  refresh();
});
initDeleteDialog(() => refresh());
initLogin(() => loginAgain(false));
ensureLogin().then(() => {
  started = true;
  refresh();
});
