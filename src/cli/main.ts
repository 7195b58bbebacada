import type { CliContext, Command } from './command.js';
import { EXIT_USAGE, toCliError, usageError } from './errors.js';
import { publishCommand } from './publish.js';
import { serveCommand } from './serve.js';
import { tokenCommand } from './token.js';
import { watchCommand } from './watch.js';

const COMMANDS: readonly Command[] = [serveCommand, publishCommand, watchCommand, tokenCommand];

const TOOL_USAGE = `Usage: framewire <command> [flags]

Real-time video relay: publish encoded video to a server, watch it from anywhere.

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(9)} ${c.summary}`).join('\n')}

Run \`framewire <command> --help\` for a command's flags.
`;

/** The CLI: runs `framewire <command> ...` and resolves with the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    process.stderr.write(TOOL_USAGE);
    return EXIT_USAGE;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    const topic = COMMANDS.find((c) => c.name === rest[0]);
    process.stdout.write(topic ? topic.usage : TOOL_USAGE);
    return 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    return report(
      usageError('', `unknown command "${name}" (commands: ${COMMANDS.map((c) => c.name).join(', ')})`),
    );
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(command.usage);
    return 0;
  }

  // The first Ctrl-C asks the command to stop cleanly (finish a recording, tell the server); a second
  // one means "now".
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => {
    if (controller.signal.aborted) process.exit(signal === 'SIGINT' ? 130 : 143);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const ctx: CliContext = { stdout: process.stdout, stderr: process.stderr, signal: controller.signal };
  try {
    return await command.run(rest, ctx);
  } catch (err) {
    return report(err);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** Prints an error: one line for an expected failure, the stack for a bug. */
function report(err: unknown): number {
  const cliError = toCliError(err);
  if (cliError) {
    process.stderr.write(`framewire: ${cliError.message}\n`);
    return cliError.exitCode;
  }
  process.stderr.write(
    `framewire: unexpected error (please report it): ${err instanceof Error ? err.stack : String(err)}\n`,
  );
  return 1;
}
