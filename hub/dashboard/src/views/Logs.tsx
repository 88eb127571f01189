// Live log viewer for one module: a streaming fetch of
// GET /api/v1/devices/{id}/modules/{module}/logs?follow=true (text/plain, flushed per chunk),
// appended to the page as it arrives. Stop aborts the request; Resume follows again from the
// moment it stopped (sinceSeconds). Auto-scroll sticks to the bottom until the user scrolls up.
import { useEffect, useRef, useState } from 'preact/hooks';

import { API, toApiError } from '../api';
import { HealthBadge } from '../components/bits';
import { href } from '../hooks';
import { deviceHealth } from '../model';
import { type State, token } from '../store';

type Phase = 'connecting' | 'streaming' | 'stopped' | 'ended' | 'error';

const MAX_CHUNKS = 4000; // DOM text nodes kept; older output is dropped from the view

export function Logs({ deviceId, module, state }: { deviceId: string; module: string; state: State }) {
  const device = state.devices.get(deviceId);
  const pre = useRef<HTMLPreElement>(null);
  const controller = useRef<AbortController | null>(null);
  const stoppedAt = useRef<number | null>(null);
  const [phase, setPhase] = useState<Phase>('connecting');
  const [message, setMessage] = useState('');
  const [autoScroll, setAutoScroll] = useState(true);
  const autoScrollRef = useRef(true);
  autoScrollRef.current = autoScroll;
  const [timestamps, setTimestamps] = useState(false);
  const [tailLines, setTailLines] = useState(200);
  const [bytes, setBytes] = useState(0);

  const append = (text: string, cls?: string) => {
    const el = pre.current;
    if (!el || text === '') return;
    let node: Node = document.createTextNode(text);
    if (cls) {
      const span = document.createElement('span');
      span.className = cls;
      span.textContent = text;
      node = span;
    }
    el.appendChild(node);
    while (el.childNodes.length > MAX_CHUNKS) el.removeChild(el.firstChild as Node);
    if (autoScrollRef.current) el.scrollTop = el.scrollHeight;
  };

  const start = async (resume: boolean) => {
    controller.current?.abort();
    const c = new AbortController();
    controller.current = c;
    setPhase('connecting');
    setMessage('');
    const params = new URLSearchParams({ follow: 'true', timestamps: String(timestamps) });
    if (resume && stoppedAt.current !== null) {
      // Log timestamps have whole-second precision: one extra second rather than a lost line.
      params.set('sinceSeconds', String(Math.ceil((Date.now() - stoppedAt.current) / 1000) + 1));
      append(`── resumed at ${new Date().toLocaleTimeString()} ──\n`, 'log-marker');
    } else {
      params.set('tailLines', String(tailLines));
    }
    const url = `${API}/devices/${encodeURIComponent(deviceId)}/modules/${encodeURIComponent(module)}/logs?${params}`;
    try {
      const response = await fetch(url, {
        headers: { Authorization: `Bearer ${token()}` },
        cache: 'no-store',
        signal: c.signal,
      });
      if (!response.ok || !response.body) {
        const err = await toApiError(response);
        setPhase('error');
        setMessage(err.describe());
        return;
      }
      setPhase('streaming');
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let total = 0;
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        total += value.byteLength;
        setBytes((b) => b + value.byteLength);
        append(decoder.decode(value, { stream: true }));
      }
      append(decoder.decode());
      stoppedAt.current = Date.now();
      setPhase('ended');
      setMessage(
        total === 0
          ? 'The stream ended without output.'
          : 'The stream ended (the container stopped, the follow limit was reached or the hub closed it).',
      );
    } catch (err) {
      if (c.signal.aborted) return;
      stoppedAt.current = Date.now();
      setPhase('error');
      setMessage(`Log stream interrupted: ${(err as Error).message}`);
    }
  };

  const stop = () => {
    stoppedAt.current = Date.now();
    controller.current?.abort();
    controller.current = null;
    setPhase('stopped');
    setMessage('');
  };

  useEffect(() => {
    if (pre.current) pre.current.textContent = '';
    stoppedAt.current = null;
    setBytes(0);
    void start(false);
    return () => controller.current?.abort();
  }, [deviceId, module, timestamps, tailLines]);

  // The hub came back (the fleet was reloaded after a reconnection): pick up an interrupted
  // stream where it broke.
  const generation = useRef(state.generation);
  useEffect(() => {
    if (generation.current === state.generation) return;
    generation.current = state.generation;
    if (phase === 'error' && stoppedAt.current !== null) void start(true);
  }, [state.generation]);

  const running = phase === 'connecting' || phase === 'streaming';
  return (
    <div class="logs-view">
      <p class="crumbs">
        <a href={href(['devices', deviceId])}>← {deviceId}</a>
      </p>
      <div class="title-row">
        <h1 class="page-title">
          Logs <span class="mono">{module}</span>
        </h1>
        {device ? <HealthBadge health={deviceHealth(device)} /> : null}
      </div>
      <div class="toolbar" role="toolbar" aria-label="log controls">
        {running ? (
          <button class="btn" type="button" onClick={stop}>
            ■ Stop
          </button>
        ) : (
          <button class="btn btn-primary" type="button" onClick={() => void start(stoppedAt.current !== null)}>
            ▶ Resume
          </button>
        )}
        <label class="check">
          <input type="checkbox" checked={autoScroll} onChange={(e) => setAutoScroll((e.target as HTMLInputElement).checked)} />
          Auto-scroll
        </label>
        <label class="check">
          <input type="checkbox" checked={timestamps} onChange={(e) => setTimestamps((e.target as HTMLInputElement).checked)} />
          Timestamps
        </label>
        <label class="inline">
          Tail
          <select value={String(tailLines)} onChange={(e) => setTailLines(Number((e.target as HTMLSelectElement).value))}>
            {[50, 200, 1000, 5000].map((n) => (
              <option key={n} value={String(n)}>
                {n} lines
              </option>
            ))}
          </select>
        </label>
        <button
          class="btn"
          type="button"
          onClick={() => {
            if (pre.current) pre.current.textContent = '';
          }}
        >
          Clear
        </button>
        <span class={`log-phase phase-${phase}`} role="status" aria-live="polite" data-phase={phase}>
          {phase === 'streaming' ? '● streaming' : phase === 'connecting' ? 'connecting…' : phase}
          <span class="muted small"> · {bytes.toLocaleString()} bytes</span>
        </span>
      </div>
      {message ? (
        <p class={phase === 'error' ? 'form-error' : 'muted'} role={phase === 'error' ? 'alert' : undefined}>
          {message}
        </p>
      ) : null}
      <pre
        ref={pre}
        class="log"
        tabIndex={0}
        aria-label={`log output of ${module}`}
        aria-live="off"
        onScroll={(e) => {
          const el = e.currentTarget as HTMLPreElement;
          const atBottom = el.scrollHeight - el.scrollTop - el.clientHeight < 24;
          if (atBottom !== autoScrollRef.current) setAutoScroll(atBottom);
        }}
      />
    </div>
  );
}
