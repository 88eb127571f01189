// Formatting and parsing helpers shared by the views: sizes, percentages, temperatures, times
// (int64 fields arrive as JSON numbers, protocol times as RFC 3339), label maps.
// Pure functions, no DOM: unit-tested in format.test.ts.

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

// 1536 → "1.5 KiB"; binary units, three significant digits at most.
export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes) || bytes < 0) return '—';
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < BYTE_UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  if (unit === 0) return `${Math.round(value)} B`;
  const digits = value >= 100 ? 0 : value >= 10 ? 1 : 2;
  return `${value.toFixed(digits)} ${BYTE_UNITS[unit]}`;
}

export function formatPercent(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—';
  return `${value >= 10 ? value.toFixed(0) : value.toFixed(1)} %`;
}

export function formatCelsius(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—';
  return `${value.toFixed(1)} °C`;
}

// The hub writes int64 values as JSON numbers (docs/hub-api.md); protobuf's canonical mapping
// would write a decimal string. Accept both (and absence) and return 0 for anything else.
export function parseInt64(value: unknown): number {
  if (typeof value === 'number') return Number.isFinite(value) ? Math.trunc(value) : 0;
  if (typeof value === 'string' && /^-?\d+$/.test(value)) return Number(value);
  return 0;
}

// Milliseconds since the epoch from an RFC 3339 string, a unix-ms number or a unix-ms decimal
// string; null when absent or unparseable.
export function parseTime(value: unknown): number | null {
  if (typeof value === 'number') return Number.isFinite(value) && value > 0 ? value : null;
  if (typeof value !== 'string' || value === '') return null;
  if (/^\d+$/.test(value)) {
    const ms = Number(value);
    return ms > 0 ? ms : null;
  }
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : ms;
}

// "just now", "42 s ago", "5 min ago", "3 h ago", "2 d ago"; future times (clock skew) read
// as "just now".
export function formatRelative(atMs: number | null | undefined, nowMs: number): string {
  if (atMs === null || atMs === undefined || atMs <= 0) return 'never';
  const seconds = Math.floor((nowMs - atMs) / 1000);
  if (seconds < 5) return 'just now';
  if (seconds < 60) return `${seconds} s ago`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h ago`;
  return `${Math.floor(hours / 24)} d ago`;
}

// Local wall-clock time with seconds, for tooltips and the event list.
export function formatTimestamp(atMs: number | null | undefined): string {
  if (atMs === null || atMs === undefined || atMs <= 0) return '—';
  const d = new Date(atMs);
  const pad = (n: number) => String(n).padStart(2, '0');
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
  );
}

// Label map → the "k=v" list operators type in selectors and relabel forms, sorted by key.
export function formatLabels(labels: Record<string, string>): string[] {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`);
}

export type LabelsParse = { ok: true; labels: Record<string, string> } | { ok: false; error: string };

// Parses the relabel form: one `key=value` per line (or comma separated), blank lines ignored.
// Only the shape is checked here (the hub validates key and value syntax and answers 400 with
// the field); duplicate keys and missing '=' are reported with their line number.
export function parseLabelsText(text: string): LabelsParse {
  const labels: Record<string, string> = {};
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    for (const part of lines[i].split(',')) {
      const entry = part.trim();
      if (entry === '') continue;
      const eq = entry.indexOf('=');
      if (eq <= 0) return { ok: false, error: `line ${i + 1}: expected key=value, got "${entry}"` };
      const key = entry.slice(0, eq).trim();
      const value = entry.slice(eq + 1).trim();
      if (key === '') return { ok: false, error: `line ${i + 1}: empty key` };
      if (Object.prototype.hasOwnProperty.call(labels, key)) {
        return { ok: false, error: `line ${i + 1}: duplicate key "${key}"` };
      }
      labels[key] = value;
    }
  }
  return { ok: true, labels };
}

export interface LabelDiff {
  added: [string, string][];
  removed: [string, string][];
  changed: [string, string, string][];
}

export function diffLabels(before: Record<string, string>, after: Record<string, string>): LabelDiff {
  const diff: LabelDiff = { added: [], removed: [], changed: [] };
  for (const key of Object.keys(after).sort()) {
    if (!(key in before)) diff.added.push([key, after[key]]);
    else if (before[key] !== after[key]) diff.changed.push([key, before[key], after[key]]);
  }
  for (const key of Object.keys(before).sort()) {
    if (!(key in after)) diff.removed.push([key, before[key]]);
  }
  return diff;
}

export function shortId(id: string, length = 8): string {
  return id.length > length ? id.slice(0, length) : id;
}
