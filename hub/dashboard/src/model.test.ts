import { describe, expect, it } from 'vitest';

import { parseHash, href } from './hooks';
import { deviceHealth, podName, readDeployment, readDevice, readOverview, readPod, rolloutSegments } from './model';

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

describe('routes', () => {
  it('round-trips module names with slashes through the hash', () => {
    const h = href(['devices', 'pi-01', 'logs', 'web/nginx']);
    expect(h).toBe('#/devices/pi-01/logs/web%2Fnginx');
    expect(parseHash(h).path).toEqual(['devices', 'pi-01', 'logs', 'web/nginx']);
    expect(parseHash(href(['devices'], { selector: 'site in (a,b)' })).query.get('selector')).toBe('site in (a,b)');
  });
});
