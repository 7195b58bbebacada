// The room's top bar: brand, room name, connection status, and the shareable link.
import type { ConnectionState } from './connection.js';
import { el } from './dom.js';
import { grantRefusal, readGrant, tokenCommand } from './token.js';

/** How long the note saying which link was copied stays up. */
const COPY_NOTE_MS = 8000;

/** The bar at the top of a room page. */
export class TopBar {
  /** The bar's root element. */
  readonly element: HTMLElement;
  private readonly status = el('span', { class: 'status', 'data-state': 'connecting' });
  private readonly note = el('span', { class: 'copy-note', id: 'copy-note', role: 'status', hidden: '' });
  private noteTimer = 0;

  /** `token` is the page's own ?token= ('' when none): links to this room carry it only where that is safe. */
  constructor(room: string, watch: boolean, token = '') {
    const bare = `${location.origin}/r/${room}`;
    const withToken = (path: string, extra = '') =>
      token
        ? `${path}?${extra}${extra ? '&' : ''}token=${encodeURIComponent(token)}`
        : `${path}${extra ? `?${extra}` : ''}`;
    const grant = token ? readGrant(token) : null;
    // Only a view-only token may travel in a shared link: one that publishes would let anyone who gets
    // the link send video into the room. The page cannot mint a view token (that takes the secret).
    const shareable = grant !== null && !grant.publish && grantRefusal(grant, 'view', room) === null;
    const buttons: HTMLElement[] = [];
    if (!token) {
      buttons.push(this.copyButton('copy-link', 'Copy link', bare, 'none', 'Copied the room link.'));
    } else if (shareable) {
      const where = grant.prefix ? `every room starting with "${grant.room}"` : 'this room';
      buttons.push(
        this.copyButton(
          'copy-link',
          'Copy link with access',
          withToken(bare),
          'view',
          `Copied a link with your view access: whoever opens it can watch ${where}, not send.`,
        ),
      );
    } else {
      const why = grant?.publish
        ? 'your link also lets its holder publish'
        : "this page cannot read your link's access";
      buttons.push(
        this.copyButton(
          'copy-link',
          'Copy link',
          bare,
          'none',
          `Copied the room link without your token (${why}): whoever opens it needs their own; a view link comes from \`${tokenCommand(room, 'view')}\`.`,
        ),
        this.copyButton(
          'copy-link-token',
          'Copy link with my token',
          withToken(bare),
          'token',
          `Copied a link with your own token: whoever opens it can do all you can${grant?.publish ? ', publishing included' : ''}.`,
        ),
      );
    }
    const other = watch
      ? el('a', { class: 'ghost button', href: withToken(`/r/${room}`) }, 'Join with camera')
      : el(
          'a',
          { class: 'ghost button', href: withToken(`/r/${room}`, 'watch'), target: '_blank' },
          'Open wall',
        );
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
      // One box for the links and their note, so that a phone can put them on a row of their own.
      el('div', { class: 'topbar-actions' }, this.note, ...buttons, other),
    );
  }

  /** Shows the connection state (a coloured dot) and a short text. */
  setStatus(state: ConnectionState, detail: string): void {
    this.status.dataset.state = state;
    this.status.title = detail;
    this.status.replaceChildren(el('span', { class: 'dot' }), el('span', { class: 'status-text' }, detail));
  }

  /**
   * A button that copies `url` and then says `said`; its `data-copied` tells which link it was
   * (`none`: without a token, `view`: with the view token, `token`: with the page's own token).
   */
  private copyButton(id: string, label: string, url: string, kind: string, said: string): HTMLButtonElement {
    const button = el('button', { type: 'button', id, class: 'ghost', title: url, 'data-link': kind }, label);
    button.addEventListener(
      'click',
      () =>
        void copyText(url).then((ok) => {
          button.dataset.copied = ok ? kind : '';
          flash(button, ok ? 'Copied!' : 'Copy it below');
          // When the browser refuses the clipboard, the link itself goes in the note, to copy by hand.
          this.showNote(ok ? said : `${said.replace(/^Copied/, 'Copy')} ${url}`);
        }),
    );
    return button;
  }

  private showNote(text: string): void {
    this.note.textContent = text;
    this.note.hidden = false;
    window.clearTimeout(this.noteTimer);
    this.noteTimer = window.setTimeout(() => {
      this.note.hidden = true;
    }, COPY_NOTE_MS);
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
