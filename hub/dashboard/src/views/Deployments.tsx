// Deployments: rollout progress per deployment (targeted / applied / running / failed / offline
// as a stacked bar), live from `deployment` events; the detail view adds the per-device status
// from GET /api/v1/deployments/{id}. Admins can delete a deployment after confirming.
import { useEffect, useState } from 'preact/hooks';

import { ApiError, request } from '../api';
import { ConfirmDialog } from '../components/Dialog';
import { Empty, ErrorText, KeyValues, LabelChips, RolloutBar, RolloutLegend, StateBadge } from '../components/bits';
import { formatRelative, formatTimestamp } from '../format';
import { href, useNow } from '../hooks';
import { type Deployment, POD_ANNOTATIONS, moduleFailing, readDeployment } from '../model';
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
                selector <code>{d.targetSelector || '(none)'}</code> · {d.modules.length} module
                {d.modules.length === 1 ? '' : 's'}
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
          <h3>Modules</h3>
          <ul class="plain">
            {d.modules.map((m) => (
              <li key={m.name}>
                <strong>{m.name}</strong> <span class="mono small">{m.image}</span>
              </li>
            ))}
          </ul>
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
                <th scope="col">modules</th>
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
                  <td data-label="modules">
                    {x.modules.map((m) => (
                      <div key={m.name}>
                        {m.name} <StateBadge state={m.state} reason={m.reason} failing={moduleFailing(m)} />
                      </div>
                    ))}
                    {x.shadowedModules.map((m) => (
                      <div key={m} class="muted small">
                        {m}: overridden by a higher-priority deployment
                      </div>
                    ))}
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
          Its modules leave all {deployment.status.targeted} targeted device
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
