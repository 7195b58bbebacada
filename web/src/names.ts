// Names as people type and read them; the rule itself is the protocol's (src/protocol/names.ts).

export { isValidName } from '../../src/protocol/index.js';

/** Lowercase letters and digits, joined by '-': the safe part of what a person typed. */
export function slugify(text: string, maxLength = 40): string {
  const slug = text
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '') // é → e, so accented names keep their letters
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[^a-z0-9]+/, '')
    .replace(/-+$/, '')
    .slice(0, maxLength)
    .replace(/[^a-z0-9]+$/, '');
  return slug;
}

/** The suffix {@link streamNameFor} adds: a dash and four of {@link randomSuffix}'s characters. */
export const PERSON_SUFFIX = /-[a-km-np-z2-9]{4}$/;

/** A few random lowercase letters and digits. */
export function randomSuffix(length = 4): string {
  const alphabet = 'abcdefghijkmnpqrstuvwxyz23456789'; // no l/1/o/0: readable when spoken
  const bytes = crypto.getRandomValues(new Uint8Array(length));
  return Array.from(bytes, (b) => alphabet[b % alphabet.length]).join('');
}

/**
 * A stream name for a person: their name made safe, plus a random suffix so that two tabs opened by the same
 * person do not collide (FW_STREAM_EXISTS).
 */
export function streamNameFor(personName: string): string {
  return `${slugify(personName) || 'guest'}-${randomSuffix()}`;
}

/**
 * A stream name as people read it. Names this page made for a person (`streamNameFor`: their name, a dash
 * and a 4-character suffix) read as the person: `grace-hopper-3r8x` → `Grace Hopper`. Any other name (a
 * camera's `vp8cam`, `lobby.east`) is shown exactly as published.
 */
export function displayName(streamName: string): string {
  if (!PERSON_SUFFIX.test(streamName)) return streamName;
  const words = streamName
    .replace(PERSON_SUFFIX, '')
    .split(/[-_.]+/)
    .filter(Boolean);
  return words.map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join(' ') || streamName;
}

/** A fresh, friendly room name for "create a room". */
export function randomRoomName(): string {
  const words = [
    'amber',
    'birch',
    'cedar',
    'delta',
    'ember',
    'fjord',
    'grove',
    'harbor',
    'indigo',
    'juniper',
  ];
  const [byte = 0] = crypto.getRandomValues(new Uint8Array(1));
  const word = words[byte % words.length];
  return `${word}-${randomSuffix(5)}`;
}
