/** sftp:// and scp:// backends (in progress). */
import type { Backend, BackendOptions } from './backend.js';
import { BackendError, ExitCode } from './errors.js';
import { displaySshUrl, type SshUrl } from './url.js';

export async function openSshBackend(url: SshUrl, _options: BackendOptions): Promise<Backend> {
  throw new BackendError(`failed to connect to ${displaySshUrl(url)}: not implemented yet`, { exitCode: ExitCode.userError });
}
