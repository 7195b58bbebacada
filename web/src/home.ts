// The home page: who you are, which room to join or create, and the rooms that are live right now.
import { el } from './dom.js';
import { isValidName, randomRoomName, slugify } from './names.js';
import { loadSettings, saveSettings } from './settings.js';
import { apiRequest, pageToken } from './token.js';

/** A room as GET /api/rooms lists it. */
interface RoomSummary {
  name: string;
  streams: number;
  viewers: number;
}

/** How often the list of live rooms is refreshed. */
const ROOMS_REFRESH_MS = 5000;

/** What the server answered for the list of rooms: the rooms the page's token may see, or a refusal. */
type RoomsAnswer = { rooms: RoomSummary[] } | { refused: string } | null;

/** Renders the home page into `root`. */
export function renderHome(root: HTMLElement): void {
  document.title = 'Framewire';
  const settings = loadSettings();
  const nameInput = el('input', {
    id: 'home-name',
    type: 'text',
    maxlength: '40',
    placeholder: 'e.g. Ada Lovelace',
    autocomplete: 'nickname',
    required: '',
  });
  nameInput.value = settings.name;
  const roomInput = el('input', {
    id: 'home-room',
    type: 'text',
    maxlength: '64',
    placeholder: 'room name, e.g. standup',
    spellcheck: 'false',
    autocapitalize: 'off',
  });
  const error = el('p', { class: 'form-error', role: 'alert', hidden: '' });
  const join = el('button', { type: 'submit', class: 'primary' }, 'Join room');
  const create = el('button', { type: 'button', class: 'ghost' }, 'Create a new room');
  const form = el(
    'form',
    { class: 'card home-form' },
    el('label', { class: 'field' }, el('span', {}, 'Your name'), nameInput),
    el('label', { class: 'field' }, el('span', {}, 'Room'), roomInput),
    error,
    el('div', { class: 'actions' }, join, create),
  );

  // With access control on, the page's token is what lets it see and join rooms: links keep it.
  const token = pageToken();
  const withToken = (path: string) =>
    token ? `${path}${path.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}` : path;
  const go = (room: string) => {
    saveSettings({ name: nameInput.value.trim() });
    location.assign(withToken(`/r/${encodeURIComponent(room)}`));
  };
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    // People type "Team Standup"; the server wants team-standup.
    const typed = roomInput.value.trim();
    const room = isValidName(typed) ? typed : slugify(typed, 64);
    if (!room || !isValidName(room)) {
      error.hidden = false;
      error.textContent =
        'A room name uses letters, digits, ".", "_" or "-" (up to 64), starting with a letter or digit.';
      roomInput.focus();
      return;
    }
    go(room);
  });
  create.addEventListener('click', () => go(randomRoomName()));

  const list = el('ul', { class: 'room-list' });
  const why = el('p', { class: 'muted live-rooms-why', hidden: '' });
  const live = el('section', { class: 'card live-rooms', hidden: '' }, el('h2', {}, 'Live now'), why, list);

  root.replaceChildren(
    el(
      'main',
      { class: 'home' },
      el(
        'header',
        { class: 'hero' },
        el('h1', {}, el('span', { class: 'logo' }), 'Framewire'),
        el(
          'p',
          { class: 'muted' },
          'Live video rooms. Your browser encodes; the relay forwards every frame untouched to everyone else.',
        ),
      ),
      form,
      live,
    ),
  );
  nameInput.focus();

  const refresh = async () => {
    const answer = await fetchRooms(token);
    if (answer !== null && 'refused' in answer) {
      // Access control is on and the page's token lists nothing: say so, rather than look empty.
      live.hidden = false;
      why.hidden = false;
      why.textContent = answer.refused;
      list.replaceChildren();
      return;
    }
    const rooms = answer?.rooms ?? [];
    why.hidden = true;
    live.hidden = rooms.length === 0;
    list.replaceChildren(
      ...rooms.map((r) =>
        el(
          'li',
          {},
          el('a', { href: withToken(`/r/${r.name}`), class: 'room-link', title: r.name }, r.name),
          el('span', { class: 'muted' }, `${r.streams} on camera · ${r.viewers} watching`),
          el('a', { href: withToken(`/r/${r.name}?watch`), class: 'ghost button small' }, 'Watch'),
        ),
      ),
    );
  };
  void refresh();
  window.setInterval(() => void refresh(), ROOMS_REFRESH_MS);
}

/**
 * The live rooms `token` may see (all of them without access control), the reason the server lists none
 * (access control on, and no token or one it refuses), or null when the API cannot be reached.
 */
async function fetchRooms(token: string): Promise<RoomsAnswer> {
  try {
    const res = await fetch('/api/rooms', apiRequest(token));
    if (res.status === 401) return { refused: refusedText(token, await res.json().catch(() => null)) };
    if (!res.ok) return null;
    const body = (await res.json()) as { rooms?: RoomSummary[] };
    return { rooms: (body.rooms ?? []).filter((r) => r.streams > 0 || r.viewers > 0) };
  } catch {
    return null;
  }
}

/** Why the server lists no rooms to this page, from its 401 answer, with what to ask for. */
function refusedText(token: string, body: unknown): string {
  const ask =
    'ask whoever runs the server for a link (they mint one with `framewire token --room R`, or ' +
    '`framewire token --admin` to see every room)';
  if (!token)
    return `This server shows its rooms only to people with an access token: open the link you were given, or ${ask}.`;
  const message = (body as { error?: { message?: unknown } } | null)?.error?.message;
  const reason = typeof message === 'string' ? /\((\w[\w-]*)\)\s*$/.exec(message)?.[1] : undefined;
  if (reason === 'expired') return `Your link's access has expired: ${ask}.`;
  if (reason === 'revoked') return `Your link's access was withdrawn: ${ask}.`;
  return `The server does not accept your link's access token: ${ask}.`;
}
