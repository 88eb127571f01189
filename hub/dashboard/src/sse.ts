// Server-Sent Events: an incremental text/event-stream parser following the WHATWG HTML
// "event stream interpretation" rules (CR, LF and CRLF line ends split anywhere across chunks,
// multi-line data joined with "\n", comments, named events, id, retry, a leading BOM, the
// trailing unterminated event discarded), and the fetch-based client that keeps a stream open
// with the Authorization header (EventSource cannot send headers), reconnecting with backoff.

import { toApiError } from './api';

export interface SseEvent {
  type: string; // "message" when the stream named none
  data: string;
  lastEventId: string;
}

export interface SseHandlers {
  onEvent(event: SseEvent): void;
  onComment?(text: string): void;
  onRetry?(ms: number): void;
}

export class SseParser {
  private buffer = '';
  private sawCr = false; // the previous chunk ended with CR: a leading LF belongs to it
  private started = false;
  private data = '';
  private hasData = false;
  private eventType = '';
  private lastEventId = '';

  constructor(private readonly handlers: SseHandlers) {}

  // Feeds decoded text (any split); dispatches every event completed by it.
  push(chunk: string): void {
    let text = chunk;
    if (!this.started && text.length > 0) {
      this.started = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    if (this.sawCr && text.startsWith('\n')) text = text.slice(1);
    this.sawCr = false;
    this.buffer += text;
    let start = 0;
    for (let i = 0; i < this.buffer.length; i++) {
      const c = this.buffer.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      this.line(this.buffer.slice(start, i));
      if (c === 13) {
        if (i + 1 < this.buffer.length) {
          if (this.buffer.charCodeAt(i + 1) === 10) i++;
        } else {
          this.sawCr = true;
        }
      }
      start = i + 1;
    }
    this.buffer = this.buffer.slice(start);
  }

  // The stream ended: an event without its terminating blank line is discarded (per spec).
  end(): void {
    this.buffer = '';
    this.data = '';
    this.hasData = false;
    this.eventType = '';
    this.sawCr = false;
  }

  private line(line: string): void {
    if (line === '') {
      this.dispatch();
      return;
    }
    if (line.startsWith(':')) {
      this.handlers.onComment?.(line.slice(1).replace(/^ /, ''));
      return;
    }
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'event':
        this.eventType = value;
        break;
      case 'data':
        this.data += value + '\n';
        this.hasData = true;
        break;
      case 'id':
        if (!value.includes('\0')) this.lastEventId = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) this.handlers.onRetry?.(Number(value));
        break;
      default:
        break; // unknown fields are ignored
    }
  }

  private dispatch(): void {
    if (!this.hasData) {
      this.eventType = '';
      return;
    }
    const data = this.data.endsWith('\n') ? this.data.slice(0, -1) : this.data;
    const event: SseEvent = {
      type: this.eventType === '' ? 'message' : this.eventType,
      data,
      lastEventId: this.lastEventId,
    };
    this.data = '';
    this.hasData = false;
    this.eventType = '';
    this.handlers.onEvent(event);
  }
}

// Reconnect delay: 0.5 s doubling to 30 s with ±25 % jitter (the protocol's client backoff),
// attempt counted from 0. `random` is injectable for tests.
export function backoffDelay(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(30_000, 500 * 2 ** Math.min(attempt, 16));
  const jitter = 1 + (random() * 2 - 1) * 0.25;
  return Math.round(base * jitter);
}

export type StreamState = 'connecting' | 'live' | 'reconnecting' | 'stopped';

export interface EventStreamOptions {
  url: string;
  token: () => string;
  onEvent(event: SseEvent): void;
  // Every successful (re)connection, before any event of it is delivered: reload state here.
  onOpen(): void;
  onState(state: StreamState, detail: string, retryAtMs: number | null): void;
  // 401 on connect: the token is no longer valid.
  onUnauthorized(message: string): void;
  // No byte (event or keep-alive comment) for this long: the connection is presumed dead.
  idleTimeoutMs?: number;
}

// Keeps one fetch()-based event stream open until stop(). Any failure (network error, non-200,
// the server closing the stream, an idle connection) moves to "reconnecting" and retries with
// backoffDelay(); a success resets the backoff.
export class EventStream {
  private controller: AbortController | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private attempt = 0;
  private stopped = false;
  private serverRetryMs: number | null = null;

  constructor(private readonly options: EventStreamOptions) {}

  start(): void {
    this.stopped = false;
    this.options.onState('connecting', '', null);
    void this.connect();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.controller?.abort();
    this.controller = null;
    this.options.onState('stopped', '', null);
  }

  // Skips the remaining backoff (the "retry now" button, the browser coming back online).
  retryNow(): void {
    if (this.stopped || this.timer === null) return;
    clearTimeout(this.timer);
    this.timer = null;
    void this.connect();
  }

  private async connect(): Promise<void> {
    const controller = new AbortController();
    this.controller = controller;
    const idleMs = this.options.idleTimeoutMs ?? 45_000;
    let idleTimer: ReturnType<typeof setTimeout> | null = null;
    let idled = false;
    const armIdle = () => {
      if (idleTimer !== null) clearTimeout(idleTimer);
      idleTimer = setTimeout(() => {
        idled = true;
        controller.abort();
      }, idleMs);
    };
    let failure = '';
    try {
      armIdle();
      const response = await fetch(this.options.url, {
        headers: { Authorization: `Bearer ${this.options.token()}`, Accept: 'text/event-stream' },
        cache: 'no-store',
        signal: controller.signal,
      });
      if (response.status === 401) {
        const message = (await toApiError(response)).message;
        if (idleTimer !== null) clearTimeout(idleTimer);
        this.options.onUnauthorized(message);
        return;
      }
      if (!response.ok || response.body === null) {
        failure = `stream refused: ${(await toApiError(response)).describe()}`;
      } else {
        this.attempt = 0;
        this.options.onState('live', '', null);
        this.options.onOpen();
        const parser = new SseParser({
          onEvent: (event) => this.options.onEvent(event),
          onRetry: (ms) => (this.serverRetryMs = ms),
        });
        const reader = response.body.getReader();
        const decoder = new TextDecoder();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          armIdle();
          parser.push(decoder.decode(value, { stream: true }));
        }
        parser.end();
        failure = 'the hub closed the event stream';
      }
    } catch (err) {
      if (this.stopped) return;
      failure = idled
        ? `no data from the hub for ${Math.round(idleMs / 1000)} s`
        : `hub unreachable (${err instanceof Error ? err.message : String(err)})`;
    } finally {
      if (idleTimer !== null) clearTimeout(idleTimer);
    }
    if (this.stopped) return;
    const delay = Math.max(backoffDelay(this.attempt++), this.serverRetryMs ?? 0);
    this.options.onState('reconnecting', failure, Date.now() + delay);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.connect();
    }, delay);
  }
}
