// Which codecs this page decodes: told to the server (so publishers pick one every viewer can decode), and
// checked before a stream's decoder is made (so a tile names the codec it cannot play instead of failing).

/** One probe per family: a config a WebCodecs decoder of that family must accept. */
const VIDEO_PROBES: Record<string, string> = {
  avc1: 'avc1.42e01f',
  vp8: 'vp8',
  vp09: 'vp09.00.31.08',
  av01: 'av01.0.05M.08',
};
const AUDIO_PROBES: Record<string, string> = { opus: 'opus', mp4a: 'mp4a.40.2' };

async function videoDecodes(codec: string): Promise<boolean> {
  if (typeof VideoDecoder === 'undefined') return false;
  try {
    return (
      (await VideoDecoder.isConfigSupported({ codec, codedWidth: 640, codedHeight: 480 })).supported === true
    );
  } catch {
    return false;
  }
}

async function audioDecodes(codec: string): Promise<boolean> {
  if (typeof AudioDecoder === 'undefined') return false;
  try {
    const config = { codec, sampleRate: 48_000, numberOfChannels: 2 };
    return (await AudioDecoder.isConfigSupported(config)).supported === true;
  } catch {
    return false;
  }
}

/**
 * The codec families this browser decodes, asked of WebCodecs. `narrowTo` (the `?decoders=vp8,opus` test
 * hook) keeps only those: the page then declares and decodes no others, as a browser without them would.
 */
export async function decodableFamilies(narrowTo: readonly string[] | null = null): Promise<Set<string>> {
  const probes = [
    ...Object.entries(VIDEO_PROBES).map(
      async ([family, codec]) => [family, await videoDecodes(codec)] as const,
    ),
    ...Object.entries(AUDIO_PROBES).map(
      async ([family, codec]) => [family, await audioDecodes(codec)] as const,
    ),
  ];
  const found = (await Promise.all(probes)).filter(([, ok]) => ok).map(([family]) => family);
  return new Set(narrowTo ? found.filter((f) => narrowTo.includes(f)) : found);
}

/** The `?decoders=` test hook's list, or null when absent. */
export function decodersHook(search: string): string[] | null {
  const value = new URLSearchParams(search).get('decoders');
  return value === null
    ? null
    : value
        .split(',')
        .map((f) => f.trim().toLowerCase())
        .filter(Boolean);
}
