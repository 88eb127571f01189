// Deployments: rollout progress per deployment (targeted / applied / running / failed / offline
// as a stacked bar), live from `deployment` events; the detail view adds its pods and the
// per-device status (each pod's phase, IP and containers) from GET /api/v1/deployments/{id}.
// Admins can delete a deployment after confirming.
import { useEffect, useState } from 'preact/hooks';

import { ApiError, request } from '../api';
import { ConfirmDialog } from '../components/Dialog';
import {
  Empty,
  ErrorText,
  KeyValues,
  KindTag,
  LabelChips,
  PodPhaseBadge,
  RolloutBar,
  RolloutLegend,
  StateBadge,
} from '../components/bits';
import { formatRelative, formatTimestamp } from '../format';
import { href, useNow } from '../hooks';
import {
  type Deployment,
  type DeploymentPod,
  type DeviceModules,
  POD_ANNOTATIONS,
  containerOfModule,
  deploymentPods,
  groupByPod,
  moduleFailing,
  readDeployment,
} from '../model';
import { type State, deleteDeployment, token } from '../store';

export function Deployments({ state }: { state: State }) {
  const list = [...state.deployments.values()].sort((a, b) => a.id.localeCompare(b.id));
  return (
    <>
      <h1 class="page-title">Deployments</h1>
      <RolloutLegend />
      {list.length === 0 ? (
        <Empty>No deployments.</Empty>
      ) : (
        <ul class="deployments">
          {list.map((d) => (
            <li key={d.id} class="card deployment" data-deployment={d.id}>
              <div class="card-head">
                <h2>
                  <a href={href(['deployments', d.id])}>{d.id}</a>
                </h2>
                <span class="muted small">
                  gen {d.generation} · priority {d.priority}
                </span>
                <DeleteDeployment deployment={d} state={state} />
              </div>
              <p class="small">
                selector <code>{d.targetSelector || '(none)'}</code> · {count(deploymentPods(d).length, 'pod')} ·{' '}
                {count(d.modules.length, 'container')}
                {d.annotations[POD_ANNOTATIONS.name] ? (
                  <>
                    {' '}
                    · pod{' '}
                    <a href={href(['pods'])}>
                      {d.annotations[POD_ANNOTATIONS.namespace]}/{d.annotations[POD_ANNOTATIONS.name]}
                    </a>
                  </>
                ) : null}
              </p>
              <RolloutBar status={d.status} />
            </li>
          ))}
        </ul>
      )}
    </>
  );
}

export function DeploymentDetail({ id, state }: { id: string; state: State }) {
  const live = state.deployments.get(id) ?? null;
  const [fetched, setFetched] = useState<Deployment | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const now = useNow(5000);

  // Refetch (debounced) whenever the live object changes: the per-device list comes from GET.
  useEffect(() => {
    const controller = new AbortController();
    const t = setTimeout(() => {
      request(`/deployments/${encodeURIComponent(id)}`, { token: token(), signal: controller.signal })
        .then((doc) => {
          setFetched(readDeployment(doc));
          setError(null);
        })
        .catch((err) => {
          if (controller.signal.aborted) return;
          setError(err instanceof ApiError ? err : new ApiError(0, 'Unavailable', String(err)));
        });
    }, fetched ? 300 : 0);
    return () => {
      clearTimeout(t);
      controller.abort();
    };
  }, [id, live, state.generation]);

  // The live object carries the current counters; the per-device list may only come from GET.
  const d = live
    ? {
        ...live,
        status: {
          ...live.status,
          devices: live.status.devices.length ? live.status.devices : (fetched?.status.devices ?? []),
        },
      }
    : error
      ? null
      : fetched;
  if (!d) {
    return (
      <>
        <p class="crumbs">
          <a href={href(['deployments'])}>← Deployments</a>
        </p>
        <h1 class="page-title">{id}</h1>
        {error ? <ErrorText>{error.describe()}</ErrorText> : <p class="loading">Loading…</p>}
      </>
    );
  }
  const devices = [...d.status.devices].sort((a, b) => a.deviceId.localeCompare(b.deviceId));
  const specPods = deploymentPods(d);
  return (
    <>
      <p class="crumbs">
        <a href={href(['deployments'])}>← Deployments</a>
      </p>
      <div class="title-row">
        <h1 class="page-title">{d.id}</h1>
        <DeleteDeployment deployment={d} state={state} />
      </div>
      <section class="card">
        <RolloutBar status={d.status} />
        <RolloutLegend />
      </section>
      <div class="grid-2">
        <section class="card" aria-labelledby="spec-h">
          <h2 id="spec-h">Spec</h2>
          <KeyValues
            rows={[
              ['target selector', <code>{d.targetSelector}</code>],
              ['priority', d.priority],
              ['generation', d.generation],
              ['updated', <span title={formatTimestamp(d.updatedAtMs)}>{formatRelative(d.updatedAtMs, now)}</span>],
              ['labels', <LabelChips labels={d.labels} />],
            ]}
          />
          <h3>Pods</h3>
          <PodSpecs pods={specPods} />
        </section>
        <section class="card" aria-labelledby="annotations-h">
          <h2 id="annotations-h">Annotations</h2>
          {Object.keys(d.annotations).length ? (
            <KeyValues rows={Object.keys(d.annotations).sort().map((k) => [k, d.annotations[k]])} />
          ) : (
            <Empty>No annotations.</Empty>
          )}
        </section>
      </div>
      <section class="card" aria-labelledby="devs-h">
        <h2 id="devs-h">Devices</h2>
        {devices.length === 0 ? (
          <Empty>{d.status.targeted ? 'Per-device status not available.' : 'No device matches the selector.'}</Empty>
        ) : (
          <table class="table responsive">
            <thead>
              <tr>
                <th scope="col">device</th>
                <th scope="col">presence</th>
                <th scope="col">applied</th>
                <th scope="col">pods</th>
              </tr>
            </thead>
            <tbody>
              {devices.map((x) => (
                <tr key={x.deviceId} data-device={x.deviceId}>
                  <th scope="row" data-label="device">
                    <a href={href(['devices', x.deviceId])}>{x.deviceId}</a>
                  </th>
                  <td data-label="presence">
                    <span class={`badge ${x.online ? 'tone-good' : 'tone-bad'}`}>{x.online ? 'online' : 'offline'}</span>
                  </td>
                  <td data-label="applied">
                    {x.applied ? 'yes' : 'no'} <span class="muted small">(v{x.appliedVersion} of v{x.desiredVersion})</span>
                    {x.error ? <div class="form-error small">{x.error}</div> : null}
                  </td>
                  <td data-label="pods">
                    <PodsOnDevice status={x} specPods={specPods} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </>
  );
}

function count(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? '' : 's'}`;
}

// The deployment's pods as specified: restart policy, host network, containers with kind and image.
function PodSpecs({ pods }: { pods: DeploymentPod[] }) {
  if (pods.length === 0) return <p class="muted">No pods.</p>;
  return (
    <ul class="plain">
      {pods.map((p) => (
        <li key={p.name} data-pod-spec={p.name}>
          <strong>{p.name}</strong>{' '}
          <span class="muted small">
            {[p.restartPolicy && `restart ${p.restartPolicy}`, p.hostNetwork && 'host network'].filter(Boolean).join(' · ')}
          </span>
          <ul class="plain pod-containers">
            {p.containers.map((m) => (
              <li key={m.name}>
                {containerOfModule(m.name)} <KindTag kind={m.kind} /> <span class="mono small">{m.image}</span>
              </li>
            ))}
          </ul>
        </li>
      ))}
    </ul>
  );
}

// One device's share of the deployment: each pod's phase and IP with its containers' states,
// the pods not reported yet, and those a higher-priority deployment overrides there.
function PodsOnDevice({ status: x, specPods }: { status: DeviceModules; specPods: DeploymentPod[] }) {
  const groups = groupByPod(x.pods, x.modules);
  const missing = specPods.filter((p) => !x.shadowedPods.includes(p.name) && !groups.some((g) => g.name === p.name));
  return (
    <div class="pod-list">
      {groups.map((g) => (
        <div key={g.name} class="pod-status" data-pod={g.name}>
          <strong>{g.name}</strong> <PodPhaseBadge pod={g.pod} />
          {g.pod?.podIP ? <span class="mono small muted"> {g.pod.podIP}</span> : null}
          {g.pod?.message ? <div class="small muted">{g.pod.message}</div> : null}
          <ul class="plain pod-containers">
            {g.containers.map((m) => (
              <li key={m.name} data-module={m.name}>
                {containerOfModule(m.name)} <KindTag kind={m.kind} />{' '}
                <StateBadge state={m.state} reason={m.reason} failing={moduleFailing(m, x.pods)} />
              </li>
            ))}
          </ul>
        </div>
      ))}
      {missing.map((p) => (
        <div key={p.name} class="muted small">
          {p.name}: not reported yet
        </div>
      ))}
      {x.shadowedPods.map((p) => (
        <div key={p} class="muted small">
          {p}: overridden by a higher-priority deployment
        </div>
      ))}
    </div>
  );
}

function DeleteDeployment({ deployment, state }: { deployment: Deployment; state: State }) {
  const reader = state.session?.role !== 'admin';
  const [open, setOpen] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  return (
    <>
      <button
        class="btn btn-small btn-danger-outline"
        type="button"
        disabled={reader}
        title={reader ? 'Read-only: your token has the reader role' : `Delete ${deployment.id}`}
        onClick={() => {
          setError('');
          setOpen(true);
        }}
      >
        Delete
      </button>
      <ConfirmDialog
        open={open}
        danger
        title={`Delete deployment ${deployment.id}?`}
        confirmLabel="Delete deployment"
        busy={busy}
        error={error}
        onCancel={() => setOpen(false)}
        onConfirm={async () => {
          setBusy(true);
          setError('');
          try {
            await deleteDeployment(deployment.id);
            setOpen(false);
            if (location.hash.startsWith(href(['deployments', deployment.id]))) location.hash = href(['deployments']);
          } catch (err) {
            setError(err instanceof ApiError ? err.describe() : String(err));
          } finally {
            setBusy(false);
          }
        }}
      >
        <p>
          Its pods leave all {deployment.status.targeted} targeted device
          {deployment.status.targeted === 1 ? '' : 's'}: the containers are stopped and removed.
        </p>
        {deployment.annotations[POD_ANNOTATIONS.name] ? (
          <p class="muted small">
            It belongs to pod {deployment.annotations[POD_ANNOTATIONS.namespace]}/{deployment.annotations[POD_ANNOTATIONS.name]}
            ; the edge provider may recreate it while the pod exists.
          </p>
        ) : null}
      </ConfirmDialog>
    </>
  );
}
