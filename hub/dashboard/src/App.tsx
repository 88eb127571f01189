// The page frame: login gate, header with navigation, connection banners (the stream's
// reconnecting state, a failed reload, the hub's broker link), and the routed view.
import { useState } from 'preact/hooks';

import { href, useNow, useRoute, useStore } from './hooks';
import { Logo } from './components/bits';
import { logout, retryNow, type State } from './store';
import { type ThemeChoice, setThemeChoice, themeChoice } from './theme';
import { DeploymentDetail, Deployments } from './views/Deployments';
import { DeviceDetail } from './views/DeviceDetail';
import { Devices } from './views/Devices';
import { Login } from './views/Login';
import { Logs } from './views/Logs';
import { Overview } from './views/Overview';
import { Pods } from './views/Pods';

const NAV = [
  ['overview', 'Overview', ''],
  ['devices', 'Devices', 'devices'],
  ['deployments', 'Deployments', 'deployments'],
  ['pods', 'Pods', 'pods'],
] as const;

export function App() {
  const state = useStore();
  const route = useRoute();
  if (!state.session) return <Login state={state} />;

  const [section = '', id, sub, module] = route.path;
  let view;
  if (section === 'devices' && id && sub === 'logs' && module) {
    view = <Logs deviceId={id} module={module} state={state} />;
  } else if (section === 'devices' && id) {
    view = <DeviceDetail id={id} state={state} />;
  } else if (section === 'devices') {
    view = <Devices state={state} selector={route.query.get('selector') ?? ''} />;
  } else if (section === 'deployments' && id) {
    view = <DeploymentDetail id={id} state={state} />;
  } else if (section === 'deployments') {
    view = <Deployments state={state} />;
  } else if (section === 'pods') {
    view = <Pods state={state} />;
  } else {
    view = <Overview state={state} />;
  }

  return (
    <div class="app">
      <a class="skip" href="#main" onClick={(e) => { e.preventDefault(); document.getElementById('main')?.focus(); }}>
        Skip to content
      </a>
      <header class="topbar">
        <a class="brand" href={href([])}>
          <Logo /> Skiff
        </a>
        <nav aria-label="main">
          {NAV.map(([key, text, path]) => (
            <a
              key={key}
              href={href(path ? [path] : [])}
              aria-current={section === path ? 'page' : undefined}
            >
              {text}
            </a>
          ))}
        </nav>
        <div class="topbar-right">
          <LiveIndicator state={state} />
          <ThemeToggle />
          <span class="who" title={`signed in as ${state.session.name}`}>
            {state.session.name}{' '}
            <span class={`badge role-${state.session.role}`} data-role={state.session.role}>
              {state.session.role}
            </span>
          </span>
          <button class="btn btn-small" type="button" onClick={() => logout()}>
            Log out
          </button>
        </div>
      </header>
      <Banners state={state} />
      <main id="main" tabIndex={-1} class="content">
        {state.loaded ? (
          view
        ) : state.loadError ? (
          <p class="form-error" role="alert">
            Could not load the fleet: {state.loadError}
          </p>
        ) : (
          <p class="loading" role="status">
            Loading the fleet…
          </p>
        )}
      </main>
    </div>
  );
}

function LiveIndicator({ state }: { state: State }) {
  const s = state.stream.state;
  const text = s === 'live' ? 'live' : s === 'connecting' ? 'connecting…' : 'reconnecting…';
  return (
    <span class={`live live-${s}`} role="status" aria-live="polite" data-stream={s}>
      <span class="dot" aria-hidden="true" />
      {text}
    </span>
  );
}

function Banners({ state }: { state: State }) {
  const now = useNow(500);
  const s = state.stream;
  return (
    <div class="banners">
      {s.state === 'reconnecting' ? (
        <div class="banner banner-bad reconnecting" role="alert" data-testid="reconnecting">
          <span class="spinner" aria-hidden="true" />
          <span>
            <strong>Connection to the hub lost — reconnecting…</strong>{' '}
            {s.retryAtMs ? `next try in ${Math.max(0, Math.ceil((s.retryAtMs - now) / 1000))} s. ` : ''}
            <span class="muted">{s.detail}. Showing the last known state.</span>
          </span>
          <button class="btn btn-small" type="button" onClick={retryNow}>
            Retry now
          </button>
        </div>
      ) : null}
      {state.loadError && s.state === 'live' ? (
        <div class="banner banner-warn" role="alert">
          Could not load the fleet: {state.loadError}
        </div>
      ) : null}
      {state.brokerConnected === false ? (
        <div class="banner banner-warn" role="status">
          The hub has lost its MQTT broker connection: device states may be stale.
        </div>
      ) : null}
    </div>
  );
}

const THEME_NEXT: Record<ThemeChoice, ThemeChoice> = { auto: 'dark', dark: 'light', light: 'auto' };
const THEME_ICON: Record<ThemeChoice, string> = { auto: '◐', dark: '☾', light: '☀' };

function ThemeToggle() {
  const [choice, setChoice] = useState(themeChoice());
  return (
    <button
      class="btn btn-small btn-icon"
      type="button"
      onClick={() => {
        setThemeChoice(THEME_NEXT[choice]);
        setChoice(THEME_NEXT[choice]);
      }}
      aria-label={`Theme: ${choice}. Switch to ${THEME_NEXT[choice]}`}
      title={`Theme: ${choice}`}
      data-theme-choice={choice}
    >
      <span aria-hidden="true">{THEME_ICON[choice]}</span>
    </button>
  );
}
