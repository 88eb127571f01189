#!/usr/bin/env node
// DEV-ONLY MOCK of skiff-hub's HTTP face, for developing the dashboard and its browser test
// before the real hub exists. It is NOT the hub and proves nothing about it: the browser test
// must run against the real skiff-hub (docs/dashboard.md "Browser test"). It follows
// docs/hub-api.md literally — bearer tokens with admin/reader roles, the error document
// {"error": {"code", "message"}}, protobuf JSON mapping for Device/Deployment (lowerCamelCase,
// int64 as strings, default values omitted, *_json fields embedded as JSON values), the SSE
// events and keep-alive comments, chunked text/plain logs that follow — over a small simulated
// fleet whose devices report metrics and write log lines.
//
//   node dev/mock-hub.mjs [--port 0] [--control-port 0] [--dist dist]
//                         [--admin-token T] [--reader-token T] [--metrics-ms 2000]
//                         [--keepalive-ms 15000]
//
// Prints one JSON line when ready: {"url": "http://127.0.0.1:P", "control": "http://127.0.0.1:C",
// "adminToken": …, "readerToken": …}. The control server (the browser test's harness hook,
// docs/dashboard.md) takes:
//   POST /devices/{id}/offline | /devices/{id}/online
//   POST /devices/{id}/modules/{module}/log      body: text appended to the module's log
//   POST /hub/stop | /hub/start                  close / reopen the API listener (same port)
// Listens on 127.0.0.1 only. Stops on SIGTERM/SIGINT.
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { extname, join, normalize, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    'control-port': { type: 'string', default: '0' },
    dist: { type: 'string', default: new URL('../dist', import.meta.url).pathname },
    'admin-token': { type: 'string', default: 'admin-token-for-dev' },
    'reader-token': { type: 'string', default: 'reader-token-for-dev' },
    'metrics-ms': { type: 'string', default: '2000' },
    'keepalive-ms': { type: 'string', default: '15000' },
  },
});
const DIST = resolve(args.dist);
const METRICS_MS = Number(args['metrics-ms']);
const KEEPALIVE_MS = Number(args['keepalive-ms']);
const TOKENS = new Map([
  [args['admin-token'], { name: 'admin', role: 'admin' }],
  [args['reader-token'], { name: 'reader', role: 'reader' }],
]);

// ---- label selectors (Kubernetes syntax, as common/label_selector.h) ---------------------------

const KEY_RE = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const VALUE_RE = /^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/;

class SelectorError extends Error {}

export function parseSelector(text) {
  const reqs = [];
  let i = 0;
  const s = text;
  const ws = () => {
    while (i < s.length && s[i] === ' ') i++;
  };
  const ident = () => {
    ws();
    const start = i;
    while (i < s.length && !' ,()=!<>'.includes(s[i])) i++;
    return s.slice(start, i);
  };
  const fail = (what) => {
    throw new SelectorError(`invalid label selector "${text}": ${what} at position ${i}`);
  };
  const checkKey = (k) => {
    if (!KEY_RE.test(k) || k.length > 316) fail(`invalid label key "${k}"`);
  };
  const checkValue = (v) => {
    if (!VALUE_RE.test(v) || v.length > 63) fail(`invalid label value "${v}"`);
  };
  ws();
  if (i >= s.length) return reqs;
  for (;;) {
    ws();
    if (s[i] === '!') {
      i++;
      const key = ident();
      checkKey(key);
      reqs.push({ key, op: '!' });
    } else {
      const key = ident();
      if (key === '') fail('expected a label key');
      checkKey(key);
      ws();
      if (i >= s.length || s[i] === ',') {
        reqs.push({ key, op: 'exists' });
      } else if (s.startsWith('==', i) || s.startsWith('!=', i) || s[i] === '=') {
        const op = s.startsWith('!=', i) ? '!=' : '=';
        i += s.startsWith('==', i) || s.startsWith('!=', i) ? 2 : 1;
        const value = ident();
        checkValue(value);
        reqs.push({ key, op, values: [value] });
      } else {
        const word = ident();
        if (word !== 'in' && word !== 'notin') fail(`expected "=", "!=", "in" or "notin" after "${key}"`);
        ws();
        if (s[i] !== '(') fail('expected "("');
        i++;
        const values = [];
        for (;;) {
          const v = ident();
          checkValue(v);
          values.push(v);
          ws();
          if (s[i] === ',') {
            i++;
            continue;
          }
          if (s[i] === ')') {
            i++;
            break;
          }
          fail('expected "," or ")"');
        }
        reqs.push({ key, op: word, values });
      }
    }
    ws();
    if (i >= s.length) break;
    if (s[i] !== ',') fail('expected ","');
    i++;
  }
  return reqs;
}

function matches(reqs, labels) {
  return reqs.every((r) => {
    const has = Object.prototype.hasOwnProperty.call(labels, r.key);
    switch (r.op) {
      case 'exists':
        return has;
      case '!':
        return !has;
      case '=':
      case 'in':
        return has && r.values.includes(labels[r.key]);
      case '!=':
      case 'notin':
        return !has || !r.values.includes(labels[r.key]);
      default:
        return false;
    }
  });
}

// ---- the simulated fleet ----------------------------------------------------------------------

const now = () => Date.now();
const iso = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
const START = now();

const DEVICE_SEEDS = [
  { id: 'pi-01', labels: { site: 'berlin', role: 'gateway' }, arch: 'arm64', temp: 51 },
  { id: 'pi-02', labels: { site: 'berlin', role: 'sensor' }, arch: 'arm64', temp: 47 },
  { id: 'pi-03', labels: { site: 'hamburg', role: 'sensor' }, arch: 'arm', temp: 55 },
  { id: 'nuc-01', labels: { site: 'hamburg', role: 'gateway' }, arch: 'amd64', temp: null },
  { id: 'pi-04', labels: { site: 'munich', role: 'sensor' }, arch: 'arm64', temp: 44, offline: true },
  { id: 'pi-05', labels: { site: 'munich', role: 'sensor' }, arch: 'arm64', temp: 62, crashing: 'telemetry/collector' },
];

const deployments = new Map();
function addDeployment(d) {
  deployments.set(d.id, {
    labels: {},
    priority: 0,
    generation: 1,
    createdAtUnixMs: START - 86_400_000,
    updatedAtUnixMs: START - 3_600_000,
    annotations: {},
    ...d,
  });
}
addDeployment({
  id: 'web',
  targetSelector: 'role=gateway',
  modules: [{ name: 'web/nginx', deploymentId: 'web', image: '127.0.0.1:5000/nginx:1.27' }],
});
addDeployment({
  id: 'telemetry',
  labels: { team: 'iot' },
  targetSelector: 'role=sensor',
  modules: [{ name: 'telemetry/collector', deploymentId: 'telemetry', image: '127.0.0.1:5000/collector:0.4' }],
});
addDeployment({
  id: 'default-nginx-7f9c',
  targetSelector: 'site=berlin',
  priority: 10,
  annotations: {
    'skiff.io/pod-namespace': 'default',
    'skiff.io/pod-name': 'nginx-7f9c',
    'skiff.io/pod-uid': '5b0c6a4e-1f2d-4c3b-9a8e-7d6c5b4a3f21',
    'skiff.io/node': 'skiff-fleet',
  },
  modules: [{ name: 'default-nginx-7f9c/nginx', deploymentId: 'default-nginx-7f9c', image: '127.0.0.1:5000/busybox:latest' }],
});
addDeployment({
  id: 'scratch',
  targetSelector: 'site=nowhere',
  modules: [{ name: 'scratch/noop', deploymentId: 'scratch', image: '127.0.0.1:5000/busybox:latest' }],
});

const devices = new Map();
const logs = new Map(); // `${device}\n${module}` → { lines: string[], followers: Set<res> }
let desiredVersionCounter = 40;

function allLabels(d) {
  return { ...d.labels, ...d.implicitLabels };
}
function targetedDeployments(d) {
  return [...deployments.values()].filter((dep) => matches(parseSelector(dep.targetSelector), allLabels(d)));
}

function moduleStatus(d, spec) {
  const started = START - 1_800_000;
  if (d.crashing === spec.name) {
    return {
      name: spec.name,
      deploymentId: spec.deploymentId,
      specHash: 'c0ffee'.padEnd(64, '0'),
      image: spec.image,
      imageId: 'sha256:' + 'ab'.repeat(32),
      containerId: 'e'.repeat(64),
      state: 'waiting',
      reason: 'CrashLoopBackOff',
      message: 'back-off 40s restarting failed container',
      restartCount: 7,
      ready: false,
      health: 'unknown',
      lastTermination: { exitCode: 1, reason: 'Error', startedAt: iso(now() - 60_000), finishedAt: iso(now() - 50_000) },
    };
  }
  return {
    name: spec.name,
    deploymentId: spec.deploymentId,
    specHash: 'de'.repeat(32),
    image: spec.image,
    imageId: 'sha256:' + 'cd'.repeat(32),
    containerId: 'f'.repeat(64),
    state: 'running',
    restartCount: spec.name.startsWith('web') ? 1 : 0,
    startedAt: iso(started),
    ready: true,
    health: 'healthy',
  };
}

function refreshReport(d) {
  const specs = targetedDeployments(d).flatMap((dep) => dep.modules);
  const version = ++desiredVersionCounter;
  d.desiredVersion = version;
  d.appliedVersion = version;
  d.reported = {
    schema: 1,
    deviceId: d.id,
    seq: (d.reported?.seq ?? 0) + 1,
    reportedAt: iso(now()),
    appliedVersion: version,
    modules: specs.map((s) => moduleStatus(d, s)),
    facts: d.facts,
  };
  for (const s of specs) {
    const key = `${d.id}\n${s.name}`;
    if (!logs.has(key)) {
      const lines = [];
      for (let k = 0; k < 30; k++) lines.push(`${iso(now() - (30 - k) * 10_000)} ${s.name} started worker ${k}\n`);
      logs.set(key, { lines, followers: new Set() });
    }
  }
}

function metricsDoc(d, atMs) {
  const t = (atMs - START) / 60_000;
  const cpu = Math.max(1, Math.min(99, 20 + 15 * Math.sin(t / 4 + d.phase) + Math.random() * 8));
  const total = d.facts.memoryBytes;
  const doc = {
    schema: 1,
    at: iso(atMs),
    cpuPercent: Math.round(cpu * 10) / 10,
    memoryUsedBytes: Math.round(total * (0.35 + 0.1 * Math.sin(t / 9 + d.phase))),
    memoryTotalBytes: total,
    diskUsedBytes: 6_000_000_000,
    diskTotalBytes: d.facts.diskBytes,
    load1: Math.round(cpu) / 40,
    modules: (d.reported?.modules ?? []).map((m) => ({ name: m.name, cpuPercent: Math.round(cpu * 3) / 10, memoryBytes: 5_242_880 })),
  };
  if (d.baseTemp !== null) doc.temperatureCelsius = Math.round((d.baseTemp + 4 * Math.sin(t / 6 + d.phase)) * 10) / 10;
  return doc;
}

DEVICE_SEEDS.forEach((seed, n) => {
  const d = {
    id: seed.id,
    labels: { ...seed.labels },
    implicitLabels: { 'skiff.io/device-id': seed.id, 'skiff.io/arch': seed.arch },
    createdAtUnixMs: START - 7 * 86_400_000,
    enrolled: true,
    certificateSerial: (0x1000 + n).toString(16),
    certificateNotAfterUnixMs: START + 80 * 86_400_000,
    online: !seed.offline,
    lastSeenUnixMs: seed.offline ? START - 25 * 60_000 : START,
    desiredVersion: 0,
    appliedVersion: 0,
    crashing: seed.crashing ?? null,
    baseTemp: seed.temp,
    phase: n,
    facts: {
      arch: seed.arch,
      os: 'linux',
      osRelease: 'Debian GNU/Linux 12 (bookworm)',
      kernel: '6.1.0-rpi7-rpi-v8',
      hostname: seed.id,
      cpus: 4,
      memoryBytes: seed.arch === 'amd64' ? 8 * 2 ** 30 : 4 * 2 ** 30,
      diskBytes: 32_000_000_000,
      engine: 'podman 4.3.1',
      engineApiVersion: '1.41',
      agentVersion: '0.1.0',
    },
    history: [],
    metrics: null,
  };
  refreshReport(d);
  const until = seed.offline ? START - 25 * 60_000 : START;
  for (let at = START - 3_600_000; at <= until; at += 15_000) d.history.push(metricsDoc(d, at));
  d.metrics = d.history[d.history.length - 1] ?? null;
  devices.set(d.id, d);
});

// ---- documents (protobuf JSON mapping) --------------------------------------------------------

// Drops proto3 default values the way protobuf's JSON printer does and writes int64 as strings.
function proto(fields, int64 = []) {
  const out = {};
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined || v === null || v === '' || v === 0 || v === false) continue;
    if (Array.isArray(v) && v.length === 0) continue;
    if (typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 0) continue;
    out[k] = int64.includes(k) ? String(v) : v;
  }
  return out;
}

const DEVICE_INT64 = ['createdAtUnixMs', 'certificateNotAfterUnixMs', 'lastSeenUnixMs', 'desiredVersion', 'appliedVersion'];

function deviceJson(d, withHistory = false) {
  const doc = proto(
    {
      id: d.id,
      labels: d.labels,
      implicitLabels: d.implicitLabels,
      createdAtUnixMs: d.createdAtUnixMs,
      enrolled: d.enrolled,
      certificateSerial: d.certificateSerial,
      certificateNotAfterUnixMs: d.certificateNotAfterUnixMs,
      online: d.online,
      lastSeenUnixMs: d.lastSeenUnixMs,
      desiredVersion: d.desiredVersion,
      appliedVersion: d.appliedVersion,
      reported: d.reported,
      metrics: d.metrics,
      deploymentIds: targetedDeployments(d).map((x) => x.id),
    },
    DEVICE_INT64,
  );
  if (withHistory) doc.metricsHistory = d.history.filter((m) => Date.parse(m.at) >= now() - 3_600_000);
  return doc;
}

const FAILING = new Set(['ImagePullBackOff', 'ErrImagePull', 'CrashLoopBackOff', 'CreateContainerError', 'Error', 'OOMKilled']);

function deploymentStatus(dep) {
  const reqs = parseSelector(dep.targetSelector);
  const targeted = [...devices.values()].filter((d) => matches(reqs, allLabels(d)));
  const names = new Set(dep.modules.map((m) => m.name));
  const status = { targeted: 0, applied: 0, running: 0, failed: 0, offline: 0, devices: [] };
  for (const d of targeted) {
    const mods = (d.reported?.modules ?? []).filter((m) => names.has(m.name));
    const applied = mods.length === names.size;
    const failed = mods.some((m) => FAILING.has(m.reason ?? ''));
    status.targeted++;
    if (applied) status.applied++;
    if (applied && !failed && mods.every((m) => m.state === 'running' && m.ready)) status.running++;
    if (failed) status.failed++;
    if (!d.online) status.offline++;
    status.devices.push(
      proto(
        {
          deviceId: d.id,
          online: d.online,
          applied,
          desiredVersion: d.desiredVersion,
          appliedVersion: d.appliedVersion,
          modules: mods,
        },
        ['desiredVersion', 'appliedVersion'],
      ),
    );
  }
  return status;
}

function deploymentJson(dep, withDevices = true) {
  const status = deploymentStatus(dep);
  if (!withDevices) delete status.devices;
  return proto(
    {
      id: dep.id,
      labels: dep.labels,
      targetSelector: dep.targetSelector,
      priority: dep.priority,
      modules: dep.modules,
      registryCredentials: [],
      generation: dep.generation,
      createdAtUnixMs: dep.createdAtUnixMs,
      updatedAtUnixMs: dep.updatedAtUnixMs,
      annotations: dep.annotations,
      status: proto(status),
    },
    ['generation', 'createdAtUnixMs', 'updatedAtUnixMs'],
  );
}

function health(d) {
  if (!d.online) return 'offline';
  return (d.reported?.modules ?? []).some((m) => FAILING.has(m.reason ?? '')) ? 'degraded' : 'online';
}

function counts(list) {
  const c = { total: list.length, online: 0, offline: 0, degraded: 0 };
  for (const d of list) {
    const h = health(d);
    if (h === 'offline') c.offline++;
    else c.online++;
    if (h === 'degraded') c.degraded++;
  }
  return c;
}

function overviewJson() {
  const list = [...devices.values()];
  const byLabel = {};
  for (const [key, labelKey] of [
    ['site', 'site'],
    ['arch', 'skiff.io/arch'],
  ]) {
    const groups = new Map();
    for (const d of list) {
      const v = allLabels(d)[labelKey] ?? '';
      if (!groups.has(v)) groups.set(v, []);
      groups.get(v).push(d);
    }
    byLabel[key] = [...groups.keys()].sort().map((value) => ({ value, ...counts(groups.get(value)) }));
  }
  return {
    devices: counts(list),
    byLabel,
    deployments: deployments.size,
    brokerConnected: true,
    recentEvents: events.slice(0, 20),
  };
}

const events = [];
function fleetEvent(e) {
  const doc = { at: iso(now()), ...e };
  events.unshift(doc);
  events.length = Math.min(events.length, 500);
  broadcast('event', doc);
}

// ---- SSE ---------------------------------------------------------------------------------------

const streams = new Set();

function broadcast(event, data) {
  const frame = `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
  for (const res of streams) res.write(frame);
}

function deviceChanged(d) {
  broadcast('device', deviceJson(d));
  for (const dep of deployments.values()) {
    if (matches(parseSelector(dep.targetSelector), allLabels(d))) broadcast('deployment', deploymentJson(dep));
  }
}

fleetEvent({ type: 'Normal', reason: 'HubStarted', message: 'mock hub started (dev only)' });
fleetEvent({ type: 'Warning', reason: 'ModuleFailing', message: 'telemetry/collector: CrashLoopBackOff', deviceId: 'pi-05', deploymentId: 'telemetry' });

setInterval(() => {
  for (const res of streams) res.write(': keep-alive\n\n');
}, KEEPALIVE_MS).unref();

setInterval(() => {
  for (const d of devices.values()) {
    if (!d.online) continue;
    const m = metricsDoc(d, now());
    d.metrics = m;
    d.history.push(m);
    while (d.history.length && Date.parse(d.history[0].at) < now() - 3_600_000) d.history.shift();
    d.lastSeenUnixMs = now();
    broadcast('device', deviceJson(d));
  }
}, METRICS_MS).unref();

// Every online module writes a line per second.
let tick = 0;
setInterval(() => {
  tick++;
  for (const [key, log] of logs) {
    const [id, module] = key.split('\n');
    const d = devices.get(id);
    if (!d?.online) continue;
    appendLog(log, `${iso(now())} ${module} handled request #${tick} in ${(Math.random() * 20).toFixed(1)} ms\n`);
  }
}, 1000).unref();

function appendLog(log, text) {
  for (const line of text.split(/(?<=\n)/)) {
    if (line === '') continue;
    log.lines.push(line);
    for (const res of log.followers) res.write(line);
  }
  if (log.lines.length > 5000) log.lines.splice(0, log.lines.length - 5000);
}

function setPresence(d, online) {
  if (d.online === online) return;
  d.online = online;
  d.lastSeenUnixMs = now();
  if (online) refreshReport(d);
  else {
    // The agent's Last Will: following log streams of the device end.
    for (const [key, log] of logs) {
      if (!key.startsWith(`${d.id}\n`)) continue;
      for (const res of log.followers) res.end();
      log.followers.clear();
    }
  }
  deviceChanged(d);
  fleetEvent(
    online
      ? { type: 'Normal', reason: 'DeviceOnline', message: `${d.id} is online`, deviceId: d.id }
      : { type: 'Warning', reason: 'DeviceOffline', message: `${d.id} went offline`, deviceId: d.id },
  );
}

// ---- HTTP ------------------------------------------------------------------------------------

function sendJson(res, status, doc) {
  const body = JSON.stringify(doc);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
  res.end(body);
}
function sendError(res, status, code, message) {
  sendJson(res, status, { error: { code, message } });
}

async function readBody(req, limit = 1 << 20) {
  const chunks = [];
  let size = 0;
  for await (const c of req) {
    size += c.length;
    if (size > limit) throw Object.assign(new Error('payload too large'), { status: 413 });
    chunks.push(c);
  }
  return Buffer.concat(chunks).toString('utf8');
}

const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml', '.json': 'application/json' };

async function serveStatic(res, path) {
  const rel = path === '/' ? 'index.html' : normalize(path).replace(/^\/+/, '');
  if (rel.startsWith('..') || !(rel === 'index.html' || rel.startsWith('assets/'))) return sendError(res, 404, 'NotFound', `no route for GET ${path}`);
  try {
    const body = await readFile(join(DIST, rel));
    res.writeHead(200, {
      'Content-Type': TYPES[extname(rel)] ?? 'application/octet-stream',
      'Content-Length': body.length,
      'Cache-Control': rel === 'index.html' ? 'no-cache' : 'public, max-age=31536000, immutable',
    });
    res.end(body);
  } catch {
    sendError(res, 404, 'NotFound', `${path} not found (is the dashboard built into ${DIST}?)`);
  }
}

async function api(req, res, url) {
  const auth = req.headers.authorization ?? '';
  const m = /^Bearer (.+)$/.exec(auth);
  const who = m ? TOKENS.get(m[1]) : undefined;
  if (!who) return sendError(res, 401, 'Unauthenticated', m ? 'unknown bearer token' : 'missing bearer token (Authorization: Bearer <token>)');
  const path = url.pathname.slice('/api/v1'.length);
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  const method = req.method;
  if (method !== 'GET' && who.role !== 'admin') {
    return sendError(res, 403, 'PermissionDenied', `token "${who.name}" has role reader: ${method} ${url.pathname} needs admin`);
  }

  if (method === 'GET' && path === '/whoami') return sendJson(res, 200, who);
  if (method === 'GET' && path === '/overview') return sendJson(res, 200, overviewJson());
  if (method === 'GET' && path === '/devices') {
    let reqs;
    try {
      reqs = parseSelector(url.searchParams.get('selector') ?? '');
    } catch (e) {
      return sendError(res, 400, 'InvalidArgument', `selector: ${e.message}`);
    }
    const list = [...devices.values()].filter((d) => matches(reqs, allLabels(d))).sort((a, b) => a.id.localeCompare(b.id));
    return sendJson(res, 200, { items: list.map((d) => deviceJson(d)) });
  }
  if (parts[0] === 'devices' && parts[1]) {
    const d = devices.get(parts[1]);
    if (!d) return sendError(res, 404, 'NotFound', `device "${parts[1]}" not found`);
    if (method === 'GET' && parts.length === 2) return sendJson(res, 200, deviceJson(d, true));
    if (method === 'PUT' && parts.length === 3 && parts[2] === 'labels') {
      let body;
      try {
        body = JSON.parse(await readBody(req));
      } catch (e) {
        if (e.status === 413) return sendError(res, 413, 'InvalidArgument', 'body exceeds 1 MiB');
        return sendError(res, 400, 'InvalidArgument', `body: invalid JSON (${e.message})`);
      }
      if (!body || typeof body.labels !== 'object' || body.labels === null || Array.isArray(body.labels)) {
        return sendError(res, 400, 'InvalidArgument', 'labels: required object');
      }
      for (const [k, v] of Object.entries(body.labels)) {
        if (!KEY_RE.test(k)) return sendError(res, 400, 'InvalidArgument', `labels: invalid key "${k}"`);
        if (k.startsWith('skiff.io/')) return sendError(res, 400, 'InvalidArgument', `labels."${k}": skiff.io/ labels are set by the hub`);
        if (typeof v !== 'string' || !VALUE_RE.test(v)) return sendError(res, 400, 'InvalidArgument', `labels."${k}": invalid value ${JSON.stringify(v)}`);
      }
      d.labels = { ...body.labels };
      if (d.online) refreshReport(d);
      deviceChanged(d);
      fleetEvent({ type: 'Normal', reason: 'DeviceRelabeled', message: `labels of ${d.id} replaced by ${who.name}`, deviceId: d.id });
      return sendJson(res, 200, deviceJson(d));
    }
    if (method === 'GET' && parts.length === 5 && parts[2] === 'modules' && parts[4] === 'logs') return logsEndpoint(req, res, url, d, parts[3]);
  }
  if (method === 'GET' && path === '/deployments') {
    return sendJson(res, 200, { items: [...deployments.values()].sort((a, b) => a.id.localeCompare(b.id)).map((d) => deploymentJson(d, false)) });
  }
  if (parts[0] === 'deployments' && parts.length === 2) {
    const dep = deployments.get(parts[1]);
    if (!dep) return sendError(res, 404, 'NotFound', `deployment "${parts[1]}" not found`);
    if (method === 'GET') return sendJson(res, 200, deploymentJson(dep));
    if (method === 'DELETE') {
      deployments.delete(dep.id);
      broadcast('deployment-deleted', { id: dep.id });
      fleetEvent({ type: 'Normal', reason: 'DeploymentDeleted', message: `deployment ${dep.id} deleted by ${who.name}`, deploymentId: dep.id });
      for (const d of devices.values()) {
        if (d.online) refreshReport(d);
        broadcast('device', deviceJson(d));
      }
      return sendJson(res, 200, {});
    }
  }
  if (method === 'GET' && path === '/events') {
    const limit = Number(url.searchParams.get('limit') ?? '100');
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) return sendError(res, 400, 'InvalidArgument', 'limit: must be an integer between 1 and 1000');
    return sendJson(res, 200, { items: events.slice(0, limit) });
  }
  if (method === 'GET' && path === '/pods') {
    const pods = [...deployments.values()].filter((d) => d.annotations['skiff.io/pod-name']);
    return sendJson(res, 200, { items: pods.map((d) => deploymentJson(d)) });
  }
  if (method === 'GET' && path === '/stream') {
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store', Connection: 'keep-alive' });
    res.write(': connected\n\n');
    streams.add(res);
    req.on('close', () => streams.delete(res));
    return undefined;
  }
  return sendError(res, 404, 'NotFound', `no route for ${method} ${url.pathname}`);
}

function logsEndpoint(req, res, url, d, module) {
  const log = logs.get(`${d.id}\n${module}`);
  const onDevice = (d.reported?.modules ?? []).some((m) => m.name === module);
  if (!log || !onDevice) return sendError(res, 404, 'NotFound', `module "${module}" not found on device "${d.id}"`);
  if (!d.online) return sendError(res, 503, 'Unavailable', `device "${d.id}" is offline`);
  const q = url.searchParams;
  for (const k of ['tailLines', 'sinceSeconds']) {
    if (q.has(k) && !/^\d+$/.test(q.get(k))) return sendError(res, 400, 'InvalidArgument', `${k}: must be a non-negative integer`);
  }
  for (const k of ['follow', 'timestamps']) {
    if (q.has(k) && !['true', 'false'].includes(q.get(k))) return sendError(res, 400, 'InvalidArgument', `${k}: must be true or false`);
  }
  const stripTime = q.get('timestamps') !== 'true';
  const out = (line) => (stripTime ? line.replace(/^\S+ /, '') : line);
  let lines = log.lines;
  if (q.has('sinceSeconds')) {
    const since = now() - Number(q.get('sinceSeconds')) * 1000;
    lines = lines.filter((l) => Date.parse(l.split(' ')[0]) >= since);
  }
  const tail = Number(q.get('tailLines') ?? '0');
  if (tail > 0) lines = lines.slice(-tail);
  res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' });
  res.write(lines.map(out).join(''));
  if (q.get('follow') !== 'true') return res.end();
  const follower = { write: (line) => res.write(out(line)), end: () => res.end() };
  log.followers.add(follower);
  req.on('close', () => log.followers.delete(follower));
  return undefined;
}

const sockets = new Set();
const server = createServer((req, res) => {
  const url = new URL(req.url, 'http://localhost');
  if (url.pathname.startsWith('/api/v1/') || url.pathname === '/api/v1') {
    api(req, res, url).catch((e) => sendError(res, 500, 'Internal', e.message));
  } else if (req.method === 'GET' && url.pathname === '/healthz') {
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end('ok');
  } else if (req.method === 'GET') {
    void serveStatic(res, url.pathname);
  } else {
    sendError(res, 404, 'NotFound', `no route for ${req.method} ${url.pathname}`);
  }
});
server.on('connection', (s) => {
  sockets.add(s);
  s.on('close', () => sockets.delete(s));
});

let apiPort = Number(args.port);
function listen() {
  return new Promise((ok) => server.listen(apiPort, '127.0.0.1', () => ok(server.address().port)));
}
function stopApi() {
  return new Promise((ok) => {
    server.close(() => ok());
    for (const s of sockets) s.destroy();
    streams.clear();
  });
}

// ---- control (harness hook) --------------------------------------------------------------------

const control = createServer(async (req, res) => {
  const parts = new URL(req.url, 'http://localhost').pathname.split('/').filter(Boolean).map(decodeURIComponent);
  try {
    if (req.method !== 'POST') return sendError(res, 405, 'InvalidArgument', 'POST only');
    if (parts[0] === 'hub' && parts[1] === 'stop') {
      await stopApi();
      return sendJson(res, 200, { ok: true });
    }
    if (parts[0] === 'hub' && parts[1] === 'start') {
      if (!server.listening) await listen();
      return sendJson(res, 200, { ok: true });
    }
    if (parts[0] === 'devices' && parts[1]) {
      const d = devices.get(parts[1]);
      if (!d) return sendError(res, 404, 'NotFound', `device "${parts[1]}" not found`);
      if (parts[2] === 'offline' || parts[2] === 'online') {
        setPresence(d, parts[2] === 'online');
        return sendJson(res, 200, { ok: true });
      }
      if (parts[2] === 'modules' && parts[4] === 'log') {
        const log = logs.get(`${d.id}\n${parts[3]}`);
        if (!log) return sendError(res, 404, 'NotFound', `module "${parts[3]}" not found on device "${d.id}"`);
        const text = await readBody(req);
        appendLog(log, text.endsWith('\n') ? `${iso(now())} ${text}` : `${iso(now())} ${text}\n`);
        return sendJson(res, 200, { ok: true });
      }
    }
    return sendError(res, 404, 'NotFound', `unknown control ${req.url}`);
  } catch (e) {
    return sendError(res, 500, 'Internal', e.message);
  }
});

apiPort = await listen();
const controlPort = await new Promise((ok) => control.listen(Number(args['control-port']), '127.0.0.1', () => ok(control.address().port)));
process.stdout.write(
  JSON.stringify({
    url: `http://127.0.0.1:${apiPort}`,
    control: `http://127.0.0.1:${controlPort}`,
    adminToken: args['admin-token'],
    readerToken: args['reader-token'],
  }) + '\n',
);

const shutdown = () => {
  control.close();
  void stopApi().then(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
