// What `0share service install|uninstall` does, as data: the systemd unit rendered from the
// shipped template (systemd/0share.service) for the installed binary, the crontab line for a
// system without systemd, and the ordered steps of each plan. Pure: src/io/service-system.ts
// gathers the facts and carries the steps out; the CLI prints them for --dry-run.

export type InitSystem = 'systemd' | 'cron';

export const UNIT_NAME = '0share.service';
export const DEFAULT_SERVICE_USER = 'zeroshare';

export class ServiceUnitError extends Error {
  override name = 'ServiceUnitError';
}

/** One argument of ExecStart=: `%` and `$` escaped, quoted when it holds a space, quote or backslash. */
export function systemdQuote(arg: string): string {
  const escaped = arg.replace(/%/g, '%%').replace(/\$/g, '$$$$');
  if (escaped !== '' && !/[\s"'\\;]/.test(escaped)) return escaped;
  return `"${escaped.replace(/[\\"]/g, '\\$&').replace(/\n/g, '\\n')}"`;
}

/** One argument for /bin/sh: single-quoted unless plainly safe. */
export function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_@+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

function checkUserName(user: string): void {
  if (!/^[a-z_][a-z0-9_-]{0,31}$/.test(user)) throw new ServiceUnitError(`'${user}' is not a valid user name (lower-case letters, digits, _ and -)`);
}

const createdMarker = (user: string) => `# 0share service install created the user ${user}.`;

export interface UnitOptions {
  /** The command: the real paths of node and of the CLI, then `serve` and its options. */
  command: readonly string[];
  user: string;
  /** Recorded in the unit so that uninstall removes only a user that install created. */
  createdUser: boolean;
  version: string;
}

/** The template with ExecStart=, User= and Group= set, and its install comment replaced by ours. */
export function renderUnit(template: string, opts: UnitOptions): string {
  const lines = template.split('\n');
  const start = lines.findIndex((l) => l.trim() === '[Unit]');
  if (start < 0) throw new ServiceUnitError('the unit template has no [Unit] section');
  const count = (key: string) => lines.filter((l) => l.startsWith(`${key}=`)).length;
  for (const key of ['ExecStart', 'User', 'Group']) {
    if (count(key) !== 1) throw new ServiceUnitError(`the unit template must have exactly one ${key}= line (it has ${count(key)})`);
  }
  if (opts.command.length === 0) throw new ServiceUnitError('the service needs a command');
  checkUserName(opts.user);
  const header = [
    `# 0share peer, installed by \`0share service install\` (0share ${opts.version}); \`0share service uninstall\` removes it.`,
    ...(opts.createdUser ? [createdMarker(opts.user)] : []),
    '# See docs/user-guide.md ("Starting on boot").',
  ];
  const body = lines.slice(start).map((l) => {
    if (l.startsWith('ExecStart=')) return `ExecStart=${opts.command.map(systemdQuote).join(' ')}`;
    if (l.startsWith('User=')) return `User=${opts.user}`;
    if (l.startsWith('Group=')) return `Group=${opts.user}`;
    return l;
  });
  return [...header, ...body].join('\n');
}

/** Whether an installed unit says that install created its user. */
export function unitCreatedUser(unit: string, user: string): boolean {
  return unit.split('\n').includes(createdMarker(user));
}

/** The /etc/crontab line (it has a user column) that starts the peer at boot; cron runs it with
 * /bin/sh and reads `%` as a newline, so that is escaped. */
export function crontabLine(user: string, command: readonly string[]): string {
  return `@reboot ${user} ${command.map(shellQuote).join(' ').replace(/%/g, '\\%')}`;
}

export type Step =
  | { kind: 'run'; argv: string[]; why: string }
  /** `systemd-analyze verify` of the unit, written to a temp dir as 0share.service. */
  | { kind: 'verify'; unit: string; why: string }
  | { kind: 'write'; path: string; text: string; why: string }
  | { kind: 'remove'; path: string; why: string }
  | { kind: 'tell'; text: string };

export interface InstallFacts {
  init: InitSystem;
  user: string;
  userExists: boolean;
  /** The unit being replaced says an earlier install created the user (kept on a reinstall). */
  createdBefore?: boolean;
  /** systemd-analyze is installed: the unit is verified before it is installed. */
  haveAnalyzer: boolean;
  unitPath: string;
  command: readonly string[];
  template: string;
  version: string;
}

export function createUserArgv(user: string): string[] {
  return ['useradd', '--system', '--user-group', '--home-dir', '/nonexistent', '--no-create-home', '--shell', '/usr/sbin/nologin', user];
}

export function installPlan(f: InstallFacts): Step[] {
  checkUserName(f.user);
  const steps: Step[] = [];
  if (!f.userExists) steps.push({ kind: 'run', argv: createUserArgv(f.user), why: `create the system user ${f.user}` });
  if (f.init === 'cron') {
    steps.push({
      kind: 'tell',
      text: `No systemd here: add this line to /etc/crontab (0share does not edit it):\n${crontabLine(f.user, f.command)}`,
    });
    return steps;
  }
  const unit = renderUnit(f.template, { command: f.command, user: f.user, createdUser: !f.userExists || f.createdBefore === true, version: f.version });
  if (f.haveAnalyzer) steps.push({ kind: 'verify', unit, why: 'check the unit before installing it' });
  steps.push({ kind: 'write', path: f.unitPath, text: unit, why: 'install the unit' });
  steps.push({ kind: 'run', argv: ['systemctl', 'daemon-reload'], why: 'make systemd read it' });
  steps.push({ kind: 'run', argv: ['systemctl', 'enable', '--now', UNIT_NAME], why: 'start it now and at every boot' });
  return steps;
}

export interface UninstallFacts {
  init: InitSystem;
  user: string;
  userExists: boolean;
  unitPath: string;
  /** The installed unit's text, if there is one. */
  installedUnit: string | undefined;
  command: readonly string[];
}

export function uninstallPlan(f: UninstallFacts): Step[] {
  checkUserName(f.user);
  if (f.init === 'cron') {
    return [
      { kind: 'tell', text: `No systemd here: remove this line from /etc/crontab (0share does not edit it):\n${crontabLine(f.user, f.command)}` },
      ...(f.userExists ? [{ kind: 'tell' as const, text: `The user ${f.user} is kept (\`userdel ${f.user}\` removes it).` }] : []),
    ];
  }
  if (f.installedUnit === undefined) return [{ kind: 'tell', text: `No unit at ${f.unitPath}: nothing to uninstall.` }];
  const steps: Step[] = [
    { kind: 'run', argv: ['systemctl', 'disable', '--now', UNIT_NAME], why: 'stop it and remove it from boot' },
    { kind: 'remove', path: f.unitPath, why: 'remove the unit' },
    { kind: 'run', argv: ['systemctl', 'daemon-reload'], why: 'make systemd forget it' },
  ];
  if (f.userExists && unitCreatedUser(f.installedUnit, f.user)) steps.push({ kind: 'run', argv: ['userdel', f.user], why: `remove the user ${f.user}, which install created` });
  else if (f.userExists) steps.push({ kind: 'tell', text: `The user ${f.user} existed before the install and is kept.` });
  return steps;
}

/** One line of a plan, as --dry-run prints it (and install as it goes). */
export function describeStep(step: Step): string {
  switch (step.kind) {
    case 'run':
      return `${step.argv.map(shellQuote).join(' ')}    # ${step.why}`;
    case 'verify':
      return `systemd-analyze verify ${UNIT_NAME}    # ${step.why} (written to a temp dir)`;
    case 'write':
      return `write ${step.path}    # ${step.why}`;
    case 'remove':
      return `rm ${step.path}    # ${step.why}`;
    case 'tell':
      return step.text;
  }
}
