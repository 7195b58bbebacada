// Printing a host and port: one form for the server's URLs, the client's errors and the CLI.

/** `host:port`, with IPv6 literals bracketed so the port is unambiguous. */
export function formatAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
