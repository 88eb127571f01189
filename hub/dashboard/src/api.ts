// REST client for the hub (docs/hub-api.md): same origin, under /api/v1, bearer token from the
// session. Every failure becomes an ApiError carrying the hub's error code and message (or a
// network failure with status 0), so views can show the server's own words.

export const API = '/api/v1';

export class ApiError extends Error {
  constructor(
    readonly status: number, // 0: the hub could not be reached
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  // "403 PermissionDenied: reader may not write" style text for inline display.
  describe(): string {
    if (this.status === 0) return this.message;
    return `${this.status} ${this.code}: ${this.message}`;
  }
}

let unauthorizedHandler: ((message: string) => void) | null = null;

// Called when an authenticated request gets 401 (token revoked or hub re-initialized).
export function onUnauthorized(handler: (message: string) => void): void {
  unauthorizedHandler = handler;
}

export async function toApiError(response: Response): Promise<ApiError> {
  let text = '';
  try {
    text = await response.text();
  } catch {
    // body unreadable: keep the status line
  }
  try {
    const doc = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
    if (doc && typeof doc.error?.message === 'string') {
      return new ApiError(
        response.status,
        typeof doc.error.code === 'string' ? doc.error.code : response.statusText,
        doc.error.message,
      );
    }
  } catch {
    // not a hub error document
  }
  return new ApiError(response.status, response.statusText || 'Error', text.trim() || 'no details');
}

export interface RequestOptions {
  method?: string;
  body?: unknown;
  signal?: AbortSignal;
  token: string;
  // Skip the global 401 handler (login uses it to report a bad token itself).
  quiet401?: boolean;
}

// Performs one request; resolves with the parsed JSON body (undefined for empty bodies).
export async function request(path: string, options: RequestOptions): Promise<unknown> {
  const headers: Record<string, string> = {
    Authorization: `Bearer ${options.token}`,
    Accept: 'application/json',
  };
  let body: string | undefined;
  if (options.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(options.body);
  }
  let response: Response;
  try {
    response = await fetch(API + path, {
      method: options.method ?? 'GET',
      headers,
      body,
      signal: options.signal,
      cache: 'no-store',
    });
  } catch (err) {
    if (err instanceof DOMException && err.name === 'AbortError') throw err;
    throw new ApiError(0, 'Unavailable', `cannot reach the hub (${(err as Error).message})`);
  }
  if (!response.ok) {
    const error = await toApiError(response);
    if (response.status === 401 && !options.quiet401) unauthorizedHandler?.(error.message);
    throw error;
  }
  const text = await response.text();
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw new ApiError(response.status, 'Internal', `${path}: the hub answered with invalid JSON`);
  }
}

// Items of a list response ({"items": [...]}).
export function items(doc: unknown): unknown[] {
  const list = (doc as { items?: unknown } | undefined)?.items;
  return Array.isArray(list) ? list : [];
}
