// Entry point: theme, session restore, render.
import './styles.css';

import { render } from 'preact';

import { App } from './App';
import { restoreSession, retryNow } from './store';
import { applyTheme } from './theme';

applyTheme();
restoreSession();
addEventListener('online', retryNow);
render(<App />, document.getElementById('app') as HTMLElement);
