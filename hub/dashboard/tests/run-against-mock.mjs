// TEMPORARY wiring (dev mock, not the real hub): starts dev/mock-hub.mjs on ephemeral loopback
// ports, runs tests/browser.test.mjs against it through the harness interface
// (SKIFF_DASH_* variables, docs/dashboard.md), then stops the mock by its PID. To be replaced by
// the real skiff-hub with simulated MQTT devices once the hub lands.
import { spawn } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..');

const mock = spawn(process.execPath, [resolve(ROOT, 'dev/mock-hub.mjs'), '--metrics-ms', '1000'], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
const ready = await new Promise((ok, fail) => {
  const timer = setTimeout(() => fail(new Error('mock hub did not start within 30 s')), 30_000);
  createInterface({ input: mock.stdout }).once('line', (line) => {
    clearTimeout(timer);
    ok(JSON.parse(line));
  });
  mock.once('exit', (code) => fail(new Error(`mock hub exited with ${code}`)));
});

const test = spawn(process.execPath, ['--test', '--test-reporter=spec', resolve(HERE, 'browser.test.mjs')], {
  stdio: 'inherit',
  env: {
    ...process.env,
    SKIFF_DASH_URL: ready.url,
    SKIFF_DASH_ADMIN_TOKEN: ready.adminToken,
    SKIFF_DASH_READER_TOKEN: ready.readerToken,
    SKIFF_DASH_CONTROL_URL: ready.control,
    SKIFF_DASH_DELETABLE_DEPLOYMENT: process.env.SKIFF_DASH_DELETABLE_DEPLOYMENT ?? 'scratch',
  },
});
const code = await new Promise((ok) => test.once('exit', (c, signal) => ok(c ?? (signal ? 1 : 0))));
mock.kill('SIGTERM');
await new Promise((ok) => (mock.exitCode !== null ? ok() : mock.once('exit', ok)));
process.exit(code);
