// The device detail's pods: one row per pod the device reports (phase, readiness, pod IP, restarts
// summed over its containers, the pod-level reason and message), each followed by its containers
// (init containers, sidecars, app containers) with state, image, usage and a logs link.
import { Empty, KindTag, PodPhaseBadge, StateBadge } from '../components/bits';
import { formatBytes, formatPercent, formatRelative, formatTimestamp } from '../format';
import { href } from '../hooks';
import {
  type Device,
  type ModuleStatus,
  type PodGroup,
  type PodStatus,
  containerOfModule,
  groupByPod,
  moduleFailing,
  moduleLastChange,
  podReadyCount,
  podRestarts,
} from '../model';

export function DevicePods({ device, now }: { device: Device; now: number }) {
  const r = device.reported;
  const groups = r ? groupByPod(r.pods, r.modules) : [];
  return (
    <section class="card" aria-labelledby="pods-h">
      <h2 id="pods-h">Pods</h2>
      {groups.length === 0 ? (
        <Empty>{r ? 'No pods on this device.' : 'The device has not reported yet.'}</Empty>
      ) : (
        <table class="table responsive modules-table">
          <thead>
            <tr>
              <th scope="col">pod / container</th>
              <th scope="col">phase / state</th>
              <th scope="col">ready</th>
              <th scope="col">pod IP / image</th>
              <th scope="col" class="num">restarts</th>
              <th scope="col">last change</th>
              <th scope="col">
                <span class="sr-only">logs</span>
              </th>
            </tr>
          </thead>
          {groups.map((g) => (
            <tbody key={g.name} class="pod-group">
              <PodRow group={g} now={now} />
              {g.containers.map((m) => (
                <ContainerRow key={m.name} device={device} module={m} group={g} pods={r?.pods ?? []} now={now} />
              ))}
            </tbody>
          ))}
        </table>
      )}
    </section>
  );
}

function PodRow({ group: g, now }: { group: PodGroup; now: number }) {
  const pod = g.pod;
  const deploymentId = pod?.deploymentId || g.containers[0]?.deploymentId || '';
  const { ready, total } = podReadyCount(g);
  return (
    <tr class="pod-row" data-pod={g.name} data-phase={pod?.phase ?? ''}>
      <th scope="row" data-label="pod">
        {g.name}
        {deploymentId ? (
          <div class="small">
            <a href={href(['deployments', deploymentId])}>{deploymentId}</a>
          </div>
        ) : null}
      </th>
      <td data-label="phase">
        <div>
          <PodPhaseBadge pod={pod} />
          {pod?.message ? <div class="small muted">{pod.message}</div> : null}
        </div>
      </td>
      <td data-label="ready">
        <div>
          {pod ? (pod.ready ? 'ready' : 'not ready') : '—'} <span class="muted small">{`${ready}/${total}`}</span>
          {pod && !pod.initialized && !pod.terminating ? <div class="small muted">initializing</div> : null}
        </div>
      </td>
      <td data-label="pod IP" class="mono">
        <div>
          {pod?.podIP || <span class="muted">—</span>}
          <HostIP pod={pod} />
        </div>
      </td>
      <td class="num" data-label="restarts">
        {podRestarts(g)}
      </td>
      <td data-label="started" title={formatTimestamp(pod?.startedAtMs ?? null)}>
        {pod?.startedAtMs ? formatRelative(pod.startedAtMs, now) : <span class="muted">—</span>}
      </td>
      <td />
    </tr>
  );
}

// The device's address, when the pod has its own (not with hostNetwork).
function HostIP({ pod }: { pod: PodStatus | null }) {
  if (!pod?.hostIP || pod.hostIP === pod.podIP) return null;
  return <div class="small muted">host {pod.hostIP}</div>;
}

function ContainerRow(props: { device: Device; module: ModuleStatus; group: PodGroup; pods: PodStatus[]; now: number }) {
  const { device, module: m, group, pods, now } = props;
  const usage = device.metrics?.modules.find((x) => x.name === m.name);
  const changed = moduleLastChange(m);
  return (
    <tr class="container-row" data-module={m.name} data-kind={m.kind}>
      <th scope="row" data-label="container" title={m.name}>
        <span>
          {containerOfModule(m.name)} <KindTag kind={m.kind} />
        </span>
      </th>
      <td data-label="state">
        <div>
          <StateBadge state={m.state} reason={m.reason} failing={moduleFailing(m, pods)} />
          {m.message ? <div class="small muted">{m.message}</div> : null}
        </div>
      </td>
      <td data-label="ready / health">{readiness(m, group.pod !== null)}</td>
      <td data-label="image" class="mono wrap">
        <div>
          {m.image}
          {usage ? (
            <div class="small muted">
              {formatPercent(usage.cpuPercent)} CPU · {formatBytes(usage.memoryBytes)}
            </div>
          ) : null}
        </div>
      </td>
      <td class="num" data-label="restarts">
        {m.restartCount}
      </td>
      <td data-label="last change" title={formatTimestamp(changed)}>
        {formatRelative(changed, now)}
      </td>
      <td data-label="logs">
        <a class="btn btn-small" href={href(['devices', device.id, 'logs', m.name])}>
          Logs
        </a>
      </td>
    </tr>
  );
}

// "ready · healthy", "starting" (running, its startup probe or postStart hook not done: known
// from schema-2 reports, those with pods), "not ready"; init containers have no probes.
function readiness(m: ModuleStatus, schema2: boolean): string {
  const starting = schema2 && m.state === 'running' && !m.started;
  const ready = m.ready ? 'ready' : starting ? 'starting' : 'not ready';
  return m.kind === 'init' ? ready : `${ready} · ${m.health}`;
}
