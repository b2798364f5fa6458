// URL forms, ~/.ssh/config, --ssh-options and known_hosts, checked without a server.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseBackendUrl, redactUrl } from '@duplicity-ts/backends';
import { hostMatches, resolveSshConfig } from '../src/ssh-config.js';
import { parseSshOptions } from '../src/ssh-options.js';
import { judgeHostKey, knownHostsName, lookupKnownHosts, preferredHostKeyAlgorithms } from '../src/known-hosts.js';
import { resolveSshSettings } from '../src/ssh-connection.js';

let tmp: string;
beforeAll(async () => { tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'dts-settings-')); });
afterAll(async () => { await fsp.rm(tmp, { recursive: true, force: true }); });

describe('backend URLs', () => {
  it('reads duplicity\'s sftp/scp forms', () => {
    expect(parseBackendUrl('scp://abackupuser@remote/backup')).toEqual({ scheme: 'scp', user: 'abackupuser', password: undefined, host: 'remote', port: undefined, path: 'backup' });
    expect(parseBackendUrl('sftp://u:p%40ss@h:2222//abs/dir')).toEqual({ scheme: 'sftp', user: 'u', password: 'p@ss', host: 'h', port: 2222, path: '/abs/dir' });
    expect(parseBackendUrl('sftp://h')).toMatchObject({ host: 'h', path: '' });
    expect(parseBackendUrl('sftp://me@example.com@h/x')).toMatchObject({ user: 'me@example.com', host: 'h' });
    expect(parseBackendUrl('sftp://[::1]:22/x')).toMatchObject({ host: '::1', port: 22 });
  });

  it('reads file URLs as duplicity 0.8.22 does', () => {
    expect(parseBackendUrl('file:///abs/a%20b')).toEqual({ scheme: 'file', path: '/abs/a b' });
    expect(parseBackendUrl('file://rel/dir')).toEqual({ scheme: 'file', path: 'rel/dir' });
    expect(parseBackendUrl('file://rel%41/d%41')).toEqual({ scheme: 'file', path: 'rel%41/dA' });
  });

  it('rejects bad URLs with exit code 8 and never prints the password', () => {
    expect(() => parseBackendUrl('sftp://u:secret@h:99999/x')).toThrow(expect.objectContaining({ exitCode: 8 }));
    try { parseBackendUrl('sftp://u:secret@h:99999/x'); } catch (e) { expect((e as Error).message).not.toContain('secret'); }
    expect(redactUrl('sftp://u:secret@h/x')).toBe('sftp://u:***@h/x');
  });
});

describe('~/.ssh/config', () => {
  it('applies the first value per keyword across matching Host blocks, IdentityFile accumulating', async () => {
    const f = path.join(tmp, 'config');
    await fsp.writeFile(f, [
      '# comment', 'Host *.example.com !bad.example.com', '  User web', '  IdentityFile ~/.ssh/a',
      'Host backup backup2', '  HostName 10.0.0.5', '  Port=2222', '  IdentityFile "/k with space"', '  User first',
      'Match exec "false"', '  User never',
      'Host *', '  User last', '  Port 22', '  UserKnownHostsFile ~/kh1 ~/kh2', '  StrictHostKeyChecking accept-new',
    ].join('\n'));
    expect(resolveSshConfig('backup', [f], '/home/x')).toMatchObject({
      hostName: '10.0.0.5', port: 2222, user: 'first', identityFiles: ['/k with space'], userKnownHostsFiles: ['~/kh1', '~/kh2'], strictHostKeyChecking: 'accept-new',
    });
    expect(resolveSshConfig('www.example.com', [f], '/home/x')).toMatchObject({ user: 'web', identityFiles: ['~/.ssh/a'], port: 22 });
    expect(resolveSshConfig('bad.example.com', [f], '/home/x')).toMatchObject({ user: 'last' });
    expect(hostMatches('h1', ['h?'])).toBe(true);
    expect(hostMatches('h10', ['h?'])).toBe(false);
  });

  it('follows Include', async () => {
    await fsp.mkdir(path.join(tmp, 'conf.d'), { recursive: true });
    await fsp.writeFile(path.join(tmp, 'conf.d', 'x.conf'), 'Host inc\n  Port 2200\n');
    await fsp.writeFile(path.join(tmp, 'main'), `Include ${tmp}/conf.d/*.conf\nHost inc\n  Port 1\n`);
    expect(resolveSshConfig('inc', [path.join(tmp, 'main')], tmp).port).toBe(2200);
  });

  it('resolves settings: URL over --ssh-options over config; %-tokens and ~ expanded', async () => {
    const home = path.join(tmp, 'home');
    await fsp.mkdir(path.join(home, '.ssh'), { recursive: true });
    await fsp.writeFile(path.join(home, '.ssh', 'config'), 'Host box\n  HostName 192.0.2.1\n  User cfguser\n  Port 2022\n  IdentityFile ~/.ssh/%h_key\n');
    const st = resolveSshSettings(parseBackendUrl('sftp://box/x') as never, { env: { HOME: home, FTP_PASSWORD: 'pw' }, sshOptions: '-oPort=2023 -i /opt/k' });
    expect(st).toMatchObject({ host: '192.0.2.1', port: 2023, user: 'cfguser', password: 'pw', knownHostsName: '[192.0.2.1]:2023', strictHostKeyChecking: 'yes' });
    expect(st.identityFiles).toEqual([...['id_ed25519', 'id_ecdsa', 'id_rsa', 'id_dsa'].map((k) => path.join(home, '.ssh', k)), '/opt/k', path.join(home, '.ssh', '192.0.2.1_key')]);
    expect(st.knownHostsFiles[0]).toBe(path.join(home, '.ssh', 'known_hosts'));
    const st2 = resolveSshSettings(parseBackendUrl('sftp://u@box:2024/x') as never, { env: { HOME: home, BACKEND_PASSWORD: 'b' }, sshOptions: '-oPort=2023' });
    expect(st2).toMatchObject({ port: 2024, user: 'u', password: 'b' });
  });
});

describe('--ssh-options', () => {
  it('reads -oName=value, -o "Name value", -i file and quoting; ignores the rest', () => {
    const o = parseSshOptions(`-oIdentityFile=/a -o 'UserKnownHostsFile /k h' -i "/b c" -C -oStrictHostKeyChecking=no -oPort=2 -oPort=3`);
    expect(o.identityFiles).toEqual(['/a', '/b c']);
    expect(Object.fromEntries(o.options)).toEqual({ userknownhostsfile: '/k h', stricthostkeychecking: 'no', port: '2' });
    expect(() => parseSshOptions('-o')).toThrow(/needs a value/);
    expect(() => parseSshOptions('-o "unterminated')).toThrow(/unterminated quote/);
  });
});

describe('known_hosts', () => {
  it('matches plain, [host]:port, wildcard and hashed entries and judges keys', async () => {
    const key = path.join(tmp, 'hk');
    spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
    const [type, b64] = (await fsp.readFile(`${key}.pub`, 'utf8')).split(' ');
    const blob = Buffer.from(b64, 'base64');
    const kh = path.join(tmp, 'known_hosts');
    await fsp.writeFile(kh, `# c\nplain.example,10.1.1.1 ${type} ${b64}\n[ported.example]:2222 ${type} ${b64}\n*.wild.example,!no.wild.example ${type} ${b64}\nhashme ${type} ${b64}\n@revoked revoked.example ${type} ${b64}\n`);
    const r = spawnSync('ssh-keygen', ['-H', '-f', kh]);
    expect(r.status).toBe(0);
    const text = await fsp.readFile(kh, 'utf8');
    expect(text).not.toContain('hashme');
    expect(knownHostsName('h', 22)).toBe('h');
    expect(knownHostsName('h', 2222)).toBe('[h]:2222');
    for (const name of ['plain.example', '10.1.1.1', '[ported.example]:2222', 'a.wild.example', 'hashme']) {
      expect(judgeHostKey(await lookupKnownHosts([kh], name), blob)).toBe('known');
    }
    for (const name of ['ported.example', 'no.wild.example', 'other']) {
      expect(judgeHostKey(await lookupKnownHosts([kh], name), blob)).toBe('unknown');
    }
    expect(judgeHostKey(await lookupKnownHosts([kh], 'revoked.example'), blob)).toBe('revoked');
    const other = Buffer.from(blob); other[other.length - 1] ^= 1;
    expect(judgeHostKey(await lookupKnownHosts([kh], 'hashme'), other)).toBe('changed');
    expect(preferredHostKeyAlgorithms([{ type: 'ssh-rsa', blob, revoked: false }], ['ssh-ed25519', 'rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa']))
      .toEqual(['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa', 'ssh-ed25519']);
  });
});
