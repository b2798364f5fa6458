/** openBackend: picks the backend for a URL's scheme. */
import type { Backend, BackendOptions } from './backend.js';
import { openFileBackend } from './file-backend.js';
import { parseBackendUrl, redactUrl } from './url.js';

export async function openBackend(url: string, options: BackendOptions = {}): Promise<Backend> {
  const parsed = parseBackendUrl(url);
  if (parsed.scheme === 'file') return openFileBackend(parsed.path, redactUrl(url));
  const { openSshBackend } = await import('./ssh-backend.js');
  return openSshBackend(parsed, options);
}
