// Browser test of the reference server (examples/server): headless
// Chromium, driven by playwright-core, signs in to the console as the demo
// admin alice, impersonates bob in the built-in demo app, sees the banner
// and the API's answer, opens demo app 2 (an ordinary OpenID Connect
// client) which signs in as bob through the impersonation session and
// shows the banner too, finds demo app 3 (a client without impersonation)
// refusing the impersonated sign-in, sees the active impersonation in the
// console,
// ends the impersonation, finds demo app 2 signing alice in as herself
// afterwards, finds the events in the impersonation log, and signs out of
// demo app 2, which signs her out of the identity server too (OpenID
// Connect RP-Initiated Logout, no confirmation for demo-app2). Then alice
// impersonates bob again, in demo app 2; bob signs in in a browser context
// of his own, finds the impersonation running on /account (and the first
// one ended) and ends it there; alice's console and demo app 2 show it
// over, and the impersonation log says bob ended it. It builds and
// starts the real server binary on a free port and stops it with SIGINT at
// the end, expecting exit status 0.
//
// A second test runs the server on a data file whose demo app requires
// the user's grant (require_subject_grant): bob gives support access for
// an hour on /account, alice impersonates him in the demo app, bob revokes
// the access, and alice's next request in the demo app is refused.
//
// Run it with ./run (installs Chromium and the npm packages first), or
// with `node --test` in this directory once they are installed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..', '..', '..');
const outDir = path.join(here, 'out');
const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium';

const BUILD_TIMEOUT_MS = 5 * 60_000; // a cold Go build cache compiles everything
const READY_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 15_000;
const ACTION_TIMEOUT_MS = 15_000;

const ADMIN = { username: 'alice', password: 'alice-demo-password' };
const REASON = 'Browser test: ticket T-1234';
const REASON2 = 'Browser test: ticket T-5678';
const USER = { username: 'bob', password: 'bob-demo-password' };
const BANNER = 'You are acting as bob — signed in as alice';

// freePort asks the kernel for a free TCP port on the loopback interface.
async function freePort() {
  const srv = net.createServer();
  await new Promise((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', resolve);
  });
  const { port } = srv.address();
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

// Server is the reference server running as a child process, with its
// output kept for error messages.
class Server {
  constructor(binary, port, extraArgs = []) {
    this.issuer = `http://127.0.0.1:${port}`;
    this.output = '';
    this.proc = spawn(binary, ['-addr', `127.0.0.1:${port}`, '-issuer', this.issuer, ...extraArgs], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (chunk) => { this.output += chunk.toString(); };
    this.proc.stdout.on('data', keep);
    this.proc.stderr.on('data', keep);
    this.exited = new Promise((resolve) => {
      this.proc.once('exit', (code, signal) => resolve({ code, signal }));
    });
    this.spawnError = new Promise((resolve) => this.proc.once('error', resolve));
    this.done = false;
    this.exited.then(() => { this.done = true; });
  }

  // tail returns the last lines of the server's output.
  tail(lines = 40) {
    return this.output.trimEnd().split('\n').slice(-lines).join('\n');
  }

  // waitReady polls the discovery document until it answers 200 with
  // this issuer, the process exits, or the deadline passes.
  async waitReady() {
    const url = `${this.issuer}/.well-known/openid-configuration`;
    const deadline = Date.now() + READY_TIMEOUT_MS;
    let last = 'no answer yet';
    while (Date.now() < deadline) {
      if (this.done) {
        const { code, signal } = await this.exited;
        throw new Error(`the server exited before it was ready (code ${code}, signal ${signal}):\n${this.tail()}`);
      }
      try {
        const resp = await fetch(url, { signal: AbortSignal.timeout(2_000) });
        const body = await resp.text();
        if (resp.ok) {
          const issuer = JSON.parse(body).issuer;
          if (issuer !== this.issuer) {
            throw new Error(`discovery names issuer ${JSON.stringify(issuer)}, want ${JSON.stringify(this.issuer)}`);
          }
          return;
        }
        last = `${resp.status} ${body.slice(0, 200)}`;
      } catch (err) {
        if (err.message.startsWith('discovery names')) throw err;
        last = err.cause?.code ?? err.message;
      }
      await Promise.race([new Promise((r) => setTimeout(r, 100)), this.exited]);
    }
    throw new Error(`the server did not answer ${url} within ${READY_TIMEOUT_MS} ms (last: ${last}):\n${this.tail()}`);
  }

  // stop sends SIGINT and returns how the process exited, killing it
  // (and failing) if it does not stop in time.
  async stop() {
    if (this.done) return this.exited;
    this.proc.kill('SIGINT');
    let timer;
    const timeout = new Promise((resolve) => { timer = setTimeout(() => resolve(null), STOP_TIMEOUT_MS); });
    const result = await Promise.race([this.exited, timeout]);
    clearTimeout(timer);
    if (result === null) {
      this.proc.kill('SIGKILL');
      await this.exited;
      throw new Error(`the server did not stop within ${STOP_TIMEOUT_MS} ms of SIGINT:\n${this.tail()}`);
    }
    return result;
  }
}

// buildServer builds the reference server into dir and returns the binary.
async function buildServer(dir) {
  const binary = path.join(dir, 'server');
  try {
    await promisify(execFile)('go', ['build', '-o', binary, './examples/server'], {
      cwd: repoRoot, timeout: BUILD_TIMEOUT_MS, maxBuffer: 16 << 20,
    });
  } catch (err) {
    assert.fail(`go build ./examples/server failed: ${err.message}\n${err.stderr ?? ''}`);
  }
  return binary;
}

// startServer starts binary on port (with extraArgs) and waits until it
// answers; the test kills it if it is still running at the end.
async function startServer(t, binary, port, extraArgs = []) {
  const server = new Server(binary, port, extraArgs);
  t.after(async () => { if (!server.done) { server.proc.kill('SIGKILL'); await server.exited; } });
  const spawnFailed = server.spawnError.then((err) => { throw new Error(`cannot start ${binary}: ${err.message}`); });
  await Promise.race([server.waitReady(), spawnFailed]);
  return server;
}

// launchChromium launches headless Chromium, closed at the end of the test.
async function launchChromium(t) {
  let browser;
  try {
    browser = await chromium.launch({
      executablePath: chromiumPath,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic',
        '--no-first-run', '--disable-component-update', '--disable-sync'],
      timeout: 60_000,
    });
  } catch (err) {
    assert.fail(`cannot launch Chromium at ${chromiumPath}: ${err.message}`);
  }
  t.after(() => browser.close());
  return browser;
}

test('console: impersonate bob, see the banner in /app and /app2, end it, find it in the audit log, sign out of /app2; bob ends the next one on /account', { timeout: 10 * 60_000 }, async (t) => {
  if (!existsSync(chromiumPath)) {
    assert.fail(`Chromium not found at ${chromiumPath}: install it (apt-get install -y chromium) or run ./run`);
  }
  await mkdir(outDir, { recursive: true });
  for (const f of ['banner.png', 'banner-app2.png', 'failure.png']) await rm(path.join(outDir, f), { force: true }); // no stale artifacts
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'actas-browser-'));
  t.after(() => rm(tmp, { recursive: true, force: true }));

  // Build the server, start it on a free port, launch Chromium.
  const server = await startServer(t, await buildServer(tmp), await freePort());
  const { issuer } = server;
  const browser = await launchChromium(t);
  const context = await browser.newContext({ viewport: { width: 1100, height: 700 } });
  context.setDefaultTimeout(ACTION_TIMEOUT_MS);
  context.setDefaultNavigationTimeout(ACTION_TIMEOUT_MS);
  const page = await context.newPage();
  const consoleErrors = [];
  page.on('console', (msg) => {
    // The server has no favicon; Chromium asks for one and logs the 404.
    if (msg.type() === 'error' && !msg.location().url.endsWith('/favicon.ico')) {
      consoleErrors.push(`${msg.text()} (${msg.location().url})`);
    }
  });
  page.on('pageerror', (err) => consoleErrors.push(err.message));

  // step runs one step of the scenario; a failure names the step, the
  // page the browser is on (with its visible text), Chromium's console
  // errors and the server's last log lines, and saves a screenshot.
  const step = async (name, fn) => {
    try {
      return await fn();
    } catch (err) {
      let where = '(no page)';
      try {
        const text = (await page.locator('body').innerText({ timeout: 2_000 })).trim().slice(0, 1_500);
        where = `${page.url()}\n--- visible text ---\n${text}`;
        await page.screenshot({ path: path.join(outDir, 'failure.png'), fullPage: true, timeout: 5_000 });
        where += `\n(screenshot: ${path.join(outDir, 'failure.png')})`;
      } catch { /* the page may be gone */ }
      const errs = consoleErrors.length ? `\n--- browser console errors ---\n${consoleErrors.join('\n')}` : '';
      throw new Error(`step "${name}" failed: ${err.message}\n--- browser is at ---\n${where}${errs}\n--- server log (tail) ---\n${server.tail(25)}`, { cause: err });
    }
  };

  // expectPath waits for the browser to be on path (ignoring the query).
  const expectPath = (p) => page.waitForURL((u) => u.origin === issuer && u.pathname === p);

  await step('sign in to the console as alice', async () => {
    await page.goto(`${issuer}/console`);
    await expectPath('/login'); // the console sends anonymous visitors to the login page
    const form = page.locator('form[action="/login"]');
    await form.locator('input[name="username"]').fill(ADMIN.username);
    await form.locator('input[name="password"]').fill(ADMIN.password);
    await Promise.all([expectPath('/console'), form.getByRole('button', { name: 'Sign in' }).click()]);
    await page.locator('h1', { hasText: 'Console' }).waitFor();
    assert.match(await page.locator('header .who').innerText(), /signed in as alice/);
  });

  await step('the console lists bob and carol, not dave', async () => {
    const rows = page.locator('#users tbody tr');
    await rows.first().waitFor();
    const listed = await rows.evaluateAll((trs) => trs.map((tr) => tr.dataset.user));
    assert.ok(listed.includes('bob'), `bob is not listed; the console lists ${JSON.stringify(listed)}`);
    assert.ok(listed.includes('carol'), `carol is not listed; the console lists ${JSON.stringify(listed)}`);
    assert.ok(!listed.includes('dave'), `dave (globex, outside alice's organisations) is listed: ${JSON.stringify(listed)}`);
    assert.ok(!listed.includes('alice'), `alice may not impersonate herself, yet is listed: ${JSON.stringify(listed)}`);
  });

  await step("impersonate bob with a reason", async () => {
    const row = page.locator('#users tr[data-user="bob"]');
    await row.locator('input[name="reason"]').fill(REASON);
    await Promise.all([expectPath('/oauth2/authorize'), row.getByRole('button', { name: 'Impersonate', exact: true }).click()]);
  });

  await step('the consent page names alice, bob and the app; Allow', async () => {
    const text = await page.locator('#consent-text').innerText();
    assert.match(text, /alice, you are about to act as bob/, `consent text: ${text}`);
    assert.match(text, /ACME Europe/, `consent text does not name bob's organisation: ${text}`);
    assert.match(text, /demo-app/, `consent text does not name the app: ${text}`);
    assert.match(await page.locator('main').innerText(), new RegExp(REASON), 'the consent page does not show the reason');
    // Allow: the authorize endpoint answers with an auto-submitting
    // form_post page, which posts the tokens to /app/callback; the app
    // exchanges them and redirects to /app.
    await Promise.all([expectPath('/app'), page.getByRole('button', { name: 'Allow' }).click()]);
  });

  await step('/app shows the banner and the API answer for bob acted on by alice', async () => {
    const banner = page.locator('#impersonation-banner');
    await banner.waitFor({ state: 'visible' });
    assert.equal((await page.locator('#banner-text').innerText()).trim(), BANNER);
    const raw = await page.locator('#api-me').innerText();
    let me;
    try { me = JSON.parse(raw); } catch { assert.fail(`the /api/me answer on the page is not JSON: ${raw}`); }
    assert.equal(me.sub, 'bob', `/api/me: ${raw}`);
    assert.equal(me.act?.sub, 'alice', `/api/me: ${raw}`);
    assert.equal(me.org_id, 'acme-eu', `/api/me: ${raw}`);
    assert.equal(me.client_id, 'demo-app', `/api/me: ${raw}`);
    assert.equal(me.scope, 'openid orders:read', `/api/me: ${raw}`);
    await page.screenshot({ path: path.join(outDir, 'banner.png') });
  });

  await step('/app2, opened from /app, signs in as bob through the impersonation session and shows the banner', async () => {
    // Demo app 2 knows nothing about impersonation: its code flow (PKCE
    // S256) runs through alice's login session, which impersonates bob.
    await Promise.all([expectPath('/app2'), page.locator('#impersonation-banner').getByRole('link', { name: 'Open demo app 2' }).click()]);
    const banner = page.locator('#impersonation-banner');
    await banner.waitFor({ state: 'visible' });
    assert.equal((await page.locator('#banner-text').innerText()).trim(), BANNER);
    assert.equal(await page.locator('header .brand').innerText(), 'Demo app 2');
    const raw = await page.locator('#token-claims').innerText();
    let at;
    try { at = JSON.parse(raw); } catch { assert.fail(`demo app 2's token claims are not JSON: ${raw}`); }
    assert.equal(at.sub, 'bob', `token: ${raw}`);
    assert.equal(at.act?.sub, 'alice', `token: ${raw}`);
    assert.equal(at.aud, 'demo-app2', `token: ${raw}`);
    assert.equal(at.scope, 'openid orders:read', `token: ${raw}`);
    assert.ok(at.isid, `no isid (impersonation session) in the token: ${raw}`);
    assert.equal(at.impersonation_reason, REASON, `token: ${raw}`);
    await page.screenshot({ path: path.join(outDir, 'banner-app2.png') });
  });

  await step('Refresh in /app2 keeps the impersonation', async () => {
    await Promise.all([expectPath('/app2'), page.getByRole('button', { name: 'Refresh' }).click()]);
    await page.locator('.flash', { hasText: 'Tokens refreshed' }).waitFor();
    assert.equal((await page.locator('#banner-text').innerText()).trim(), BANNER);
    const at = JSON.parse(await page.locator('#token-claims').innerText());
    assert.equal(at.act?.sub, 'alice', 'the refreshed token lost act');
  });

  await step('/app3, an ordinary client without impersonation, refuses the impersonated sign-in', async () => {
    // demo-app3 has impersonation off and alice holds no impersonation
    // role for it: under the impersonation session its sign-in is refused
    // (access_denied), neither bob's tokens nor alice's own.
    await page.goto(`${issuer}/app3`);
    assert.equal(await page.locator('header .brand').innerText(), 'Demo app 3');
    await Promise.all([expectPath('/app3/callback'), page.getByRole('link', { name: 'Sign in' }).click()]);
    await page.locator('h1', { hasText: 'Not signed in' }).waitFor();
    const text = await page.locator('main').innerText();
    assert.match(text, /access_denied/, `demo app 3 does not show the refusal: ${text}`);
    assert.match(text, /you are impersonating bob/, `demo app 3 does not say why: ${text}`);
    await page.goto(`${issuer}/app3`);
    assert.equal(await page.locator('#impersonation-banner').count(), 0, 'demo app 3 shows an impersonation banner');
    assert.equal(await page.locator('#signed-in-as').count(), 0, 'demo app 3 signed someone in');
    assert.equal(await page.locator('#sign-in').count(), 1, 'demo app 3 is not signed out');
  });

  await step('the console shows the active impersonation', async () => {
    await page.goto(`${issuer}/console`);
    const active = page.locator('#active-impersonation');
    await active.waitFor({ state: 'visible' });
    assert.match(await page.locator('#active-text').innerText(), /You are impersonating bob \(ACME Europe\) until /);
    assert.equal(await active.getByRole('link', { name: 'Open demo app 2' }).count(), 1);
    assert.equal(await active.getByRole('button', { name: 'End impersonation' }).count(), 1);
    await page.goto(`${issuer}/app`);
    await page.locator('#impersonation-banner').waitFor({ state: 'visible' });
  });

  await step('End impersonation returns to the console', async () => {
    await Promise.all([
      expectPath('/console'),
      page.locator('#impersonation-banner').getByRole('button', { name: 'End impersonation' }).click(),
    ]);
    await page.locator('#users').waitFor();
  });

  await step('/app no longer shows the banner', async () => {
    await page.goto(`${issuer}/app`);
    await page.locator('h1', { hasText: 'Demo business app' }).waitFor();
    assert.equal(await page.locator('#impersonation-banner').count(), 0, 'the banner is still shown after ending the impersonation');
  });

  await step('the console no longer shows an impersonation', async () => {
    await page.goto(`${issuer}/console`);
    await page.locator('#users').waitFor();
    assert.equal(await page.locator('#active-impersonation').count(), 0, 'the console still shows the ended impersonation');
  });

  await step('/app2 signs alice out, then in as herself', async () => {
    await page.goto(`${issuer}/app2`);
    await page.locator('.flash', { hasText: 'You have been signed out' }).waitFor();
    assert.equal(await page.locator('#impersonation-banner').count(), 0, 'demo app 2 still shows the banner after the impersonation ended');
    await Promise.all([expectPath('/app2'), page.getByRole('link', { name: 'Sign in' }).click()]);
    await page.locator('#signed-in-as').waitFor({ state: 'visible' });
    assert.equal((await page.locator('#signed-in-as').innerText()).trim(), 'Signed in as alice');
    assert.equal(await page.locator('#impersonation-banner').count(), 0);
    const at = JSON.parse(await page.locator('#token-claims').innerText());
    assert.equal(at.sub, 'alice');
    assert.equal(at.act, undefined, `alice's own token carries act: ${JSON.stringify(at)}`);
  });

  await step('the audit log lists impersonation.started, token.exchanged, impersonation.ended', async () => {
    await page.goto(`${issuer}/console/audit`);
    await page.locator('#audit').waitFor();
    const rows = await page.locator('#audit tbody tr.event').evaluateAll((trs) => trs.map((tr) => ({
      event: tr.dataset.event,
      cells: [...tr.cells].map((c) => c.innerText.trim()),
    })));
    const events = rows.map((r) => r.event);
    for (const want of ['impersonation.started', 'token.exchanged', 'impersonation.ended']) {
      const row = rows.find((r) => r.event === want);
      assert.ok(row, `no ${want} event in the audit log; it lists ${JSON.stringify(events)}`);
      // Columns: time, event, impersonator, user, organisation, app, ...
      assert.equal(row.cells[2], 'alice', `${want}: impersonator column: ${JSON.stringify(row.cells)}`);
      assert.equal(row.cells[3], 'bob', `${want}: user column: ${JSON.stringify(row.cells)}`);
    }
    // Newest first: the end comes before the exchange, which comes before the start.
    const at = (e) => events.indexOf(e);
    assert.ok(at('impersonation.ended') < at('token.exchanged') && at('token.exchanged') < at('impersonation.started'),
      `the audit log is not newest first: ${JSON.stringify(events)}`);
    for (const want of ['impersonation.session_started', 'impersonation.session_tokens']) {
      assert.ok(events.includes(want), `no ${want} event in the audit log; it lists ${JSON.stringify(events)}`);
    }
    const started = rows.find((r) => r.event === 'impersonation.started');
    assert.ok(started.cells.some((c) => c.includes(REASON)), `impersonation.started does not show the reason: ${JSON.stringify(started.cells)}`);
  });

  await step("Sign out of demo app 2 signs alice out of the identity server too", async () => {
    await page.goto(`${issuer}/app2`);
    await page.locator('#signed-in-as').waitFor({ state: 'visible' });
    // POST /app2/logout -> the end-session endpoint (id_token_hint,
    // post_logout_redirect_uri, state; demo-app2 skips the confirmation)
    // -> /app2/signed-out -> /app2.
    await Promise.all([expectPath('/app2'), page.getByRole('button', { name: 'Sign out of Demo app 2' }).click()]);
    await page.locator('.flash', { hasText: 'You are signed out of Demo app 2 and of the identity server.' }).waitFor();
    assert.equal(await page.locator('#signed-in-as').count(), 0, 'demo app 2 still shows alice signed in');
    assert.equal(await page.locator('#sign-in').count(), 1, 'demo app 2 offers no sign-in');
    await page.goto(`${issuer}/console`);
    await expectPath('/login'); // the identity server's login ended too
  });

  await step('alice signs in again and impersonates bob in demo app 2', async () => {
    const form = page.locator('form[action="/login"]');
    await form.locator('input[name="username"]').fill(ADMIN.username);
    await form.locator('input[name="password"]').fill(ADMIN.password);
    await Promise.all([expectPath('/console'), form.getByRole('button', { name: 'Sign in' }).click()]);
    const row = page.locator('#users tr[data-user="bob"]');
    await row.locator('input[name="reason"]').fill(REASON2);
    await Promise.all([expectPath('/oauth2/authorize'), row.getByRole('button', { name: 'Impersonate in demo app 2' }).click()]);
    await Promise.all([expectPath('/app2'), page.getByRole('button', { name: 'Allow' }).click()]);
    await page.locator('#impersonation-banner').waitFor({ state: 'visible' });
    assert.equal((await page.locator('#banner-text').innerText()).trim(), BANNER);
  });

  // bob's own browser: a context of its own, so none of alice's cookies.
  const bobContext = await browser.newContext({ viewport: { width: 1100, height: 700 } });
  bobContext.setDefaultTimeout(ACTION_TIMEOUT_MS);
  bobContext.setDefaultNavigationTimeout(ACTION_TIMEOUT_MS);
  const bobPage = await bobContext.newPage();
  bobPage.on('console', (msg) => {
    if (msg.type() === 'error' && !msg.location().url.endsWith('/favicon.ico')) {
      consoleErrors.push(`bob's browser: ${msg.text()} (${msg.location().url})`);
    }
  });
  bobPage.on('pageerror', (err) => consoleErrors.push(`bob's browser: ${err.message}`));
  const bobRows = () => bobPage.locator('#impersonation-list tbody tr.impersonation').evaluateAll((trs) => trs.map((tr) => ({
    id: tr.dataset.id,
    state: tr.dataset.state,
    who: tr.querySelector('.who').innerText.trim(),
    app: tr.querySelector('.app').innerText.trim(),
    reason: tr.querySelector('.reason').innerText.trim(),
    status: tr.querySelector('.status').innerText.trim(),
  })));

  await step('bob signs in and finds the impersonation running on /account', async () => {
    await bobPage.goto(`${issuer}/account`);
    await bobPage.waitForURL((u) => u.origin === issuer && u.pathname === '/login'); // sent to sign in first
    const form = bobPage.locator('form[action="/login"]');
    await form.locator('input[name="username"]').fill(USER.username);
    await form.locator('input[name="password"]').fill(USER.password);
    await Promise.all([
      bobPage.waitForURL((u) => u.origin === issuer && u.pathname === '/account'),
      form.getByRole('button', { name: 'Sign in' }).click(),
    ]);
    await bobPage.locator('h2', { hasText: 'Impersonations of you' }).waitFor();
    assert.match(await bobPage.locator('header .who').innerText(), /signed in as bob/);
    const rows = await bobRows();
    assert.equal(rows.length, 2, `bob's page lists ${JSON.stringify(rows)}`);
    const [running, first] = rows; // newest first
    assert.equal(running.state, 'running', `the newest: ${JSON.stringify(running)}`);
    assert.equal(running.who, 'alice');
    assert.equal(running.app, 'demo-app');
    assert.equal(running.reason, `“${REASON2}”`);
    assert.match(running.status, /^Running until /);
    assert.equal(first.state, 'ended', `the first, ended in the demo app: ${JSON.stringify(first)}`);
    assert.match(first.status, /^Ended at .*\(ended in the demo app\)$/, `the first: ${JSON.stringify(first)}`);
    assert.equal(first.reason, `“${REASON}”`);
    assert.equal(await bobPage.locator('form[action="/account/end"]').count(), 1, 'one End button, on the running one');
  });

  await step('bob ends it on /account', async () => {
    const row = bobPage.locator('#impersonation-list tr[data-state="running"]');
    await Promise.all([
      bobPage.waitForURL((u) => u.origin === issuer && u.pathname === '/account'),
      row.getByRole('button', { name: 'End' }).click(),
    ]);
    await bobPage.locator('h2', { hasText: 'Impersonations of you' }).waitFor();
    const rows = await bobRows();
    assert.equal(rows.length, 2, `bob's page lists ${JSON.stringify(rows)}`);
    assert.equal(rows[0].state, 'ended', `the newest: ${JSON.stringify(rows[0])}`);
    assert.match(rows[0].status, /^Ended by you at /);
    assert.equal(await bobPage.locator('form[action="/account/end"]').count(), 0, 'nothing left to end');
  });

  await step("alice's console and demo app 2 show the impersonation over", async () => {
    await page.goto(`${issuer}/console`);
    await page.locator('#users').waitFor();
    assert.equal(await page.locator('#active-impersonation').count(), 0, 'the console still shows the impersonation bob ended');
    await page.goto(`${issuer}/app2`);
    await page.locator('.flash', { hasText: 'You have been signed out' }).waitFor();
    assert.equal(await page.locator('#impersonation-banner').count(), 0, 'demo app 2 still shows the banner after bob ended it');
    await Promise.all([expectPath('/app2'), page.getByRole('link', { name: 'Sign in' }).click()]);
    await page.locator('#signed-in-as').waitFor({ state: 'visible' });
    assert.equal((await page.locator('#signed-in-as').innerText()).trim(), 'Signed in as alice');
    const at = JSON.parse(await page.locator('#token-claims').innerText());
    assert.equal(at.act, undefined, `alice's own token carries act: ${JSON.stringify(at)}`);
  });

  await step('the audit log says bob ended it', async () => {
    await page.goto(`${issuer}/console/audit`);
    await page.locator('#audit').waitFor();
    const ended = await page.locator('#audit tbody tr.event[data-event="impersonation.ended"]').evaluateAll((trs) => trs.map((tr) => tr.innerText));
    assert.ok(ended.some((text) => text.includes('ended by the impersonated user')),
      `no impersonation.ended by the impersonated user in the log: ${JSON.stringify(ended)}`);
  });
  await bobContext.close();

  assert.deepEqual(consoleErrors, [], 'Chromium reported console errors (CSP violations, script errors)');

  await browser.close();
  const { code, signal } = await server.stop();
  assert.equal(signal, null, `the server was killed by ${signal} instead of exiting on SIGINT:\n${server.tail()}`);
  assert.equal(code, 0, `the server exited with status ${code} after SIGINT:\n${server.tail()}`);
  assert.match(server.output, /"msg":"stopped"/, `the server did not log its clean stop:\n${server.tail()}`);
});

// grantData is a data file for issuer whose demo app requires the user's
// grant: alice may impersonate bob through it only while bob allows it.
function grantData(issuer) {
  return JSON.stringify({
    organizations: [{ id: 'acme', name: 'ACME Corporation' }, { id: 'acme-eu', name: 'ACME Europe', parent: 'acme' }],
    users: [
      { id: 'alice', username: 'alice', password: ADMIN.password, org: 'acme', email: 'alice@acme.example' },
      { id: 'bob', username: 'bob', password: USER.password, org: 'acme-eu', email: 'bob@acme.example' },
    ],
    clients: [{
      id: 'demo-app', secret: 'demo-app-secret-not-for-production', redirect_uris: [`${issuer}/app/callback`],
      scopes: ['openid', 'internal_user_impersonate', 'orders:read'],
      grant_types: ['urn:ietf:params:oauth:grant-type:token-exchange'],
      impersonation: true, skip_consent: true, response_modes: ['form_post', 'fragment'],
      audiences: [`${issuer}/api`], require_subject_grant: true,
    }],
    roles: [
      { name: 'impersonator', client: 'demo-app', scopes: ['internal_user_impersonate'], users: ['alice'] },
      { name: 'customer', client: 'demo-app', scopes: ['orders:read'], users: ['bob'] },
    ],
  });
}

test('subject grants: bob gives support access for an hour, alice impersonates, bob revokes, alice is refused', { timeout: 10 * 60_000 }, async (t) => {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'actas-browser-grants-'));
  t.after(() => rm(tmp, { recursive: true, force: true }));
  const binary = await buildServer(tmp);
  const port = await freePort();
  const dataFile = path.join(tmp, 'data.json');
  await writeFile(dataFile, grantData(`http://127.0.0.1:${port}`));
  const server = await startServer(t, binary, port, ['-data', dataFile]);
  const { issuer } = server;
  const browser = await launchChromium(t);
  const newPage = async () => {
    const context = await browser.newContext({ viewport: { width: 1100, height: 700 } });
    context.setDefaultTimeout(ACTION_TIMEOUT_MS);
    context.setDefaultNavigationTimeout(ACTION_TIMEOUT_MS);
    return context.newPage();
  };
  const alice = await newPage();
  const bob = await newPage();
  const step = async (name, fn) => {
    try {
      return await fn();
    } catch (err) {
      let where = '';
      for (const [who, p] of [['alice', alice], ['bob', bob]]) {
        try {
          where += `\n--- ${who} is at ${p.url()} ---\n${(await p.locator('body').innerText({ timeout: 2_000 })).trim().slice(0, 1_000)}`;
        } catch { /* the page may be gone */ }
      }
      throw new Error(`step "${name}" failed: ${err.message}${where}\n--- server log (tail) ---\n${server.tail(25)}`, { cause: err });
    }
  };
  const signIn = async (p, who, then) => {
    await p.goto(`${issuer}${then}`);
    await p.waitForURL((u) => u.pathname === '/login');
    const form = p.locator('form[action="/login"]');
    await form.locator('input[name="username"]').fill(who.username);
    await form.locator('input[name="password"]').fill(who.password);
    await Promise.all([p.waitForURL((u) => u.pathname === then), form.getByRole('button', { name: 'Sign in' }).click()]);
  };
  const grantStates = () => bob.locator('#grant-list tr.grant').evaluateAll((trs) => trs.map((tr) => tr.dataset.state));

  await step('without a grant, the console does not offer bob', async () => {
    await signIn(alice, ADMIN, '/console');
    await alice.locator('h1', { hasText: 'Console' }).waitFor();
    assert.equal(await alice.locator('#users tr[data-user="bob"]').count(), 0, 'bob is offered without his grant');
  });

  await step('bob gives support access for an hour on /account', async () => {
    await signIn(bob, USER, '/account');
    const form = bob.locator('#give-access');
    await form.locator('select[name="client"]').selectOption('demo-app');
    await form.locator('select[name="duration"]').selectOption({ label: '1 hour' });
    await Promise.all([bob.waitForURL((u) => u.pathname === '/account'), form.getByRole('button', { name: 'Give access' }).click()]);
    assert.deepEqual(await grantStates(), ['live']);
    assert.match(await bob.locator('#grant-list tr.grant .who').innerText(), /every impersonator/);
  });

  await step('alice impersonates bob in the demo app', async () => {
    await alice.goto(`${issuer}/console`);
    const row = alice.locator('#users tr[data-user="bob"]');
    await row.locator('input[name="reason"]').fill(REASON);
    await Promise.all([alice.waitForURL((u) => u.pathname === '/app'), row.getByRole('button', { name: 'Impersonate', exact: true }).click()]);
    await alice.locator('#impersonation-banner').waitFor({ state: 'visible' });
    assert.equal((await alice.locator('#banner-text').innerText()).trim(), BANNER);
  });

  await step('bob revokes the access', async () => {
    await bob.goto(`${issuer}/account`);
    const row = bob.locator('#grant-list tr.grant[data-state="live"]');
    await Promise.all([bob.waitForURL((u) => u.pathname === '/account'), row.getByRole('button', { name: 'Revoke' }).click()]);
    assert.deepEqual(await grantStates(), ['revoked']);
  });

  await step("alice's next request in the demo app is refused", async () => {
    await alice.goto(`${issuer}/app`);
    await alice.locator('.flash', { hasText: 'Your impersonation has ended: the API no longer accepts the access token.' }).waitFor();
    assert.equal(await alice.locator('#impersonation-banner').count(), 0, 'the banner still shows after bob revoked his grant');
    await alice.goto(`${issuer}/console`);
    assert.equal(await alice.locator('#users tr[data-user="bob"]').count(), 0, 'bob is offered after he revoked his grant');
  });

  await browser.close();
  const { code, signal } = await server.stop();
  assert.equal(signal, null, `the server was killed by ${signal}:\n${server.tail()}`);
  assert.equal(code, 0, `the server exited with status ${code}:\n${server.tail()}`);
});
