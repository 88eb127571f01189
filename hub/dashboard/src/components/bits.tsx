// Small presentational pieces shared by the views: health, state and pod phase badges, container
// kind tags, label chips, rollout bar, key/value lists, empty states.
import type { ComponentChildren } from 'preact';

import { formatLabels } from '../format';
import { type ContainerKind, type DeploymentStatus, type Health, type PodStatus, podTone, rolloutSegments } from '../model';

const HEALTH_TEXT: Record<Health, string> = {
  online: 'online',
  degraded: 'degraded',
  offline: 'offline',
};

export function HealthBadge({ health }: { health: Health }) {
  return (
    <span class={`badge health-${health}`} data-health={health}>
      <span class="dot" aria-hidden="true" />
      {HEALTH_TEXT[health]}
    </span>
  );
}

export function StateBadge({ state, reason, failing }: { state: string; reason: string; failing: boolean }) {
  const tone = failing ? 'bad' : state === 'running' ? 'good' : state === 'terminated' ? 'muted' : 'warn';
  return (
    <span class={`badge tone-${tone}`} title={reason || state}>
      {state || 'unknown'}
      {reason ? ` · ${reason}` : ''}
    </span>
  );
}

// A pod's phase on a device and the pod-level reason; "Terminating" while the device stops it.
export function PodPhaseBadge({ pod }: { pod: PodStatus | null }) {
  if (!pod) {
    return (
      <span class="badge tone-muted" title="The device reports no status for this pod">
        no pod status
      </span>
    );
  }
  const text = pod.terminating ? 'Terminating' : pod.phase || 'unknown';
  return (
    <span class={`badge tone-${podTone(pod)}`} data-phase={pod.phase} title={pod.reason || text}>
      {text}
      {pod.reason ? ` · ${pod.reason}` : ''}
    </span>
  );
}

// Whether a container is an init container, a native sidecar or an app container.
export function KindTag({ kind }: { kind: ContainerKind }) {
  return (
    <span class={`kind kind-${kind}`} data-kind={kind}>
      {kind}
    </span>
  );
}

export function LabelChips({ labels, implicit }: { labels: Record<string, string>; implicit?: Record<string, string> }) {
  const own = formatLabels(labels);
  const imp = implicit ? formatLabels(implicit) : [];
  if (own.length === 0 && imp.length === 0) return <span class="muted">no labels</span>;
  return (
    <ul class="chips" aria-label="labels">
      {own.map((l) => (
        <li class="chip" key={l}>
          {l}
        </li>
      ))}
      {imp.map((l) => (
        <li class="chip chip-implicit" key={l} title="set by the hub">
          {l}
        </li>
      ))}
    </ul>
  );
}

const SEGMENTS = [
  ['running', 'running'],
  ['updating', 'applied, starting'],
  ['pending', 'not applied yet'],
  ['failed', 'failed'],
  ['offline', 'offline'],
] as const;

// Rollout progress: one stacked bar over the targeted devices plus the hub's raw counters.
export function RolloutBar({ status, compact }: { status: DeploymentStatus; compact?: boolean }) {
  const seg = rolloutSegments(status);
  const total = Math.max(status.targeted, 1);
  const summary =
    `${status.targeted} targeted, ${status.applied} applied, ${status.running} running, ` +
    `${status.failed} failed, ${status.offline} offline`;
  return (
    <div class="rollout">
      <div class="bar" role="img" aria-label={summary} title={summary}>
        {status.targeted === 0 ? <span class="bar-empty">no device matches</span> : null}
        {SEGMENTS.map(([k]) =>
          seg[k] > 0 ? (
            <span
              key={k}
              class={`seg seg-${k}`}
              style={{ width: `${(seg[k] / total) * 100}%` }}
              data-count={seg[k]}
            />
          ) : null,
        )}
      </div>
      {compact ? null : (
        <dl class="counters">
          {(['targeted', 'applied', 'running', 'failed', 'offline'] as const).map((k) => (
            <div key={k} class={`counter counter-${k}`}>
              <dt>{k}</dt>
              <dd data-counter={k}>{status[k]}</dd>
            </div>
          ))}
        </dl>
      )}
    </div>
  );
}

export function RolloutLegend() {
  return (
    <ul class="legend" aria-label="rollout bar legend">
      {SEGMENTS.map(([k, text]) => (
        <li key={k}>
          <span class={`swatch seg-${k}`} aria-hidden="true" />
          {text}
        </li>
      ))}
    </ul>
  );
}

export function KeyValues({ rows }: { rows: [string, ComponentChildren][] }) {
  return (
    <dl class="kv">
      {rows.map(([k, v]) => (
        <div key={k}>
          <dt>{k}</dt>
          <dd>{v === '' || v === null || v === undefined ? <span class="muted">—</span> : v}</dd>
        </div>
      ))}
    </dl>
  );
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <p class="empty">{children}</p>;
}

export function ErrorText({ children }: { children: ComponentChildren }) {
  return (
    <p class="form-error" role="alert">
      {children}
    </p>
  );
}

// The Skiff mark (a small sailing boat), inline so no extra request or font is needed.
export function Logo({ size = 20 }: { size?: number }) {
  return (
    <svg width={size} height={size} viewBox="0 0 16 16" aria-hidden="true" class="logo">
      <path d="M2 11h12l-2 3H4z" fill="currentColor" />
      <path d="M8 1v9H3z" fill="var(--accent)" />
      <path d="M9 3l4 7H9z" fill="var(--seg-updating)" />
    </svg>
  );
}
