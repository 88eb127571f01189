// Device list with a label-selector search box. Selectors are evaluated by the hub
// (GET /api/v1/devices?selector=…; a bad one is answered 400 and its message shown inline);
// rows render the live device map, so presence and metrics stay current while filtered.
import { Component } from 'preact';
import { useEffect, useState } from 'preact/hooks';

import { ApiError, items, request } from '../api';
import { Empty, ErrorText, HealthBadge, LabelChips } from '../components/bits';
import { formatBytes, formatCelsius, formatPercent, formatRelative, formatTimestamp } from '../format';
import { href, useNow } from '../hooks';
import { type Device, deviceArch, deviceHealth, moduleFailing, podWorks, readDevice } from '../model';
import { type State, token } from '../store';

export function Devices({ state, selector }: { state: State; selector: string }) {
  const [text, setText] = useState(selector);
  const [result, setResult] = useState<{ ids: string[] } | null>(null);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const size = state.devices.size;

  useEffect(() => setText(selector), [selector]);

  useEffect(() => {
    if (selector === '') {
      setResult(null);
      setError('');
      return undefined;
    }
    const controller = new AbortController();
    setBusy(true);
    request(`/devices?selector=${encodeURIComponent(selector)}`, { token: token(), signal: controller.signal })
      .then((doc) => {
        setResult({ ids: items(doc).map(readDevice).map((d) => d.id) });
        setError('');
      })
      .catch((err) => {
        if (controller.signal.aborted) return;
        setResult(null);
        setError(err instanceof ApiError ? err.describe() : String(err));
      })
      .finally(() => {
        if (!controller.signal.aborted) setBusy(false);
      });
    return () => controller.abort();
  }, [selector, state.generation, size]);

  const all = [...state.devices.values()];
  const shown = (result ? result.ids.map((id) => state.devices.get(id)).filter((d): d is Device => !!d) : error ? [] : all).sort(
    (a, b) => a.id.localeCompare(b.id),
  );

  return (
    <>
      <h1 class="page-title">Devices</h1>
      <form
        class="search"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          const t = text.trim();
          location.hash = t ? href(['devices'], { selector: t }) : href(['devices']);
        }}
      >
        <label for="selector">Label selector</label>
        <div class="search-row">
          <input
            id="selector"
            type="search"
            value={text}
            placeholder="site=berlin,skiff.io/arch in (arm64)"
            spellcheck={false}
            autocomplete="off"
            aria-invalid={error ? 'true' : 'false'}
            aria-describedby="selector-help selector-error"
            onInput={(e) => setText((e.target as HTMLInputElement).value)}
          />
          <button class="btn btn-primary" type="submit" disabled={busy}>
            Filter
          </button>
          {selector ? (
            <a class="btn" href={href(['devices'])}>
              Clear
            </a>
          ) : null}
        </div>
        <p id="selector-help" class="muted small">
          Kubernetes selector syntax: <code>key=value</code>, <code>key!=value</code>, <code>key in (a,b)</code>,{' '}
          <code>key</code>, <code>!key</code>; the hub evaluates it.
        </p>
        <div id="selector-error" aria-live="polite">
          {error ? <ErrorText>{error}</ErrorText> : null}
        </div>
      </form>
      <p class="muted small" aria-live="polite" data-testid="device-count">
        {shown.length} of {all.length} devices
      </p>
      {shown.length === 0 ? <Empty>{error ? 'No results.' : 'No device matches.'}</Empty> : <DeviceTable devices={shown} />}
    </>
  );
}

const PAGE_SIZE = 100;

// A page of PAGE_SIZE rows at a time: a fleet of thousands stays cheap to render while it reports.
function DeviceTable({ devices }: { devices: Device[] }) {
  const now = useNow(5000);
  const [page, setPage] = useState(0);
  const pages = Math.max(1, Math.ceil(devices.length / PAGE_SIZE));
  const current = Math.min(page, pages - 1);
  const rows = devices.slice(current * PAGE_SIZE, (current + 1) * PAGE_SIZE);
  return (
    <>
      <table class="table responsive devices-table">
        <thead>
          <tr>
            <th scope="col">device</th>
            <th scope="col">health</th>
            <th scope="col">labels</th>
            <th scope="col">arch</th>
            <th scope="col">pods</th>
            <th scope="col" class="num">CPU</th>
            <th scope="col" class="num">memory</th>
            <th scope="col" class="num">temp.</th>
            <th scope="col">last seen</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((d) => (
            <DeviceRow key={d.id} device={d} now={now} />
          ))}
        </tbody>
      </table>
      {pages > 1 ? (
        <nav class="pager" aria-label="device list pages">
          <button class="btn btn-small" type="button" disabled={current === 0} onClick={() => setPage(current - 1)}>
            ← Previous
          </button>
          <span class="muted small" data-testid="device-page">
            {current * PAGE_SIZE + 1}–{current * PAGE_SIZE + rows.length} of {devices.length}
          </span>
          <button class="btn btn-small" type="button" disabled={current >= pages - 1} onClick={() => setPage(current + 1)}>
            Next →
          </button>
        </nav>
      ) : null}
    </>
  );
}

// Re-rendered only when its device document (replaced on every change) or the clock changes.
class DeviceRow extends Component<{ device: Device; now: number }> {
  shouldComponentUpdate(next: { device: Device; now: number }): boolean {
    return next.device !== this.props.device || next.now !== this.props.now;
  }

  render() {
    const { device: d, now } = this.props;
    const health = deviceHealth(d);
    const load = workload(d);
    return (
      <tr data-device={d.id} data-health={health}>
        <th scope="row" data-label="device">
          <a href={href(['devices', d.id])}>{d.id}</a>
        </th>
        <td data-label="health">
          <HealthBadge health={health} />
        </td>
        <td data-label="labels">
          <LabelChips labels={d.labels} />
        </td>
        <td data-label="arch">{deviceArch(d) || <span class="muted">—</span>}</td>
        <td data-label="pods">
          {load || <span class="muted">none</span>}
          {load && !d.online ? <span class="muted small"> (last report)</span> : null}
        </td>
        <td class="num" data-label="CPU">
          {formatPercent(d.metrics?.cpuPercent)}
        </td>
        <td class="num" data-label="memory">
          {formatBytes(d.metrics?.memoryUsedBytes)}
        </td>
        <td class="num" data-label="temp.">
          {formatCelsius(d.metrics?.temperatureCelsius)}
        </td>
        <td data-label="last seen" title={formatTimestamp(d.lastSeenMs)}>
          {formatRelative(d.lastSeenMs, now)}
        </td>
      </tr>
    );
  }
}

// "2/3 pods running" (running and ready, or succeeded: what the hub counts as running), plus the
// pods still terminating; an old agent's report without pods counts its modules. "" when there
// is nothing.
function workload(d: Device): string {
  const r = d.reported;
  if (!r) return '';
  if (r.pods.length) {
    const desired = r.pods.filter((p) => !p.terminating);
    const stopping = r.pods.length - desired.length;
    return `${desired.filter(podWorks).length}/${desired.length} pods running${stopping ? ` · ${stopping} terminating` : ''}`;
  }
  const mods = r.modules;
  const running = mods.filter((m) => m.state === 'running' && !moduleFailing(m, r.pods)).length;
  return mods.length ? `${running}/${mods.length} modules running` : '';
}
