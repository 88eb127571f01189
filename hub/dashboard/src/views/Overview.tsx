// Fleet overview: the hub's counts (GET /api/v1/overview, refetched when the fleet changes), a
// tile per device coloured by health straight from the live device map, the breakdown by label
// and the recent fleet events.
import { Component, type ComponentChildren } from 'preact';

import { Empty } from '../components/bits';
import { formatBytes, formatRelative, formatTimestamp } from '../format';
import { href, useNow } from '../hooks';
import { type Device, type FleetEvent, type FleetStatus, type HealthCounts, deviceHealth, moduleFailing } from '../model';
import type { State } from '../store';

const MAX_TILES = 500;
const HEALTH_ORDER = { offline: 0, degraded: 1, online: 2 } as const;

export function Overview({ state }: { state: State }) {
  const ov = state.overview;
  const counts = ov?.devices ?? { total: 0, online: 0, offline: 0, degraded: 0 };
  const devices = [...state.devices.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const events = state.events.length ? state.events : (ov?.recentEvents ?? []);
  return (
    <>
      <h1 class="page-title">Fleet overview</h1>
      <section class="stats" aria-label="device counts">
        <Stat name="total" label="Devices" value={counts.total} />
        <Stat name="online" label="Online" value={counts.online} tone="good" />
        <Stat name="degraded" label="Degraded" value={counts.degraded} tone="warn" />
        <Stat name="offline" label="Offline" value={counts.offline} tone="bad" />
        <Stat
          name="deployments"
          label="Deployments"
          value={ov?.deployments.total ?? state.deployments.size}
          href={href(['deployments'])}
          detail={
            ov?.deployments.degraded ? (
              <span class="stat-detail tone-warn-text" data-stat="deployments-degraded" data-value={ov.deployments.degraded}>
                {ov.deployments.degraded} degraded
              </span>
            ) : null
          }
        />
      </section>
      {ov?.fleet ? <FleetLine fleet={ov.fleet} enrolled={ov.devices.enrolled} total={ov.devices.total} /> : null}

      <div class="grid-2">
        <section class="card" aria-labelledby="fleet-map">
          <h2 id="fleet-map">Devices</h2>
          {devices.length === 0 ? (
            <Empty>No devices registered yet.</Empty>
          ) : (
            <>
              <ul class="tiles" aria-label="device health">
                {devices.slice(0, MAX_TILES).map((d) => (
                  <Tile key={d.id} device={d} />
                ))}
              </ul>
              {devices.length > MAX_TILES ? (
                <p class="muted small">
                  and {devices.length - MAX_TILES} more — see the <a href={href(['devices'])}>device list</a>.
                </p>
              ) : null}
              <ProblemList devices={devices} />
            </>
          )}
        </section>

        <section class="card" aria-labelledby="by-label">
          <h2 id="by-label">By label</h2>
          {ov && ov.byLabel.length ? (
            ov.byLabel.map((group) => (
              <div class="breakdown" key={group.key} data-label-key={group.key}>
                <h3>{group.key}</h3>
                <table class="table compact">
                  <thead>
                    <tr>
                      <th scope="col">{group.key}</th>
                      <th scope="col" class="hide-phone">health</th>
                      <th scope="col" class="num">online</th>
                      <th scope="col" class="num">degraded</th>
                      <th scope="col" class="num">offline</th>
                    </tr>
                  </thead>
                  <tbody>
                    {group.values.map((v) => (
                      <tr key={v.value} data-label-value={v.value}>
                        <th scope="row">
                          {v.value ? (
                            <a href={href(['devices'], { selector: labelSelector(group.key, v.value) })}>{v.value}</a>
                          ) : (
                            <span class="muted">(none)</span>
                          )}
                        </th>
                        <td class="bar-cell hide-phone">
                          <HealthBar counts={v} />
                        </td>
                        <td class="num">{v.online}</td>
                        <td class="num">{v.degraded}</td>
                        <td class="num">{v.offline}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            ))
          ) : (
            <Empty>No label breakdown yet.</Empty>
          )}
        </section>
      </div>

      <section class="card" aria-labelledby="events">
        <h2 id="events">Recent events</h2>
        <EventList events={events.slice(0, 30)} />
      </section>
    </>
  );
}

// The device list filtered to one label value (the hub evaluates the selector).
function labelSelector(key: string, value: string): string {
  return `${key}=${value}`;
}

// What the online devices bring (the hub's FleetStatus), and how many devices are enrolled.
function FleetLine({ fleet, enrolled, total }: { fleet: FleetStatus; enrolled: number; total: number }) {
  return (
    <p class="muted small fleet-line" data-testid="fleet-line">
      {enrolled} of {total} devices enrolled · online capacity {fleet.cpuMillis / 1000} CPUs, {formatBytes(fleet.memoryBytes)}{' '}
      memory, {formatBytes(fleet.diskBytes)} disk
    </p>
  );
}

function Stat(props: { name: string; label: string; value: number; tone?: string; href?: string; detail?: ComponentChildren }) {
  const body = (
    <>
      <span class="stat-value" data-stat={props.name}>
        {props.value}
      </span>
      <span class="stat-label">{props.label}</span>
      {props.detail}
    </>
  );
  return (
    <div class={`stat ${props.tone ? `tone-${props.tone}` : ''}`}>
      {props.href ? <a href={props.href}>{body}</a> : body}
    </div>
  );
}

// Re-rendered only when the device's health changes (metrics do not show here).
class Tile extends Component<{ device: Device }> {
  shouldComponentUpdate(next: { device: Device }): boolean {
    return next.device.id !== this.props.device.id || deviceHealth(next.device) !== deviceHealth(this.props.device);
  }

  render() {
    const { device } = this.props;
    const health = deviceHealth(device);
    return (
      <li>
        <a
          class={`tile health-${health}`}
          href={href(['devices', device.id])}
          data-device={device.id}
          data-health={health}
          title={`${device.id}: ${health}`}
        >
          <span class="tile-name">{device.id}</span>
          <span class="sr-only">{health}</span>
        </a>
      </li>
    );
  }
}

function ProblemList({ devices }: { devices: Device[] }) {
  const now = useNow(5000);
  const problems = devices
    .filter((d) => deviceHealth(d) !== 'online')
    .sort((a, b) => HEALTH_ORDER[deviceHealth(a)] - HEALTH_ORDER[deviceHealth(b)] || a.id.localeCompare(b.id))
    .slice(0, 10);
  if (problems.length === 0) return <p class="all-good">All devices are online and healthy.</p>;
  return (
    <ul class="problems" aria-label="devices needing attention">
      {problems.map((d) => {
        const h = deviceHealth(d);
        return (
          <li key={d.id} class={`health-${h}`}>
            <span class="dot" aria-hidden="true" />
            <a href={href(['devices', d.id])}>{d.id}</a>{' '}
            <span class="muted">
              {h === 'offline' ? `offline, last seen ${formatRelative(d.lastSeenMs, now)}` : degradedWhy(d)}
            </span>
          </li>
        );
      })}
    </ul>
  );
}

function degradedWhy(d: Device): string {
  const r = d.reported;
  if (r?.desiredError) return `refused desired state: ${r.desiredError.reason}`;
  const bad = r?.modules.find((m) => moduleFailing(m, r.pods));
  return bad ? `${bad.name}: ${bad.reason || bad.health}` : 'degraded';
}

export function HealthBar({ counts }: { counts: HealthCounts }) {
  const total = Math.max(1, counts.total);
  const healthy = Math.max(0, counts.online - counts.degraded);
  const label = `${healthy} healthy, ${counts.degraded} degraded, ${counts.offline} offline`;
  return (
    <div class="bar small" role="img" aria-label={label} title={label}>
      {healthy ? <span class="seg seg-running" style={{ width: `${(healthy / total) * 100}%` }} /> : null}
      {counts.degraded ? <span class="seg seg-failed-soft" style={{ width: `${(counts.degraded / total) * 100}%` }} /> : null}
      {counts.offline ? <span class="seg seg-offline-bad" style={{ width: `${(counts.offline / total) * 100}%` }} /> : null}
    </div>
  );
}

export function EventList({ events }: { events: FleetEvent[] }) {
  const now = useNow(5000);
  if (events.length === 0) return <Empty>No events yet.</Empty>;
  return (
    <ol class="events">
      {events.map((e, i) => (
        <li key={e.seq || `${e.atMs}-${i}`} class={`event event-${e.type.toLowerCase()}`}>
          <time dateTime={e.atMs ? new Date(e.atMs).toISOString() : undefined} title={formatTimestamp(e.atMs)}>
            {formatRelative(e.atMs, now)}
          </time>
          <span class={`badge ${/warn|error/i.test(e.type) ? 'tone-warn' : 'tone-muted'}`}>{e.reason || e.type}</span>
          <span class="event-msg">
            {e.deviceId ? (
              <a href={href(['devices', e.deviceId])} class="event-ref">
                {e.deviceId}
              </a>
            ) : null}
            {e.deploymentId ? (
              <a href={href(['deployments', e.deploymentId])} class="event-ref">
                {e.deploymentId}
              </a>
            ) : null}
            {e.message}
          </span>
        </li>
      ))}
    </ol>
  );
}
