// Device detail: health, labels (relabel action for admins, confirmed first), facts, certificate,
// versions, every pod with its containers (DevicePods), and CPU / memory / temperature over the
// last hour: the history from GET /api/v1/devices/{id} (metricsHistory) extended by the live
// `device` events.
import { useEffect, useState } from 'preact/hooks';

import { ApiError, request } from '../api';
import { Chart } from '../components/Chart';
import { ConfirmDialog } from '../components/Dialog';
import { Empty, ErrorText, HealthBadge, KeyValues, LabelChips } from '../components/bits';
import {
  diffLabels,
  formatBytes,
  formatCelsius,
  formatLabels,
  formatPercent,
  formatRelative,
  formatTimestamp,
  parseLabelsText,
} from '../format';
import { href, useNow } from '../hooks';
import { type Device, type Metrics, deviceArch, deviceHealth, readDevice } from '../model';
import { type State, relabelDevice, token } from '../store';
import { DevicePods } from './DevicePods';

const HOUR_MS = 3600_000;

export function DeviceDetail({ id, state }: { id: string; state: State }) {
  const live = state.devices.get(id) ?? null;
  const [fetched, setFetched] = useState<Device | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [history, setHistory] = useState<Metrics[]>([]);
  const now = useNow(5000);

  useEffect(() => {
    const controller = new AbortController();
    request(`/devices/${encodeURIComponent(id)}`, { token: token(), signal: controller.signal })
      .then((doc) => {
        const d = readDevice(doc);
        setFetched(d);
        setHistory(d.metricsHistory ?? []);
        setError(null);
      })
      .catch((err) => {
        if (controller.signal.aborted) return;
        setError(err instanceof ApiError ? err : new ApiError(0, 'Unavailable', String(err)));
      });
    return () => controller.abort();
  }, [id, state.generation]);

  // Live metrics extend the history (one point per new `metrics.at`), trimmed to one hour.
  const liveMetrics = live?.metrics ?? null;
  useEffect(() => {
    if (!liveMetrics) return;
    setHistory((h) => {
      const last = h.length ? h[h.length - 1].atMs : 0;
      if (liveMetrics.atMs <= last) return h;
      const cutoff = liveMetrics.atMs - HOUR_MS;
      return [...h.filter((m) => m.atMs >= cutoff), liveMetrics];
    });
  }, [liveMetrics?.atMs]);

  const device = live ?? fetched;
  if (!device) {
    return (
      <>
        <Back />
        <h1 class="page-title">{id}</h1>
        {error ? <ErrorText>{error.describe()}</ErrorText> : <p class="loading">Loading…</p>}
      </>
    );
  }
  const health = deviceHealth(device);
  const facts = device.reported?.facts ?? null;
  const times = history.map((m) => m.atMs);
  const memTotal = device.metrics?.memoryTotalBytes ?? facts?.memoryBytes ?? undefined;

  return (
    <>
      <Back />
      <div class="title-row">
        <h1 class="page-title">{device.id}</h1>
        <HealthBadge health={health} />
        <span class="muted" title={formatTimestamp(device.lastSeenMs)}>
          last seen {formatRelative(device.lastSeenMs, now)}
        </span>
      </div>
      {device.reported?.desiredError ? (
        <div class="banner banner-bad" role="alert">
          Refused desired version {device.reported.desiredError.version}: {device.reported.desiredError.reason} —{' '}
          {device.reported.desiredError.message}
        </div>
      ) : null}

      <section class="charts" aria-label="metrics over the last hour">
        <Chart
          title="CPU"
          times={times}
          values={history.map((m) => m.cpuPercent)}
          format={(v) => formatPercent(v)}
          colorVar="--chart-cpu"
          yMin={0}
          yMax={100}
          emptyText="No CPU metrics in the last hour."
        />
        <Chart
          title={memTotal ? `Memory (of ${formatBytes(memTotal)})` : 'Memory'}
          times={times}
          values={history.map((m) => m.memoryUsedBytes)}
          format={(v) => formatBytes(v)}
          colorVar="--chart-mem"
          yMin={0}
          yMax={memTotal}
          emptyText="No memory metrics in the last hour."
        />
        <Chart
          title="Temperature"
          times={times}
          values={history.map((m) => m.temperatureCelsius)}
          format={(v) => formatCelsius(v)}
          colorVar="--chart-temp"
          emptyText="No temperature sensor reported."
        />
      </section>

      <DevicePods device={device} now={now} />

      <div class="grid-2">
        <section class="card" aria-labelledby="labels-h">
          <div class="card-head">
            <h2 id="labels-h">Labels</h2>
            <Relabel device={device} state={state} />
          </div>
          <LabelChips labels={device.labels} implicit={device.implicitLabels} />
          <h3>Deployments</h3>
          {device.deploymentIds.length ? (
            <ul class="chips">
              {device.deploymentIds.map((d) => (
                <li key={d} class="chip">
                  <a href={href(['deployments', d])}>{d}</a>
                </li>
              ))}
            </ul>
          ) : (
            <p class="muted">No deployment targets this device.</p>
          )}
        </section>
        <section class="card" aria-labelledby="facts-h">
          <h2 id="facts-h">Facts</h2>
          {facts ? (
            <KeyValues
              rows={[
                ['arch', deviceArch(device)],
                ['hostname', facts.hostname],
                ['OS', [facts.os, facts.osRelease].filter(Boolean).join(' ')],
                ['kernel', facts.kernel],
                ['CPUs', facts.cpus],
                ['memory', formatBytes(facts.memoryBytes)],
                ['disk', formatBytes(facts.diskBytes)],
                ['engine', [facts.engine, facts.engineApiVersion].filter(Boolean).join(' · API ')],
                ['agent', facts.agentVersion],
                ['load (1 min)', device.metrics?.load1?.toFixed(2)],
                [
                  'disk used',
                  device.metrics?.diskUsedBytes != null
                    ? `${formatBytes(device.metrics.diskUsedBytes)} of ${formatBytes(device.metrics.diskTotalBytes)}`
                    : '',
                ],
              ]}
            />
          ) : (
            <Empty>No facts reported yet.</Empty>
          )}
          <h3>Enrollment</h3>
          <KeyValues
            rows={[
              ['enrolled', device.enrolled ? 'yes' : 'no'],
              ['certificate', device.certificateSerial],
              ['expires', device.certificateNotAfterMs ? formatTimestamp(device.certificateNotAfterMs) : ''],
              ['desired / applied', `v${device.desiredVersion} / v${device.appliedVersion}`],
              ['created', formatTimestamp(device.createdAtMs)],
            ]}
          />
        </section>
      </div>
    </>
  );
}

function Back() {
  return (
    <p class="crumbs">
      <a href={href(['devices'])}>← Devices</a>
    </p>
  );
}

function Relabel({ device, state }: { device: Device; state: State }) {
  const reader = state.session?.role !== 'admin';
  const [step, setStep] = useState<'closed' | 'edit' | 'confirm'>('closed');
  const [text, setText] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const parsed = parseLabelsText(text);
  const diff = parsed.ok ? diffLabels(device.labels, parsed.labels) : null;
  const unchanged = diff !== null && !diff.added.length && !diff.removed.length && !diff.changed.length;

  const close = () => {
    setStep('closed');
    setError('');
  };

  return (
    <>
      <button
        class="btn btn-small"
        type="button"
        disabled={reader}
        title={reader ? 'Read-only: your token has the reader role' : 'Replace the operator labels'}
        aria-describedby={reader ? 'reader-note' : undefined}
        onClick={() => {
          setText(formatLabels(device.labels).join('\n'));
          setError('');
          setStep('edit');
        }}
      >
        Edit labels
      </button>
      {reader ? (
        <span id="reader-note" class="sr-only">
          Read-only: your token has the reader role.
        </span>
      ) : null}
      <ConfirmDialog
        open={step === 'edit'}
        title={`Labels of ${device.id}`}
        confirmLabel="Review change"
        error={error}
        onCancel={close}
        onConfirm={() => {
          if (!parsed.ok) setError(parsed.error);
          else if (unchanged) setError('Nothing to change.');
          else {
            setError('');
            setStep('confirm');
          }
        }}
      >
        <label for="labels-text">Operator labels, one key=value per line</label>
        <textarea
          id="labels-text"
          rows={6}
          spellcheck={false}
          value={text}
          onInput={(e) => setText((e.target as HTMLTextAreaElement).value)}
        />
        <p class="muted small">Labels under skiff.io/ are set by the hub and cannot be changed here.</p>
      </ConfirmDialog>
      <ConfirmDialog
        open={step === 'confirm'}
        title={`Replace the labels of ${device.id}?`}
        confirmLabel="Replace labels"
        busy={busy}
        error={error}
        onCancel={() => (busy ? undefined : setStep('edit'))}
        onConfirm={async () => {
          if (!parsed.ok) return;
          setBusy(true);
          setError('');
          try {
            await relabelDevice(device.id, parsed.labels);
            close();
          } catch (err) {
            setError(err instanceof ApiError ? err.describe() : String(err));
          } finally {
            setBusy(false);
          }
        }}
      >
        {diff ? (
          <ul class="diff">
            {diff.added.map(([k, v]) => (
              <li key={k} class="diff-add">
                + {k}={v}
              </li>
            ))}
            {diff.changed.map(([k, a, b]) => (
              <li key={k} class="diff-change">
                ~ {k}: {a} → {b}
              </li>
            ))}
            {diff.removed.map(([k, v]) => (
              <li key={k} class="diff-remove">
                − {k}={v}
              </li>
            ))}
          </ul>
        ) : null}
        <p class="muted small">Deployments are re-targeted by the new labels right away.</p>
      </ConfirmDialog>
    </>
  );
}
