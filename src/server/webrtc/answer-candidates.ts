/**
 * Puts the reachable candidate first in an SDP answer: with `publicIp`, a host candidate at that address
 * (the same port) goes before every gathered one, and the connection line names it; then IPv4 before
 * IPv6. Clients that take only the first host candidate (ffmpeg 8's WHIP) then reach us.
 */
export function orderCandidates(sdp: string, publicIp: string | null): string {
  const eol = sdp.includes('\r\n') ? '\r\n' : '\n';
  const lines = sdp.split(/\r?\n/);
  const out: string[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i] as string;
    if (!line.startsWith('a=candidate:')) {
      out.push(publicIp !== null && line.startsWith('c=IN IP4 ') ? `c=IN IP4 ${publicIp}` : line);
      i++;
      continue;
    }
    const run: string[] = [];
    while (i < lines.length && (lines[i] as string).startsWith('a=candidate:'))
      run.push(lines[i++] as string);
    const v4 = run.filter((c) => !(c.split(' ')[4] ?? '').includes(':'));
    const v6 = run.filter((c) => (c.split(' ')[4] ?? '').includes(':'));
    if (publicIp !== null) {
      const port = (v4[0] ?? v6[0] ?? '').split(' ')[5];
      if (port !== undefined) out.push(`a=candidate:0 1 UDP 2130706431 ${publicIp} ${port} typ host`);
    }
    out.push(...v4, ...v6);
  }
  return out.join(eol);
}
