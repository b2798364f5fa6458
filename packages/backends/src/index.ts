/**
 * @duplicity-ts/backends: where backup files live. `openBackend(url, options)` parses a duplicity
 * backend URL (url.ts) and returns a Backend (backend.ts) with put/get/list/remove/stat/close:
 * `file://` is a local directory (file-backend.ts); `sftp://` and `scp://` go over SSH with ssh2
 * (ssh-backend.ts), whose connection settings come from the URL, `~/.ssh/config`, `--ssh-options`
 * and the environment (ssh-config.ts, ssh-options.ts), whose host keys are checked against
 * known_hosts (known-hosts.ts), and whose transient failures are retried with reconnects (retry.ts).
 * Every failure is a BackendError (errors.ts) with duplicity's exit code and a one-line message.
 */
export type { Backend, BackendOptions, PutOptions } from './backend.js';
export { openBackend } from './open-backend.js';
export { BackendError, ExitCode } from './errors.js';
export { parseBackendUrl, redactUrl, type BackendUrl, type FileUrl, type SshUrl } from './url.js';
