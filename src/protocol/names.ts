// Room and stream names: one rule for the server, the CLI and the browser app (FW_BAD_NAME when broken).

/** Room and stream names: URL-safe, so a room is also a path segment (`/r/<room>`) and a folder name. */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** The rule in words, for error messages. */
export const NAME_RULE = '1-64 of A-Z a-z 0-9 . _ - (starting with a letter or digit)';

/** True when `name` is a valid room or stream name. */
export function isValidName(name: string): boolean {
  return NAME_PATTERN.test(name);
}

/** Why `name` is not a valid name (`what` says which: "room", "stream name"), or undefined when it is. */
export function badName(name: string, what: string): string | undefined {
  return isValidName(name) ? undefined : `${what} ${JSON.stringify(name)} must be ${NAME_RULE}`;
}

/**
 * Whether a token for `grantRoom` covers `room`: that room exactly, or, with `prefix`, every room whose
 * name starts with it ("lab-" covers "lab-1"). The server enforces it; the browser reads it to decide
 * what to offer.
 */
export function roomGranted(grantRoom: string, prefix: boolean, room: string): boolean {
  return prefix ? room.startsWith(grantRoom) : room === grantRoom;
}
