// The hub's REST documents as the dashboard uses them, and the readers that turn them into typed
// objects. The contract is docs/hub-api.md "JSON conventions": Device and Deployment follow
// proto/skiff/v1/hub.proto in lowerCamelCase with every field present, int64 values as JSON
// numbers, and the *_json fields embedded as JSON values (reported, metrics, metricsHistory,
// pods, modules) that keep docs/protocol.md's field names (schema 2: pods, and one module per
// container named "<pod>/<container>"). The readers still supply a default for an absent field
// and accept an int64 written as a decimal string (protobuf's canonical mapping), so a document
// from an older or newer hub degrades to "unknown" rather than breaking a view.

import { parseInt64, parseTime } from './format';

export type Labels = Record<string, string>;

// A container's role in its pod: an app container, a regular init container, or a native
// sidecar (an init container with restartPolicy Always).
export type ContainerKind = 'container' | 'init' | 'sidecar';

// One container on a device (docs/protocol.md ModuleStatus); `name` is "<pod>/<container>".
export interface ModuleStatus {
  name: string;
  kind: ContainerKind;
  deploymentId: string;
  image: string;
  state: string; // waiting | running | terminated ("" if unknown)
  reason: string;
  message: string;
  restartCount: number;
  exitCode: number | null;
  startedAtMs: number | null;
  finishedAtMs: number | null;
  ready: boolean;
  started: boolean;
  health: string;
  lastTerminationFinishedAtMs: number | null;
}

// One pod on a device (docs/protocol.md PodStatus).
export interface PodStatus {
  name: string;
  deploymentId: string;
  specHash: string;
  phase: string; // Pending | Running | Succeeded | Failed ("" if unknown)
  initialized: boolean;
  ready: boolean;
  terminating: boolean;
  podIP: string;
  hostIP: string;
  reason: string;
  message: string;
  startedAtMs: number | null;
}

export interface DeviceFacts {
  arch?: string;
  os?: string;
  osRelease?: string;
  kernel?: string;
  hostname?: string;
  cpus?: number;
  memoryBytes?: number;
  diskBytes?: number;
  engine?: string;
  engineApiVersion?: string;
  agentVersion?: string;
}

export interface Reported {
  seq: number;
  reportedAtMs: number | null;
  appliedVersion: number;
  desiredError: { version: number; reason: string; message: string } | null;
  pods: PodStatus[]; // [] in an old agent's schema-1 report
  modules: ModuleStatus[];
  facts: DeviceFacts | null;
}

export interface ModuleMetrics {
  name: string;
  cpuPercent: number | null;
  memoryBytes: number | null;
}

export interface Metrics {
  atMs: number;
  cpuPercent: number | null;
  memoryUsedBytes: number | null;
  memoryTotalBytes: number | null;
  diskUsedBytes: number | null;
  diskTotalBytes: number | null;
  temperatureCelsius: number | null;
  load1: number | null;
  modules: ModuleMetrics[];
}

export interface Device {
  id: string;
  labels: Labels;
  implicitLabels: Labels;
  createdAtMs: number;
  enrolled: boolean;
  certificateSerial: string;
  certificateNotAfterMs: number;
  online: boolean;
  lastSeenMs: number;
  desiredVersion: number;
  appliedVersion: number;
  reported: Reported | null;
  metrics: Metrics | null;
  deploymentIds: string[];
  metricsHistory: Metrics[] | null; // GET /devices/{id} only
}

export interface DeviceModules {
  deviceId: string;
  online: boolean;
  applied: boolean;
  desiredVersion: number;
  appliedVersion: number;
  pods: PodStatus[]; // the deployment's pods on this device
  modules: ModuleStatus[]; // their containers
  error: string;
  shadowedPods: string[]; // the deployment's pods a higher-priority deployment overrides here
}

export interface DeploymentStatus {
  targeted: number;
  applied: number;
  running: number;
  failed: number;
  offline: number;
  devices: DeviceModules[];
}

// A deployment's container as the hub derives it from the pod specs ("<pod>/<container>").
export interface ModuleSpecSummary {
  name: string;
  image: string;
  kind: ContainerKind;
}

// What the views show of a deployment's pod spec (docs/protocol.md "Pod spec").
export interface PodSpecSummary {
  name: string;
  restartPolicy: string; // Always | OnFailure | Never
  hostNetwork: boolean;
}

export interface Deployment {
  id: string;
  labels: Labels;
  targetSelector: string;
  priority: number;
  pods: PodSpecSummary[];
  modules: ModuleSpecSummary[];
  generation: number;
  createdAtMs: number;
  updatedAtMs: number;
  annotations: Labels;
  status: DeploymentStatus;
}

export interface FleetEvent {
  seq: number; // increasing per hub; 0 if absent
  type: string;
  reason: string;
  message: string;
  deviceId: string;
  deploymentId: string;
  atMs: number | null;
}

export interface HealthCounts {
  total: number;
  online: number;
  offline: number;
  degraded: number;
}

// FleetStatus of hub.proto: totals over the online devices' facts.
export interface FleetStatus {
  devices: number;
  enrolled: number;
  online: number;
  cpuMillis: number;
  memoryBytes: number;
  diskBytes: number;
  deployments: number;
  brokerConnected: boolean;
  brokerUrl: string;
}

export interface Overview {
  devices: HealthCounts & { enrolled: number };
  // Every label key (operator labels and skiff.io/arch), sorted by key; values as the hub
  // orders them (its top 50 by device count, sorted by value).
  byLabel: { key: string; values: ({ value: string } & HealthCounts)[] }[];
  deployments: { total: number; degraded: number };
  brokerConnected: boolean | null;
  recentEvents: FleetEvent[];
  fleet: FleetStatus | null;
}

// GET /api/v1/pods: a Kubernetes pod the edge provider turned into a hub deployment.
export interface Pod {
  namespace: string;
  name: string;
  uid: string;
  node: string;
  deploymentId: string;
  targetSelector: string;
  status: DeploymentStatus; // counts only
}

export interface Whoami {
  name: string;
  role: 'admin' | 'reader';
}

// ---- readers ------------------------------------------------------------------------------

type Json = Record<string, unknown>;

function obj(value: unknown): Json | null {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
    ? (value as Json)
    : null;
}
function str(value: unknown): string {
  return typeof value === 'string' ? value : '';
}
function num(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}
function bool(value: unknown): boolean {
  return value === true;
}
function arr(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}
function strings(value: unknown): string[] {
  return arr(value).filter((x): x is string => typeof x === 'string');
}
function labels(value: unknown): Labels {
  const o = obj(value);
  const out: Labels = {};
  if (o) for (const [k, v] of Object.entries(o)) if (typeof v === 'string') out[k] = v;
  return out;
}

// "init" and "sidecar" as written; anything else (absent for app containers) is "container".
function kind(value: unknown): ContainerKind {
  return value === 'init' || value === 'sidecar' ? value : 'container';
}

export function readModuleStatus(value: unknown): ModuleStatus {
  const m = obj(value) ?? {};
  const last = obj(m.lastTermination);
  return {
    name: str(m.name),
    kind: kind(m.kind),
    deploymentId: str(m.deploymentId),
    image: str(m.image),
    state: str(m.state),
    reason: str(m.reason),
    message: str(m.message),
    restartCount: parseInt64(m.restartCount),
    exitCode: num(m.exitCode),
    startedAtMs: parseTime(m.startedAt),
    finishedAtMs: parseTime(m.finishedAt),
    ready: bool(m.ready),
    started: bool(m.started),
    health: str(m.health) || 'unknown',
    lastTerminationFinishedAtMs: last ? parseTime(last.finishedAt) : null,
  };
}

export function readPodStatus(value: unknown): PodStatus {
  const p = obj(value) ?? {};
  return {
    name: str(p.name),
    deploymentId: str(p.deploymentId),
    specHash: str(p.specHash),
    phase: str(p.phase),
    initialized: bool(p.initialized),
    ready: bool(p.ready),
    terminating: bool(p.terminating),
    podIP: str(p.podIP),
    hostIP: str(p.hostIP),
    reason: str(p.reason),
    message: str(p.message),
    startedAtMs: parseTime(p.startedAt),
  };
}

export function readReported(value: unknown): Reported | null {
  const r = obj(value);
  if (!r) return null; // absent, null or "" (no report yet)
  const err = obj(r.desiredError);
  return {
    seq: parseInt64(r.seq),
    reportedAtMs: parseTime(r.reportedAt),
    appliedVersion: parseInt64(r.appliedVersion),
    desiredError: err
      ? { version: parseInt64(err.version), reason: str(err.reason), message: str(err.message) }
      : null,
    pods: arr(r.pods).map(readPodStatus),
    modules: arr(r.modules).map(readModuleStatus),
    facts: (obj(r.facts) as DeviceFacts | null) ?? null,
  };
}

export function readMetrics(value: unknown): Metrics | null {
  const m = obj(value);
  if (!m) return null;
  const atMs = parseTime(m.at);
  if (atMs === null) return null;
  return {
    atMs,
    cpuPercent: num(m.cpuPercent),
    memoryUsedBytes: num(m.memoryUsedBytes),
    memoryTotalBytes: num(m.memoryTotalBytes),
    diskUsedBytes: num(m.diskUsedBytes),
    diskTotalBytes: num(m.diskTotalBytes),
    temperatureCelsius: num(m.temperatureCelsius),
    load1: num(m.load1),
    modules: arr(m.modules).map((x) => {
      const mm = obj(x) ?? {};
      return { name: str(mm.name), cpuPercent: num(mm.cpuPercent), memoryBytes: num(mm.memoryBytes) };
    }),
  };
}

export function readDevice(value: unknown): Device {
  const d = obj(value);
  if (!d || typeof d.id !== 'string' || d.id === '') throw new Error('device without an id');
  const history = Array.isArray(d.metricsHistory)
    ? d.metricsHistory.map(readMetrics).filter((m): m is Metrics => m !== null)
    : null;
  return {
    id: d.id,
    labels: labels(d.labels),
    implicitLabels: labels(d.implicitLabels),
    createdAtMs: parseInt64(d.createdAtUnixMs),
    enrolled: bool(d.enrolled),
    certificateSerial: str(d.certificateSerial),
    certificateNotAfterMs: parseInt64(d.certificateNotAfterUnixMs),
    online: bool(d.online),
    lastSeenMs: parseInt64(d.lastSeenUnixMs),
    desiredVersion: parseInt64(d.desiredVersion),
    appliedVersion: parseInt64(d.appliedVersion),
    reported: readReported(d.reported),
    metrics: readMetrics(d.metrics),
    deploymentIds: strings(d.deploymentIds),
    metricsHistory: history,
  };
}

// SSE `device-heartbeat`: a device's new metrics / last-seen time, nothing else changed.
export function readHeartbeat(value: unknown): { id: string; lastSeenMs: number; metrics: Metrics | null } {
  const h = obj(value);
  if (!h || typeof h.id !== 'string' || h.id === '') throw new Error('heartbeat without an id');
  return { id: h.id, lastSeenMs: parseInt64(h.lastSeenUnixMs), metrics: readMetrics(h.metrics) };
}

function readDeviceModules(value: unknown): DeviceModules {
  const d = obj(value) ?? {};
  return {
    deviceId: str(d.deviceId),
    online: bool(d.online),
    applied: bool(d.applied),
    desiredVersion: parseInt64(d.desiredVersion),
    appliedVersion: parseInt64(d.appliedVersion),
    pods: arr(d.pods).map(readPodStatus),
    modules: arr(d.modules).map(readModuleStatus),
    error: str(d.error),
    shadowedPods: strings(d.shadowedPods),
  };
}

function readDeploymentStatus(value: unknown): DeploymentStatus {
  const s = obj(value) ?? {};
  return {
    targeted: parseInt64(s.targeted),
    applied: parseInt64(s.applied),
    running: parseInt64(s.running),
    failed: parseInt64(s.failed),
    offline: parseInt64(s.offline),
    devices: arr(s.devices).map(readDeviceModules),
  };
}

export function readDeployment(value: unknown): Deployment {
  const d = obj(value);
  if (!d || typeof d.id !== 'string' || d.id === '') throw new Error('deployment without an id');
  return {
    id: d.id,
    labels: labels(d.labels),
    targetSelector: str(d.targetSelector),
    priority: parseInt64(d.priority),
    pods: arr(d.pods).map((x) => {
      const p = obj(x) ?? {};
      return { name: str(p.name), restartPolicy: str(p.restartPolicy) || 'Always', hostNetwork: bool(p.hostNetwork) };
    }),
    modules: arr(d.modules).map((x) => {
      const m = obj(x) ?? {};
      return { name: str(m.name), image: str(m.image), kind: kind(m.kind) };
    }),
    generation: parseInt64(d.generation),
    createdAtMs: parseInt64(d.createdAtUnixMs),
    updatedAtMs: parseInt64(d.updatedAtUnixMs),
    annotations: labels(d.annotations),
    status: readDeploymentStatus(d.status),
  };
}

export function readPod(value: unknown): Pod {
  const p = obj(value);
  if (!p || typeof p.deploymentId !== 'string' || p.deploymentId === '') {
    throw new Error('pod without a deploymentId');
  }
  return {
    namespace: str(p.namespace),
    name: str(p.name),
    uid: str(p.uid),
    node: str(p.node),
    deploymentId: p.deploymentId,
    targetSelector: str(p.targetSelector),
    status: readDeploymentStatus(p.status),
  };
}

// "namespace/name" as kubectl prints it.
export function podName(p: Pod): string {
  return p.namespace ? `${p.namespace}/${p.name}` : p.name;
}

export function readEvent(value: unknown): FleetEvent {
  const e = obj(value) ?? {};
  return {
    seq: parseInt64(e.seq),
    type: str(e.type),
    reason: str(e.reason),
    message: str(e.message),
    deviceId: str(e.deviceId),
    deploymentId: str(e.deploymentId),
    atMs: parseTime(e.at),
  };
}

function readCounts(value: unknown): HealthCounts {
  const c = obj(value) ?? {};
  return {
    total: parseInt64(c.total),
    online: parseInt64(c.online),
    offline: parseInt64(c.offline),
    degraded: parseInt64(c.degraded),
  };
}

function readFleetStatus(value: unknown): FleetStatus | null {
  const f = obj(value);
  if (!f) return null;
  return {
    devices: parseInt64(f.devices),
    enrolled: parseInt64(f.enrolled),
    online: parseInt64(f.online),
    cpuMillis: parseInt64(f.cpuMillis),
    memoryBytes: parseInt64(f.memoryBytes),
    diskBytes: parseInt64(f.diskBytes),
    deployments: parseInt64(f.deployments),
    brokerConnected: bool(f.brokerConnected),
    brokerUrl: str(f.brokerUrl),
  };
}

// GET /api/v1/overview (docs/hub-api.md "JSON conventions").
export function readOverview(value: unknown): Overview {
  const o = obj(value);
  if (!o) throw new Error('overview is not a JSON object');
  const byLabel = obj(o.byLabel) ?? {};
  const deployments = obj(o.deployments) ?? {};
  return {
    devices: { ...readCounts(o.devices), enrolled: parseInt64(obj(o.devices)?.enrolled) },
    byLabel: Object.keys(byLabel)
      .sort()
      .map((key) => ({
        key,
        values: arr(byLabel[key]).map((v) => ({ value: str(obj(v)?.value), ...readCounts(v) })),
      })),
    deployments: { total: parseInt64(deployments.total), degraded: parseInt64(deployments.degraded) },
    brokerConnected: typeof o.brokerConnected === 'boolean' ? o.brokerConnected : null,
    recentEvents: arr(o.recentEvents).map(readEvent),
    fleet: readFleetStatus(o.fleet),
  };
}

export function readWhoami(value: unknown): Whoami {
  const o = obj(value) ?? {};
  const role = o.role === 'admin' || o.role === 'reader' ? o.role : null;
  if (role === null) throw new Error(`whoami: unknown role ${JSON.stringify(o.role)}`);
  return { name: str(o.name), role };
}

// ---- derived state ------------------------------------------------------------------------

// A module's pod: its name up to the first '/' (common/protocol podOfModule).
export function podOfModule(module: string): string {
  const slash = module.indexOf('/');
  return slash < 0 ? module : module.slice(0, slash);
}

// A module's container name within its pod: what follows the first '/'.
export function containerOfModule(module: string): string {
  const slash = module.indexOf('/');
  return slash < 0 ? module : module.slice(slash + 1);
}

// A pod that has completed (Succeeded or Failed) on the device.
function podCompleted(pods: readonly PodStatus[], name: string): boolean {
  return pods.some((p) => p.name === name && (p.phase === 'Succeeded' || p.phase === 'Failed'));
}

// A failing module, as the hub judges it (hub/fleet/fleet_internal.h isFailing; DeploymentStatus
// `failed`, the overview's `degraded`): waiting for one of these reasons, terminated with an
// error, or unhealthy — except a sidecar of a completed pod (`pods`: the device's pods), which
// the agent stopped, as the kubelet does: the pod's phase tells how the pod ended.
const FAILING_WAITING = new Set([
  'CrashLoopBackOff',
  'ErrImagePull',
  'ImagePullBackOff',
  'CreateContainerError',
  'RunContainerError',
  'InvalidImageName',
  'CreateContainerConfigError',
  'ErrImageNeverPull',
]);

export function moduleFailing(m: ModuleStatus, pods: readonly PodStatus[]): boolean {
  if (m.kind === 'sidecar' && podCompleted(pods, podOfModule(m.name))) return false;
  if (m.health === 'unhealthy') return true;
  if (m.state === 'waiting') return FAILING_WAITING.has(m.reason);
  if (m.state === 'terminated') {
    return m.reason === 'Error' || m.reason === 'OOMKilled' || (m.exitCode !== null && m.exitCode !== 0 && m.reason !== 'Completed');
  }
  return false;
}

export type Health = 'online' | 'degraded' | 'offline';

// offline: presence says so; degraded: online but refusing its desired document or with a
// failing module; online otherwise (the rule behind the overview's counts).
export function deviceHealth(d: Device): Health {
  if (!d.online) return 'offline';
  const r = d.reported;
  if (r && (r.desiredError !== null || r.modules.some((m) => moduleFailing(m, r.pods)))) return 'degraded';
  return 'online';
}

export function deviceArch(d: Device): string {
  return d.implicitLabels['skiff.io/arch'] ?? d.reported?.facts?.arch ?? '';
}

// Time of a module's last state change: when it started running, finished, or last terminated.
export function moduleLastChange(m: ModuleStatus): number | null {
  const candidates = [m.startedAtMs, m.finishedAtMs, m.lastTerminationFinishedAtMs].filter(
    (x): x is number => x !== null,
  );
  return candidates.length ? Math.max(...candidates) : null;
}

export interface RolloutSegments {
  running: number;
  updating: number; // applied, not (yet) running
  pending: number; // online, not applied yet
  failed: number;
  offline: number;
}

// Disjoint segments for the rollout bar. The status counters overlap (running ⊆ applied; failed
// and offline are sub-sets of targeted), so each targeted device is put in exactly one bucket by
// precedence offline > failed > running > updating > pending, clipped to `targeted`.
export function rolloutSegments(s: DeploymentStatus): RolloutSegments {
  let left = Math.max(0, s.targeted);
  const take = (n: number) => {
    const t = Math.max(0, Math.min(n, left));
    left -= t;
    return t;
  };
  const offline = take(s.offline);
  const failed = take(s.failed);
  const running = take(s.running);
  const updating = take(s.applied - s.running - s.failed);
  const pending = left;
  return { running, updating, pending, failed, offline };
}

// ---- pods -----------------------------------------------------------------------------------

// A pod on a device with its containers: `pod` is null for containers whose pod has no status
// (an old agent's schema-1 report names modules without pods).
export interface PodGroup {
  name: string;
  pod: PodStatus | null;
  containers: ModuleStatus[]; // init containers, sidecars, app containers; each by name
}

const KIND_ORDER: Record<ContainerKind, number> = { init: 0, sidecar: 1, container: 2 };

// The pods of a report (or of a deployment's status on a device) by name, each with its
// containers (modules "<pod>/<container>").
export function groupByPod(pods: readonly PodStatus[], modules: readonly ModuleStatus[]): PodGroup[] {
  const groups = new Map<string, PodGroup>();
  for (const p of pods) if (!groups.has(p.name)) groups.set(p.name, { name: p.name, pod: p, containers: [] });
  for (const m of modules) {
    const name = podOfModule(m.name);
    const group = groups.get(name) ?? { name, pod: null, containers: [] };
    groups.set(name, group);
    group.containers.push(m);
  }
  for (const g of groups.values()) {
    g.containers.sort((a, b) => KIND_ORDER[a.kind] - KIND_ORDER[b.kind] || a.name.localeCompare(b.name));
  }
  return [...groups.values()].sort((a, b) => a.name.localeCompare(b.name));
}

// Restarts of a pod: the sum over its containers.
export function podRestarts(g: PodGroup): number {
  return g.containers.reduce((n, m) => n + m.restartCount, 0);
}

// Ready containers of a pod as kubectl counts them: app containers and sidecars.
export function podReadyCount(g: PodGroup): { ready: number; total: number } {
  const counted = g.containers.filter((m) => m.kind !== 'init');
  return { ready: counted.filter((m) => m.ready).length, total: counted.length };
}

// A pod that does its job, as the hub counts a device running (docs/hub.md "Deployment status"):
// running and ready, or succeeded.
export function podWorks(p: PodStatus): boolean {
  return !p.terminating && ((p.phase === 'Running' && p.ready) || p.phase === 'Succeeded');
}

// A deployment's pod with its containers, for the spec and per-device views.
export interface DeploymentPod extends PodSpecSummary {
  containers: ModuleSpecSummary[];
}

// A deployment's pods in the hub's order, each with its containers from the derived `modules`
// (init containers first); a pod only `modules` names (no `pods` from the hub) has restartPolicy "".
export function deploymentPods(d: Pick<Deployment, 'pods' | 'modules'>): DeploymentPod[] {
  const out = new Map<string, DeploymentPod>();
  for (const p of d.pods) if (!out.has(p.name)) out.set(p.name, { ...p, containers: [] });
  for (const m of d.modules) {
    const name = podOfModule(m.name);
    const pod = out.get(name) ?? { name, restartPolicy: '', hostNetwork: false, containers: [] };
    out.set(name, pod);
    pod.containers.push(m);
  }
  return [...out.values()];
}

export type Tone = 'good' | 'warn' | 'bad' | 'muted';

// Badge colour of a pod phase: failed red, running and ready green, succeeded, terminating or
// unknown grey, anything else (pending, not ready) amber.
export function podTone(p: PodStatus): Tone {
  if (p.phase === 'Failed') return 'bad';
  if (p.terminating || p.phase === 'Succeeded' || p.phase === '') return 'muted';
  return p.phase === 'Running' && p.ready ? 'good' : 'warn';
}

// Annotations the edge provider writes on the deployments it creates for pods.
export const POD_ANNOTATIONS = {
  namespace: 'skiff.io/pod-namespace',
  name: 'skiff.io/pod-name',
  uid: 'skiff.io/pod-uid',
  node: 'skiff.io/node',
} as const;
