/**
 * `duplicity-ts [full|incremental] [options] SOURCE URL` (FORMAT.md §14.1): the nightly backup.
 * Runs unattended: secrets come from PASSPHRASE / SIGN_PASSPHRASE and a missing one fails at once
 * with a message naming it. Prints duplicity's statistics block at the end, `A/M/D path` lines at
 * -v info, and with --progress a progress line (a live bar on a terminal).
 */
import { stat } from 'node:fs/promises';
import { runBackup, type BackupRequest } from '@duplicity-ts/engine';
import type { ActionContext } from '../context.js';
import { openSession, userError } from '../session.js';

export async function run(ctx: ActionContext): Promise<number> {
  if (ctx.args.length !== 2) throw userError(`backup takes two arguments, SOURCE and URL; got ${ctx.args.length}`, 2);
  const [source, url] = ctx.args;
  if (!url.includes('://')) throw userError(`backup needs the backend URL second: SOURCE URL (got '${url}')`, 2);
  try {
    await stat(source);
  } catch {
    throw userError(`Backup source directory ${source} does not exist.`, 13);
  }
  const o = ctx.options;
  if (o.volsize !== undefined && o.volsize < 1) throw userError(`--volsize must be at least 1 (MiB), got ${o.volsize}`, 2);
  const s = await openSession(ctx, url);
  try {
    const crypto = s.crypto;
    if (crypto.encrypt && crypto.signKey !== undefined && !crypto.symmetric && ctx.env.SIGN_PASSPHRASE === undefined && ctx.env.PASSPHRASE === undefined) {
      throw userError(`SIGN_PASSPHRASE (or PASSPHRASE) is not set; signing with key ${crypto.signKey} needs it`, 30);
    }
    const progress = o.progress ? startProgress(ctx, o.progressRate) : undefined;
    const req: BackupRequest = {
      mode: ctx.action === 'full' ? 'full' : ctx.action === 'incremental' ? 'incremental' : 'auto',
      source,
      backend: s.backend,
      archiveDir: s.archiveDir,
      tempDir: s.tempDir,
      prefixes: s.prefixes,
      now: s.now,
      fixedTime: o.currentTime !== undefined,
      log: { info: s.log.info, warn: s.log.warn, notice: s.log.notice },
      selection: o.selection,
      nullSeparator: o.nullSeparator,
      copyLinks: o.copyLinks,
      numericOwner: o.numericOwner,
      fullIfOlderThan: o.fullIfOlderThan,
      allowSourceMismatch: o.allowSourceMismatch,
      volsizeMiB: o.volsize,
      maxBlocksize: o.maxBlocksize,
      compareSize: o.compareSize,
      encryptOptions: crypto.encrypt ? () => crypto.encryptOptions() : undefined,
      decryptOptions: crypto.encrypt ? () => crypto.decryptOptions() : undefined,
      compress: crypto.compress,
      shortFilenames: o.shortFilenames,
      noFilesChanged: o.noFilesChanged,
      dryRun: o.dryRun,
      concurrency: o.concurrency,
      metadataSyncMode: o.metadataSyncMode === 'full' ? 'full' : 'partial',
      progress,
    };
    let result;
    try {
      result = await runBackup(req);
    } finally {
      progress?.stop();
    }
    if (!o.noPrintStatistics) ctx.stdout.write(result.statistics.format());
    return 0;
  } finally {
    await s.close();
  }
}

/**
 * --progress: duplicity first sizes the work, then reports bytes done, speed and ETA. On a
 * terminal the line is redrawn in place with a bar; otherwise a plain line every --progress-rate
 * seconds (duplicity's default: 3).
 */
function startProgress(ctx: ActionContext, rateSeconds = 3) {
  let total = 0;
  const out = ctx.stdout as NodeJS.WriteStream;
  const tty = !!out.isTTY;
  const started = Date.now();
  let done = 0;
  let lastDraw = 0;
  const fmt = (n: number) => (n >= 1 << 30 ? `${(n / (1 << 30)).toFixed(1)}GB` : n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)}MB` : `${(n / 1024).toFixed(1)}KB`);
  const clock = (s: number) => {
    const t = Math.floor(s);
    return `${String(Math.floor(t / 3600)).padStart(2, '0')}:${String(Math.floor((t % 3600) / 60)).padStart(2, '0')}:${String(t % 60).padStart(2, '0')}`;
  };
  const draw = (final: boolean) => {
    const elapsed = (Date.now() - started) / 1000;
    const rate = elapsed > 0 ? done / elapsed : 0;
    const frac = total > 0 ? Math.min(1, done / total) : 1;
    const eta = rate > 0 ? Math.max(0, (total - done) / rate) : 0;
    const width = 40;
    const fill = Math.round(frac * width);
    const bar = `[${'='.repeat(Math.max(0, fill - 1))}${fill > 0 ? '>' : ''}${' '.repeat(width - fill)}]`;
    const line = `${fmt(done)} ${clock(elapsed)} [${fmt(rate)}/s] ${bar} ${Math.floor(frac * 100)}% ETA ${Math.ceil(final ? 0 : eta)}sec`;
    out.write(tty ? `\r${line}\x1b[K${final ? '\n' : ''}` : `${line}\n`);
  };
  let timer: NodeJS.Timeout | undefined;
  return {
    total: (bytes: number) => {
      total = bytes;
      timer = setInterval(() => draw(false), tty ? 250 : Math.max(1, rateSeconds) * 1000);
      timer.unref();
    },
    update: (bytes: number) => {
      done = bytes;
      if (tty && Date.now() - lastDraw > 250) {
        lastDraw = Date.now();
        draw(false);
      }
    },
    stop: () => {
      if (timer === undefined) return;
      clearInterval(timer);
      draw(true);
    },
  };
}
