// What a page that is not secure says before anyone clicks: browsers give a page on plain http:// at an
// address other than localhost no camera and no WebCodecs, so without this notice it just does nothing.
import { el } from './dom.js';

/** The addresses of this same page that a browser treats as secure. */
export interface SecureAddresses {
  /** On the server's own machine: plain http:// is secure on localhost. */
  local: string;
  /** From any machine: the same host and port over https://. */
  remote: string;
  /** This page came over plain http://, so its port does not serve TLS (yet). */
  plainHttp: boolean;
}

/** Said on the camera bar of a page that is not secure (the notice above it says what to open instead). */
export const NOT_SECURE_CAMERA =
  'Start camera is off: this page is not secure (plain http:// at an address other than localhost), so the browser gives it no camera. The notice above says which address to open.';

/** The secure addresses of the page at `url`: same path and query, on localhost, and over https://. */
export function secureAddresses(url: URL): SecureAddresses {
  const plainHttp = url.protocol === 'http:';
  // The server answers HTTPS on the port it answers HTTP on today, so the port stays (even a default 80).
  const port = url.port || (plainHttp ? '80' : '443');
  const path = `${url.pathname}${url.search}`;
  return {
    local: `http://localhost${url.port ? `:${url.port}` : ''}${path}`,
    remote: `https://${url.hostname}:${port}${path}`,
    plainHttp,
  };
}

/** The notice (id `insecure-notice`): what is missing, and the exact addresses that work. */
export function insecureNotice(url: URL): HTMLElement {
  const { local, remote, plainHttp } = secureAddresses(url);
  const link = (href: string) => el('a', { href }, href);
  return el(
    'section',
    { class: 'insecure-notice', id: 'insecure-notice', role: 'alert' },
    el('h2', {}, 'This page cannot use a camera or decode video'),
    el(
      'p',
      {},
      'The browser gives a page on plain http:// at an address other than localhost no camera, no video encoder and no video decoder. You can watch here as plain video, a few seconds behind. To send your camera or watch live, open:',
    ),
    el(
      'ul',
      {},
      el(
        'li',
        {},
        'on the server’s own machine: ',
        link(local),
        ' (if the server listens on localhost too, e.g. with ',
        el('code', {}, '--host 0.0.0.0'),
        ');',
      ),
      plainHttp
        ? el(
            'li',
            {},
            'from other machines: ',
            link(remote),
            '. This page came over plain http://, so this server port is not serving TLS: restart the server without ',
            el('code', {}, '--no-tls'),
            ' (it makes its own certificate, which the browser asks you to accept once), or put it behind a TLS proxy.',
          )
        : el('li', {}, 'from other machines: ', link(remote), '.'),
    ),
  );
}
