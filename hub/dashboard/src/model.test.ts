import { describe, expect, it } from 'vitest';

import { parseHash, href } from './hooks';
import {
  containerOfModule,
  deploymentPods,
  deviceHealth,
  groupByPod,
  moduleFailing,
  podName,
  podOfModule,
  podReadyCount,
  podRestarts,
  podTone,
  podWorks,
  readDeployment,
  readDevice,
  readModuleStatus,
  readOverview,
  readPod,
  readPodStatus,
  readReported,
  rolloutSegments,
} from './model';

describe('readDevice', () => {
  it('supplies defaults for omitted fields and reads int64 strings too', () => {
    const d = readDevice({ id: 'pi-01', lastSeenUnixMs: '1764611191000' });
    expect(d.online).toBe(false);
    expect(d.lastSeenMs).toBe(1764611191000);
    expect(d.labels).toEqual({});
    expect(d.reported).toBeNull();
    expect(d.metrics).toBeNull();
    expect(d.metricsHistory).toBeNull();
    expect(d.deploymentIds).toEqual([]);
  });

  it('reads the embedded reported, metrics and history documents', () => {
    const d = readDevice({
      id: 'pi-01',
      online: true,
      reported: {
        schema: 1,
        seq: 3,
        appliedVersion: 4,
        modules: [{ name: 'web/nginx', state: 'running', restartCount: 2, startedAt: '2026-12-01T17:00:00Z', ready: true }],
        facts: { arch: 'arm64', cpus: 4 },
      },
      metrics: { schema: 1, at: '2026-12-01T17:46:29Z', cpuPercent: 12.5, temperatureCelsius: 48.3 },
      metricsHistory: [{ at: '2026-12-01T17:45:00Z', cpuPercent: 1 }, { cpuPercent: 2 }],
    });
    expect(d.reported?.modules[0]).toMatchObject({ name: 'web/nginx', restartCount: 2, ready: true, health: 'unknown' });
    expect(d.reported?.facts?.arch).toBe('arm64');
    expect(d.metrics?.cpuPercent).toBe(12.5);
    expect(d.metrics?.memoryUsedBytes).toBeNull();
    expect(d.metricsHistory?.length).toBe(1); // the point without a time is dropped
    expect(deviceHealth(d)).toBe('online');
  });

  it('treats an empty embedded document as absent', () => {
    expect(readDevice({ id: 'x', reported: '', metrics: null }).reported).toBeNull();
  });

  it('refuses a device without an id', () => {
    expect(() => readDevice({})).toThrow(/without an id/);
  });

  it('classifies health', () => {
    const base = { id: 'x', online: true };
    expect(deviceHealth(readDevice({ ...base, online: false }))).toBe('offline');
    expect(
      deviceHealth(readDevice({ ...base, reported: { modules: [{ name: 'a', state: 'waiting', reason: 'CrashLoopBackOff' }] } })),
    ).toBe('degraded');
    expect(deviceHealth(readDevice({ ...base, reported: { modules: [], desiredError: { reason: 'SignatureInvalid' } } }))).toBe(
      'degraded',
    );
    expect(
      deviceHealth(readDevice({ ...base, reported: { modules: [{ name: 'a', state: 'terminated', reason: 'Completed' }] } })),
    ).toBe('online');
  });
});

describe('deployments and overview', () => {
  it('reads a deployment with omitted zero counters', () => {
    const d = readDeployment({ id: 'web', generation: '3', status: { targeted: 2, running: 2 } });
    expect(d.generation).toBe(3);
    expect(d.status).toMatchObject({ targeted: 2, applied: 0, running: 2, failed: 0, offline: 0, devices: [] });
  });

  it('splits rollout counters into disjoint segments', () => {
    const s = { targeted: 10, applied: 7, running: 5, failed: 1, offline: 2, devices: [] };
    expect(rolloutSegments(s)).toEqual({ offline: 2, failed: 1, running: 5, updating: 1, pending: 1 });
    // Inconsistent counters never exceed the targeted devices.
    const t = rolloutSegments({ targeted: 2, applied: 5, running: 5, failed: 3, offline: 1, devices: [] });
    expect(Object.values(t).reduce((a, b) => a + b, 0)).toBe(2);
  });

  it('reads the overview document of docs/hub-api.md', () => {
    const o = readOverview({
      devices: { total: 3, enrolled: 2, online: 2, offline: 1, degraded: 1 },
      byLabel: {
        site: [{ value: 'a', total: 3, online: 2, offline: 1, degraded: 1 }],
        'skiff.io/arch': [
          { value: 'amd64', total: 1, online: 1, offline: 0, degraded: 0 },
          { value: 'arm64', total: 2, online: 1, offline: 1, degraded: 1 },
        ],
      },
      deployments: { total: 2, degraded: 1 },
      brokerConnected: true,
      recentEvents: [{ seq: 9, type: 'Warning', reason: 'DeviceOffline', message: 'm', deviceId: 'pi-1', at: '2026-12-01T17:46:29Z' }],
      fleet: { devices: 3, enrolled: 2, online: 2, cpuMillis: 8000, memoryBytes: 8589934592, diskBytes: 0, deployments: 2, brokerConnected: true, brokerUrl: 'mqtts://h:8883' },
    });
    expect(o.devices).toEqual({ total: 3, enrolled: 2, online: 2, offline: 1, degraded: 1 });
    expect(o.byLabel.map((g) => g.key)).toEqual(['site', 'skiff.io/arch']);
    expect(o.byLabel[1].values[1]).toEqual({ value: 'arm64', total: 2, online: 1, offline: 1, degraded: 1 });
    expect(o.deployments).toEqual({ total: 2, degraded: 1 });
    expect(o.brokerConnected).toBe(true);
    expect(o.fleet?.cpuMillis).toBe(8000);
    expect(o.recentEvents[0].seq).toBe(9);
    expect(o.recentEvents[0].atMs).toBe(Date.UTC(2026, 11, 1, 17, 46, 29));
  });

  it('tolerates an overview with fields missing', () => {
    const o = readOverview({ devices: { total: 1 } });
    expect(o.devices).toEqual({ total: 1, enrolled: 0, online: 0, offline: 0, degraded: 0 });
    expect(o.deployments).toEqual({ total: 0, degraded: 0 });
    expect(o.byLabel).toEqual([]);
    expect(o.brokerConnected).toBeNull();
    expect(o.fleet).toBeNull();
  });

  it('reads a pod of GET /pods', () => {
    const p = readPod({
      namespace: 'default',
      name: 'web-abc',
      uid: 'u-1',
      node: 'skiff-fleet',
      deploymentId: 'default.web-abc',
      targetSelector: 'role=gateway',
      status: { targeted: 2, applied: 2, running: 1, failed: 0, offline: 1 },
    });
    expect(podName(p)).toBe('default/web-abc');
    expect(p.status).toMatchObject({ targeted: 2, running: 1, offline: 1, devices: [] });
    expect(() => readPod({ name: 'x' })).toThrow(/deploymentId/);
  });
});

describe('failing modules (the hub\'s rule)', () => {
  const m = (x: object) => readDevice({ id: 'd', online: true, reported: { modules: [{ name: 'a', ...x }] } });
  it('counts waiting reasons that do not resolve by themselves, errors and unhealthy', () => {
    for (const reason of ['CrashLoopBackOff', 'ErrImagePull', 'ImagePullBackOff', 'CreateContainerError', 'RunContainerError', 'InvalidImageName']) {
      expect(deviceHealth(m({ state: 'waiting', reason }))).toBe('degraded');
    }
    expect(deviceHealth(m({ state: 'terminated', reason: 'Error', exitCode: 1 }))).toBe('degraded');
    expect(deviceHealth(m({ state: 'terminated', reason: '', exitCode: 2 }))).toBe('degraded');
    expect(deviceHealth(m({ state: 'running', health: 'unhealthy' }))).toBe('degraded');
  });
  it('does not count starting, completed or healthy modules', () => {
    expect(deviceHealth(m({ state: 'waiting', reason: 'ContainerCreating' }))).toBe('online');
    expect(deviceHealth(m({ state: 'terminated', reason: 'Completed', exitCode: 0 }))).toBe('online');
    expect(deviceHealth(m({ state: 'running', health: 'healthy', ready: true }))).toBe('online');
  });
});

describe('pods (schema 2)', () => {
  const podJson = {
    name: 'web',
    deploymentId: 'web',
    specHash: 'ab12',
    phase: 'Running',
    initialized: true,
    ready: true,
    podIP: '10.88.0.2',
    hostIP: '192.0.2.1',
    startedAt: '2026-12-01T17:00:00Z',
  };

  it('reads the pods and the container kinds of a report', () => {
    const r = readReported({
      schema: 2,
      pods: [{ ...podJson, reason: 'SandboxChanged', message: 'm', terminating: true }],
      modules: [
        { name: 'web/setup', kind: 'init', state: 'terminated', reason: 'Completed', exitCode: 0, ready: true },
        { name: 'web/proxy', kind: 'sidecar', state: 'running', ready: true, started: true },
        { name: 'web/nginx', state: 'running', ready: true, started: true },
      ],
    });
    expect(r?.pods).toEqual([
      {
        name: 'web',
        deploymentId: 'web',
        specHash: 'ab12',
        phase: 'Running',
        initialized: true,
        ready: true,
        terminating: true,
        podIP: '10.88.0.2',
        hostIP: '192.0.2.1',
        reason: 'SandboxChanged',
        message: 'm',
        startedAtMs: Date.UTC(2026, 11, 1, 17, 0, 0),
      },
    ]);
    expect(r?.modules.map((m) => [m.kind, m.started])).toEqual([
      ['init', false],
      ['sidecar', true],
      ['container', true],
    ]);
  });

  it('degrades malformed pods and kinds to unknown instead of failing', () => {
    expect(readReported({ pods: 'web' })?.pods).toEqual([]);
    expect(readReported({ pods: { name: 'web' } })?.pods).toEqual([]);
    expect(readReported({ pods: null })?.pods).toEqual([]);
    expect(readReported({ modules: [] })?.pods).toEqual([]); // an old agent's schema-1 report
    const p = readPodStatus({ name: 7, phase: 3, ready: 'yes', podIP: 10, startedAt: 'not a time', terminating: 1 });
    expect(p).toMatchObject({ name: '', phase: '', ready: false, podIP: '', startedAtMs: null, terminating: false });
    expect(readPodStatus(null).phase).toBe('');
    expect(readReported({ pods: [null, 42, { name: 'a' }] })?.pods.map((x) => x.name)).toEqual(['', '', 'a']);
    for (const kind of [undefined, 'container', 'Sidecar', 'ephemeral', 3, null]) {
      expect(readModuleStatus({ name: 'a/b', kind }).kind).toBe('container');
    }
    expect(readModuleStatus({ name: 'a/b', started: 'true' }).started).toBe(false);
    const d = readDevice({ id: 'x', online: true, reported: { pods: [{ name: 'web', phase: 7 }], modules: 'none' } });
    expect(deviceHealth(d)).toBe('online');
  });

  it('reads shadowedPods and the per-device pods of a deployment', () => {
    const d = readDeployment({
      id: 'web',
      pods: [{ name: 'web', restartPolicy: 'OnFailure', hostNetwork: true, containers: [] }, { name: 'cache' }],
      modules: [
        { name: 'web/setup', image: 'busybox', kind: 'init' },
        { name: 'web/proxy', image: 'envoy', kind: 'sidecar' },
        { name: 'web/nginx', image: 'nginx', kind: 'container' },
        { name: 'cache/redis', image: 'redis' },
      ],
      status: {
        targeted: 1,
        devices: [
          {
            deviceId: 'pi-01',
            pods: [podJson],
            modules: [{ name: 'web/nginx', state: 'running' }],
            shadowedPods: ['cache', 3],
            shadowedModules: ['cache/redis'],
          },
        ],
      },
    });
    expect(d.pods).toEqual([
      { name: 'web', restartPolicy: 'OnFailure', hostNetwork: true },
      { name: 'cache', restartPolicy: 'Always', hostNetwork: false },
    ]);
    expect(d.modules.map((m) => m.kind)).toEqual(['init', 'sidecar', 'container', 'container']);
    const dm = d.status.devices[0];
    expect(dm.shadowedPods).toEqual(['cache']);
    expect(dm.pods[0]).toMatchObject({ name: 'web', phase: 'Running', podIP: '10.88.0.2' });
    expect(deploymentPods(d).map((p) => [p.name, p.containers.map((c) => c.name)])).toEqual([
      ['web', ['web/setup', 'web/proxy', 'web/nginx']],
      ['cache', ['cache/redis']],
    ]);
  });

  it('tolerates a deployment with malformed pods and per-device entries', () => {
    const d = readDeployment({ id: 'x', pods: 'web', modules: [{ name: 'web/a' }], status: { devices: [{ pods: {}, shadowedPods: 'web' }] } });
    expect(d.pods).toEqual([]);
    expect(d.status.devices[0]).toMatchObject({ pods: [], modules: [], shadowedPods: [] });
    // Without pod specs (an older hub), the modules still name the pods.
    expect(deploymentPods(d)).toEqual([{ name: 'web', restartPolicy: '', hostNetwork: false, containers: [d.modules[0]] }]);
  });

  it('splits module names into pod and container', () => {
    expect(podOfModule('web/nginx')).toBe('web');
    expect(containerOfModule('web/nginx')).toBe('nginx');
    expect(podOfModule('legacy')).toBe('legacy');
    expect(containerOfModule('legacy')).toBe('legacy');
  });

  it('groups containers under their pods', () => {
    const r = readReported({
      pods: [
        { name: 'web', phase: 'Running', ready: true },
        { name: 'idle', phase: 'Pending' },
      ],
      modules: [
        { name: 'web/nginx', state: 'running', ready: true, restartCount: 2 },
        { name: 'web/proxy', kind: 'sidecar', state: 'running', ready: false, restartCount: 1 },
        { name: 'web/setup', kind: 'init', state: 'terminated', reason: 'Completed', ready: true, restartCount: 3 },
        { name: 'old/module', state: 'running' },
      ],
    })!;
    const groups = groupByPod(r.pods, r.modules);
    expect(groups.map((g) => [g.name, g.pod?.phase ?? null, g.containers.map((m) => m.name)])).toEqual([
      ['idle', 'Pending', []],
      ['old', null, ['old/module']], // no pod status: an old agent's module
      ['web', 'Running', ['web/setup', 'web/proxy', 'web/nginx']],
    ]);
    expect(podRestarts(groups[2])).toBe(6);
    expect(podReadyCount(groups[2])).toEqual({ ready: 1, total: 2 }); // init containers do not count
  });

  it('judges pods like the hub and colours their phase', () => {
    const p = (x: object) => readPodStatus({ name: 'p', ...x });
    expect(podWorks(p({ phase: 'Running', ready: true }))).toBe(true);
    expect(podWorks(p({ phase: 'Succeeded' }))).toBe(true);
    expect(podWorks(p({ phase: 'Running', ready: false }))).toBe(false);
    expect(podWorks(p({ phase: 'Running', ready: true, terminating: true }))).toBe(false);
    expect(podWorks(p({ phase: 'Failed' }))).toBe(false);
    expect(podTone(p({ phase: 'Running', ready: true }))).toBe('good');
    expect(podTone(p({ phase: 'Running' }))).toBe('warn');
    expect(podTone(p({ phase: 'Pending' }))).toBe('warn');
    expect(podTone(p({ phase: 'Failed' }))).toBe('bad');
    expect(podTone(p({ phase: 'Succeeded' }))).toBe('muted');
    expect(podTone(p({ phase: 3 }))).toBe('muted');
  });
});

describe('sidecars of completed pods (the hub\'s isFailing with the report)', () => {
  const stopped = { state: 'terminated', reason: 'Error', exitCode: 143 };
  const report = (phase: unknown, module: object) =>
    readDevice({ id: 'd', online: true, reported: { pods: [{ name: 'job', phase }], modules: [{ name: 'job/proxy', ...module }] } });

  it('does not count a sidecar the agent stopped when its pod completed', () => {
    for (const phase of ['Succeeded', 'Failed']) {
      const d = report(phase, { kind: 'sidecar', ...stopped });
      expect(moduleFailing(d.reported!.modules[0], d.reported!.pods)).toBe(false);
      expect(deviceHealth(d)).toBe('online');
    }
  });

  it('counts it while the pod runs, and counts init and app containers of completed pods', () => {
    expect(deviceHealth(report('Running', { kind: 'sidecar', ...stopped }))).toBe('degraded');
    expect(deviceHealth(report('Failed', { kind: 'init', ...stopped }))).toBe('degraded');
    expect(deviceHealth(report('Failed', { ...stopped }))).toBe('degraded');
    expect(deviceHealth(report('Running', { kind: 'sidecar', state: 'waiting', reason: 'CrashLoopBackOff' }))).toBe('degraded');
  });

  it('looks at the sidecar\'s own pod only, and at a phase it knows', () => {
    const d = readDevice({
      id: 'd',
      online: true,
      reported: {
        pods: [
          { name: 'other', phase: 'Succeeded' },
          { name: 'job', phase: 5 },
        ],
        modules: [{ name: 'job/proxy', kind: 'sidecar', ...stopped }],
      },
    });
    expect(deviceHealth(d)).toBe('degraded');
    const m = readModuleStatus({ name: 'job/proxy', kind: 'sidecar', ...stopped });
    expect(moduleFailing(m, [])).toBe(true); // no pods reported: judged on its own
  });
});

describe('routes', () => {
  it('round-trips module names with slashes through the hash', () => {
    const h = href(['devices', 'pi-01', 'logs', 'web/nginx']);
    expect(h).toBe('#/devices/pi-01/logs/web%2Fnginx');
    expect(parseHash(h).path).toEqual(['devices', 'pi-01', 'logs', 'web/nginx']);
    expect(parseHash(href(['devices'], { selector: 'site in (a,b)' })).query.get('selector')).toBe('site in (a,b)');
  });
});
