import { readFile } from 'node:fs/promises';
import { DEFAULT_CONFIG, type ServerConfig } from './config.js';

/** A config file that cannot be used; the message names the file and the field. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code = 'FW_BAD_CONFIG';
}

/**
 * Reads a JSON config file: an object with any {@link ServerConfig} field. Unknown fields and wrong types
 * are errors (a misspelt limit silently left at its default is worse than a refusal to start).
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
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(parsed)) {
    if (!(key in DEFAULT_CONFIG)) {
      throw new ConfigError(
        `config ${path}: unknown setting "${key}" (known: ${Object.keys(DEFAULT_CONFIG).join(', ')})`,
      );
    }
    // Settings whose default is null take a string when given.
    const expected =
      DEFAULT_CONFIG[key as keyof ServerConfig] === null
        ? 'string'
        : typeof DEFAULT_CONFIG[key as keyof ServerConfig];
    const ok =
      expected === 'number'
        ? typeof value === 'number' && Number.isFinite(value) && value >= 0
        : typeof value === expected;
    if (!ok)
      throw new ConfigError(
        `config ${path}: "${key}" must be a ${expected === 'number' ? 'number ≥ 0' : expected}`,
      );
    out[key] = value;
  }
  return out as Partial<ServerConfig>;
}
