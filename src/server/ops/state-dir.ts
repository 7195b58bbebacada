import os from 'node:os';
import path from 'node:path';

/**
 * Where the server keeps what must survive a restart (its self-made TLS certificate): the XDG Base
 * Directory spec's state folder, `$XDG_STATE_HOME/framewire`, else `~/.local/state/framewire`.
 */
export function defaultStateDir(env: NodeJS.ProcessEnv = process.env, home: string = os.homedir()): string {
  const xdg = env.XDG_STATE_HOME;
  // The spec says a relative value is invalid and must be ignored.
  if (xdg !== undefined && path.isAbsolute(xdg)) return path.join(xdg, 'framewire');
  return path.join(home, '.local', 'state', 'framewire');
}
