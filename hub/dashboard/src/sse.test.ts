import { describe, expect, it } from 'vitest';

import { type SseEvent, SseParser, backoffDelay } from './sse';

function parseAll(chunks: string[]) {
  const events: SseEvent[] = [];
  const comments: string[] = [];
  const retries: number[] = [];
  const p = new SseParser({
    onEvent: (e) => events.push(e),
    onComment: (c) => comments.push(c),
    onRetry: (ms) => retries.push(ms),
  });
  for (const c of chunks) p.push(c);
  return { events, comments, retries, parser: p };
}

describe('SseParser', () => {
  it('dispatches named events with their data', () => {
    const { events } = parseAll(['event: device\ndata: {"id":"pi-01"}\n\n']);
    expect(events).toEqual([{ type: 'device', data: '{"id":"pi-01"}', lastEventId: '' }]);
  });

  it('defaults the type to "message" and resets it after each event', () => {
    const { events } = parseAll(['event: hub\ndata: 1\n\ndata: 2\n\n']);
    expect(events.map((e) => e.type)).toEqual(['hub', 'message']);
  });

  it('joins multi-line data with newlines and strips one leading space only', () => {
    const { events } = parseAll(['data: {\ndata:  "a": 1\ndata:}\n\n']);
    expect(events[0].data).toBe('{\n "a": 1\n}');
  });

  it('reports comments (keep-alives) without dispatching', () => {
    const { events, comments } = parseAll([': keep-alive\n\n:x\n\n']);
    expect(events).toEqual([]);
    expect(comments).toEqual(['keep-alive', 'x']);
  });

  it('handles events split at any byte boundary', () => {
    const text = 'event: device\r\ndata: {"id":"pi-01"}\r\n\r\nevent: event\rdata: a\rdata: b\r\r';
    for (let cut = 1; cut < text.length; cut++) {
      const { events } = parseAll([text.slice(0, cut), text.slice(cut)]);
      expect(events, `cut at ${cut}`).toEqual([
        { type: 'device', data: '{"id":"pi-01"}', lastEventId: '' },
        { type: 'event', data: 'a\nb', lastEventId: '' },
      ]);
    }
  });

  it('treats CRLF split across chunks as one line end', () => {
    const { events } = parseAll(['data: x\r', '\n', '\r', '\n']);
    expect(events).toEqual([{ type: 'message', data: 'x', lastEventId: '' }]);
  });

  it('strips a leading BOM, ignores unknown fields and lines without a colon value', () => {
    const { events } = parseAll(['\ufeffdata: a\nfoo: bar\ndata\n\n']);
    expect(events[0].data).toBe('a\n');
  });

  it('does not dispatch an event with no data field', () => {
    const { events } = parseAll(['event: device\n\ndata: y\n\n']);
    expect(events).toEqual([{ type: 'message', data: 'y', lastEventId: '' }]);
  });

  it('keeps the last event id and retry values', () => {
    const { events, retries } = parseAll(['id: 7\nretry: 2500\nretry: x\ndata: a\n\ndata: b\n\n']);
    expect(events.map((e) => e.lastEventId)).toEqual(['7', '7']);
    expect(retries).toEqual([2500]);
  });

  it('discards an unterminated event at the end of the stream', () => {
    const events: SseEvent[] = [];
    const p = new SseParser({ onEvent: (e) => events.push(e) });
    p.push('data: complete\n\ndata: partial\n');
    p.end();
    p.push('data: next\n\n');
    expect(events.map((e) => e.data)).toEqual(['complete', 'next']);
  });
});

describe('backoffDelay', () => {
  it('doubles from 0.5 s up to 30 s', () => {
    const mid = () => 0.5; // no jitter
    expect([0, 1, 2, 3, 6, 7, 20].map((a) => backoffDelay(a, mid))).toEqual([
      500, 1000, 2000, 4000, 30000, 30000, 30000,
    ]);
  });
  it('jitters by at most 25 %', () => {
    expect(backoffDelay(0, () => 0)).toBe(375);
    expect(backoffDelay(0, () => 1)).toBe(625);
  });
});
