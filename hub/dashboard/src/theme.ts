// Light/dark theme: follows prefers-color-scheme unless the user picked one with the toggle
// (remembered in localStorage). The choice is applied as <html data-theme="light|dark">; CSS
// custom properties do the rest. Charts subscribe to redraw with the new colours.

export type ThemeChoice = 'auto' | 'light' | 'dark';

const KEY = 'skiff.theme';
const listeners = new Set<() => void>();
const media = typeof matchMedia === 'function' ? matchMedia('(prefers-color-scheme: dark)') : null;

export function themeChoice(): ThemeChoice {
  const v = localStorage.getItem(KEY);
  return v === 'light' || v === 'dark' ? v : 'auto';
}

export function effectiveTheme(): 'light' | 'dark' {
  const c = themeChoice();
  if (c !== 'auto') return c;
  return media?.matches ? 'dark' : 'light';
}

export function applyTheme(): void {
  document.documentElement.dataset.theme = effectiveTheme();
  const meta = document.querySelector('meta[name="color-scheme"]');
  meta?.setAttribute('content', effectiveTheme());
  for (const l of [...listeners]) l();
}

export function setThemeChoice(choice: ThemeChoice): void {
  if (choice === 'auto') localStorage.removeItem(KEY);
  else localStorage.setItem(KEY, choice);
  applyTheme();
}

export function onThemeChange(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

media?.addEventListener('change', () => {
  if (themeChoice() === 'auto') applyTheme();
});

// Value of a CSS custom property on <html>, e.g. cssVar('--ok').
export function cssVar(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}
