// This machine's addresses as other machines see them: which hosts reach only this machine, which names a
// self-made certificate must carry, and which addresses to tell people to open. Pure over the output of
// os.networkInterfaces() and os.hostname(), so the rules are tested without the real network.
import net from 'node:net';
import type os from 'node:os';

/** The output of `os.networkInterfaces()`. */
export type Interfaces = ReturnType<typeof os.networkInterfaces>;

// 127.0.0.0/8 and ::1; BlockList also matches their IPv4-mapped form (::ffff:127.0.0.1) and long IPv6 forms.
const LOOPBACK = new net.BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** True when listening on `host` is reachable from this machine only: 127.0.0.0/8, ::1 or `localhost`. */
export function isLoopbackHost(host: string): boolean {
  if (host.toLowerCase() === 'localhost') return true;
  const family = net.isIP(host);
  return family !== 0 && LOOPBACK.check(host, family === 4 ? 'ipv4' : 'ipv6');
}

/** True for the "every interface" addresses, 0.0.0.0 and ::, which name no machine a client can reach. */
export function isWildcardHost(host: string): boolean {
  // ::, 0::0, 0:0:0:0:0:0:0:0 and the like: every group zero.
  return host === '0.0.0.0' || (net.isIPv6(host) && /^[0:]+$/.test(host));
}

/** Names a TLS certificate carries (subjectAltName): IP addresses and DNS names, without duplicates. */
export interface CertificateNames {
  ips: string[];
  dns: string[];
}

/**
 * Every name a browser or CLI client may use to reach a server on this machine listening on `host`: the
 * loopback addresses and `localhost`, each interface address (IPv4 and IPv6, internal ones included, since
 * a certificate costs nothing per name), the host name (and `NAME.local`, which mDNS resolves on most
 * LANs), and `host` itself when it names one address or name rather than every interface.
 */
export function certificateNames(host: string, interfaces: Interfaces, hostname: string): CertificateNames {
  const ips = new Set<string>(['127.0.0.1', '::1']);
  const dns = new Set<string>(['localhost']);
  for (const list of Object.values(interfaces)) {
    for (const info of list ?? []) ips.add(canonicalIp(info.address));
  }
  const name = hostname.toLowerCase();
  // A host name that is not a DNS name (spaces, underscores on some systems) cannot be typed in a URL.
  if (DNS_NAME.test(name)) {
    dns.add(name);
    if (!name.includes('.')) dns.add(`${name}.local`);
  }
  if (!isWildcardHost(host)) {
    if (net.isIP(host) !== 0) ips.add(canonicalIp(host));
    else if (DNS_NAME.test(host.toLowerCase())) dns.add(host.toLowerCase());
  }
  return { ips: [...ips], dns: [...dns] };
}

// Labels of letters, digits and inner hyphens, dot-separated; a trailing dot is left out.
const DNS_NAME =
  /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;

/**
 * The hosts other machines can use to reach a server listening on `host`: for 0.0.0.0 every non-internal
 * IPv4 address, for :: every non-internal IPv4 and IPv6 one (a :: socket takes both), else `host` itself.
 * Link-local IPv6 addresses (fe80::/10) are left out: a browser cannot open them without a zone index.
 */
export function addressesToOpen(host: string, interfaces: Interfaces): string[] {
  if (!isWildcardHost(host)) return [host];
  const withIpv6 = host !== '0.0.0.0';
  const out = new Set<string>();
  for (const list of Object.values(interfaces)) {
    for (const info of list ?? []) {
      if (info.internal) continue;
      if (info.family === 'IPv6' && (!withIpv6 || /^fe[89ab]/i.test(info.address))) continue;
      out.add(canonicalIp(info.address));
    }
  }
  return [...out];
}

/** One spelling per address (IPv6 compressed, lower case), so the same address is not named twice. */
export function canonicalIp(address: string): string {
  if (!net.isIPv6(address)) return address;
  // A zone index (fe80::1%eth0) belongs to this machine's routing, not to the address a certificate names.
  const bare = address.split('%', 1)[0] as string;
  return new URL(`http://[${bare}]/`).hostname.slice(1, -1);
}
