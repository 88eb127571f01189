// Login: a hub token (docs/hub-api.md "Authentication and roles"), checked with GET /whoami and
// kept in sessionStorage for this tab only.
import { useState } from 'preact/hooks';

import { Logo } from '../components/bits';
import { useNow } from '../hooks';
import { login, logout, type State } from '../store';

export function Login({ state }: { state: State }) {
  const [tokenText, setTokenText] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const now = useNow(1000);
  const message = error || state.loginError;

  if (state.boot.state !== 'idle') {
    const secs = state.boot.retryAtMs ? Math.max(0, Math.ceil((state.boot.retryAtMs - now) / 1000)) : 0;
    return (
      <main class="login">
        <div class="card login-card" role="status" aria-live="polite">
          <h1>Skiff hub</h1>
          {state.boot.state === 'checking' ? (
            <p>Connecting to the hub…</p>
          ) : (
            <>
              <p class="reconnecting-text">
                <span class="spinner" aria-hidden="true" /> Hub unreachable — reconnecting
                {secs > 0 ? ` in ${secs} s` : '…'}
              </p>
              <p class="muted small">{state.boot.detail}</p>
            </>
          )}
          <button class="btn" type="button" onClick={() => logout()}>
            Use another token
          </button>
        </div>
      </main>
    );
  }

  return (
    <main class="login">
      <form
        class="card login-card"
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          setError('');
          const err = await login(tokenText);
          setBusy(false);
          if (err) setError(err);
        }}
      >
        <h1>
          <Logo size={26} /> Skiff hub
        </h1>
        <p class="muted">Sign in with a hub token (created by <code>skiff-hub init</code>).</p>
        <label for="token">Hub token</label>
        <input
          id="token"
          name="token"
          type="password"
          autocomplete="current-password"
          value={tokenText}
          onInput={(e) => setTokenText((e.target as HTMLInputElement).value)}
          aria-invalid={message ? 'true' : 'false'}
          aria-describedby={message ? 'login-error' : undefined}
          required
          autofocus
        />
        {message ? (
          <p id="login-error" class="form-error" role="alert">
            {message}
          </p>
        ) : null}
        <button class="btn btn-primary" type="submit" disabled={busy}>
          {busy ? 'Checking…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
