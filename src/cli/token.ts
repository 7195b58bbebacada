import { parseArgs } from 'node:util';
import { isValidName } from '../protocol/index.js';
import { checkSecret, mintToken, verifyToken, WeakSecretError } from '../server/ops/auth.js';
import { required, withUsage } from './args.js';
import type { CliContext, Command } from './command.js';
import { CliError, usageError } from './errors.js';

const USAGE = `Usage: framewire token --room R [--prefix] [--publish] [--view] [--ttl 1h] [--secret S]

Mints an access token for a server that has a secret (FRAMEWIRE_SECRET). Prints only the token on
stdout, so \`TOKEN=$(framewire token --room lab --publish)\` works; a summary goes to stderr. Pass it
with \`--token\` to publish and watch, or as \`?token=\` in the web app's address.

Flags:
  --room R       the room the token is for
  --prefix       R is a prefix: the token is good for every room whose name starts with R (e.g. lab-)
  --publish      allow publishing streams
  --view         allow watching streams (with neither --publish nor --view: view only)
  --ttl T        lifetime: 30s, 10m, 1h, 7d or plain seconds, at most 365d (default 1h)
  --secret S     the server's secret (default: FRAMEWIRE_SECRET; the flag shows in \`ps\` and shell
                 history, so prefer the variable)
  -h, --help     show this help

Anyone holding the token can use it until it expires; there is no revocation short of changing the
server's secret. Keep lifetimes short.
`;

const TTL_UNITS: Record<string, number> = { '': 1, s: 1, m: 60, h: 3600, d: 86_400 };

// A year bounds the damage of a leaked token; longer-lived access is a secret, not a token.
const MAX_TTL_SEC = 365 * 86_400;

/** `30s`, `10m`, `1h`, `7d` or plain seconds, as seconds. */
function parseTtl(text: string): number {
  const m = /^(\d+)([smhd]?)$/.exec(text);
  const sec = Number(m?.[1]) * (TTL_UNITS[m?.[2] ?? 'x'] ?? Number.NaN);
  if (!m || !(sec > 0 && sec <= MAX_TTL_SEC)) {
    throw usageError('token', `--ttl "${text}" is not a lifetime from 1s to 365d (e.g. 30s, 10m, 1h, 7d)`);
  }
  return sec;
}

async function run(argv: string[], ctx: CliContext): Promise<number> {
  const flags = withUsage(
    'token',
    () =>
      parseArgs({
        args: argv,
        strict: true,
        allowPositionals: false,
        options: {
          room: { type: 'string' },
          prefix: { type: 'boolean', default: false },
          publish: { type: 'boolean', default: false },
          view: { type: 'boolean', default: false },
          ttl: { type: 'string', default: '1h' },
          secret: { type: 'string' },
        },
      }).values,
    argv,
  );
  const room = required('token', 'room', flags.room);
  if (!isValidName(room)) {
    throw usageError(
      'token',
      `--room "${room}" is not a room name (1-64 of A-Z a-z 0-9 . _ -, starting with a letter or digit)`,
    );
  }
  const ttlSec = parseTtl(flags.ttl);
  const secret = flags.secret ?? process.env.FRAMEWIRE_SECRET;
  if (secret === undefined || secret === '') {
    throw new CliError(
      'no secret to sign the token with: set FRAMEWIRE_SECRET (the same value the server uses) or pass --secret',
    );
  }
  try {
    checkSecret(secret, flags.secret === undefined ? 'FRAMEWIRE_SECRET' : '--secret');
  } catch (err) {
    if (err instanceof WeakSecretError) throw new CliError(err.message);
    throw err;
  }
  // View only by default: the least a token can grant is the safer thing to get by forgetting a flag.
  const publish = flags.publish;
  const view = flags.view || !flags.publish;
  const token = await mintToken(secret, { room, prefix: flags.prefix, publish, view, ttlSec });
  // Read back what was signed, so the summary states the token's own expiry, not a recomputed one.
  const grant = await verifyToken(secret, token);
  const rights = [publish && 'publish', view && 'view'].filter(Boolean).join('+');
  const where = grant.prefix ? `rooms starting with "${grant.room}"` : `room "${grant.room}"`;
  ctx.stderr.write(`token: ${rights} on ${where}, expires ${new Date(grant.expiresAt).toISOString()}\n`);
  ctx.stdout.write(`${token}\n`);
  return 0;
}

/** `framewire token`: mints an access token for a server with a secret. */
export const tokenCommand: Command = {
  name: 'token',
  summary: 'mint an access token (publish/view on a room) for a server with a secret',
  usage: USAGE,
  run,
};
