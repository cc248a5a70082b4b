// The pure half of `0share service`: the unit rendered from the shipped template, quoting for
// systemd and sh/cron, and the install/uninstall plans for each situation.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  crontabLine,
  describeStep,
  installPlan,
  renderUnit,
  ServiceUnitError,
  shellQuote,
  systemdQuote,
  uninstallPlan,
  unitCreatedUser,
  type InstallFacts,
} from '../../src/core/service-unit.js';

const TEMPLATE = readFileSync(new URL('../../systemd/0share.service', import.meta.url), 'utf8');
const COMMAND = ['/usr/bin/node', '/usr/local/lib/node_modules/0share/dist/bin/0share.js', 'serve'];
const facts = (over: Partial<InstallFacts> = {}): InstallFacts => ({
  init: 'systemd',
  user: 'zeroshare',
  userExists: false,
  haveAnalyzer: true,
  unitPath: '/etc/systemd/system/0share.service',
  command: COMMAND,
  template: TEMPLATE,
  version: '1.2.3',
  ...over,
});

/** The [Service] sandboxing lines, which the rendered unit must keep exactly. */
const sandboxing = (unit: string) => unit.split('\n').filter((l) => /^(Protect|Private|Restrict|NoNew|Capability|Ambient|ReadOnly|Lock|SystemCall|UMask)/.test(l));

describe('renderUnit', () => {
  it('points ExecStart at the real binaries, sets the user, and keeps the whole sandbox', () => {
    const unit = renderUnit(TEMPLATE, { command: COMMAND, user: 'zeroshare', createdUser: true, version: '1.2.3' });
    expect(unit.split('\n').filter((l) => l.startsWith('ExecStart='))).toEqual([`ExecStart=${COMMAND.join(' ')}`]);
    expect(unit).toMatch(/^User=zeroshare$/m);
    expect(unit).toMatch(/^Group=zeroshare$/m);
    expect(sandboxing(unit)).toEqual(sandboxing(TEMPLATE));
    expect(sandboxing(unit).length).toBeGreaterThan(20);
    expect(unit.split('\n')[0]).toContain('installed by `0share service install` (0share 1.2.3)');
    expect(unit).not.toContain('cp systemd/0share.service'); // the template's manual-install comment
    expect(unitCreatedUser(unit, 'zeroshare')).toBe(true);
    expect(unitCreatedUser(renderUnit(TEMPLATE, { command: COMMAND, user: 'zeroshare', createdUser: false, version: '1' }), 'zeroshare')).toBe(false);
  });

  it('refuses a bad user name, an empty command and a template without one ExecStart=', () => {
    const opts = { command: COMMAND, user: 'zeroshare', createdUser: false, version: '1' };
    expect(() => renderUnit(TEMPLATE, { ...opts, user: 'root; rm' })).toThrow(/not a valid user name/);
    expect(() => renderUnit(TEMPLATE, { ...opts, command: [] })).toThrow(ServiceUnitError);
    expect(() => renderUnit(TEMPLATE.replace(/^ExecStart=.*$/m, ''), opts)).toThrow(/exactly one ExecStart= line \(it has 0\)/);
    expect(() => renderUnit('[Service]\nExecStart=x\n', opts)).toThrow(/no \[Unit\] section/);
  });
});

describe('quoting', () => {
  it('systemd: specifiers and variables escaped, spaces and quotes quoted', () => {
    expect(systemdQuote('/usr/bin/node')).toBe('/usr/bin/node');
    expect(systemdQuote('/opt/my node/x.js')).toBe('"/opt/my node/x.js"');
    expect(systemdQuote('100%')).toBe('100%%');
    expect(systemdQuote('$HOME')).toBe('$$HOME');
    expect(systemdQuote('a"b\\c')).toBe('"a\\"b\\\\c"');
    expect(systemdQuote('')).toBe('""');
    expect(systemdQuote(';')).toBe('";"');
  });

  it('sh: single quotes unless plainly safe; the crontab line escapes % for cron', () => {
    expect(shellQuote('/usr/bin/node')).toBe('/usr/bin/node');
    expect(shellQuote("it's here")).toBe("'it'\\''s here'");
    expect(crontabLine('zeroshare', COMMAND)).toBe(`@reboot zeroshare ${COMMAND.join(' ')}`);
    expect(crontabLine('zeroshare', ['/x/node', '/a b/0share.js', 'serve', '--allow', '10%'])).toBe("@reboot zeroshare /x/node '/a b/0share.js' serve --allow '10\\%'");
  });
});

describe('installPlan', () => {
  it('systemd: creates the user, checks the unit, installs it, reloads and enables', () => {
    const steps = installPlan(facts());
    expect(steps.map((s) => s.kind)).toEqual(['run', 'verify', 'write', 'run', 'run']);
    expect(steps[0]).toMatchObject({ argv: ['useradd', '--system', '--user-group', '--home-dir', '/nonexistent', '--no-create-home', '--shell', '/usr/sbin/nologin', 'zeroshare'] });
    expect(steps[2]).toMatchObject({ path: '/etc/systemd/system/0share.service' });
    expect(steps.slice(3).map((s) => (s.kind === 'run' ? s.argv.join(' ') : ''))).toEqual(['systemctl daemon-reload', 'systemctl enable --now 0share.service']);
    // What is checked is what is installed.
    expect((steps[1] as { unit: string }).unit).toBe((steps[2] as { text: string }).text);
  });

  it('an existing user is kept (and not recorded as created); no analyzer, no check', () => {
    const steps = installPlan(facts({ userExists: true, haveAnalyzer: false }));
    expect(steps.map((s) => s.kind)).toEqual(['write', 'run', 'run']);
    expect(unitCreatedUser((steps[0] as { text: string }).text, 'zeroshare')).toBe(false);
  });

  it('a reinstall keeps the record of a user that the first install created', () => {
    const steps = installPlan(facts({ userExists: true, createdBefore: true }));
    expect(unitCreatedUser((steps.find((s) => s.kind === 'write') as { text: string }).text, 'zeroshare')).toBe(true);
  });

  it('without systemd: the user, then the crontab line to add', () => {
    const steps = installPlan(facts({ init: 'cron' }));
    expect(steps.map((s) => s.kind)).toEqual(['run', 'tell']);
    expect(describeStep(steps[1]!)).toContain(`\n@reboot zeroshare ${COMMAND.join(' ')}`);
  });

  it('each step has a line for --dry-run', () => {
    expect(installPlan(facts()).map(describeStep)).toEqual([
      'useradd --system --user-group --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin zeroshare    # create the system user zeroshare',
      'systemd-analyze verify 0share.service    # check the unit before installing it (written to a temp dir)',
      'write /etc/systemd/system/0share.service    # install the unit',
      'systemctl daemon-reload    # make systemd read it',
      'systemctl enable --now 0share.service    # start it now and at every boot',
    ]);
  });
});

describe('uninstallPlan', () => {
  const unitBy = (createdUser: boolean) => renderUnit(TEMPLATE, { command: COMMAND, user: 'zeroshare', createdUser, version: '1' });
  const base = { init: 'systemd' as const, user: 'zeroshare', userExists: true, unitPath: '/etc/systemd/system/0share.service', command: COMMAND };

  it('undoes install: disable, remove the unit, reload, and remove the user install created', () => {
    const steps = uninstallPlan({ ...base, installedUnit: unitBy(true) });
    expect(steps.map(describeStep).map((l) => l.split('    #')[0])).toEqual([
      'systemctl disable --now 0share.service',
      'rm /etc/systemd/system/0share.service',
      'systemctl daemon-reload',
      'userdel zeroshare',
    ]);
  });

  it('keeps a user that existed before, and does nothing without a unit', () => {
    expect(uninstallPlan({ ...base, installedUnit: unitBy(false) }).at(-1)).toEqual({ kind: 'tell', text: 'The user zeroshare existed before the install and is kept.' });
    expect(uninstallPlan({ ...base, installedUnit: undefined })).toEqual([{ kind: 'tell', text: 'No unit at /etc/systemd/system/0share.service: nothing to uninstall.' }]);
  });

  it('without systemd: the crontab line to remove', () => {
    const steps = uninstallPlan({ ...base, init: 'cron', installedUnit: undefined });
    expect(describeStep(steps[0]!)).toContain(`remove this line from /etc/crontab`);
    expect(describeStep(steps[0]!)).toContain(crontabLine('zeroshare', COMMAND));
  });
});
