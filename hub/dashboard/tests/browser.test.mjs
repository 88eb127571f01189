// Browser test of the hub dashboard: Debian Chromium driven by playwright-core against a running
// hub with simulated devices. It drives the page as an operator would and checks it against the
// hub's own REST answers, so it holds for any fleet. Harness interface (docs/dashboard.md):
//
//   SKIFF_DASH_URL            hub base URL serving the dashboard and /api/v1 (http or https)
//   SKIFF_DASH_SPKI           base64 SHA-256 of the hub certificate's public key: Chromium
//                             accepts that key despite the private CA
//                             (--ignore-certificate-errors-spki-list); no other certificate
//                             error is ignored. node's own requests verify the hub with
//                             NODE_EXTRA_CA_CERTS=<hub CA file>.
//   SKIFF_DASH_ADMIN_TOKEN    an admin token
//   SKIFF_DASH_READER_TOKEN   a reader token
//   SKIFF_DASH_CONTROL_URL    harness hook; POST {url}/devices/{id}/offline, …/online,
//                             …/devices/{id}/modules/{module}/log (body: a line the module
//                             writes), {url}/hub/stop, {url}/hub/start; 2xx when done
//   SKIFF_DASH_DEVICE         device to open / stream / take offline (default: first online
//                             device with a running module)
//   SKIFF_DASH_MODULE         its module (default: its first running module)
//   SKIFF_DASH_DELETABLE_DEPLOYMENT  a deployment the test may delete (step skipped if unset)
//   SKIFF_DASH_ARTIFACTS      screenshot directory (default <repo>/tests/artifacts/dashboard)
//   SKIFF_DASH_CHROMIUM       browser binary (default /usr/bin/chromium)
//   SKIFF_DASH_LIVE_MS        "within a few seconds" budget for live changes (default 5000)
//   SKIFF_DASH_MAX_FIRST_LOAD budget in bytes for the overview's first load (default 300000)
//
// Run: node --test tests/browser.test.mjs; ctest runs it through tests/dashboard/hub_harness.cc
// (the real skiff-hub with simulated MQTT devices), which also has a serve mode for manual runs.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

const HERE = dirname(fileURLToPath(import.meta.url));
function env(name, fallback) {
  const v = process.env[name];
  if (v !== undefined && v !== '') return v;
  if (fallback === undefined) throw new Error(`${name} is required (see the header of ${fileURLToPath(import.meta.url)})`);
  return fallback;
}
const BASE = env('SKIFF_DASH_URL').replace(/\/$/, '');
const ADMIN = env('SKIFF_DASH_ADMIN_TOKEN');
const READER = env('SKIFF_DASH_READER_TOKEN');
const CONTROL = env('SKIFF_DASH_CONTROL_URL').replace(/\/$/, '');
const ARTIFACTS = resolve(env('SKIFF_DASH_ARTIFACTS', resolve(HERE, '../../../tests/artifacts/dashboard')));
const CHROMIUM = env('SKIFF_DASH_CHROMIUM', '/usr/bin/chromium');
const LIVE_MS = Number(env('SKIFF_DASH_LIVE_MS', '5000'));
const MAX_FIRST_LOAD = Number(env('SKIFF_DASH_MAX_FIRST_LOAD', '300000'));
const DELETABLE = process.env.SKIFF_DASH_DELETABLE_DEPLOYMENT ?? '';
const SPKI = process.env.SKIFF_DASH_SPKI ?? '';

mkdirSync(ARTIFACTS, { recursive: true });

let browser;
let context; // the admin's desktop session
let page;
let api; // APIRequestContext with the admin token: the hub's own answers to compare with
let device; // { id, module, labels }
const consoleErrors = []; // { phase, text }
let phase = 'setup';
const screenshots = [];

function watchConsole(p) {
  p.on('console', (msg) => {
    if (msg.type() === 'error') consoleErrors.push({ phase, text: msg.text() });
  });
  p.on('pageerror', (err) => consoleErrors.push({ phase, text: `uncaught: ${err.message}` }));
}

// Chromium's network-change notifier aborts requests in flight with ERR_NETWORK_CHANGED when an
// interface on the host comes or goes (other tests' containers do that on a shared machine),
// even for loopback. A navigation that hit it is retried; the console line it leaves is the
// environment's, not the page's. Anything else the page does about it (a failed fetch, a
// reconnecting stream) is still checked by the steps.
const ENVIRONMENT_ERRORS = [/net::ERR_NETWORK_CHANGED/];

async function goto(p, url) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await p.goto(url);
    } catch (err) {
      // The failure may show as Chromium's error page replacing the navigation: its text names
      // the net error.
      const shown = await p.evaluate(() => document.body?.innerText ?? '').catch(() => '');
      const why = `${err}\n${shown}`;
      if (attempt >= 3 || !/ERR_NETWORK_CHANGED/.test(why)) throw new Error(`${err.message}\npage: ${shown.slice(0, 300)}`);
      console.log(`navigation to ${url} hit ERR_NETWORK_CHANGED (attempt ${attempt}); retrying`);
    }
  }
}

// Console errors of the current phase, less those the phase expects (e.g. the browser logging
// a refused connection while the hub is down, or the 401 of a bad token).
function assertNoConsoleErrors(allowed = []) {
  const bad = consoleErrors.filter(
    (e) => e.phase === phase && ![...allowed, ...ENVIRONMENT_ERRORS].some((re) => re.test(e.text)),
  );
  assert.deepEqual(bad, [], `console errors during "${phase}"`);
}

async function shot(p, name) {
  const path = resolve(ARTIFACTS, `${name}.png`);
  await p.screenshot({ path, fullPage: true });
  screenshots.push(path);
}

async function control(path, body) {
  const res = await fetch(`${CONTROL}${path}`, { method: 'POST', body: body ?? '' });
  if (!res.ok) throw new Error(`control ${path}: HTTP ${res.status} ${await res.text()}`);
}

async function apiGet(path) {
  const res = await api.get(`/api/v1${path}`);
  assert.equal(res.status(), 200, `GET ${path}: ${await res.text()}`);
  return res.json();
}

// Certificate errors are never ignored wholesale: the hub's key is pinned at launch.
async function newContext(options = {}) {
  return browser.newContext({ baseURL: BASE, ...options });
}

// A context whose tab already holds a token (as after logging in once).
async function sessionContext(tokenValue, options = {}) {
  const c = await newContext(options);
  await c.addInitScript((t) => sessionStorage.setItem('skiff.hub.token', t), tokenValue);
  return c;
}

async function login(p, tokenValue) {
  await goto(p, '/');
  await p.getByLabel('Hub token').fill(tokenValue);
  await p.getByRole('button', { name: 'Sign in' }).click();
}

// Waits until the first element matching `selector` shows every one of `parts` (the page may
// still be applying the latest live update); fails naming what it shows instead.
async function waitForTexts(p, selector, parts, what) {
  try {
    await p.waitForFunction(
      ({ sel, want }) => {
        const text = document.querySelector(sel)?.textContent ?? '';
        return want.every((x) => text.includes(x));
      },
      { sel: selector, want: parts },
      { timeout: LIVE_MS },
    );
  } catch {
    const shown = await p.locator(selector).first().textContent({ timeout: 1000 }).catch(() => '(no such element)');
    assert.fail(`${what}: expected ${JSON.stringify(parts)} in ${JSON.stringify(shown)}`);
  }
}

// What the dashboard shows of a pod's phase (PodPhaseBadge) and its IP.
function podTexts(pod) {
  return [pod.terminating ? 'Terminating' : pod.phase || 'unknown', ...(pod.podIP ? [pod.podIP] : [])];
}

async function statValue(p, name) {
  return Number(await p.locator(`[data-stat="${name}"]`).textContent());
}

before(async () => {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
      ...(SPKI ? [`--ignore-certificate-errors-spki-list=${SPKI}`] : []),
    ],
  });
  const { request } = await import('playwright-core');
  api = await request.newContext({ baseURL: BASE, extraHTTPHeaders: { Authorization: `Bearer ${ADMIN}` } });
  const wantedId = process.env.SKIFF_DASH_DEVICE;
  const { items } = await apiGet('/devices');
  const candidates = items.filter((d) => (wantedId ? d.id === wantedId : d.online === true));
  for (const d of candidates) {
    const mod = (d.reported?.modules ?? []).find((m) =>
      process.env.SKIFF_DASH_MODULE ? m.name === process.env.SKIFF_DASH_MODULE : m.state === 'running',
    );
    if (mod) {
      device = { id: d.id, module: mod.name, labels: d.labels ?? {} };
      break;
    }
  }
  assert.ok(device, `no ${wantedId ? `device "${wantedId}"` : 'online device'} with a running module to test with`);
  context = await newContext({ viewport: { width: 1280, height: 900 }, colorScheme: 'light' });
  page = await context.newPage();
  watchConsole(page);
});

after(async () => {
  phase = 'teardown';
  await control('/hub/start').catch(() => {});
  if (device) await control(`/devices/${encodeURIComponent(device.id)}/online`).catch(() => {});
  await browser?.close();
  await api?.dispose();
  console.log(`screenshots (${screenshots.length}):\n  ${screenshots.join('\n  ')}`);
});

test('a bad token gets a clear login error', async () => {
  phase = 'bad-token';
  await login(page, 'not-a-valid-token');
  const error = page.locator('#login-error');
  await error.waitFor();
  const text = await error.textContent();
  assert.match(text, /refused this token/);
  assert.match(text, /401/);
  assert.equal(await page.getByLabel('Hub token').getAttribute('aria-invalid'), 'true');
  await shot(page, 'login-bad-token');
  // Chromium logs the 401 response itself; nothing else may be logged.
  assertNoConsoleErrors([/status of 401/]);
});

test('an admin logs in and the overview shows the hub counts', async () => {
  phase = 'overview';
  await page.getByLabel('Hub token').fill(ADMIN);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('[data-stat="total"]').waitFor();
  await page.locator('[data-role="admin"]').waitFor();
  await page.locator('[data-stream="live"]').waitFor();
  const ov = await apiGet('/overview');
  for (const k of ['total', 'online', 'offline', 'degraded']) {
    assert.equal(await statValue(page, k), ov.devices[k], `overview "${k}" count`);
  }
  const { items } = await apiGet('/devices');
  assert.equal(await page.locator('.tiles [data-device]').count(), items.length, 'one tile per device');
  for (const d of items) {
    const tile = page.locator(`.tiles [data-device="${d.id}"]`);
    if (d.online !== true) assert.equal(await tile.getAttribute('data-health'), 'offline', `${d.id} is offline`);
  }
  // The page's health rule (tiles) agrees with the hub's counts.
  await page.waitForFunction(
    (n) => document.querySelectorAll('.tiles [data-health="degraded"]').length === n,
    ov.devices.degraded,
  );
  for (const [key, values] of Object.entries(ov.byLabel)) {
    for (const v of values) {
      const row = page.locator(`[data-label-key="${key}"] tr[data-label-value="${v.value}"]`);
      assert.equal(await row.count(), 1, `by-label row ${key}=${v.value}`);
      const cells = await row.locator('td.num').allTextContents();
      assert.deepEqual(cells.map(Number), [v.online, v.degraded, v.offline], `by-label counts ${key}=${v.value}`);
    }
  }
  assert.equal(await statValue(page, 'deployments'), ov.deployments.total, 'deployments count');
  if (ov.deployments.degraded > 0) {
    assert.equal(
      Number(await page.locator('[data-stat="deployments-degraded"]').getAttribute('data-value')),
      ov.deployments.degraded,
      'degraded deployments',
    );
  }
  assert.equal(await page.evaluate(() => sessionStorage.getItem('skiff.hub.token')), ADMIN);
  await shot(page, 'overview');
  assertNoConsoleErrors();
});

test('the first load of the overview stays within budget', async () => {
  phase = 'first-load';
  const c = await sessionContext(ADMIN, { viewport: { width: 1280, height: 900 } });
  const p = await c.newPage();
  watchConsole(p);
  const cdp = await c.newCDPSession(p);
  await cdp.send('Network.enable');
  await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
  const received = new Map(); // requestId → bytes over the wire (headers + encoded body)
  const urls = new Map();
  cdp.on('Network.requestWillBeSent', (e) => urls.set(e.requestId, e.request.url));
  cdp.on('Network.dataReceived', (e) => received.set(e.requestId, (received.get(e.requestId) ?? 0) + e.encodedDataLength));
  cdp.on('Network.loadingFinished', (e) => received.set(e.requestId, Math.max(received.get(e.requestId) ?? 0, e.encodedDataLength)));
  await goto(p, '/');
  await p.locator('[data-stat="total"]').waitFor();
  await p.locator('[data-stream="live"]').waitFor();
  await p.locator('.tiles [data-device]').first().waitFor();
  await p.waitForTimeout(500); // late requests (none expected)
  // The event stream stays open and keeps delivering live updates: what it carried until the
  // overview stood counts, the minutes after do not.
  const total = [...received.values()].reduce((a, b) => a + b, 0);
  const detail = [...received.entries()].map(([id, n]) => `${n}\t${urls.get(id)}`).join('\n');
  console.log(`first load of the overview: ${total} bytes over ${received.size} requests\n${detail}`);
  assert.ok(total > 0, 'measured something');
  assert.ok(total <= MAX_FIRST_LOAD, `first load ${total} bytes > ${MAX_FIRST_LOAD}`);
  assert.ok(![...urls.values()].some((u) => !u.startsWith(BASE) && !u.startsWith('data:')), 'no third-party requests');
  assertNoConsoleErrors();
  await c.close();
});

test('the device detail shows pods with their containers, and charts', async () => {
  phase = 'device';
  await page.locator(`.tiles [data-device="${device.id}"]`).click();
  await page.waitForURL(new RegExp(`#/devices/${device.id}$`));
  const row = page.locator(`tr[data-module="${device.module}"]`);
  await row.waitFor();
  assert.match(await row.textContent(), /running/);
  // One row per pod the device reports, with its phase and pod IP; the module's row is in the
  // group (tbody) of its pod.
  const twin = await apiGet(`/devices/${encodeURIComponent(device.id)}`);
  for (const pod of twin.reported?.pods ?? []) {
    await waitForTexts(page, `tr.pod-row[data-pod="${pod.name}"]`, podTexts(pod), `pod ${pod.name} on ${device.id}`);
  }
  const ownPod = device.module.split('/')[0];
  const group = page.locator('tbody', { has: page.locator(`tr.pod-row[data-pod="${ownPod}"]`) });
  assert.equal(await group.locator(`tr[data-module="${device.module}"]`).count(), 1, `${device.module} under pod ${ownPod}`);
  // CPU and memory charts draw on canvases once uPlot has loaded.
  await page.locator('.chart-box canvas').first().waitFor();
  assert.ok((await page.locator('.chart-box canvas').count()) >= 2, 'CPU and memory charts');
  await page.getByRole('heading', { name: 'Facts' }).waitFor();
  await shot(page, 'device');
  assertNoConsoleErrors();
});

test("a module's logs stream live, stop and resume", async () => {
  phase = 'logs';
  await page.locator(`tr[data-module="${device.module}"]`).getByRole('link', { name: 'Logs' }).click();
  const log = page.locator('pre.log');
  await page.locator('[data-phase="streaming"]').waitFor();
  const marker = `dashboard-test-${Date.now()}`;
  await control(`/devices/${encodeURIComponent(device.id)}/modules/${encodeURIComponent(device.module)}/log`, marker);
  await page.waitForFunction((m) => document.querySelector('pre.log')?.textContent.includes(m), marker, { timeout: LIVE_MS });
  await shot(page, 'logs');
  await page.getByRole('button', { name: /Stop/ }).click();
  await page.locator('[data-phase="stopped"]').waitFor();
  const stoppedMarker = `dashboard-after-stop-${Date.now()}`;
  await control(`/devices/${encodeURIComponent(device.id)}/modules/${encodeURIComponent(device.module)}/log`, stoppedMarker);
  await page.waitForTimeout(1500);
  assert.ok(!(await log.textContent()).includes(stoppedMarker), 'a stopped viewer does not receive output');
  await page.getByRole('button', { name: /Resume/ }).click();
  await page.locator('[data-phase="streaming"]').waitFor();
  await page.waitForFunction((m) => document.querySelector('pre.log')?.textContent.includes(m), stoppedMarker, { timeout: LIVE_MS });
  assertNoConsoleErrors();
});

test('a device going offline turns red on the overview within seconds', async () => {
  phase = 'offline';
  await goto(page, '/#/');
  await page.locator(`.tiles [data-device="${device.id}"]`).waitFor();
  const offlineBefore = await statValue(page, 'offline');
  const started = Date.now();
  await control(`/devices/${encodeURIComponent(device.id)}/offline`);
  await page.locator(`.tiles [data-device="${device.id}"][data-health="offline"]`).waitFor({ timeout: LIVE_MS });
  await page.waitForFunction(
    (n) => Number(document.querySelector('[data-stat="offline"]')?.textContent) === n,
    offlineBefore + 1,
    { timeout: LIVE_MS },
  );
  const seconds = (Date.now() - started) / 1000;
  console.log(`${device.id} shown offline after ${seconds.toFixed(2)} s`);
  const color = await page
    .locator(`.tiles [data-device="${device.id}"]`)
    .evaluate((el) => getComputedStyle(el).backgroundColor);
  const [r, g, b] = color.match(/\d+/g).map(Number);
  assert.ok(r > 150 && g < 110 && b < 110, `offline tile is red (got ${color})`);
  await shot(page, 'overview-device-offline');
  await control(`/devices/${encodeURIComponent(device.id)}/online`);
  await page.locator(`.tiles [data-device="${device.id}"][data-health="online"], .tiles [data-device="${device.id}"][data-health="degraded"]`).waitFor({ timeout: 30_000 });
  assertNoConsoleErrors();
});

test('the device list filters by label selector and shows the hub\'s 400 inline', async () => {
  phase = 'devices';
  await page.getByRole('navigation', { name: 'main' }).getByRole('link', { name: 'Devices' }).click();
  await page.locator('.devices-table').waitFor();
  const bad = 'site in (berlin';
  const expected = await api.get(`/api/v1/devices?selector=${encodeURIComponent(bad)}`);
  assert.equal(expected.status(), 400);
  const message = (await expected.json()).error.message;
  await page.getByLabel('Label selector').fill(bad);
  await page.getByRole('button', { name: 'Filter' }).click();
  const alert = page.locator('#selector-error [role="alert"]');
  await alert.waitFor();
  assert.ok((await alert.textContent()).includes(message), `inline error shows the hub's message "${message}"`);
  await shot(page, 'devices-bad-selector');
  const [k, v] = Object.entries(device.labels)[0] ?? ['skiff.io/device-id', device.id];
  const selector = `${k}=${v}`;
  const { items } = await apiGet(`/devices?selector=${encodeURIComponent(selector)}`);
  await page.getByLabel('Label selector').fill(selector);
  await page.getByRole('button', { name: 'Filter' }).click();
  await page.waitForFunction((n) => document.querySelectorAll('.devices-table tbody tr').length === n && !document.querySelector('#selector-error [role="alert"]'), items.length);
  await shot(page, 'devices');
  // Chromium logs the 400 response of the bad selector.
  assertNoConsoleErrors([/status of 400/]);
});

test('deployments show rollout progress and the pods view maps pods to deployments', async () => {
  phase = 'deployments';
  await goto(page, '/#/deployments');
  const { items } = await apiGet('/deployments');
  await page.waitForFunction((n) => document.querySelectorAll('[data-deployment]').length === n, items.length);
  for (const d of items) {
    const card = page.locator(`[data-deployment="${d.id}"]`);
    for (const k of ['targeted', 'applied', 'running', 'failed', 'offline']) {
      assert.equal(Number(await card.locator(`[data-counter="${k}"]`).textContent()), d.status?.[k] ?? 0, `${d.id} ${k}`);
    }
  }
  await shot(page, 'deployments');
  // The detail view lists every targeted device from GET /deployments/{id} (lists and events
  // carry the counts only). The most interesting one: the degraded deployment if any.
  const detailed = items.find((d) => d.status.failed > 0) ?? items[0];
  if (detailed) {
    const one = await apiGet(`/deployments/${encodeURIComponent(detailed.id)}`);
    await page.locator(`[data-deployment="${detailed.id}"] h2 a`).click();
    await page.getByRole('heading', { name: 'Devices' }).waitFor();
    await page.waitForFunction(
      (n) => document.querySelectorAll('tr[data-device]').length === n,
      one.status.devices.length,
    );
    for (const dm of one.status.devices) {
      const row = page.locator(`tr[data-device="${dm.deviceId}"]`);
      assert.match(await row.textContent(), dm.online ? /online/ : /offline/, `${detailed.id} on ${dm.deviceId}`);
      // Each of the deployment's pods there with its phase and pod IP; the overridden ones named.
      for (const pod of dm.pods ?? []) {
        const sel = `tr[data-device="${dm.deviceId}"] .pod-status[data-pod="${pod.name}"]`;
        await waitForTexts(page, sel, podTexts(pod), `${detailed.id}: pod ${pod.name} on ${dm.deviceId}`);
      }
      for (const name of dm.shadowedPods ?? []) {
        assert.ok((await row.textContent()).includes(`${name}: overridden`), `${detailed.id}: ${name} overridden on ${dm.deviceId}`);
      }
    }
    await shot(page, 'deployment-detail');
  }
  phase = 'pods';
  await goto(page, '/#/pods');
  const pods = await apiGet('/pods');
  await page.waitForFunction(
    (n) => document.querySelectorAll('.pods-table tbody tr').length === n || (n === 0 && document.querySelector('.empty')),
    pods.items.length,
  );
  for (const p of pods.items) {
    const name = `${p.namespace}/${p.name}`;
    const row = page.locator(`tr[data-pod="${name}"]`);
    await row.waitFor();
    const text = await row.textContent();
    assert.ok(text.includes(p.deploymentId), `pod ${name} → deployment ${p.deploymentId}`);
    assert.ok(text.includes(p.node), `pod ${name} on node ${p.node}`);
    const targets = (await apiGet(`/devices?selector=${encodeURIComponent(p.targetSelector)}`)).items.map((d) => d.id).sort();
    const chips = (await row.locator('.chips a').allTextContents()).sort();
    assert.deepEqual(chips, targets, `pod ${name}: the devices its deployment targets`);
  }
  await shot(page, 'pods');
  assertNoConsoleErrors();
});

test('an admin relabels a device after confirming', async () => {
  phase = 'relabel';
  await goto(page, `/#/devices/${encodeURIComponent(device.id)}`);
  await page.getByRole('button', { name: 'Edit labels' }).click();
  const text = Object.entries(device.labels).map(([k, v]) => `${k}=${v}`).concat('dashboard-test=yes').join('\n');
  await page.getByLabel('Operator labels, one key=value per line').fill(text);
  await page.getByRole('button', { name: 'Review change' }).click();
  const confirm = page.getByRole('dialog', { name: `Replace the labels of ${device.id}?` });
  await confirm.waitFor();
  assert.match(await confirm.textContent(), /\+ dashboard-test=yes/);
  await shot(page, 'relabel-confirm');
  await confirm.getByRole('button', { name: 'Replace labels' }).click();
  await page.locator('.chip', { hasText: 'dashboard-test=yes' }).waitFor({ timeout: LIVE_MS });
  const after = await apiGet(`/devices/${encodeURIComponent(device.id)}`);
  assert.equal(after.labels['dashboard-test'], 'yes');
  // Restore the labels (confirm again) so the fleet is left as found.
  await page.getByRole('button', { name: 'Edit labels' }).click();
  await page.getByLabel('Operator labels, one key=value per line').fill(Object.entries(device.labels).map(([k, v]) => `${k}=${v}`).join('\n'));
  await page.getByRole('button', { name: 'Review change' }).click();
  await page.getByRole('button', { name: 'Replace labels' }).click();
  await page.locator('.chip', { hasText: 'dashboard-test=yes' }).waitFor({ state: 'detached', timeout: LIVE_MS });
  assertNoConsoleErrors();
});

test('an admin deletes a deployment after confirming', { skip: DELETABLE ? false : 'SKIFF_DASH_DELETABLE_DEPLOYMENT not set' }, async () => {
  phase = 'delete';
  await goto(page, '/#/deployments');
  const card = page.locator(`[data-deployment="${DELETABLE}"]`);
  await card.getByRole('button', { name: 'Delete', exact: true }).click();
  const dialog = page.getByRole('dialog', { name: `Delete deployment ${DELETABLE}?` });
  await dialog.waitFor();
  await shot(page, 'delete-confirm');
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  assert.equal(await card.count(), 1, 'cancel keeps it');
  await card.getByRole('button', { name: 'Delete', exact: true }).click();
  await dialog.getByRole('button', { name: 'Delete deployment' }).click();
  await card.waitFor({ state: 'detached', timeout: LIVE_MS });
  const res = await api.get(`/api/v1/deployments/${encodeURIComponent(DELETABLE)}`);
  assert.equal(res.status(), 404);
  assertNoConsoleErrors();
});

test('an unreachable hub shows a reconnecting state, then the page reloads its state', async () => {
  phase = 'hub-down';
  await goto(page, '/#/');
  await page.locator('[data-stream="live"]').waitFor();
  await control('/hub/stop');
  const banner = page.locator('[data-testid="reconnecting"]');
  await banner.waitFor({ timeout: LIVE_MS });
  assert.match(await banner.textContent(), /reconnecting/i);
  // Not a blank page: the last known fleet stays on screen.
  assert.ok((await page.locator('.tiles [data-device]').count()) > 0, 'last known state still shown');
  await shot(page, 'hub-unreachable');
  const reloads = [];
  page.on('request', (r) => {
    if (r.url().includes('/api/v1/overview') || r.url().includes('/api/v1/devices')) reloads.push(r.url());
  });
  await page.waitForTimeout(2000);
  await control('/hub/start');
  await page.locator('[data-stream="live"]').waitFor({ timeout: 45_000 });
  await banner.waitFor({ state: 'detached' });
  await page.waitForFunction(() => document.querySelectorAll('.tiles [data-device]').length > 0);
  assert.ok(reloads.length > 0, 'state reloaded with the GET endpoints after reconnecting');
  // Chromium logs each refused connection attempt while the hub is down.
  assertNoConsoleErrors([/net::ERR_(CONNECTION_REFUSED|CONNECTION_RESET|EMPTY_RESPONSE|INCOMPLETE_CHUNKED_ENCODING)/, /Failed to load resource/]);
});

test('the reader role sees everything but cannot act', async () => {
  phase = 'reader';
  const c = await newContext({ viewport: { width: 1280, height: 900 } });
  const p = await c.newPage();
  watchConsole(p);
  await login(p, READER);
  await p.locator('[data-role="reader"]').waitFor();
  await p.locator('[data-stat="total"]').waitFor();
  await goto(p, `/#/devices/${encodeURIComponent(device.id)}`);
  const edit = p.getByRole('button', { name: 'Edit labels' });
  await edit.waitFor();
  assert.ok(await edit.isDisabled(), 'relabel disabled for readers');
  await shot(p, 'reader-device');
  await goto(p, '/#/deployments');
  await p.locator('[data-deployment]').first().waitFor();
  const deletes = p.getByRole('button', { name: 'Delete', exact: true });
  for (let i = 0; i < (await deletes.count()); i++) assert.ok(await deletes.nth(i).isDisabled(), 'delete disabled for readers');
  // And the hub itself refuses a reader's write (the message the dashboard would show).
  const res = await p.request.put(`/api/v1/devices/${encodeURIComponent(device.id)}/labels`, {
    headers: { Authorization: `Bearer ${READER}` },
    data: { labels: { x: 'y' } },
  });
  assert.equal(res.status(), 403);
  assert.ok((await res.json()).error.message.length > 0);
  await p.getByRole('button', { name: 'Log out' }).click();
  await p.getByLabel('Hub token').waitFor();
  assert.equal(await p.evaluate(() => sessionStorage.getItem('skiff.hub.token')), null);
  assertNoConsoleErrors();
  await c.close();
});

test('phone width and dark mode', async () => {
  phase = 'phone-dark';
  const c = await sessionContext(ADMIN, { viewport: { width: 390, height: 844 }, colorScheme: 'dark', isMobile: true, hasTouch: true });
  const p = await c.newPage();
  watchConsole(p);
  await goto(p, '/');
  await p.locator('[data-stat="total"]').waitFor();
  assert.equal(await p.evaluate(() => document.documentElement.dataset.theme), 'dark');
  const noOverflow = async (what) => {
    const width = await p.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 391, `${what}: no horizontal scrolling at 390 px (page is ${width} px wide)`);
  };
  await noOverflow('overview');
  await shot(p, 'phone-dark-overview');
  await goto(p, `/#/devices/${encodeURIComponent(device.id)}`);
  await p.locator('.chart-box canvas').first().waitFor();
  await noOverflow('device');
  await shot(p, 'phone-dark-device');
  await goto(p, '/#/devices');
  await p.locator('.devices-table').waitFor();
  await noOverflow('devices');
  await shot(p, 'phone-dark-devices');
  await goto(p, '/#/deployments');
  await p.locator('[data-deployment]').first().waitFor();
  await noOverflow('deployments');
  await shot(p, 'phone-dark-deployments');
  await goto(p, '/#/pods');
  await p.locator('.pods-table').waitFor();
  await noOverflow('pods');
  await shot(p, 'phone-dark-pods');
  await goto(p, `/#/devices/${encodeURIComponent(device.id)}/logs/${encodeURIComponent(device.module)}`);
  await p.locator('[data-phase="streaming"]').waitFor();
  await noOverflow('logs');
  await shot(p, 'phone-dark-logs');
  assertNoConsoleErrors();
  await c.close();

  // The toggle overrides the system preference on the desktop session too.
  phase = 'theme-toggle';
  await goto(page, '/#/');
  await page.locator('[data-stat="total"]').waitFor();
  assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), 'light');
  await page.locator('[data-theme-choice]').click(); // auto → dark
  assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), 'dark');
  await shot(page, 'overview-dark');
  await page.locator('[data-theme-choice]').click(); // dark → light
  await page.locator('[data-theme-choice]').click(); // light → auto
  assertNoConsoleErrors();
});
