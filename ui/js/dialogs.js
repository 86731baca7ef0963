// dialogs.js - the Migrate dialog (the RFC's rules, checked before anything is sent) and
// the Delete confirmation. Focus moves into a dialog and back to the menu after.
import { api, vmPath } from './api.js';

const BLANK_HOST = 'remote host field cannot be blank';
const BOTH_CREDS = 'both user and password fields must be filled';

function showError(el, text, input) {
  el.textContent = text;
  el.hidden = !text;
  if (input) input.setAttribute('aria-invalid', text ? 'true' : 'false');
}

// Focus after a dialog closes: close() (Cancel, Start, Esc) makes the browser give focus
// back, at once, to the element focused when showModal() ran: the guest's Actions button,
// since a menu item hands focus back to it before opening a dialog. The 'close' event comes
// a task later, so it steps in only when that left focus nowhere (the row was rebuilt or
// removed meanwhile); it never moves focus a person has already moved on.
function setupClose(dialog, returnFocus) {
  dialog.addEventListener('close', () => {
    dialog.querySelectorAll('input[type=password]').forEach((i) => (i.value = ''));
    const active = document.activeElement;
    if (!active || active === document.body || dialog.contains(active)) returnFocus()?.focus();
  });
}

// The hosts kimchid already logs in to, offered in "Remote server" (which stays free text).
export function setHostSuggestions(hosts) {
  const list = document.getElementById('migrate-hosts');
  list.replaceChildren(...hosts.map((h) => Object.assign(document.createElement('option'), { value: h })));
}

let migrateGuest = null;
let migrateReturn = null;
let hostKey = null; // { host, fingerprint, known } for what "Remote server" holds now

// The destination's ssh host key, read when "Remote server" changes, so that the first move
// to a host is started knowing its key (and sends it: kimchid then trusts no other).
async function showHostKey(host, out) {
  hostKey = null;
  out.hidden = true;
  if (!host) return;
  let k;
  try {
    k = await api('GET', `/host/sshkey?host=${encodeURIComponent(host)}`);
  } catch {
    return; // the move itself says what is wrong with the host
  }
  if (document.getElementById('migrate-host').value.trim() !== host) return; // changed since
  hostKey = k;
  const code = Object.assign(document.createElement('code'), { textContent: k.fingerprint });
  out.replaceChildren(
    k.known ? `${host}'s ssh host key, known to kimchid: ` : `First move to ${host}: its ssh host key is `,
    code,
    k.known ? '.' : `. Compare it with the host's own (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub on ${host}) before you start.`,
  );
  out.hidden = false;
}

// What each pre-flight check (POST .../migrate with "check_only") is about, in words.
const CHECK_LABELS = {
  host: 'Remote server answers', login: 'Password-less login', libvirt: 'libvirt on the remote server',
  maintenance: 'Not in maintenance', network: 'Migration network', tls: 'Encryption (TLS)',
  guest: 'No other copy or namesake there', storage: 'Disks', cpu: 'CPU', memory: 'Free memory',
  devices: 'Devices', postcopy: 'Post-copy', lock_manager: 'Disk locks',
};
let checkSeq = 0; // the newest check run: an older answer that comes late is not shown

function showChecks(result, title) {
  const box = document.getElementById('migrate-checks');
  box.querySelector('.checks-title').textContent = title;
  box.querySelector('ul').replaceChildren(...(result?.checks ?? []).map((c) => {
    const li = document.createElement('li');
    li.dataset.check = c.id;
    const mark = c.skipped ? '–' : !c.ok ? '✗' : c.warning ? '!' : '✓';
    li.className = c.skipped ? 'skipped' : !c.ok ? 'bad' : c.warning ? 'warn' : 'ok';
    li.textContent = `${mark} ${CHECK_LABELS[c.id] ?? c.id}${c.message ? `: ${c.message}` : ''}`;
    return li;
  }));
  box.hidden = false;
}

// Runs every check a move to body.remote_host would run, moving nothing; shows each.
// Resolves to the result, or null when superseded; a 400 throws as any request does.
// `seq` (from ++checkSeq when the run was decided on): a run superseded before it begins (the
// person pressed Start while the server's key was still being read) sends nothing.
async function runChecks(body, seq = ++checkSeq) {
  if (seq !== checkSeq) return null;
  showChecks(null, `Checking whether "${migrateGuest}" can move to ${body.remote_host}…`);
  const result = await api('POST', `${vmPath(migrateGuest)}/migrate`, { ...body, check_only: true });
  if (seq !== checkSeq) return null;
  showChecks(result, result.ready ? `Ready: every check passed.`
    : 'Not ready: fix what is marked ✗, then Start again.');
  return result;
}

export function initMigrateDialog(onStarted) {
  const d = document.getElementById('migrate-dialog');
  const form = document.getElementById('migrate-form');
  const host = document.getElementById('migrate-host');
  const user = document.getElementById('migrate-user');
  const pass = document.getElementById('migrate-password');
  const del = document.getElementById('migrate-delete');
  const hostErr = document.getElementById('migrate-host-error');
  const credErr = document.getElementById('migrate-cred-error');
  const srvErr = document.getElementById('migrate-server-error');
  const start = document.getElementById('migrate-start');
  const keyOut = document.getElementById('migrate-hostkey');
  // the checks run once the remote server is typed (without the password: no login is set up
  // until Start), and again on Start, which starts the move only when they all pass
  host.addEventListener('change', async () => {
    const remote = host.value.trim();
    const seq = ++checkSeq; // Start, pressed meanwhile, supersedes this run
    showError(srvErr, '');
    await showHostKey(remote, keyOut);
    if (!remote || host.value.trim() !== remote || !d.open) return;
    const body = { remote_host: remote };
    if (hostKey?.host === remote) body.host_key = hostKey.fingerprint;
    try {
      await runChecks(body, seq);
    } catch (err) {
      showError(srvErr, err.message);
      document.getElementById('migrate-checks').hidden = true;
    }
  });
  setupClose(d, () => migrateReturn?.());
  document.getElementById('migrate-cancel').addEventListener('click', () => d.close());
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const remote = host.value.trim();
    showError(srvErr, '');
    showError(hostErr, remote ? '' : BLANK_HOST, host);
    const oneCred = Boolean(user.value) !== Boolean(pass.value);
    showError(credErr, oneCred ? BOTH_CREDS : '', null);
    user.setAttribute('aria-invalid', oneCred && !user.value ? 'true' : 'false');
    pass.setAttribute('aria-invalid', oneCred && !pass.value ? 'true' : 'false');
    if (!remote) return host.focus();
    if (oneCred) return (user.value ? pass : user).focus();
    const body = { remote_host: remote, delete_source: del.checked };
    if (user.value) Object.assign(body, { user: user.value.trim(), password: pass.value });
    if (hostKey?.host === remote) body.host_key = hostKey.fingerprint; // the key shown
    start.disabled = true;
    try {
      const checked = await runChecks(body);
      if (checked?.ready) {
        const task = await api('POST', `${vmPath(migrateGuest)}/migrate`, body);
        d.close();
        onStarted(task, migrateGuest);
      }
    } catch (err) {
      showError(srvErr, err.message);
      document.getElementById('migrate-checks').hidden = true;
    } finally {
      start.disabled = false;
    }
  });
}

export function openMigrateDialog(name, returnFocus) {
  const d = document.getElementById('migrate-dialog');
  migrateGuest = name;
  migrateReturn = returnFocus;
  d.querySelector('.guest-name').textContent = `"${name}"`;
  document.getElementById('migrate-form').reset();
  hostKey = null;
  document.getElementById('migrate-hostkey').hidden = true;
  document.getElementById('migrate-checks').hidden = true;
  checkSeq++; // an answer for the dialog's previous guest is not shown
  for (const id of ['migrate-host-error', 'migrate-cred-error', 'migrate-server-error'])
    showError(document.getElementById(id), '');
  d.querySelectorAll('input').forEach((i) => i.removeAttribute('aria-invalid'));
  d.showModal();
  document.getElementById('migrate-host').focus();
}

let deleteGuest = null;
let deleteReturn = null;

export function initDeleteDialog(onDeleted) {
  const d = document.getElementById('delete-dialog');
  const err = document.getElementById('delete-error');
  setupClose(d, () => deleteReturn?.());
  document.getElementById('delete-cancel').addEventListener('click', () => d.close());
  document.getElementById('delete-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      await api('DELETE', vmPath(deleteGuest));
      deleteReturn = null; // the row is gone
      d.close();
      onDeleted(deleteGuest);
    } catch (e) {
      showError(err, e.message);
    }
  });
}

export function openDeleteDialog(name, returnFocus) {
  const d = document.getElementById('delete-dialog');
  deleteGuest = name;
  deleteReturn = returnFocus;
  d.querySelector('.guest-name').textContent = `"${name}"`;
  showError(document.getElementById('delete-error'), '');
  d.showModal();
  document.getElementById('delete-cancel').focus();
}
