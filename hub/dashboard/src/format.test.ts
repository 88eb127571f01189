import { describe, expect, it } from 'vitest';

import {
  diffLabels,
  formatBytes,
  formatCelsius,
  formatPercent,
  formatRelative,
  parseInt64,
  parseLabelsText,
  parseTime,
} from './format';

describe('formatting', () => {
  it('formats sizes in binary units', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1023)).toBe('1023 B');
    expect(formatBytes(1536)).toBe('1.50 KiB');
    expect(formatBytes(5_242_880)).toBe('5.00 MiB');
    expect(formatBytes(4 * 2 ** 30)).toBe('4.00 GiB');
    expect(formatBytes(150 * 2 ** 20)).toBe('150 MiB');
    expect(formatBytes(null)).toBe('—');
    expect(formatBytes(-1)).toBe('—');
  });

  it('formats percentages and temperatures', () => {
    expect(formatPercent(12.5)).toBe('13 %');
    expect(formatPercent(1.25)).toBe('1.3 %');
    expect(formatPercent(undefined)).toBe('—');
    expect(formatCelsius(48.25)).toBe('48.3 °C');
    expect(formatCelsius(null)).toBe('—');
  });

  it('formats relative times', () => {
    const now = 1_000_000_000;
    expect(formatRelative(now - 2000, now)).toBe('just now');
    expect(formatRelative(now + 5000, now)).toBe('just now');
    expect(formatRelative(now - 42_000, now)).toBe('42 s ago');
    expect(formatRelative(now - 5 * 60_000, now)).toBe('5 min ago');
    expect(formatRelative(now - 3 * 3600_000, now)).toBe('3 h ago');
    expect(formatRelative(now - 3 * 86400_000, now)).toBe('3 d ago');
    expect(formatRelative(0, now)).toBe('never');
  });
});

describe('parsing', () => {
  it('reads protobuf JSON int64 in both forms', () => {
    expect(parseInt64('1764611191000')).toBe(1764611191000);
    expect(parseInt64(42)).toBe(42);
    expect(parseInt64(undefined)).toBe(0);
    expect(parseInt64('12abc')).toBe(0);
    expect(parseInt64('-3')).toBe(-3);
  });

  it('reads RFC 3339 and unix-ms times', () => {
    expect(parseTime('2026-12-01T17:46:29Z')).toBe(Date.UTC(2026, 11, 1, 17, 46, 29));
    expect(parseTime('1764611191000')).toBe(1764611191000);
    expect(parseTime(1764611191000)).toBe(1764611191000);
    expect(parseTime('')).toBeNull();
    expect(parseTime('yesterday')).toBeNull();
    expect(parseTime(undefined)).toBeNull();
  });

  it('parses the relabel form and names the bad line', () => {
    expect(parseLabelsText('site=berlin\n\nrole = gateway, tier=edge\n')).toEqual({
      ok: true,
      labels: { site: 'berlin', role: 'gateway', tier: 'edge' },
    });
    expect(parseLabelsText('')).toEqual({ ok: true, labels: {} });
    expect(parseLabelsText('site=a\nbroken')).toEqual({ ok: false, error: 'line 2: expected key=value, got "broken"' });
    expect(parseLabelsText('a=1\na=2')).toEqual({ ok: false, error: 'line 2: duplicate key "a"' });
    expect(parseLabelsText('=x')).toEqual({ ok: false, error: 'line 1: expected key=value, got "=x"' });
    expect(parseLabelsText('empty=')).toEqual({ ok: true, labels: { empty: '' } });
  });

  it('diffs label maps', () => {
    expect(diffLabels({ a: '1', b: '2', c: '3' }, { a: '1', b: '9', d: '4' })).toEqual({
      added: [['d', '4']],
      removed: [['c', '3']],
      changed: [['b', '2', '9']],
    });
  });
});
