/**
 * session.ts: the archive dir duplicity would use (FORMAT.md §11.7), crypto settings from options
 * and environment (§9.5, §14.2), and duplicity's verbosity levels.
 */
import { describe, expect, it } from 'vitest';
import { buildCryptoSettings, createLog, parseVerbosity, resolveArchiveDir } from '../src/session.js';
import type { DuplicityOptions } from '../src/options.js';

const opts = (o: Partial<DuplicityOptions> = {}): DuplicityOptions =>
  ({ encryptKey: [], hiddenEncryptKey: [], keyFile: [], rename: [], selection: [], ...o }) as DuplicityOptions;

describe('archive dir', () => {
  it('is <base>/<md5 of the URL as typed> with the XDG / HOME fallbacks', () => {
    // The spec's worked example (§11.7): md5("file:///srv/backup").
    expect(resolveArchiveDir(opts(), 'file:///srv/backup', { HOME: '/home/u' })).toBe(
      '/home/u/.cache/duplicity/018b63a28f536acd92d887ced9519d4d',
    );
    expect(resolveArchiveDir(opts(), 'file:///srv/backup', { HOME: '/home/u', XDG_CACHE_HOME: '/xdg' })).toBe(
      '/xdg/duplicity/018b63a28f536acd92d887ced9519d4d',
    );
    // Written differently, the same backend gets another cache, as in duplicity.
    expect(resolveArchiveDir(opts(), 'file:///srv/backup/', { HOME: '/h' })).not.toBe(resolveArchiveDir(opts(), 'file:///srv/backup', { HOME: '/h' }));
  });

  it('takes --archive-dir (with ~) and --name', () => {
    expect(resolveArchiveDir(opts({ archiveDir: '~/cache', name: 'nightly' }), 'file:///x', { HOME: '/home/u' })).toBe('/home/u/cache/nightly');
  });
});

describe('crypto settings', () => {
  it('refuses a malformed --sign-key with exit 10', () => {
    expect(() => buildCryptoSettings(opts({ signKey: 'XYZ' }), {})).toThrow(expect.objectContaining({ exitCode: 10 }));
    expect(() => buildCryptoSettings(opts({ signKey: '0x572BA39CF3188FFB' }), {})).not.toThrow();
  });

  it('symmetric unless keys are given; SIGN_PASSPHRASE falls back to PASSPHRASE', async () => {
    const sym = buildCryptoSettings(opts(), { PASSPHRASE: 'p' });
    expect(sym.symmetric).toBe(true);
    expect((await sym.encryptOptions()).passphrase).toBe('p');
    const pub = buildCryptoSettings(opts({ encryptKey: ['EC5E36C15C296022'], signKey: '572BA39CF3188FFB' }), { PASSPHRASE: 'p', GNUPGHOME: '/nonexistent' });
    expect(pub.symmetric).toBe(false);
    const dec = await pub.decryptOptions();
    expect([dec.passphrase, dec.requireSigner]).toEqual(['p', '572BA39CF3188FFB']);
  });

  it('symmetric with a different SIGN_PASSPHRASE is exit 23, as duplicity', async () => {
    const s = buildCryptoSettings(opts({ signKey: '572BA39CF3188FFB' }), { PASSPHRASE: 'a', SIGN_PASSPHRASE: 'b', GNUPGHOME: '/nonexistent' });
    await expect(s.encryptOptions()).rejects.toMatchObject({ exitCode: 23 });
  });

  it('a symmetric backup without PASSPHRASE fails with a clear message and no prompt', async () => {
    await expect(buildCryptoSettings(opts(), {}).encryptOptions()).rejects.toThrow(/PASSPHRASE is not set/);
  });
});

describe('verbosity', () => {
  it('accepts 0-9 and level names or their first letters', () => {
    expect([parseVerbosity(undefined), parseVerbosity('9'), parseVerbosity('e'), parseVerbosity('warning'), parseVerbosity('i')]).toEqual([3, 9, 0, 2, 5]);
    expect(() => parseVerbosity('loud')).toThrow(expect.objectContaining({ exitCode: 2 }));
  });
});

describe('log', () => {
  const capture = (o: Partial<DuplicityOptions>) => {
    const out: string[] = [];
    const stream = { write: (s: string) => out.push(s) } as unknown as NodeJS.WritableStream;
    return { log: createLog({ options: opts(o), stdout: stream, stderr: stream }), out };
  };

  it('--log-timestamp starts each message (not each line) with local time and level, as duplicity', () => {
    const { log, out } = capture({ logTimestamp: true, verbosity: 'info' });
    log.notice('Last full backup date: none');
    log.warn('two\nlines');
    log.info('detail');
    expect(out[0]).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} NOTICE Last full backup date: none\n$/);
    expect(out[1]).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} WARNING two\nlines\n$/);
    expect(out[2]).toMatch(/ INFO detail\n$/);
    const stamp = new Date(out[0].slice(0, 19).replace(' ', 'T'));
    expect(Math.abs(stamp.getTime() - Date.now())).toBeLessThan(60_000);
  });

  it('prints bare messages without it', () => {
    const { log, out } = capture({});
    log.notice('plain');
    expect(out).toEqual(['plain\n']);
  });
});
