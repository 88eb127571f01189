// The Kubernetes view (GET /api/v1/pods): which pod — through the virtual node's edge provider —
// became which hub deployment, on which node, and which devices run it. The items are
// Deployments carrying the pod identity in their skiff.io/ annotations (docs/hub-api.md).
import { useEffect, useState } from 'preact/hooks';

import { ApiError, items, request } from '../api';
import { Empty, ErrorText, RolloutBar } from '../components/bits';
import { shortId } from '../format';
import { href } from '../hooks';
import { type Deployment, POD_ANNOTATIONS, deviceHealth, readDeployment } from '../model';
import { type State, token } from '../store';

export function Pods({ state }: { state: State }) {
  const [pods, setPods] = useState<Deployment[] | null>(null);
  const [error, setError] = useState('');

  useEffect(() => {
    const controller = new AbortController();
    const t = setTimeout(
      () =>
        request('/pods', { token: token(), signal: controller.signal })
          .then((doc) => {
            setPods(items(doc).map(readDeployment));
            setError('');
          })
          .catch((err) => {
            if (!controller.signal.aborted) setError(err instanceof ApiError ? err.describe() : String(err));
          }),
      pods ? 300 : 0,
    );
    return () => {
      clearTimeout(t);
      controller.abort();
    };
  }, [state.generation, state.deployments]);

  const rows = (pods ?? [])
    .map((p) => state.deployments.get(p.id) ?? p) // live counters when the deployment is known
    .map((d, i) => ({ d, pod: pods![i] }))
    .sort((a, b) => podName(a.pod).localeCompare(podName(b.pod)));

  return (
    <>
      <h1 class="page-title">Pods</h1>
      <p class="muted">
        Pods scheduled on the virtual node become hub deployments; each row shows the pod, its node, its deployment and the
        devices it targets.
      </p>
      {error ? <ErrorText>{error}</ErrorText> : null}
      {pods === null && !error ? <p class="loading">Loading…</p> : null}
      {pods !== null && rows.length === 0 ? <Empty>No pod is mapped to a deployment.</Empty> : null}
      {rows.length ? (
        <table class="table responsive pods-table">
          <thead>
            <tr>
              <th scope="col">pod</th>
              <th scope="col">node</th>
              <th scope="col">deployment</th>
              <th scope="col">rollout</th>
              <th scope="col">devices</th>
            </tr>
          </thead>
          <tbody>
            {rows.map(({ d, pod }) => {
              const deviceIds = d.status.devices.length
                ? d.status.devices.map((x) => x.deviceId)
                : [...state.devices.values()].filter((x) => x.deploymentIds.includes(d.id)).map((x) => x.id);
              return (
                <tr key={d.id} data-pod={podName(pod)}>
                  <th scope="row" data-label="pod">
                    {podName(pod)}
                    <div class="small muted mono" title={pod.annotations[POD_ANNOTATIONS.uid]}>
                      uid {shortId(pod.annotations[POD_ANNOTATIONS.uid] ?? '—')}
                    </div>
                  </th>
                  <td data-label="node">{pod.annotations[POD_ANNOTATIONS.node] || <span class="muted">—</span>}</td>
                  <td data-label="deployment">
                    <a href={href(['deployments', d.id])}>{d.id}</a>
                  </td>
                  <td data-label="rollout" class="bar-cell">
                    <RolloutBar status={d.status} compact />
                    <span class="small muted">
                      {d.status.running}/{d.status.targeted} running
                    </span>
                  </td>
                  <td data-label="devices">
                    <ul class="chips">
                      {deviceIds.sort().map((id) => {
                        const dev = state.devices.get(id);
                        const h = dev ? deviceHealth(dev) : 'offline';
                        return (
                          <li key={id} class={`chip health-${h}`}>
                            <span class="dot" aria-hidden="true" />
                            <a href={href(['devices', id])}>{id}</a>
                          </li>
                        );
                      })}
                    </ul>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      ) : null}
    </>
  );
}

function podName(d: Deployment): string {
  const ns = d.annotations[POD_ANNOTATIONS.namespace] ?? '';
  const name = d.annotations[POD_ANNOTATIONS.name] ?? d.id;
  return ns ? `${ns}/${name}` : name;
}
