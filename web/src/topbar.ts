// The room's top bar: brand, room name, connection status, and the shareable link.
import type { ConnectionState } from './connection.js';
import { el } from './dom.js';

/** The bar at the top of a room page. */
export class TopBar {
  /** The bar's root element. */
  readonly element: HTMLElement;
  private readonly status = el('span', { class: 'status', 'data-state': 'connecting' });

  constructor(room: string, watch: boolean) {
    const url = `${location.origin}/r/${room}`;
    const copy = el('button', { type: 'button', id: 'copy-link', class: 'ghost', title: url }, 'Copy link');
    copy.addEventListener('click', () => void copyText(url).then((ok) => flash(copy, ok ? 'Copied!' : url)));
    const other = watch
      ? el('a', { class: 'ghost button', href: `/r/${room}` }, 'Join with camera')
      : el('a', { class: 'ghost button', href: `/r/${room}?watch`, target: '_blank' }, 'Open wall');
    this.setStatus('connecting', 'connecting…');
    this.element = el(
      'header',
      { class: 'topbar' },
      el('a', { class: 'brand', href: '/' }, el('span', { class: 'logo' }), 'Framewire'),
      el(
        'div',
        { class: 'room-title' },
        el('span', { class: 'muted' }, watch ? 'Watching' : 'Room'),
        el('strong', {}, room),
      ),
      el('div', { class: 'spacer' }),
      this.status,
      copy,
      other,
    );
  }

  /** Shows the connection state (a coloured dot) and a short text. */
  setStatus(state: ConnectionState, detail: string): void {
    this.status.dataset.state = state;
    this.status.title = detail;
    this.status.replaceChildren(el('span', { class: 'dot' }), el('span', { class: 'status-text' }, detail));
  }
}

/** Copies text to the clipboard; false when the browser refuses (then the caller shows the text). */
async function copyText(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    return false;
  }
}

/** Shows `text` on a button for a moment. */
function flash(button: HTMLButtonElement, text: string): void {
  const original = button.textContent;
  button.textContent = text;
  window.setTimeout(() => {
    button.textContent = original;
  }, 1500);
}
