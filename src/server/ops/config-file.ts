import { readFile } from 'node:fs/promises';
import { CONFIG_RANGES, ConfigError, checkConfig, DEFAULT_CONFIG, type ServerConfig } from './config.js';

// Callers catch it from here, where config files are read; it lives with the ranges it reports on.
export { ConfigError };

/**
 * Reads a JSON config file: an object with any {@link ServerConfig} field. Unknown fields, wrong types and
 * numbers outside {@link CONFIG_RANGES} are errors (a misspelt limit silently left at its default, or a
 * port that cannot exist, is worse than a refusal to start).
 */
export async function loadConfigFile(path: string): Promise<Partial<ServerConfig>> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    throw new ConfigError(`cannot read config ${path}: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError(`config ${path} must be a JSON object of settings`);
  }
  const where = `config ${path}`;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(parsed)) {
    if (!(key in DEFAULT_CONFIG)) {
      throw new ConfigError(
        `${where}: unknown setting "${key}" (known: ${Object.keys(DEFAULT_CONFIG).join(', ')})`,
      );
    }
    // Numbers are checked, type and range, by checkConfig below. Settings whose default is null take a
    // string when given.
    const fallback = DEFAULT_CONFIG[key as keyof ServerConfig];
    const expected = fallback === null ? 'string' : typeof fallback;
    if (!Object.hasOwn(CONFIG_RANGES, key) && typeof value !== expected) {
      throw new ConfigError(`${where}: "${key}" must be a ${expected}`);
    }
    out[key] = value;
  }
  checkConfig(out as Partial<ServerConfig>, where);
  return out as Partial<ServerConfig>;
}
