#!/usr/bin/env node
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, Option } from 'commander';
import { isCacheError } from '../errors.js';
import * as commands from './commands.js';
import { CliError, connect, EXIT, type Connection, type ConnectionFlags } from './connect.js';
import { top } from './top.js';
import { warm, type WarmFlags } from './warm.js';

const EXIT_HELP = `
Exit codes:
  0  ok (health: ok or degraded; degraded is said on the output)
  1  operational failure (the store or bus cannot be reached, a call failed)
  2  usage error (unknown command or flag, bad value, a missing --yes)
  3  not found (get, inspect: no such key)
  4  health reports down
  5  warm: no instance took the request within --timeout
  130  warm: interrupted while following (the run goes on)

Environment: CACHE_BACKEND (default redis here), REDIS_URL (or the variable of the backend), CACHE_PREFIX,
CACHE_BUS=off. Flags win over the environment.`;

interface GlobalFlags extends ConnectionFlags {
  json?: boolean;
}

/** Builds the program; `run` parses and runs it. Separate so tests and embedders can drive it. */
export function program(io: { out(text: string): void; err(text: string): void }, exit: { code: number }, stop: Promise<void>): Command {
  const cli = new Command('tiercache')
    .description('Look at and act on a tiercache fleet through its shared store and bus.')
    .addOption(new Option('--url <url>', 'where the shared store is (default: REDIS_URL or the backend variable)'))
    .addOption(new Option('--prefix <prefix>', "the caches' key prefix (default: CACHE_PREFIX)"))
    .addOption(new Option('--store-prefix <prefix>', "the store's own key prefix (default: the store's, tiercache:)"))
    .addOption(new Option('--channel <channel>', 'the bus channel (default: tiercache:bus)'))
    .addOption(new Option('--no-bus', 'do not announce actions on the bus'))
    .addOption(new Option('--timeout <duration>', 'longest a store call may take').default('2s'))
    .option('--json', 'print JSON for scripts')
    .showHelpAfterError('(add --help for usage)')
    .addHelpText('after', EXIT_HELP)
    .exitOverride()
    .configureOutput({ writeOut: (text) => io.out(text.replace(/\n$/, '')), writeErr: (text) => io.err(text.replace(/\n$/, '')) });

  const action =
    (run: (conn: Connection, output: commands.Output, ...args: never[]) => Promise<number>, connection?: (flags: GlobalFlags, command: Command) => GlobalFlags) =>
    async (...args: unknown[]): Promise<void> => {
      const command = args.at(-1) as Command;
      const given = command.optsWithGlobals<GlobalFlags>();
      const flags = connection === undefined ? given : connection(given, command);
      const output: commands.Output = { json: flags.json === true, out: (text) => io.out(text), err: (text) => io.err(text) };
      const conn = await connect(flags);
      try {
        exit.code = await (run as (conn: Connection, output: commands.Output, ...rest: unknown[]) => Promise<number>)(conn, output, ...args.slice(0, -1));
      } finally {
        await conn.cache.close();
      }
    };

  cli
    .command('stats')
    .description("the fleet's hit rate and memory from every instance's heartbeat, and a live probe of the store and bus")
    .action(action((conn, output) => commands.stats(conn, output)));
  cli
    .command('health')
    .description('ok, degraded or down (exit 4), from a live probe and the instances\' heartbeats')
    .action(action((conn, output) => commands.health(conn, output)));
  cli
    .command('instances')
    .description('every live instance sharing the prefix, one row each')
    .action(action((conn, output) => commands.instances(conn, output)));
  cli
    .command('inspect')
    .description("a key's metadata: tier, size, TTL, tags (exit 3 when missing)")
    .argument('<key>', 'the key, as the application names it')
    .action(action((conn, output, key: string) => commands.inspect(conn, key, output)));
  cli
    .command('get')
    .description('a value, decoded with the codec and shown as JSON (exit 3 when missing)')
    .argument('<key>', 'the key, as the application names it')
    .action(action((conn, output, key: string) => commands.get(conn, key, output)));
  cli
    .command('invalidate')
    .description('remove keys, a pattern or tags in every tier and every instance; logged with its reason')
    .option('--tag <tags...>', 'tags to invalidate')
    .option('--pattern <glob>', 'a glob over keys (* any run, ? one character); "*" alone needs --yes')
    .option('--key <keys...>', 'keys to remove')
    .option('--reason <text>', 'why, recorded in the invalidation log')
    .option('--yes', 'confirm a pattern that matches every key')
    .action(action((conn, output, flags: commands.InvalidateFlags) => commands.invalidate(conn, flags, output, process.stderr.isTTY && !output.json)));
  cli
    .command('expire')
    .description('soft-invalidate tags: their entries turn stale (served only to callers that accept stale values)')
    .requiredOption('--tag <tags...>', 'tags to expire')
    .option('--reason <text>', 'why, recorded in the invalidation log')
    .action(action((conn, output, flags: { tag: string[]; reason?: string }) => commands.expire(conn, flags.tag, flags.reason, output)));
  cli
    .command('events')
    .description('the shared invalidation log, oldest first; --follow keeps printing new ones until Ctrl-C')
    .option('--follow', 'keep printing new events')
    .option('--since <when>', 'a duration back from now (10m) or a date')
    .option('--limit <n>', 'most events to print first', '100')
    .action(action((conn, output, flags: { follow?: boolean; since?: string; limit?: string }) => commands.events(conn, flags, output, stop)));
  cli
    .command('top')
    .description('a live table of the fleet, refreshed in place; q or Ctrl-C quits')
    .option('--interval <duration>', 'refresh every (500ms to 60s)', '2s')
    .option('--iterations <n>', 'stop after this many refreshes (default: until quit)')
    .action(action((conn, output, flags: { interval?: string; iterations?: string }) => top(conn, flags, output, stop)));
  // For warm, --timeout is how long to wait for an instance to take the request; store calls keep the default bound.
  let acceptTimeout = '10s';
  cli
    .command('warm')
    .description('ask the fleet to run a served warmer (serveWarmRequests) on one instance, and follow it to its report')
    .option('--task <ids...>', 'task ids to run (default: every task of the warmer)')
    .option('--force', 'recompute keys that hold a fresh value')
    .option('--warmer <name>', "the served warmer's name (default: the instance's only one, or 'default')")
    .addHelpText('after', '\nHere --timeout is how long to wait for an instance to take the request (default 10s; exit 5 past it).')
    .action(
      action(
        (conn, output, flags: WarmFlags) => warm(conn, flags, acceptTimeout, output, process.stderr.isTTY && !output.json, stop),
        (flags, command) => {
          if (command.parent?.getOptionValueSource('timeout') === 'cli' && flags.timeout !== undefined) acceptTimeout = flags.timeout;
          const { timeout: _ignored, ...rest } = flags;
          return rest;
        },
      ),
    );
  cli
    .command('clear')
    .description('remove every entry under the prefix from the store and every instance (needs --yes)')
    .option('--yes', 'really do it')
    .option('--reason <text>', 'why, recorded in the invalidation log')
    .action(action((conn, output, flags: { yes?: boolean; reason?: string }) => commands.clear(conn, flags.yes === true, flags.reason, output)));
  for (const command of cli.commands) command.addHelpText('after', EXIT_HELP);
  return cli;
}

/** Parses `argv` (without node and the script), runs the command, and resolves to its exit code. */
export async function run(argv: readonly string[], io = { out: (text: string) => console.log(text), err: (text: string) => console.error(text) }, stop: Promise<void> = new Promise(() => undefined)): Promise<number> {
  const exit = { code: EXIT.ok };
  try {
    await program(io, exit, stop).parseAsync([...argv], { from: 'user' });
    return exit.code;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.help' || error.code === 'commander.version') return EXIT.ok;
      // Commander has printed its message (it names the flag or argument).
      return EXIT.usage;
    }
    if (error instanceof CliError) {
      io.err(`tiercache: ${error.message}`);
      return error.exitCode;
    }
    if (error instanceof TypeError || (isCacheError(error) && (error.code === 'E_INVALID_KEY' || error.code === 'E_INVALID_PATTERN' || error.code === 'E_NOT_CONFIRMED'))) {
      io.err(`tiercache: ${error.message}`);
      return EXIT.usage;
    }
    io.err(`tiercache: ${error instanceof Error ? error.message : String(error)}`);
    return EXIT.failure;
  }
}

function isMain(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain()) {
  let interrupt: () => void = () => undefined;
  const stop = new Promise<void>((resolve) => (interrupt = resolve));
  let interrupts = 0;
  process.on('SIGINT', () => {
    // The first Ctrl-C ends a following command cleanly; a second one does not wait.
    if (++interrupts > 1) process.exit(130);
    interrupt();
  });
  process.on('SIGTERM', () => interrupt());
  // Exits at once: pipes are written synchronously on Linux, and nothing of the CLI is left to finish.
  process.exit(await run(process.argv.slice(2), undefined, stop));
}
