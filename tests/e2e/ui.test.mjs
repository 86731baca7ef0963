// ui.test.mjs - kimchid's web UI in a real browser (Debian's chromium via playwright-core)
// against kimchid in the lab's host-a: one test per rule of the RFC's Migrate dialog, full
// migrations with and without the delete box, failure, reload, clone, menus, phone size.
import nodeTest, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { chromium } from 'playwright-core';

// every test has a deadline: a hang fails the test instead of holding up make check
const test = (name, fn) => nodeTest(name, { timeout: 180000 }, fn);
const BASE = process.env.KIMCHID_URL;
const LAB = process.env.LAB;
const SHOTS = `${process.env.ARTIFACTS}/screenshots`;
const LABCMD = new URL('../lab/lab', import.meta.url).pathname;
const users = JSON.parse(readFileSync(`${LAB}/users.json`, 'utf8'));
const admin = users.find((u) => u.name === 'labadmin' && u.host === 'host-b');
const kimchiAdmin = users.find((u) => u.name === 'kimchiadmin'); // kimchid's login on host-a

const DISCLAIMER =
  'Disclaimer: this process cannot be stopped after started, can take a long time to complete and will turn off this current VM when it is over.';
const OPTIONAL =
  "The following fields are optional. Fill them if you want Kimchi to setup a password-less ssh session between the localhost and the remote host. The setup process will only be successful if the user has 'SUDO ALL' permission in the remote machine";

const lab = (...args) => execFileSync(LABCMD, args, { encoding: 'utf8' }).trim();
const virsh = (host, ...args) => lab('exec', host, 'virsh', '-q', '-c', 'qemu:///system', ...args);
function vmState(host, name) {
  try {
    return virsh(host, 'domstate', name).split('\n')[0].trim();
  } catch {
    return 'absent';
  }
}
// Server-side record of migrate requests for a guest (kimchid logs each request line), and of
// the moves started (202: the dialog's checks, "check_only", answer 200 and move nothing).
const migrateLines = (name) =>
  readFileSync(process.env.KIMCHID_LOG, 'utf8')
    .split('\n')
    .filter((l) => l.includes(`POST /plugins/kimchi/vms/${name}/migrate `));
const migratePosts = (name) => migrateLines(name).length;
const movesStarted = (name) => migrateLines(name).filter((l) => l.endsWith('-> 202')).length;

let browser;
let page;
const requests = [];

before(async () => {
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const ctx = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 800 } });
  page = await ctx.newPage();
  page.setDefaultTimeout(30000);
  page.on('console', (m) => m.type() === 'error' && console.log(`# browser: ${m.text()}`));
  // allHeaders: with what the browser's network stack adds (an EventSource's Last-Event-ID)
  page.on('request', (r) => requests.push({ url: r.url(), method: r.method(), body: r.postData(), headers: r.allHeaders().catch(() => ({})) }));
  await page.goto(BASE);
  await page.waitForFunction(() => document.getElementById('login-dialog').open);
  await shot('00-login');
  await page.fill('#login-user', kimchiAdmin.name);
  await page.fill('#login-password', 'not-the-password');
  await page.click('#login-submit');
  await page.locator('#login-error').waitFor();
  loginError = await page.textContent('#login-error');
  await page.fill('#login-password', kimchiAdmin.password);
  await page.press('#login-password', 'Enter');
  await page.waitForSelector('tr[data-name="vm-one"]');
});

let loginError = '';

test('the login page refuses a wrong password and lets the right one in', async () => {
  assert.equal(loginError, 'WOKAUTH0008E: The user name or password is wrong.');
  assert.equal(await page.evaluate(() => document.getElementById('login-dialog').open), false);
  assert.equal(await page.textContent('#who'), 'kimchiadmin (administrator)');
  assert.ok(await page.isVisible('#logout'));
});

after(async () => {
  await browser?.close();
});

const row = (name) => page.locator(`tr[data-name="${name}"]`);
const shot = (name) => page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true });
const focusedLabel = () => page.evaluate(() => document.activeElement.getAttribute('aria-label'));
const dialogOpen = () => page.evaluate(() => document.getElementById('migrate-dialog').open);

async function openMenu(name) {
  await row(name).locator('.menu-button').click();
}

async function openMigrate(name) {
  await openMenu(name);
  await row(name).locator('[data-action="migrate"]').click();
  await page.waitForFunction(() => document.getElementById('migrate-dialog').open);
}

async function fillMigrate({ host = '', user = '', password = '', del = false }) {
  await page.fill('#migrate-host', host);
  await page.fill('#migrate-user', user);
  await page.fill('#migrate-password', password);
  if (del) await page.check('#migrate-delete');
}

async function waitNote(kind, text, timeout = 90000) {
  const note = page.locator(`.note.${kind}`, { hasText: text });
  await note.first().waitFor({ timeout });
  return note.first();
}

test('the guest list shows every guest with its state, memory and vCPUs', async () => {
  const names = await page.locator('#guests tbody tr').evaluateAll((rs) => rs.map((r) => r.dataset.name));
  assert.deepEqual(names, ['vm-busy', 'vm-local', 'vm-off', 'vm-one', 'vm-shared', 'vm-transient', 'vm-two']);
  assert.equal(await row('vm-one').locator('.state .badge').textContent(), 'running');
  assert.equal(await row('vm-off').locator('.state .badge').textContent(), 'shutoff');
  assert.equal(await row('vm-one').locator('.mem').textContent(), '128 MiB');
  assert.equal(await row('vm-one').locator('.cpus').textContent(), '1');
  await shot('01-guest-list');
});

test('the actions menu enables only what the guest state allows', async () => {
  const enabled = async (name) => {
    await openMenu(name);
    const items = await row(name).locator('[role=menuitem]').evaluateAll((bs) =>
      bs.filter((b) => !b.disabled).map((b) => b.textContent));
    await page.keyboard.press('Escape');
    return items;
  };
  assert.deepEqual(await enabled('vm-one'), ['Shut down', 'Power off', 'Reset', 'Reboot', 'Suspend', 'Migrate', 'Delete']);
  assert.deepEqual(await enabled('vm-off'), ['Start', 'Clone', 'Migrate', 'Delete']);
});

test('the menu is the route table\'s: every action kimchid lists, in its order, enabled by the guest\'s "actions"', async () => {
  const [caps, vm] = await page.evaluate(async () => {
    const get = async (p) => (await fetch(p, { headers: { 'X-Requested-With': 'kimchid-ui' } })).json();
    return [await get('/plugins/kimchi/config/capabilities'), await get('/plugins/kimchi/vms/vm-one')];
  });
  const items = await row('vm-one').locator('[role=menuitem]').evaluateAll((bs) =>
    bs.map((b) => [b.dataset.action, b.textContent, !b.disabled]));
  assert.ok(caps.vm_actions.length >= 10, 'kimchid lists its actions');
  assert.deepEqual(items, caps.vm_actions.map((a) => [a.name, a.label, vm.actions.includes(a.name)]));
});

test('menus work from the keyboard and Migrate sits right beside Clone', async () => {
  await row('vm-one').locator('.menu-button').focus();
  await page.keyboard.press('ArrowDown');
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Shut down');
  await page.keyboard.press('ArrowDown');
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Power off');
  await page.keyboard.press('Escape');
  assert.equal(await page.evaluate(() => document.activeElement.getAttribute('aria-label')), 'Actions for vm-one');
  const labels = await row('vm-one').locator('[role=menuitem]').allTextContents();
  assert.equal(labels.indexOf('Migrate'), labels.indexOf('Clone') + 1);
});

test('the Migrate dialog shows the RFC texts and fields in order', async () => {
  await openMigrate('vm-one');
  const order = await page.evaluate(() => {
    const form = document.getElementById('migrate-form');
    const out = [];
    for (const el of form.querySelectorAll('.disclaimer, label, .optional-text, button')) out.push(el.textContent.trim());
    return out;
  });
  assert.deepEqual(order, [DISCLAIMER, 'Remote server', 'Delete this VM when the migration is completed', OPTIONAL,
    'User', 'Password', 'Cancel', 'Start']);
  assert.equal(await page.getAttribute('#migrate-password', 'type'), 'password');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'migrate-host');
  for (const id of ['migrate-host', 'migrate-delete', 'migrate-user', 'migrate-password'])
    assert.equal(await page.locator(`label[for="${id}"]`).count(), 1, `${id} has a label`);
  await shot('02-migrate-dialog');
  await page.click('#migrate-cancel');
});

test('Cancel and Esc close the dialog and start nothing', async () => {
  const before = movesStarted('vm-one');
  await openMigrate('vm-one');
  await fillMigrate({ host: 'host-b', user: 'labadmin', password: 'x', del: true });
  await page.click('#migrate-cancel');
  assert.equal(await dialogOpen(), false);
  assert.equal(await page.evaluate(() => document.activeElement.getAttribute('aria-label')), 'Actions for vm-one');
  await page.waitForTimeout(300); // the dialog's 'close' event has run: focus stayed there
  assert.equal(await focusedLabel(), 'Actions for vm-one');
  await openMigrate('vm-one');
  assert.equal(await page.inputValue('#migrate-host'), '', 'the dialog starts empty again');
  await fillMigrate({ host: 'host-b' });
  // the list changes under the open dialog (a guest paused and resumed behind kimchid's back)
  const shows = (state) => page.waitForFunction((s) =>
    document.querySelector('tr[data-name="vm-transient"] .badge')?.textContent === s, state, { timeout: 5000 });
  virsh('a', 'suspend', 'vm-transient');
  await shows('paused');
  virsh('a', 'resume', 'vm-transient');
  await shows('running');
  assert.equal(await dialogOpen(), true, 'the dialog stayed open while the list changed');
  assert.equal(await page.inputValue('#migrate-host'), 'host-b', 'and kept what was typed');
  await page.keyboard.press('Escape');
  assert.equal(await dialogOpen(), false);
  assert.equal(await focusedLabel(), 'Actions for vm-one', 'Esc gives focus back to the Actions button');
  await page.waitForTimeout(1500);
  assert.equal(movesStarted('vm-one'), before, 'no move started (only its checks ran)');
  assert.equal(vmState('a', 'vm-one'), 'running');
});

test('Start with a blank remote server says so and sends nothing', async () => {
  const before = migratePosts('vm-one');
  await openMigrate('vm-one');
  await fillMigrate({ host: '   ' });
  await page.click('#migrate-start');
  assert.equal(await page.textContent('#migrate-host-error'), 'remote host field cannot be blank');
  assert.ok(await page.isVisible('#migrate-host-error'));
  assert.equal(await dialogOpen(), true);
  await shot('03-blank-remote-server');
  assert.equal(migratePosts('vm-one'), before);
  await page.click('#migrate-cancel');
});

test('Start with only one of user and password says both must be filled', async () => {
  const before = movesStarted('vm-one');
  await openMigrate('vm-one');
  await fillMigrate({ host: 'host-b', user: 'labadmin' });
  await page.click('#migrate-start');
  assert.equal(await page.textContent('#migrate-cred-error'), 'both user and password fields must be filled');
  await shot('04-only-user');
  await fillMigrate({ host: 'host-b', password: 'secret' });
  await page.click('#migrate-start');
  assert.equal(await page.textContent('#migrate-cred-error'), 'both user and password fields must be filled');
  assert.equal(await dialogOpen(), true);
  await shot('05-only-password');
  assert.equal(movesStarted('vm-one'), before);
  await page.click('#migrate-cancel');
});

test('a 400 from the server shows its reason in the dialog', async () => {
  await openMigrate('vm-one');
  await fillMigrate({ host: 'localhost' });
  await page.click('#migrate-start');
  await page.locator('#migrate-server-error').waitFor();
  assert.match(await page.textContent('#migrate-server-error'), /"localhost" is this host/);
  assert.equal(await dialogOpen(), true);
  await shot('06-server-error');
  await page.click('#migrate-cancel');
});

test('a full migration: Enter starts it, the row shows progress, then success', async () => {
  virsh('a', 'migrate-setspeed', 'vm-one', '3'); // about 8 s for the guest's 24 MiB of data
  requests.length = 0;
  await openMigrate('vm-one');
  await fillMigrate({ host: 'host-b', user: 'labadmin', password: admin.password });
  // the first move to host-b: below the fields, the key host-b offers, to compare first
  const fp = lab('exec', 'b', 'ssh-keygen', '-lf', '/etc/ssh/ssh_host_ed25519_key.pub').split(' ')[1];
  const key = page.locator('#migrate-hostkey');
  await key.waitFor({ timeout: 15000 });
  assert.equal(await key.textContent(), `First move to host-b: its ssh host key is ${fp}. Compare it with the host's own (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub on host-b) before you start.`);
  await shot('06b-first-contact-host-key');
  // the checks ran once the server was typed: without the password, no login there yet
  const login = page.locator('#migrate-checks li[data-check="login"]');
  await login.waitFor({ timeout: 30000 });
  assert.equal(await login.getAttribute('class'), 'bad');
  assert.equal(await page.textContent('#migrate-checks .checks-title'), 'Not ready: fix what is marked ✗, then Start again.');
  assert.equal(await page.locator('#migrate-checks li').count(), 13, 'every check is listed');
  await shot('06c-checks-before-the-password');
  await page.press('#migrate-password', 'Enter');
  await page.waitForFunction(() => !document.getElementById('migrate-dialog').open);
  assert.equal(await focusedLabel(), 'Actions for vm-one', 'Start gives focus back to the Actions button');
  const bar = row('vm-one').locator('.progress progress[value]');
  await bar.waitFor({ timeout: 60000 });
  await page.waitForFunction(() => {
    const f = document.querySelector('tr[data-name="vm-one"] .figures');
    return f && /Migrating: \d+% · [\d.]+ MiB\/s( · guest writes [\d.]+ MiB\/s)? · \d+ (s|min \d+ s) left/.test(f.textContent);
  }, null, { timeout: 60000 });
  await shot('07-migration-in-progress');
  const note = await waitNote('success', 'Migration finished');
  assert.match(await note.textContent(), /"vm-one" migrated to "host-b" in [\d.]+ s, average [\d.]+ MiB\/s, downtime \d+ ms/);
  await shot('08-migration-success');
  await page.waitForFunction(() =>
    document.querySelector('tr[data-name="vm-one"] .badge')?.textContent === 'shutoff', null, { timeout: 10000 });
  assert.equal(vmState('b', 'vm-one'), 'running');
  assert.equal(vmState('a', 'vm-one'), 'shut off', 'without the box the source stays defined');
  await page.waitForFunction(() =>
    document.querySelector('tr[data-name="vm-one"] .moved')?.textContent === 'moved to host-b', null, { timeout: 10000 });
  await shot('08b-moved-to-host-b');
  const posts = requests.filter((r) => r.method === 'POST' && r.url.endsWith('/vms/vm-one/migrate'));
  const post = posts.find((r) => !JSON.parse(r.body).check_only);
  assert.ok(post, 'the migrate request was sent');
  const checks = posts.slice(0, posts.indexOf(post)).map((r) => JSON.parse(r.body));
  assert.deepEqual(checks.at(-1), { remote_host: 'host-b', delete_source: false, user: 'labadmin', password: admin.password, host_key: fp, check_only: true },
    'Start ran the checks, with the password, right before the move');
  assert.ok(!post.url.includes(admin.password), 'the password is not in the URL');
  assert.deepEqual(JSON.parse(post.body), { remote_host: 'host-b', delete_source: false, user: 'labadmin', password: admin.password, host_key: fp },
    'the key shown goes with the request: kimchid trusts no other');
  const stored = await page.evaluate(() => JSON.stringify(localStorage) + JSON.stringify(sessionStorage) + location.href);
  assert.ok(!stored.includes(admin.password), 'the password is not in storage or the URL');
  // the progress, the end and the state changes came from the event stream: no polling
  const polls = requests.filter((r) => r.method === 'GET' && /\/plugins\/kimchi\/(vms|tasks)/.test(r.url));
  assert.deepEqual(polls.map((r) => r.url), [], 'no guest or task list was polled while the stream was up');
});

test('a reload during a migration still shows it; with the box the guest is removed', async () => {
  virsh('a', 'migrate-setspeed', 'vm-two', '3');
  await openMigrate('vm-two');
  await fillMigrate({ host: 'host-b', del: true });
  await page.click('#migrate-start');
  await page.waitForFunction(() => !document.getElementById('migrate-dialog').open);
  await page.reload();
  await row('vm-two').locator('.progress').waitFor({ timeout: 30000 });
  assert.match(await row('vm-two').locator('.figures').textContent(), /Migrating/);
  await page.waitForFunction(() => !document.querySelector('tr[data-name="vm-two"]'), null, { timeout: 90000 });
  assert.equal(vmState('b', 'vm-two'), 'running');
  assert.equal(vmState('a', 'vm-two'), 'absent', 'the source definition was removed');
});

test('a wrong password fails its check in the dialog, and nothing starts', async () => {
  const before = movesStarted('vm-transient');
  await openMigrate('vm-transient');
  await fillMigrate({ host: 'host-b', user: 'labadmin', password: 'wrong-password' });
  await page.click('#migrate-start');
  const login = page.locator('#migrate-checks li[data-check="login"].bad');
  await login.waitFor({ timeout: 30000 });
  assert.match(await login.textContent(), /refused the password/);
  assert.equal(await page.textContent('#migrate-checks .checks-title'), 'Not ready: fix what is marked ✗, then Start again.');
  assert.equal(await dialogOpen(), true, 'the dialog stays, with the checks');
  await shot('09-check-failed');
  assert.equal(movesStarted('vm-transient'), before, 'no move started');
  assert.equal(vmState('a', 'vm-transient'), 'running');
  await page.click('#migrate-cancel');
});

test('a failed migration shows a notification that stays, and the guest keeps its row', async () => {
  // started by a script (the dialog would not start it): its task fails at the login
  const status = await page.evaluate(() => fetch('/plugins/kimchi/vms/vm-transient/migrate', {
    method: 'POST',
    headers: { 'X-Requested-With': 'kimchid-ui', 'Content-Type': 'application/json' },
    body: JSON.stringify({ remote_host: 'host-b', user: 'labadmin', password: 'wrong-password' }),
  }).then((r) => r.status));
  assert.equal(status, 202);
  const note = await waitNote('error', 'refused the password');
  assert.match(await note.textContent(), /failed while setting up password-less ssh login/);
  await shot('09b-migration-failure');
  await page.waitForTimeout(2000);
  assert.ok(await note.isVisible(), 'a failure stays until dismissed');
  assert.equal(await row('vm-transient').locator('.badge').textContent(), 'running');
  assert.equal(vmState('a', 'vm-transient'), 'running');
  await note.locator('button[aria-label="Dismiss"]').click();
  assert.equal(await page.locator('.note.error').count(), 0);
});

test('two guests migrating at once each show their own progress', async () => {
  lab('guest', 'a', 'vm-p1', '128', 'fill', 'persistent');
  lab('guest', 'a', 'vm-p2', '128', 'fill', 'persistent');
  virsh('a', 'migrate-setspeed', 'vm-p1', '3');
  virsh('a', 'migrate-setspeed', 'vm-p2', '3');
  await row('vm-p2').waitFor();
  for (const name of ['vm-p1', 'vm-p2']) {
    await openMigrate(name);
    await fillMigrate({ host: 'host-b' });
    await page.click('#migrate-start');
    await page.waitForFunction(() => !document.getElementById('migrate-dialog').open);
    assert.equal(await focusedLabel(), `Actions for ${name}`);
  }
  await page.waitForFunction(() =>
    ['vm-p1', 'vm-p2'].every((n) => document.querySelector(`tr[data-name="${n}"] .progress`)), null, { timeout: 30000 });
  await shot('10-two-migrations');
  await page.waitForFunction(() => document.querySelectorAll('.progress').length === 0, null, { timeout: 90000 });
  assert.equal(vmState('b', 'vm-p1'), 'running');
  assert.equal(vmState('b', 'vm-p2'), 'running');
});

test('a guest with a local disk: the row says its disks are being copied, then memory', async () => {
  virsh('a', 'migrate-setspeed', 'vm-local', '8'); // its 64 MiB disk takes seconds to copy
  await openMigrate('vm-local');
  await fillMigrate({ host: 'host-b' });
  await page.click('#migrate-start');
  await page.waitForFunction(() => /^Copying disks: \d+% · [\d.]+ MiB\/s/.test(
    document.querySelector('tr[data-name="vm-local"] .figures')?.textContent ?? ''), null, { timeout: 60000 });
  await shot('14-copying-disks');
  const note = await waitNote('success', '"vm-local" migrated');
  assert.match(await note.textContent(), /copied disk vda/);
  assert.equal(vmState('b', 'vm-local'), 'running');
});

test('Clone from the menu runs as a task and adds the new guest', async () => {
  await openMenu('vm-off');
  await row('vm-off').locator('[data-action="clone"]').click();
  const note = await waitNote('success', 'was cloned as');
  assert.equal(await note.locator('.text').textContent(), '"vm-off" was cloned as "vm-off-clone-1".');
  await row('vm-off-clone-1').waitFor({ timeout: 10000 });
  assert.equal(await row('vm-off-clone-1').locator('.badge').textContent(), 'shutoff');
});

test('Delete asks first, says the disks are kept, and removes the guest', async () => {
  await openMenu('vm-off-clone-1');
  await row('vm-off-clone-1').locator('[data-action="delete"]').click();
  assert.match(await page.textContent('#delete-dialog'), /Its disk images are kept/);
  await page.click('#delete-cancel');
  assert.equal(await row('vm-off-clone-1').count(), 1);
  await openMenu('vm-off-clone-1');
  await row('vm-off-clone-1').locator('[data-action="delete"]').click();
  await page.click('#delete-confirm');
  await page.waitForFunction(() => !document.querySelector('tr[data-name="vm-off-clone-1"]'), null, { timeout: 10000 });
  assert.equal(vmState('a', 'vm-off-clone-1'), 'absent');
});

// A name with "%", spaces and accents travels percent-encoded in URIs and task records, and
// is shown as written: a raw "%" once broke the page's task handling (decodeURIComponent).
test('a guest named with %, spaces and accents is listed, cloned and migrated by its name', async () => {
  const name = '50%off été x';
  lab('guest', 'a', name, '128', 'fill', 'persistent');
  virsh('a', 'destroy', name);
  await page.waitForFunction((n) =>
    [...document.querySelectorAll('#guests tbody tr')].some((r) => r.dataset.name === n &&
      r.querySelector('.badge')?.textContent === 'shutoff'), name, { timeout: 30000 });
  requests.length = 0;
  await openMenu(name);
  await row(name).locator('[data-action="clone"]').click();
  const cloned = await waitNote('success', `"${name}" was cloned as`);
  assert.equal(await cloned.locator('.text').textContent(), `"${name}" was cloned as "${name}-clone-1".`);
  await row(`${name}-clone-1`).waitFor({ timeout: 10000 });
  const clonePost = requests.find((r) => r.method === 'POST' && r.url.includes('/clone'));
  assert.ok(clonePost.url.endsWith('/vms/50%25off%20%C3%A9t%C3%A9%20x/clone'), clonePost.url);
  await cloned.locator('button[aria-label="Dismiss"]').click();
  virsh('a', 'start', name);
  await page.waitForFunction((n) =>
    [...document.querySelectorAll('#guests tbody tr')].some((r) => r.dataset.name === n &&
      r.querySelector('.badge')?.textContent === 'running'), name, { timeout: 30000 });
  virsh('a', 'migrate-setspeed', name, '3'); // about 8 s: the row shows it moving
  await openMigrate(name);
  await fillMigrate({ host: 'host-b' });
  await page.click('#migrate-start');
  await row(name).locator('.progress').waitFor({ timeout: 30000 });
  const moved = await waitNote('success', `"${name}" migrated to "host-b"`);
  assert.equal(vmState('b', name), 'running');
  const tasks = await page.evaluate(async () =>
    (await (await fetch('/plugins/kimchi/tasks', { headers: { Accept: 'application/json' } })).json()));
  assert.ok(tasks.some((t) => t.target_uri === '/plugins/kimchi/vms/50%25off%20%C3%A9t%C3%A9%20x/migrate'),
    'the task names the guest percent-encoded');
  assert.ok(tasks.some((t) => t.target_uri === '/plugins/kimchi/vms/50%25off%20%C3%A9t%C3%A9%20x-clone-1/clone'),
    "the clone's task names the new guest percent-encoded");
  await moved.locator('button[aria-label="Dismiss"]').click();
});

const badge = (name) => page.evaluate((n) =>
  document.querySelector(`tr[data-name="${n}"] .badge`)?.textContent ?? null, name);

test('a guest started with virsh behind kimchid\'s back shows up running within a second', async () => {
  lab('guest', 'a', 'vm-side', '64', 'nofill', 'persistent');
  await row('vm-side').waitFor({ timeout: 5000 });
  virsh('a', 'destroy', 'vm-side');
  await page.waitForFunction(() =>
    document.querySelector('tr[data-name="vm-side"] .badge')?.textContent === 'shutoff', null, { timeout: 5000 });
  requests.length = 0;
  virsh('a', 'start', 'vm-side');
  const t0 = Date.now();
  await page.waitForFunction(() =>
    document.querySelector('tr[data-name="vm-side"] .badge')?.textContent === 'running', null, { timeout: 5000 });
  const ms = Date.now() - t0;
  console.log(`# vm-side shown running ${ms} ms after virsh start returned`);
  assert.ok(ms < 1000, `shown running after ${ms} ms`);
  assert.equal(requests.filter((r) => /\/plugins\/kimchi\/vms/.test(r.url)).length, 0, 'it came from the stream');
  virsh('a', 'destroy', 'vm-side');
  virsh('a', 'undefine', 'vm-side');
  await page.waitForFunction(() => !document.querySelector('tr[data-name="vm-side"]'), null, { timeout: 5000 });
});

test('the list shows what a busy guest uses, and this host in the header', async () => {
  await page.waitForFunction(() => {
    const m = document.querySelector('tr[data-name="vm-busy"] .usage meter');
    return m && m.value > 0;
  }, null, { timeout: 20000 });
  const usage = await row('vm-busy').locator('.usage').textContent();
  assert.match(usage, /CPU .* \d+%Mem .* \d+%disk [\d.]+ [KM]B\/s · net [\d.]+ [KM]B\/s/);
  assert.equal(await row('vm-off').locator('.usage').textContent(), '—', 'a guest that is off uses nothing');
  const facts = await page.textContent('#host-facts');
  assert.match(facts, /^host-a · \d+ CPUs · ([\d.]+ [MG]iB of )?[\d.]+ [MG]iB memory · libvirt \d+\.\d+\.\d+ · QEMU \d+\.\d+\.\d+$/);
  await shot('15-list-with-usage');
});

test('this host in maintenance is said under the header, and End maintenance ends it', async () => {
  const call = (method, path, body) => page.evaluate(async ([m, p, b]) => {
    const r = await fetch(`/plugins/kimchi${p}`, {
      method: m, credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-Requested-With': 'kimchid-ui' },
      body: b === undefined ? undefined : JSON.stringify(b),
    });
    return { status: r.status, body: await r.json() };
  }, [method, path, body]);
  assert.equal(await page.isHidden('#maintenance'), true, 'no banner out of maintenance');
  assert.equal((await call('POST', '/host/maintenance', { enabled: true })).status, 200);
  await page.reload();
  await page.waitForSelector('#maintenance:not([hidden])', { timeout: 15000 });
  assert.match(await page.textContent('#maintenance-text'),
    /^This host is in maintenance since \d{4}-\d\d-\d\dT[\d:]+Z \(by kimchiadmin\): guests are not started here, and other kimchids move none here\.$/);
  await shot('15b-maintenance');
  await page.click('#end-maintenance');
  await page.waitForSelector('#maintenance', { state: 'hidden', timeout: 10000 });
  await waitNote('success', 'Maintenance ended', 10000);
  assert.equal((await call('GET', '/host')).body.maintenance, false, 'the host is out of maintenance');
});

test('the stream dropping and coming back loses no task end', async () => {
  lab('guest', 'a', 'vm-drop', '128', 'fill', 'persistent');
  virsh('a', 'migrate-setspeed', 'vm-drop', '3');
  await row('vm-drop').waitFor({ timeout: 5000 });
  await openMigrate('vm-drop');
  await fillMigrate({ host: 'host-b', del: true });
  requests.length = 0;
  await page.click('#migrate-start');
  await row('vm-drop').locator('.progress progress[value]').waitFor({ timeout: 60000 });
  // kimchid's side of every connection from the browser is cut, the stream's too
  lab('exec', 'a', 'ss', '-K', 'sport = :8443');
  await page.locator('#stream-state').waitFor({ state: 'visible', timeout: 5000 });
  await shot('16-stream-reconnecting');
  await page.locator('#stream-state').waitFor({ state: 'hidden', timeout: 15000 });
  const streams = requests.filter((r) => r.url.endsWith('/plugins/kimchi/events'));
  const ids = await Promise.all(streams.map(async (r) => (await r.headers)['last-event-id'] ?? null));
  assert.ok(ids.some((id) => /^\d+\.\d+$/.test(id ?? '')), `the browser reconnected with the last event id it saw (${ids})`);
  await waitNote('success', '"vm-drop" migrated to "host-b"');
  await page.waitForTimeout(1500);
  assert.equal(await page.locator('.note.success', { hasText: '"vm-drop" migrated' }).count(), 1, 'the end is told once');
  await page.waitForFunction(() => !document.querySelector('tr[data-name="vm-drop"]'), null, { timeout: 10000 });
});

test('the Tasks page lists the finished migrations with their figures', async () => {
  await page.click('nav.pages a[href="tasks.html"]');
  await page.waitForSelector('#history tbody tr');
  await page.selectOption('#f-kind', 'migrate');
  await page.selectOption('#f-outcome', 'finished');
  await page.fill('#f-guest', 'vm-one');
  const cells = await page.locator('#history tbody tr').first().locator('td').allTextContents();
  const [, guest, kind, outcome, took, speed, downtime, message] = cells;
  assert.deepEqual([guest, kind, outcome], ['vm-one', 'migration', 'finished']);
  assert.match(took, /^[\d.]+ s$|^\d+ min \d+ s$/);
  assert.match(speed, /^[\d.]+ MiB\/s$/);
  assert.match(downtime, /^\d+ ms$/);
  assert.match(message, /"vm-one" migrated to "host-b"/);
  await page.fill('#f-guest', '');
  await page.selectOption('#f-outcome', 'failed');
  const failed = await page.locator('#history tbody td.outcome').allTextContents();
  assert.ok(failed.length >= 1 && failed.every((t) => t === 'failed'), 'the outcome filter keeps failures only');
  await page.selectOption('#f-outcome', '');
  await page.selectOption('#f-kind', '');
  await shot('17-task-history');
  await page.click('nav.pages a[href="./"]');
  await page.waitForSelector('tr[data-name="vm-off"]');
});

test('the Migrate dialog suggests the hosts kimchid already logs in to', async () => {
  await openMigrate('vm-off');
  // the page reads them (GET /host) once it has loaded, apart from the guest list it waits for
  await page.waitForFunction(() => document.querySelectorAll('#migrate-hosts option').length > 0,
    null, { timeout: 10000 }).catch(() => {});
  const options = await page.locator('#migrate-hosts option').evaluateAll((os) => os.map((o) => o.value));
  assert.deepEqual(options, ['host-b']);
  assert.equal(await page.getAttribute('#migrate-host', 'type'), 'text', 'the field stays a plain text field');
  await page.keyboard.press('Escape');
});

test('an expired session asks for the login again over the page, which carries on', async () => {
  // the session ends on the server (as an idle timeout or a logout in another tab does): its
  // event stream ends with it, and the page asks for a login
  await page.evaluate(() => fetch('/logout', { method: 'POST', headers: { 'X-Requested-With': 'kimchid-ui' } }));
  await page.waitForFunction(() => document.getElementById('login-dialog').open, null, { timeout: 10000 });
  assert.match(await page.textContent('#login-why'), /Your session has ended/);
  assert.ok(await row('vm-off').isVisible(), 'the page behind stays as it was');
  await shot('13-session-expired');
  await page.fill('#login-user', kimchiAdmin.name);
  await page.fill('#login-password', kimchiAdmin.password);
  await page.click('#login-submit');
  await page.waitForFunction(() => !document.getElementById('login-dialog').open);
  await page.waitForTimeout(1500);
  assert.equal(await page.locator('#load-error').isVisible(), false, 'the page carries on without errors');
  await page.locator('#stream-state').waitFor({ state: 'hidden', timeout: 10000 }); // live again
});

test('a page whose stream kimchid closed (8 newer ones of the same user) says so and keeps polling', async () => {
  const cookie = (await page.context().cookies()).find((c) => c.name === 'kimchid_session');
  const curls = Array.from({ length: 8 }, () => spawn('curl', ['-skN', '-b',
    `kimchid_session=${cookie.value}`, `${BASE}plugins/kimchi/events`], { stdio: 'ignore' }));
  try {
    const banner = page.locator('#stream-state');
    await banner.waitFor({ state: 'visible', timeout: 15000 });
    assert.match(await banner.textContent(), /This live view was closed: "kimchiadmin" opened more than 8 event streams, and kimchid keeps the newest 8\. Close pages you no longer use, then reload this one\. Meanwhile the page checks for changes every second\./);
    await shot('18-stream-closed');
    await page.waitForTimeout(3000);
    assert.ok(await banner.isVisible(), 'the page does not reconnect (that would close another stream)');
  } finally {
    curls.forEach((c) => c.kill());
  }
  await page.reload();
  await page.locator('#stream-state').waitFor({ state: 'hidden', timeout: 10000 });
});

test('Log out ends the session and shows the login', async () => {
  const old = (await page.context().cookies()).find((c) => c.name === 'kimchid_session');
  assert.ok(old?.httpOnly && old.sameSite === 'Strict' && old.secure, 'the cookie is HttpOnly, Strict, Secure');
  await page.click('#logout');
  await page.waitForFunction(() => document.getElementById('login-dialog').open, null, { timeout: 10000 });
  const status = execFileSync('curl', ['-sk', '-o', '/dev/null', '-w', '%{http_code}', '-b',
    `kimchid_session=${old.value}`, `${BASE}plugins/kimchi/vms`], { encoding: 'utf8' });
  assert.equal(status, '401', 'the old session no longer opens the API');
  await page.fill('#login-user', kimchiAdmin.name);
  await page.fill('#login-password', kimchiAdmin.password);
  await page.click('#login-submit');
  // done only when the login has completed: the dialog closes and the header shows the user
  await page.waitForFunction(() => !document.getElementById('login-dialog').open);
  assert.equal(await page.textContent('#who'), 'kimchiadmin (administrator)');
  await page.waitForSelector('tr[data-name="vm-off"]');
});

test('the page and the dialog work on a 390x844 phone screen', async () => {
  await page.setViewportSize({ width: 390, height: 844 });
  await page.reload();
  await row('vm-off').waitFor();
  await shot('11-phone-list');
  await openMigrate('vm-off');
  const box = await page.locator('#migrate-dialog').boundingBox();
  assert.ok(box.x >= 0 && box.x + box.width <= 390, `dialog fits the width (${box.x}+${box.width})`);
  const start = await page.locator('#migrate-start').boundingBox();
  assert.ok(start.y + start.height <= 844, 'Start is on screen');
  await shot('12-phone-dialog');
  await page.click('#migrate-cancel');
  await page.setViewportSize({ width: 1280, height: 800 });
});

test('Evacuate host… shows the plan, moves every guest with each row showing its move, and sums up', async () => {
  try { virsh('a', 'destroy', 'vm-busy'); } catch { /* not running there */ } // writes too fast for TCG: moves shut off
  lab('guest', 'a', 'vm-evac', '128', 'fill', 'persistent');
  virsh('a', 'migrate-setspeed', 'vm-evac', '4'); // so that its row shows the move for a while
  await row('vm-evac').waitFor({ timeout: 10000 });
  assert.ok(await page.isVisible('#evacuate-open'), 'an administrator sees Evacuate host…');
  await page.click('#evacuate-open');
  await page.fill('#evacuate-dests', 'host-b');
  await page.press('#evacuate-dests', 'Tab'); // the plan again, for host-b
  await page.waitForFunction(() => /will move/.test(document.getElementById('evacuate-plan-title').textContent), null, { timeout: 60000 });
  const plan = await page.locator('#evacuate-plan tbody tr').evaluateAll((rs) => rs.map((r) => [...r.cells].map((c) => c.textContent)));
  assert.deepEqual(plan.find((r) => r[0] === 'vm-evac'), ['vm-evac', '→ host-b', ''], `the plan says where vm-evac goes (${JSON.stringify(plan)})`);
  assert.deepEqual(plan.find((r) => r[0] === 'vm-off')?.[1], '→ host-b', 'a shut-off guest moves too');
  await shot('17-evacuate-plan');
  await page.click('#evacuate-start');
  await page.locator('#evacuation').waitFor({ state: 'visible', timeout: 10000 });
  assert.match(await page.textContent('#evacuation-text'), /^Evacuating this host: /);
  await row('vm-evac').locator('.progress progress[value]').waitFor({ timeout: 90000 });
  await shot('18-evacuating');
  await page.locator('#evacuation').waitFor({ state: 'hidden', timeout: 170000 });
  const summary = page.locator('.note', { hasText: /This host is evacuated: \d+ guest\(s\) moved in \d+ s|KCHHOST0106E: The evacuation ended in \d+ s/ });
  await summary.first().waitFor({ timeout: 10000 });
  assert.equal(vmState('b', 'vm-evac'), 'running', 'vm-evac runs on host-b');
  assert.equal(vmState('a', 'vm-evac'), 'absent', '...and is gone from host-a');
  await page.waitForSelector('#maintenance:not([hidden])', { timeout: 10000 });
  await shot('19-evacuated');
  await page.click('#end-maintenance');
  await page.waitForSelector('#maintenance', { state: 'hidden', timeout: 10000 });
});
