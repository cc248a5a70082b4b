// `0share service` as a real process: --dry-run prints the user, the unit and the commands and
// changes nothing; the unit it would install passes `systemd-analyze verify` and keeps its
// sandbox score under `systemd-analyze security` (when systemd-analyze is installed; CI installs
// it). Nothing here installs anything: every install/uninstall runs with --dry-run.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, runCli } from '../helpers/cli.js';

const HAVE_ANALYZER = spawnSync('systemd-analyze', ['--version'], { stdio: 'ignore' }).status === 0;
if (!HAVE_ANALYZER) process.stderr.write('\n*** SKIPPING the systemd-analyze checks of the unit: systemd-analyze is not installed (apt-get install systemd) ***\n\n');

const NODE = realpathSync(process.execPath);
const EXEC = `ExecStart=${NODE} ${realpathSync(CLI)} serve`;
const userExists = (u: string) => spawnSync('getent', ['passwd', u], { stdio: 'ignore' }).status === 0;
const dir = mkdtempSync(join(tmpdir(), '0share-service-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The unit text between the dry run's `--- PATH` and `--- end of unit` lines. */
function unitOf(stdout: string): string {
  const m = /^--- \S+\n([\s\S]*?)^--- end of unit$/m.exec(stdout);
  expect(m, stdout).not.toBeNull();
  return m![1]!;
}

describe('0share service install --dry-run', () => {
  it('prints the user, the unit for the running 0share and the commands, and changes nothing', () => {
    const hadUser = userExists('zeroshare');
    const r = runCli(['service', 'install', '--dry-run', '--init', 'systemd', '--unit-dir', dir]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('init: systemd (--init)');
    expect(r.stdout).toContain(`user: zeroshare (${hadUser ? 'exists' : 'will be created'})`);
    expect(r.stdout).toContain(`unit: ${join(dir, '0share.service')}`);
    const unit = unitOf(r.stdout);
    expect(unit.split('\n').filter((l) => l.startsWith('ExecStart='))).toEqual([EXEC]);
    expect(unit).toMatch(/^User=zeroshare$/m);
    expect(unit).toMatch(/^ProtectSystem=strict$/m);
    expect(r.stdout).toMatch(/^ {2}\d\. systemctl daemon-reload {4}#/m);
    expect(r.stdout).toMatch(/^ {2}\d\. systemctl enable --now 0share\.service {4}#/m);
    expect(r.stdout.includes('useradd --system')).toBe(!hadUser);
    expect(r.stdout.includes('systemd-analyze verify 0share.service')).toBe(HAVE_ANALYZER);
    expect(existsSync(join(dir, '0share.service'))).toBe(false);
    expect(userExists('zeroshare')).toBe(hadUser);
  });

  it('passes serve options after -- into ExecStart, and another user', () => {
    const r = runCli(['service', 'install', '--dry-run', '--init', 'systemd', '--user', 'peer0', '--', '--store', '/srv/my store', '--allow', '10.0.0.0/8']);
    expect(r.status, r.stderr).toBe(0);
    const unit = unitOf(r.stdout);
    expect(unit).toContain(`${EXEC} --store "/srv/my store" --allow 10.0.0.0/8\n`);
    expect(unit).toMatch(/^User=peer0$/m);
    expect(unit).toMatch(/^Group=peer0$/m);
  });

  it('without systemd, prints the crontab line instead of a unit', () => {
    const r = runCli(['service', 'install', '--dry-run', '--init', 'cron']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(`@reboot zeroshare ${NODE} ${realpathSync(CLI)} serve\n`);
    expect(r.stdout).not.toContain('systemctl');
    expect(r.stdout).not.toContain('--- end of unit');
  });

  it('rejects a bad --init and a bad user name in one line', () => {
    const bad = runCli(['service', 'install', '--dry-run', '--init', 'upstart']);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toBe("0share: --init must be systemd or cron, not 'upstart'\n");
    const user = runCli(['service', 'install', '--dry-run', '--init', 'systemd', '--user', 'Bad User']);
    expect(user.status).toBe(1);
    expect(user.stderr).toBe("0share: 'Bad User' is not a valid user name (lower-case letters, digits, _ and -)\n");
  });
});

describe('0share service uninstall --dry-run', () => {
  it('lists what it would undo for an installed unit, and nothing without one', () => {
    const unitDir = join(dir, 'installed');
    const none = runCli(['service', 'uninstall', '--dry-run', '--init', 'systemd', '--unit-dir', unitDir]);
    expect(none.status, none.stderr).toBe(0);
    expect(none.stdout).toContain(`No unit at ${join(unitDir, '0share.service')}: nothing to uninstall.`);

    spawnSync('mkdir', ['-p', unitDir]);
    writeFileSync(join(unitDir, '0share.service'), runCli(['service', 'unit']).stdout);
    const r = runCli(['service', 'uninstall', '--dry-run', '--init', 'systemd', '--unit-dir', unitDir]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^ {2}1\. systemctl disable --now 0share\.service {4}#/m);
    expect(r.stdout).toContain(`rm ${join(unitDir, '0share.service')}`);
    expect(r.stdout).not.toContain('userdel'); // `service unit` records no created user
    expect(existsSync(join(unitDir, '0share.service'))).toBe(true);
  });
});

describe.runIf(HAVE_ANALYZER)('the unit under systemd-analyze', () => {
  const file = join(dir, '0share.service');

  it('`systemd-analyze verify` accepts it without a warning about it', () => {
    const unit = runCli(['service', 'unit']);
    expect(unit.status, unit.stderr).toBe(0);
    writeFileSync(file, unit.stdout);
    const v = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8' });
    expect(v.status, v.stdout + v.stderr).toBe(0);
    expect(`${v.stdout}${v.stderr}`.split('\n').filter((l) => l.includes('0share.service'))).toEqual([]);
  });

  it('`systemd-analyze security` scores its sandbox 2.0 or better (docs/user-guide.md records the score)', () => {
    const s = spawnSync('systemd-analyze', ['security', '--offline=yes', file], { encoding: 'utf8' });
    const m = /Overall exposure level for 0share\.service: (\d+\.\d+)/.exec(s.stdout);
    expect(m, s.stdout + s.stderr).not.toBeNull();
    process.stderr.write(`[service] systemd-analyze security --offline=yes: exposure ${m![1]}\n`);
    expect(Number(m![1])).toBeLessThanOrEqual(2.0);
  });
});

describe.runIf(process.getuid?.() === 0)('0share service install and uninstall, carried out (as root, with stand-in system commands)', () => {
  // useradd, userdel, getent and systemctl are scripts that log what they are asked and keep the
  // user in a state dir; the unit goes to a temp --unit-dir; systemd-analyze is the real one.
  const root = join(dir, 'carried');
  const bin = join(root, 'bin');
  const log = join(root, 'log');
  const unitDir = join(root, 'units');
  const env = { ...process.env, PATH: `${bin}:/usr/bin:/bin` };
  const stub = (name: string, body: string) => writeFileSync(join(bin, name), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  const logged = () => (existsSync(log) ? readFileSync(log, 'utf8') : '');

  it('install creates the user, writes and checks the unit, enables it; uninstall undoes all of it', () => {
    for (const d of [bin, unitDir, join(root, 'state')]) mkdirSync(d, { recursive: true });
    stub('useradd', `echo "useradd $*" >> ${log}; for u; do :; done; touch ${root}/state/"$u"`);
    stub('userdel', `echo "userdel $*" >> ${log}; rm ${root}/state/"$1"`);
    stub('getent', `[ -e ${root}/state/"$2" ]`);
    stub('systemctl', `echo "systemctl $*" >> ${log}`);

    const install = runCli(['service', 'install', '--init', 'systemd', '--user', 'zsharetest', '--unit-dir', unitDir], { env });
    expect(install.status, install.stderr).toBe(0);
    expect(logged()).toBe(
      'useradd --system --user-group --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin zsharetest\nsystemctl daemon-reload\nsystemctl enable --now 0share.service\n',
    );
    const unit = readFileSync(join(unitDir, '0share.service'), 'utf8');
    expect(unit.split('\n').filter((l) => l.startsWith('ExecStart='))).toEqual([EXEC]);
    expect(unit).toMatch(/^User=zsharetest$/m);
    expect(statSync(join(unitDir, '0share.service')).mode & 0o777).toBe(0o644);
    expect(readdirSync(unitDir)).toEqual(['0share.service']);
    expect(install.stdout).toContain(`write ${join(unitDir, '0share.service')}`);

    writeFileSync(log, '');
    const uninstall = runCli(['service', 'uninstall', '--init', 'systemd', '--user', 'zsharetest', '--unit-dir', unitDir], { env });
    expect(uninstall.status, uninstall.stderr).toBe(0);
    expect(logged()).toBe('systemctl disable --now 0share.service\nsystemctl daemon-reload\nuserdel zsharetest\n');
    expect(readdirSync(unitDir)).toEqual([]);
  });

  it('a failing command stops the install with its message', () => {
    stub('systemctl', 'exit 3');
    const r = runCli(['service', 'install', '--init', 'systemd', '--user', 'zsharetest', '--unit-dir', unitDir], { env });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('0share: `systemctl daemon-reload` failed (exit status 3)\n');
    expect(r.stderr).not.toContain('    at ');
  });
});
