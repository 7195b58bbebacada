// The router: `/` is the home page, `/r/<room>` a room, `/r/<room>?watch` its watch-only wall.
import './style.css';
import { el } from './dom.js';
import { renderHome } from './home.js';
import { isValidName } from './names.js';
import { RoomPage } from './room.js';

function route(root: HTMLElement): void {
  const match = /^\/r\/([^/]+)\/?$/.exec(location.pathname);
  if (!match) {
    renderHome(root);
    return;
  }
  const room = decodeURIComponent(match[1] ?? '');
  if (!isValidName(room)) {
    root.replaceChildren(
      el(
        'main',
        { class: 'home' },
        el(
          'div',
          { class: 'card' },
          el('h2', {}, 'That is not a room name'),
          el(
            'p',
            { class: 'muted' },
            'Room names use letters, digits, ".", "_" and "-", up to 64, starting with a letter or digit.',
          ),
          el('a', { href: '/', class: 'button primary' }, 'Back home'),
        ),
      ),
    );
    return;
  }
  const params = new URLSearchParams(location.search);
  new RoomPage(root, room, { watch: params.has('watch'), name: params.get('name') ?? '' });
}

const root = document.getElementById('app');
if (root) route(root);
