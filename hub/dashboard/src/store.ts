// The dashboard's state: the session (token + role), the fleet as last loaded through the REST
// API and kept current by the hub's event stream, and the stream's connection state. One store,
// plain objects replaced on change; listeners are notified in batches (at most every 100 ms) so
// a busy fleet does not re-render the page for every metrics report. Within a batch the device
// and deployment maps are copied once and then updated in place (a fleet of thousands of devices
// sends many `device` events per second; copying the map for each would be quadratic).
//
// Consistency: every (re)connection of the stream triggers a full reload with the GET endpoints
// (docs/hub-api.md: "Clients reload state with the GET endpoints after reconnecting"); events that
// arrive while the reload is in flight are queued and applied on top of it.

import { ApiError, items, onUnauthorized, request } from './api';
import {
  type Deployment,
  type Device,
  type FleetEvent,
  type Overview,
  type Whoami,
  deviceHealth,
  readDeployment,
  readDevice,
  readEvent,
  readHeartbeat,
  readOverview,
  readWhoami,
} from './model';
import { type SseEvent, type StreamState, EventStream, backoffDelay } from './sse';

export interface Session extends Whoami {
  token: string;
}

export interface State {
  session: Session | null;
  // Login page message (bad token, session ended by the hub).
  loginError: string;
  // Restoring a stored session while the hub is unreachable.
  boot: { state: 'idle' | 'checking' | 'waiting'; detail: string; retryAtMs: number | null };
  stream: { state: StreamState; detail: string; retryAtMs: number | null };
  loaded: boolean;
  loadError: string;
  overview: Overview | null;
  devices: Map<string, Device>;
  deployments: Map<string, Deployment>;
  events: FleetEvent[];
  brokerConnected: boolean | null;
  // Bumped after every full reload: views holding their own fetched data reload it.
  generation: number;
}

const TOKEN_KEY = 'skiff.hub.token';
const MAX_EVENTS = 200;

function initialState(): State {
  return {
    session: null,
    loginError: '',
    boot: { state: 'idle', detail: '', retryAtMs: null },
    stream: { state: 'stopped', detail: '', retryAtMs: null },
    loaded: false,
    loadError: '',
    overview: null,
    devices: new Map(),
    deployments: new Map(),
    events: [],
    brokerConnected: null,
    generation: 0,
  };
}

let state: State = initialState();
const listeners = new Set<() => void>();
let notifyTimer: ReturnType<typeof setTimeout> | null = null;

export function getState(): State {
  return state;
}

export function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

// Maps copied for the current batch: mutable until the next flush hands them to the views.
let devicesDraft: Map<string, Device> | null = null;
let deploymentsDraft: Map<string, Deployment> | null = null;

function draftDevices(): Map<string, Device> {
  if (devicesDraft === null) {
    devicesDraft = new Map(state.devices);
    state = { ...state, devices: devicesDraft };
  }
  return devicesDraft;
}

function draftDeployments(): Map<string, Deployment> {
  if (deploymentsDraft === null) {
    deploymentsDraft = new Map(state.deployments);
    state = { ...state, deployments: deploymentsDraft };
  }
  return deploymentsDraft;
}

// Changes since the last flush, and the pace for the next one: 100 ms normally, slowing down to
// 1 s while more than 50 changes a second arrive (thousands of devices reporting), so
// re-rendering a large page stays a small share of the main thread. A device going offline
// still shows within about a second.
let pending = 0;
let flushDelay = 100;

function update(patch: Partial<State>, immediate = false): void {
  if (patch.devices) devicesDraft = null;
  if (patch.deployments) deploymentsDraft = null;
  state = { ...state, ...patch };
  pending++;
  if (immediate) {
    flush();
    return;
  }
  if (notifyTimer === null) notifyTimer = setTimeout(flush, flushDelay);
}

function flush(): void {
  if (notifyTimer !== null) clearTimeout(notifyTimer);
  notifyTimer = null;
  devicesDraft = null;
  deploymentsDraft = null;
  const perSecond = (pending * 1000) / flushDelay;
  flushDelay = perSecond > 50 ? Math.min(1000, flushDelay * 2) : perSecond < 20 ? 100 : flushDelay;
  pending = 0;
  for (const l of [...listeners]) l();
}

export function token(): string {
  return state.session?.token ?? '';
}

// ---- session -------------------------------------------------------------------------------

let stream: EventStream | null = null;
let bootTimer: ReturnType<typeof setTimeout> | null = null;

onUnauthorized((message) => {
  if (state.session) logout(`The hub no longer accepts this token: ${message}`);
});

// Checks a token with GET /whoami; on success stores it for this browser tab and goes live.
// Resolves with an error message for the login form, or "" on success.
export async function login(candidate: string): Promise<string> {
  const trimmed = candidate.trim();
  if (trimmed === '') return 'Enter a hub token.';
  try {
    const who = readWhoami(await request('/whoami', { token: trimmed, quiet401: true }));
    sessionStorage.setItem(TOKEN_KEY, trimmed);
    start({ ...who, token: trimmed });
    return '';
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      return `The hub refused this token (401 ${err.code}: ${err.message}).`;
    }
    if (err instanceof ApiError && err.status === 0) {
      return `Cannot reach the hub at ${location.host}: ${err.message}.`;
    }
    return `Login failed: ${err instanceof ApiError ? err.describe() : String(err)}`;
  }
}

export function logout(message = ''): void {
  sessionStorage.removeItem(TOKEN_KEY);
  stream?.stop();
  stream = null;
  if (bootTimer !== null) clearTimeout(bootTimer);
  bootTimer = null;
  if (overviewTimer !== null) clearTimeout(overviewTimer);
  overviewTimer = null;
  state = initialState();
  devicesDraft = null;
  deploymentsDraft = null;
  update({ loginError: message }, true);
}

// Restores the tab's session on page load. A hub that is down is retried with backoff, the page
// saying so; a token the hub refuses sends the user to the login form.
export function restoreSession(): void {
  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (!saved) return;
  let attempt = 0;
  const check = async () => {
    bootTimer = null;
    update({ boot: { state: 'checking', detail: '', retryAtMs: null } }, true);
    try {
      const who = readWhoami(await request('/whoami', { token: saved, quiet401: true }));
      start({ ...who, token: saved });
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) {
        logout(`The hub no longer accepts the saved token (${err.message}). Log in again.`);
        return;
      }
      const delay = backoffDelay(attempt++);
      update(
        {
          boot: {
            state: 'waiting',
            detail: err instanceof ApiError ? err.describe() : String(err),
            retryAtMs: Date.now() + delay,
          },
        },
        true,
      );
      bootTimer = setTimeout(check, delay);
    }
  };
  void check();
}

function start(session: Session): void {
  if (bootTimer !== null) clearTimeout(bootTimer);
  bootTimer = null;
  stream?.stop();
  update(
    { session, loginError: '', boot: { state: 'idle', detail: '', retryAtMs: null } },
    true,
  );
  stream = new EventStream({
    url: '/api/v1/stream',
    token,
    onOpen: () => void reload(),
    onEvent: (event) => {
      if (reloading) queued.push(event);
      else applyEvent(event);
    },
    onState: (s, detail, retryAtMs) => {
      update({ stream: { state: s, detail, retryAtMs } }, true);
      // No stream yet: show what the GET endpoints give rather than an empty page.
      if (s === 'reconnecting' && !state.loaded && !reloading) void reload();
    },
    onUnauthorized: (message) => logout(`The hub no longer accepts this token: ${message}`),
  });
  stream.start();
}

export function retryNow(): void {
  stream?.retryNow();
}

// ---- loading -------------------------------------------------------------------------------

let reloading = false;
let queued: SseEvent[] = [];

// Full state reload (after every stream (re)connection and on demand).
export async function reload(): Promise<void> {
  if (!state.session) return;
  reloading = true;
  const t = token();
  try {
    const [overview, devices, deployments, events] = await Promise.all([
      request('/overview', { token: t }),
      request('/devices', { token: t }),
      request('/deployments', { token: t }),
      request('/events?limit=50', { token: t }),
    ]);
    if (t !== token()) return; // logged out meanwhile
    const ov = readOverview(overview);
    update({
      loaded: true,
      loadError: '',
      overview: ov,
      brokerConnected: ov.brokerConnected,
      devices: new Map(items(devices).map(readDevice).map((d) => [d.id, d])),
      deployments: new Map(items(deployments).map(readDeployment).map((d) => [d.id, d])),
      events: items(events).map(readEvent),
      generation: state.generation + 1,
    });
  } catch (err) {
    if (t !== token()) return;
    update({ loadError: err instanceof ApiError ? err.describe() : String(err) });
  } finally {
    reloading = false;
    const pending = queued;
    queued = [];
    for (const e of pending) applyEvent(e);
  }
}

let overviewTimer: ReturnType<typeof setTimeout> | null = null;
let overviewInFlight = false;
let overviewDirty = false;

// The overview's counts are the hub's; refetch them (coalesced) when the fleet changes shape.
function scheduleOverview(): void {
  if (overviewTimer !== null) return;
  if (overviewInFlight) {
    overviewDirty = true;
    return;
  }
  overviewTimer = setTimeout(async () => {
    overviewTimer = null;
    overviewInFlight = true;
    const t = token();
    try {
      const ov = readOverview(await request('/overview', { token: t }));
      if (t === token()) update({ overview: ov });
    } catch {
      // the stream's state shows connectivity problems; the next change retries
    } finally {
      overviewInFlight = false;
      if (overviewDirty) {
        overviewDirty = false;
        scheduleOverview();
      }
    }
  }, 250);
}

// ---- live events ---------------------------------------------------------------------------

function parse(event: SseEvent): unknown {
  try {
    return JSON.parse(event.data);
  } catch {
    console.warn(`hub stream: "${event.type}" event with invalid JSON ignored`);
    return undefined;
  }
}

export function applyEvent(event: SseEvent): void {
  const data = parse(event);
  if (data === undefined) return;
  try {
    switch (event.type) {
      case 'device': {
        const device = readDevice(data);
        const before = state.devices.get(device.id);
        draftDevices().set(device.id, device);
        update({});
        if (!before || deviceHealth(before) !== deviceHealth(device) || labelsChanged(before, device)) {
          scheduleOverview();
        }
        break;
      }
      case 'device-heartbeat': {
        // Only metrics and the last-seen time changed (docs/hub-api.md): patch them in.
        const h = readHeartbeat(data);
        const before = state.devices.get(h.id);
        if (!before) break; // not loaded yet: the reload brings it
        draftDevices().set(h.id, { ...before, lastSeenMs: h.lastSeenMs, metrics: h.metrics ?? before.metrics });
        update({});
        break;
      }
      case 'device-deleted': {
        const id = (data as { id?: unknown }).id;
        if (typeof id !== 'string') return;
        draftDevices().delete(id);
        update({});
        scheduleOverview();
        break;
      }
      case 'deployment': {
        const deployment = readDeployment(data);
        const before = state.deployments.get(deployment.id);
        draftDeployments().set(deployment.id, deployment);
        update({});
        // New, or degraded changed: the overview's deployment counts move.
        if (!before || (before.status.failed > 0) !== (deployment.status.failed > 0)) scheduleOverview();
        break;
      }
      case 'deployment-deleted': {
        const id = (data as { id?: unknown }).id;
        if (typeof id !== 'string') return;
        removeDeployment(id);
        break;
      }
      case 'event': {
        const e = readEvent(data);
        // The reload after a reconnection may already hold it (events queued meanwhile).
        if (e.seq && state.events.some((x) => x.seq === e.seq)) break;
        update({ events: [e, ...state.events].slice(0, MAX_EVENTS) });
        break;
      }
      case 'hub': {
        const connected = (data as { brokerConnected?: unknown }).brokerConnected;
        update({ brokerConnected: connected === true });
        break;
      }
      default:
        break; // newer hubs may send more event types
    }
  } catch (err) {
    console.warn(`hub stream: "${event.type}" event ignored: ${(err as Error).message}`);
  }
}

function labelsChanged(a: Device, b: Device): boolean {
  return (
    JSON.stringify(a.labels) !== JSON.stringify(b.labels) ||
    JSON.stringify(a.implicitLabels) !== JSON.stringify(b.implicitLabels)
  );
}

// ---- actions (admin) -----------------------------------------------------------------------

export function upsertDevice(device: Device): void {
  const before = state.devices.get(device.id);
  draftDevices().set(device.id, { ...device, metricsHistory: null });
  update({});
  if (!before || deviceHealth(before) !== deviceHealth(device) || labelsChanged(before, device)) {
    scheduleOverview();
  }
}

export function removeDeployment(id: string): void {
  if (!state.deployments.has(id)) return;
  draftDeployments().delete(id);
  update({});
  scheduleOverview();
}

export async function relabelDevice(id: string, labels: Record<string, string>): Promise<void> {
  const doc = await request(`/devices/${encodeURIComponent(id)}/labels`, {
    method: 'PUT',
    body: { labels },
    token: token(),
  });
  // The hub answers with the updated Device (as gRPC UpdateDeviceLabels does); anything else is
  // left to the stream's `device` event.
  let device: Device | null = null;
  try {
    device = readDevice(doc);
  } catch {
    device = null;
  }
  if (device) upsertDevice(device);
}

export async function deleteDeployment(id: string): Promise<void> {
  await request(`/deployments/${encodeURIComponent(id)}`, { method: 'DELETE', token: token() });
  removeDeployment(id);
}
