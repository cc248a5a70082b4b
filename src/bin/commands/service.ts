// `0share service install|uninstall|unit`: the peer as a system service. install creates the
// system user if missing, writes the systemd unit for the running 0share (the real paths of its
// node and CLI), checks it with `systemd-analyze verify` and enables it; without systemd it prints
// the crontab line instead. --dry-run prints the plan and changes nothing.
import { join } from 'node:path';
import type { Command } from 'commander';
import { DEFAULT_SERVICE_USER, describeStep, type InitSystem, installPlan, renderUnit, ServiceUnitError, type Step, UNIT_NAME, uninstallPlan, unitCreatedUser } from '../../core/service-unit.js';
import { carryOut, detectInit, onPath, readIfExists, runningCli, unitTemplate, unreadableByOthers, userExists } from '../../io/service-system.js';
import { VERSION } from '../../io/version.js';
import { UserError } from '../cli-errors.js';

interface ServiceOptions {
  dryRun?: boolean;
  user: string;
  init?: string;
  unitDir: string;
}

function initOf(opts: ServiceOptions): { init: InitSystem; how: string } {
  if (opts.init === undefined) return { init: detectInit(), how: 'detected' };
  if (opts.init !== 'systemd' && opts.init !== 'cron') throw new UserError(`--init must be systemd or cron, not '${opts.init}'`);
  return { init: opts.init, how: '--init' };
}

/** node, the CLI and `serve` with the given options: what the service runs. */
function serviceCommand(serveArgs: readonly string[]): { command: string[]; problem: string | undefined } {
  const { node, cli } = runningCli();
  const blocked = [node, cli].map(unreadableByOthers).find((p) => p !== undefined);
  const problem = blocked && `other users cannot read ${blocked}, so the service user cannot run this 0share; install 0share where every user can read it (\`npm install -g\`, or 0install as root, into the system store)`;
  return { command: [node, cli, 'serve', ...serveArgs], problem };
}

function requireRoot(opts: ServiceOptions, what: string): void {
  if (!opts.dryRun && process.getuid?.() !== 0) {
    throw new UserError(`\`0share service ${what}\` changes the system: run it as root (sudo), or add --dry-run to see what it would do`);
  }
}

/** --dry-run prints the steps; otherwise each is printed and carried out, stopping at the first failure. */
function plan(steps: Step[], opts: ServiceOptions): void {
  if (opts.dryRun) {
    process.stdout.write(`steps:\n${steps.map((s, i) => `  ${i + 1}. ${describeStep(s).replace(/\n/g, '\n     ')}\n`).join('')}`);
    return;
  }
  for (const step of steps) {
    if (step.kind !== 'tell') process.stdout.write(`${describeStep(step)}\n`);
    const failed = carryOut(step);
    if (failed) throw new UserError(failed);
  }
}

function common(cmd: Command): Command {
  return cmd
    .option('--dry-run', 'print the user, the unit and the commands; change nothing')
    .option('--user <name>', 'the system user the peer runs as', DEFAULT_SERVICE_USER)
    .option('--init <system>', 'systemd or cron (default: systemd when it runs this machine, else cron)')
    .option('--unit-dir <dir>', 'where the systemd unit goes', '/etc/systemd/system');
}

function wrap<A extends unknown[]>(fn: (...a: A) => void): (...a: A) => void {
  return (...a) => {
    try {
      fn(...a);
    } catch (err) {
      if (err instanceof ServiceUnitError) throw new UserError(err.message);
      throw err;
    }
  };
}

export function registerService(program: Command): void {
  const service = program.command('service').description('run the peer as a system service (systemd, or cron without it)');

  common(service.command('install'))
    .description('create the service user if missing, install the systemd unit for this 0share and enable it (as root)')
    .argument('[serve-options...]', 'options for `0share serve`, after -- (e.g. -- --store DIR --allow CIDR)')
    .action(
      wrap((serveArgs: string[], opts: ServiceOptions) => {
        requireRoot(opts, 'install');
        const { init, how } = initOf(opts);
        const { command, problem } = serviceCommand(serveArgs);
        const unitPath = join(opts.unitDir, UNIT_NAME);
        const exists = userExists(opts.user);
        const previous = readIfExists(unitPath);
        const steps = installPlan({ init, user: opts.user, userExists: exists, createdBefore: previous !== undefined && unitCreatedUser(previous, opts.user), haveAnalyzer: onPath('systemd-analyze'), unitPath, command, template: unitTemplate(), version: VERSION });
        if (opts.dryRun) {
          process.stdout.write(`init: ${init} (${how})\nuser: ${opts.user} (${exists ? 'exists' : 'will be created'})\ncommand: ${command.join(' ')}\n`);
          if (problem) process.stdout.write(`problem: ${problem}\n`);
          if (init === 'systemd') {
            const unit = steps.find((s): s is Extract<Step, { kind: 'write' }> => s.kind === 'write')!;
            process.stdout.write(`unit: ${unitPath}\n--- ${unitPath}\n${unit.text}${unit.text.endsWith('\n') ? '' : '\n'}--- end of unit\n`);
          }
        } else if (problem) {
          throw new UserError(problem);
        }
        plan(steps, opts);
      }),
    );

  common(service.command('uninstall'))
    .description('disable and remove the unit, and the service user if install created it (as root)')
    .action(
      wrap((opts: ServiceOptions) => {
        requireRoot(opts, 'uninstall');
        const { init, how } = initOf(opts);
        const unitPath = join(opts.unitDir, UNIT_NAME);
        const exists = userExists(opts.user);
        const steps = uninstallPlan({ init, user: opts.user, userExists: exists, unitPath, installedUnit: readIfExists(unitPath), command: serviceCommand([]).command });
        if (opts.dryRun) process.stdout.write(`init: ${init} (${how})\nuser: ${opts.user} (${exists ? 'exists' : 'does not exist'})\nunit: ${unitPath}\n`);
        plan(steps, opts);
      }),
    );

  service
    .command('unit')
    .description('print the systemd unit that install would write')
    .argument('[serve-options...]', 'options for `0share serve`, after --')
    .option('--user <name>', 'the system user the peer runs as', DEFAULT_SERVICE_USER)
    .action(
      wrap((serveArgs: string[], opts: { user: string }) => {
        const unit = renderUnit(unitTemplate(), { command: serviceCommand(serveArgs).command, user: opts.user, createdUser: false, version: VERSION });
        process.stdout.write(unit.endsWith('\n') ? unit : `${unit}\n`);
      }),
    );
}
