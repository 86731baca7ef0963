// login.js - the login dialog: shown at start without a session, and over the page when
// a session expires (so nothing on the page is lost); the user and logout in the header.
import { api } from './api.js';

// The dialog, the same on every page: added to the page when this module loads (a constant:
// nothing from the user or the server goes into it as markup).
const DIALOG = `
<dialog id="login-dialog" aria-labelledby="login-title">
    <form id="login-form" novalidate>
      <h2 id="login-title">Log in to kimchid</h2>
      <p id="login-why" class="optional-text">Use an account of this host. Administrators (root, or members of the admin group) can change guests; everyone else can look.</p>
      <div class="field">
        <label for="login-user">User</label>
        <input id="login-user" name="username" type="text" autocomplete="username" spellcheck="false">
      </div>
      <div class="field">
        <label for="login-password">Password</label>
        <input id="login-password" name="password" type="password" autocomplete="current-password">
      </div>
      <p id="login-error" class="form-error" role="alert" hidden></p>
      <div class="buttons">
        <button type="submit" id="login-submit" class="primary">Log in</button>
      </div>
    </form>
  </dialog>`;
document.body.insertAdjacentHTML('beforeend', DIALOG);

let waiting = null; // resolves when the user has logged in

function showUser(who) {
  document.getElementById('who').textContent = `${who.username} (${who.role === 'admin' ? 'administrator' : 'read only'})`;
  document.getElementById('session').hidden = false;
  document.body.dataset.role = who.role; // what only administrators may do shows for them
}

export function askLogin(expired) {
  const d = document.getElementById('login-dialog');
  if (!d.open) {
    document.getElementById('login-why').textContent = expired
      ? 'Your session has ended. Log in again to carry on where you were.'
      : 'Use an account of this host. Administrators (root, or members of the admin group) can change guests; everyone else can look.';
    document.getElementById('login-error').hidden = true;
    d.showModal();
    document.getElementById(document.getElementById('login-user').value ? 'login-password' : 'login-user').focus();
  }
  waiting ??= new Promise((resolve) => d.addEventListener('close', resolve, { once: true }));
  return waiting;
}

// onLogout: called after the session was ended from the header.
export function initLogin(onLogout) {
  const d = document.getElementById('login-dialog');
  const err = document.getElementById('login-error');
  const pass = document.getElementById('login-password');
  d.addEventListener('cancel', (ev) => ev.preventDefault()); // no way around it but logging in
  document.getElementById('login-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const username = document.getElementById('login-user').value.trim();
    try {
      const who = await api('POST', '/login', { username, password: pass.value }, { base: '' });
      pass.value = '';
      showUser(who);
      waiting = null;
      d.close();
    } catch (e) {
      pass.value = '';
      err.textContent = e.message;
      err.hidden = false;
      pass.focus();
    }
  });
  document.getElementById('logout').addEventListener('click', async () => {
    await api('POST', '/logout', undefined, { base: '' }).catch(() => {});
    document.getElementById('session').hidden = true;
    onLogout();
  });
}

// Who is logged in; asks for a login first when nobody is.
export async function ensureLogin() {
  try {
    showUser(await api('GET', '/session'));
  } catch {
    await askLogin(false);
  }
}
