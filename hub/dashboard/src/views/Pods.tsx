// The Kubernetes view (GET /api/v1/pods): which pod — through the virtual node's edge provider —
// became which hub deployment, on which node, and which devices run it. The hub lists the
// deployments carrying the edge provider's pod annotations as flat pod documents
// (docs/hub-api.md); the rollout counters and the devices come from the live maps.
import { useEffect, useState } from 'preact/hooks';

import { ApiError, items, request } from '../api';
import { Empty, ErrorText, RolloutBar } from '../components/bits';
import { shortId } from '../format';
import { href } from '../hooks';
import { type Pod, deviceHealth, podName, readPod } from '../model';
import { type State, token } from '../store';

export function Pods({ state }: { state: State }) {
  const [pods, setPods] = useState<Pod[] | null>(null);
  const [error, setError] = useState('');
  const deploymentIds = [...state.deployments.keys()].sort().join('\n');

  // Refetched when deployments come or go (a pod's deployment is created or deleted by the edge
  // provider) and after every reload.
  useEffect(() => {
    const controller = new AbortController();
    const t = setTimeout(
      () =>
        request('/pods', { token: token(), signal: controller.signal })
          .then((doc) => {
            setPods(items(doc).map(readPod));
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
  }, [state.generation, deploymentIds]);

  const rows = (pods ?? []).filter((p) => state.deployments.has(p.deploymentId) || !state.loaded).sort((a, b) => podName(a).localeCompare(podName(b)));

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
            {rows.map((pod) => {
              // Live counters when the deployment is known (the pod list is a snapshot).
              const status = state.deployments.get(pod.deploymentId)?.status ?? pod.status;
              const deviceIds = [...state.devices.values()]
                .filter((x) => x.deploymentIds.includes(pod.deploymentId))
                .map((x) => x.id)
                .sort();
              return (
                <tr key={pod.deploymentId} data-pod={podName(pod)}>
                  <th scope="row" data-label="pod">
                    {podName(pod)}
                    <div class="small muted mono" title={pod.uid}>
                      uid {pod.uid ? shortId(pod.uid) : '—'}
                    </div>
                  </th>
                  <td data-label="node">{pod.node || <span class="muted">—</span>}</td>
                  <td data-label="deployment">
                    <a href={href(['deployments', pod.deploymentId])}>{pod.deploymentId}</a>
                    <div class="small muted">
                      <code>{pod.targetSelector}</code>
                    </div>
                  </td>
                  <td data-label="rollout" class="bar-cell">
                    <RolloutBar status={status} compact />
                    <span class="small muted">
                      {status.running}/{status.targeted} running
                    </span>
                  </td>
                  <td data-label="devices">
                    {deviceIds.length ? (
                      <ul class="chips">
                        {deviceIds.map((id) => {
                          const dev = state.devices.get(id);
                          const h = dev ? deviceHealth(dev) : 'offline';
                          return (
                            <li key={id} class={`chip health-${h}`} title={`${id}: ${h}`}>
                              <span class="dot" aria-hidden="true" />
                              <a href={href(['devices', id])}>{id}</a>
                            </li>
                          );
                        })}
                      </ul>
                    ) : (
                      <span class="muted">no device matches</span>
                    )}
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
