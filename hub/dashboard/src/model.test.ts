import { describe, expect, it } from 'vitest';

import { parseHash, href } from './hooks';
import { deviceHealth, readDeployment, readDevice, readOverview, rolloutSegments } from './model';

describe('readDevice', () => {
  it('supplies the defaults protobuf JSON omits and reads int64 strings', () => {
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

  it('reads the overview document', () => {
    const o = readOverview({
      devices: { total: 3, online: 2, offline: 1, degraded: 1 },
      byLabel: { site: [{ value: 'a', total: 3, online: 2, offline: 1, degraded: 1 }], arch: [] },
      deployments: 2,
      recentEvents: [{ type: 'Warning', reason: 'DeviceOffline', message: 'm', deviceId: 'pi-1', at: '2026-12-01T17:46:29Z' }],
    });
    expect(o.devices).toEqual({ total: 3, online: 2, offline: 1, degraded: 1 });
    expect(o.byLabel.map((g) => g.key)).toEqual(['arch', 'site']);
    expect(o.brokerConnected).toBeNull();
    expect(o.recentEvents[0].atMs).toBe(Date.UTC(2026, 11, 1, 17, 46, 29));
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
