// A time-series chart (uPlot) for one device metric: sized to its container, recoloured when the
// theme changes, fed with (time, value) points. Missing values (null) leave gaps. uPlot is
// loaded on first use (its own chunk), so the overview's first load does not carry it.
import { useEffect, useRef } from 'preact/hooks';
import type uPlot from 'uplot';

let uplotModule: Promise<typeof uPlot> | null = null;
function loadUplot(): Promise<typeof uPlot> {
  uplotModule ??= Promise.all([import('uplot'), import('uplot/dist/uPlot.min.css')]).then(
    ([m]) => m.default,
  );
  return uplotModule;
}

import { cssVar, onThemeChange } from '../theme';

export interface ChartProps {
  title: string;
  // Milliseconds since the epoch, ascending.
  times: number[];
  values: (number | null)[];
  format(value: number): string;
  colorVar: string; // CSS custom property holding the line colour
  yMin?: number;
  yMax?: number;
  emptyText: string;
}

export function Chart(props: ChartProps) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const latest = useRef(props);
  latest.current = props;

  const hasData = props.values.some((v) => v !== null);

  useEffect(() => {
    const el = box.current;
    if (!el || !hasData) return undefined;
    let UPlot: typeof uPlot | null = null;
    let disposed = false;
    const build = () => {
      if (!UPlot || disposed) return;
      plot.current?.destroy();
      const p = latest.current;
      const color = cssVar(p.colorVar) || '#3b82f6';
      const axis = {
        stroke: cssVar('--muted'),
        grid: { stroke: cssVar('--grid'), width: 1 },
        ticks: { stroke: cssVar('--grid'), width: 1 },
        font: '11px system-ui, sans-serif',
      };
      const opts: uPlot.Options = {
        width: Math.max(200, el.clientWidth),
        height: 160,
        legend: { show: false },
        cursor: { drag: { x: false, y: false } },
        scales: {
          x: { time: true },
          y: {
            range: (_u, min, max) => [
              p.yMin ?? Math.min(min, 0),
              p.yMax !== undefined ? Math.max(p.yMax, max) : max === min ? max + 1 : max * 1.1,
            ],
          },
        },
        axes: [
          { ...axis },
          { ...axis, size: 64, values: (_u, splits) => splits.map((v) => latest.current.format(v)) },
        ],
        series: [
          {},
          {
            label: p.title,
            stroke: color,
            width: 2,
            fill: color + '22',
            points: { show: false },
            spanGaps: false,
          },
        ],
      };
      plot.current = new UPlot(opts, toData(p), el);
    };
    loadUplot()
      .then((m) => {
        UPlot = m;
        build();
      })
      .catch((err) => console.warn(`charts unavailable: ${(err as Error).message}`));
    const off = onThemeChange(build);
    const ro = new ResizeObserver(() => {
      if (plot.current && el.clientWidth > 0) {
        plot.current.setSize({ width: Math.max(200, el.clientWidth), height: 160 });
      }
    });
    ro.observe(el);
    return () => {
      disposed = true;
      off();
      ro.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
  }, [hasData]);

  useEffect(() => {
    plot.current?.setData(toData(props));
  }, [props.times, props.values]);

  const last = [...props.values].reverse().find((v) => v !== null);
  return (
    <figure class="chart">
      <figcaption>
        <span>{props.title}</span>
        <strong>{last !== undefined && last !== null ? props.format(last) : '—'}</strong>
      </figcaption>
      {hasData ? (
        <div ref={box} class="chart-box" role="img" aria-label={`${props.title} over the last hour`} />
      ) : (
        <p class="empty chart-empty">{props.emptyText}</p>
      )}
    </figure>
  );
}

function toData(p: ChartProps): uPlot.AlignedData {
  return [p.times.map((t) => t / 1000), p.values];
}
