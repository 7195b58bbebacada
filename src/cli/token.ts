import { parseArgs } from 'node:util';
import { isValidName } from '../protocol/index.js';
import {
  checkSecret,
  isTokenId,
  MAX_TOKEN_TTL_SEC,
  mintToken,
  readTokenId,
  verifyToken,
  WeakSecretError,
} from '../server/ops/auth.js';
import {
  addRevocation,
  entryExpiry,
  idOnlyExpiry,
  type Revocation,
  RevocationError,
  revocationsFile,
} from '../server/ops/revocations.js';
import { defaultStateDir } from '../server/ops/state-dir.js';
import { required, withUsage } from './args.js';
import type { CliContext, Command } from './command.js';
import { CliError, usageError } from './errors.js';

const USAGE = `Usage: framewire token --room R [--prefix] [--publish] [--view] [--ttl 1h] [--secret S]
       framewire token --admin [--publish] [--ttl 1h] [--secret S]
       framewire token --revoke ID|TOKEN [--state-dir DIR]

Mints an access token for a server that has a secret (FRAMEWIRE_SECRET). Prints only the token on
stdout, so \`TOKEN=$(framewire token --room lab --publish)\` works; a summary with the token's id goes to
stderr. Pass it with \`--token\` to publish and watch, as \`?token=\` in the web app's address, or as
\`Authorization: Bearer\` to the HTTP API.

Flags:
  --room R       the room the token is for
  --prefix       R is a prefix: the token is good for every room whose name starts with R (e.g. lab-)
  --publish      allow publishing streams
  --view         allow watching streams (with neither --publish nor --view: view only)
  --admin        an operator's token: views every room, and reads what only operators may (the list of
                 every room, /metrics, viewers' addresses), starts and stops recordings and revokes
                 tokens; with --publish it also publishes in every room. Not with --room
  --ttl T        lifetime: 30s, 10m, 1h, 7d or plain seconds, at most 365d (default 1h)
  --secret S     the server's secret (default: FRAMEWIRE_SECRET; the flag shows in \`ps\` and shell
                 history, so prefer the variable)
  --revoke X     revoke the token X, or the token whose id is X (as the summary printed it): a server
                 with the same state folder refuses it within a second, and closes what it holds open.
                 Needs no secret. On another machine, POST {"id": X} to /api/revocations with an admin
                 token instead (docs/security.md)
  --state-dir D  the server's state folder, where the revocations are kept (default
                 $XDG_STATE_HOME/framewire, else ~/.local/state/framewire, as \`framewire serve\`)
  -h, --help     show this help

Anyone holding a token can use it until it expires or is revoked. Keep lifetimes short.
`;

const TTL_UNITS: Record<string, number> = { '': 1, s: 1, m: 60, h: 3600, d: 86_400 };

/** `30s`, `10m`, `1h`, `7d` or plain seconds, as seconds. */
function parseTtl(text: string): number {
  const m = /^(\d+)([smhd]?)$/.exec(text);
  const sec = Number(m?.[1]) * (TTL_UNITS[m?.[2] ?? 'x'] ?? Number.NaN);
  if (!m || !(sec > 0 && sec <= MAX_TOKEN_TTL_SEC)) {
    throw usageError('token', `--ttl "${text}" is not a lifetime from 1s to 365d (e.g. 30s, 10m, 1h, 7d)`);
  }
  return sec;
}

type TokenFlags = {
  room?: string;
  prefix: boolean;
  publish: boolean;
  view: boolean;
  admin: boolean;
  ttl?: string;
  secret?: string;
  revoke?: string;
  'state-dir'?: string;
};

/**
 * `--revoke ID` with an id that starts with `-` (1 in 64 do: base64url) as `--revoke=ID`, which parseArgs
 * would otherwise take for a flag and refuse, as `framewire token` printed the id.
 */
function revokeValueJoined(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const next = argv[i + 1];
    if (argv[i] === '--revoke' && next !== undefined && next.startsWith('-') && isTokenId(next)) {
      out.push(`--revoke=${next}`);
      i++;
    } else out.push(argv[i] as string);
  }
  return out;
}

async function run(argv: string[], ctx: CliContext): Promise<number> {
  const flags: TokenFlags = withUsage(
    'token',
    () =>
      parseArgs({
        args: revokeValueJoined(argv),
        strict: true,
        allowPositionals: false,
        options: {
          room: { type: 'string' },
          prefix: { type: 'boolean', default: false },
          publish: { type: 'boolean', default: false },
          view: { type: 'boolean', default: false },
          admin: { type: 'boolean', default: false },
          ttl: { type: 'string' },
          secret: { type: 'string' },
          revoke: { type: 'string' },
          'state-dir': { type: 'string' },
        },
      }).values,
    argv,
  );
  if (flags.revoke !== undefined) return revoke(flags, flags.revoke, ctx);
  if (flags['state-dir'] !== undefined) throw usageError('token', '--state-dir goes with --revoke');
  if (flags.admin && (flags.room !== undefined || flags.prefix)) {
    throw usageError('token', '--admin is a token for every room: leave out --room and --prefix');
  }
  const room = flags.admin ? '' : required('token', 'room', flags.room);
  if (!flags.admin && !isValidName(room)) {
    throw usageError(
      'token',
      `--room "${room}" is not a room name (1-64 of A-Z a-z 0-9 . _ -, starting with a letter or digit)`,
    );
  }
  const ttlSec = parseTtl(flags.ttl ?? '1h');
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
  // An admin token views every room: it reads them all through the API anyway.
  const publish = flags.publish;
  const view = flags.view || flags.admin || !flags.publish;
  const token = await mintToken(secret, {
    room,
    prefix: flags.admin || flags.prefix,
    publish,
    view,
    admin: flags.admin,
    ttlSec,
  });
  // Read back what was signed, so the summary states the token's own expiry, not a recomputed one.
  const grant = await verifyToken(secret, token);
  const rights = [grant.admin && 'admin', publish && 'publish', view && 'view'].filter(Boolean).join('+');
  const where = grant.admin
    ? 'every room'
    : grant.prefix
      ? `rooms starting with "${grant.room}"`
      : `room "${grant.room}"`;
  ctx.stderr.write(
    `token: ${rights} on ${where}, expires ${new Date(grant.expiresAt).toISOString()}, id ${grant.id} ` +
      `(revoke with \`framewire token --revoke ${grant.id}\`)\n`,
  );
  ctx.stdout.write(`${token}\n`);
  return 0;
}

/** `--revoke X`: adds token X (or the token whose id is X) to the state folder's revocation list. */
async function revoke(flags: TokenFlags, what: string, ctx: CliContext): Promise<number> {
  const others = (['room', 'ttl', 'secret'] as const).filter((f) => flags[f] !== undefined);
  const switches = (['prefix', 'publish', 'view', 'admin'] as const).filter((f) => flags[f]);
  const extra = [...others, ...switches][0];
  if (extra !== undefined) throw usageError('token', `--revoke takes only --state-dir, not --${extra}`);
  const stateDir = flags['state-dir'] ?? defaultStateDir();
  if (stateDir === '') throw usageError('token', '--state-dir needs a folder name');
  let entry: Revocation;
  if (what.includes('.')) {
    const claims = readTokenId(what);
    if (claims === null) throw usageError('token', '--revoke: that is not a Framewire token with an id');
    if (entryExpiry(claims.expiresAt) <= Date.now()) {
      ctx.stderr.write(`token ${claims.id} has expired already: no server accepts it, nothing to revoke\n`);
      return 0;
    }
    entry = { id: claims.id, expiresAt: entryExpiry(claims.expiresAt) };
  } else if (isTokenId(what)) {
    // Only the id: its token may live up to the longest lifetime, so the entry is kept that long.
    entry = { id: what, expiresAt: idOnlyExpiry() };
  } else {
    throw usageError('token', `--revoke "${what}" is neither a token nor a token id`);
  }
  const file = revocationsFile(stateDir);
  let done: 'added' | 'already';
  try {
    done = await addRevocation(file, entry);
  } catch (err) {
    if (err instanceof RevocationError) throw new CliError(err.message);
    const { code, message } = err as NodeJS.ErrnoException;
    if (code !== undefined) throw new CliError(`cannot write the revocation list ${file}: ${message}`);
    throw err;
  }
  const until = new Date(entry.expiresAt).toISOString();
  ctx.stderr.write(
    done === 'already'
      ? `token ${entry.id} is revoked already (in ${file})\n`
      : `revoked token ${entry.id} (listed until ${until} in ${file}): a server with this state folder ` +
          'refuses it within a second and closes its connections\n',
  );
  return 0;
}

/** `framewire token`: mints an access token for a server with a secret. */
export const tokenCommand: Command = {
  name: 'token',
  summary: 'mint an access token (for rooms, or an admin one) for a server with a secret, or revoke one',
  usage: USAGE,
  run,
};
