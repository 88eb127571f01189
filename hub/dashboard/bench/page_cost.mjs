// What keeping a dashboard page open costs the browser while the fleet reports: driven by
// bench/dashboard_bench.cc (docs/benchmarks.md "Dashboard"). Opens each page of PAGES in
// Debian Chromium with an admin session, waits until it is live, then measures for SECONDS:
// main-thread busy time (CDP Performance.getMetrics TaskDuration, and ScriptDuration), long
// tasks (> 50 ms, PerformanceObserver), frames later than 50 ms (requestAnimationFrame gaps) and
// the bytes the event stream delivered. Prints one JSON line per page.
//
//   SKIFF_DASH_URL SKIFF_DASH_ADMIN_TOKEN SKIFF_DASH_SPKI (as for tests/browser.test.mjs)
//   PAGES=overview,devices  SECONDS_TO_MEASURE=30  SKIFF_DASH_CHROMIUM=/usr/bin/chromium
import { chromium } from 'playwright-core';

const BASE = process.env.SKIFF_DASH_URL.replace(/\/$/, '');
const TOKEN = process.env.SKIFF_DASH_ADMIN_TOKEN;
const SPKI = process.env.SKIFF_DASH_SPKI ?? '';
const SECONDS = Number(process.env.SECONDS_TO_MEASURE ?? '30');
const PAGES = (process.env.PAGES ?? 'overview,devices').split(',');
const ROUTES = { overview: '/#/', devices: '/#/devices', deployments: '/#/deployments' };
const READY = { overview: '[data-stat="total"]', devices: '.devices-table', deployments: '.deployments' };

const browser = await chromium.launch({
  executablePath: process.env.SKIFF_DASH_CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--no-first-run',
    ...(SPKI ? [`--ignore-certificate-errors-spki-list=${SPKI}`] : []),
  ],
});
try {
  for (const name of PAGES) {
    const context = await browser.newContext({ baseURL: BASE, viewport: { width: 1280, height: 900 } });
    await context.addInitScript((t) => {
      sessionStorage.setItem('skiff.hub.token', t);
      window.__cost = { longTasks: 0, longTaskMs: 0, maxTaskMs: 0, lateFrames: 0, frames: 0, maxFrameMs: 0 };
      new PerformanceObserver((list) => {
        for (const e of list.getEntries()) {
          window.__cost.longTasks++;
          window.__cost.longTaskMs += e.duration;
          window.__cost.maxTaskMs = Math.max(window.__cost.maxTaskMs, e.duration);
        }
      }).observe({ entryTypes: ['longtask'] });
      let last = 0;
      const frame = (t) => {
        if (last && window.__measuring) {
          const gap = t - last;
          window.__cost.frames++;
          if (gap > 50) window.__cost.lateFrames++;
          window.__cost.maxFrameMs = Math.max(window.__cost.maxFrameMs, gap);
        }
        last = t;
        requestAnimationFrame(frame);
      };
      requestAnimationFrame(frame);
    }, TOKEN);
    const page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    await cdp.send('Performance.enable');
    await cdp.send('Network.enable');
    let streamId = null;
    let streamBytes = 0;
    let measuring = false;
    cdp.on('Network.requestWillBeSent', (e) => {
      if (e.request.url.endsWith('/api/v1/stream')) streamId = e.requestId;
    });
    cdp.on('Network.dataReceived', (e) => {
      if (e.requestId === streamId && measuring) streamBytes += e.dataLength;
    });
    await page.goto(ROUTES[name]);
    await page.locator(READY[name]).waitFor({ timeout: 60_000 });
    await page.locator('[data-stream="live"]').waitFor({ timeout: 60_000 });
    await page.waitForTimeout(2000); // initial render and reload done
    const metric = async () => {
      const { metrics } = await cdp.send('Performance.getMetrics');
      return Object.fromEntries(metrics.map((m) => [m.name, m.value]));
    };
    await page.evaluate(() => {
      window.__cost = { longTasks: 0, longTaskMs: 0, maxTaskMs: 0, lateFrames: 0, frames: 0, maxFrameMs: 0 };
      window.__measuring = true;
    });
    const before = await metric();
    measuring = true;
    const started = Date.now();
    await page.waitForTimeout(SECONDS * 1000);
    measuring = false;
    const after = await metric();
    const seconds = (Date.now() - started) / 1000;
    const cost = await page.evaluate(() => window.__cost);
    const rows = await page.evaluate(() => document.querySelectorAll('.tiles [data-device], .devices-table tbody tr').length);
    console.log(
      JSON.stringify({
        page: name,
        seconds: Number(seconds.toFixed(1)),
        rendered: rows,
        busyPercent: Number((((after.TaskDuration - before.TaskDuration) / seconds) * 100).toFixed(2)),
        scriptPercent: Number((((after.ScriptDuration - before.ScriptDuration) / seconds) * 100).toFixed(2)),
        streamKBps: Number((streamBytes / 1024 / seconds).toFixed(1)),
        longTasks: cost.longTasks,
        maxTaskMs: Math.round(cost.maxTaskMs),
        lateFrames: cost.lateFrames,
        frames: cost.frames,
        maxFrameMs: Math.round(cost.maxFrameMs),
        heapMB: Number((after.JSHeapUsedSize / 1048576).toFixed(1)),
      }),
    );
    await context.close();
  }
} finally {
  await browser.close();
}
