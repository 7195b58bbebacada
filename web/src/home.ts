// The home page: who you are, which room to join or create, and the rooms that are live right now.
import { el } from './dom.js';
import { isValidName, randomRoomName, slugify } from './names.js';
import { loadSettings, saveSettings } from './settings.js';

/** A room as GET /api/rooms lists it. */
interface RoomSummary {
  name: string;
  streams: number;
  viewers: number;
}

/** How often the list of live rooms is refreshed. */
const ROOMS_REFRESH_MS = 5000;

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

  const go = (room: string) => {
    saveSettings({ name: nameInput.value.trim() });
    location.assign(`/r/${encodeURIComponent(room)}`);
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
  const live = el('section', { class: 'card live-rooms', hidden: '' }, el('h2', {}, 'Live now'), list);

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
    const rooms = await fetchRooms();
    live.hidden = rooms.length === 0;
    list.replaceChildren(
      ...rooms.map((r) =>
        el(
          'li',
          {},
          el('a', { href: `/r/${r.name}`, class: 'room-link', title: r.name }, r.name),
          el('span', { class: 'muted' }, `${r.streams} on camera · ${r.viewers} watching`),
          el('a', { href: `/r/${r.name}?watch`, class: 'ghost button small' }, 'Watch'),
        ),
      ),
    );
  };
  void refresh();
  window.setInterval(() => void refresh(), ROOMS_REFRESH_MS);
}

/** The live rooms, or none when the API cannot be reached. */
async function fetchRooms(): Promise<RoomSummary[]> {
  try {
    const res = await fetch('/api/rooms', { cache: 'no-store' });
    if (!res.ok) return [];
    const body = (await res.json()) as { rooms?: RoomSummary[] };
    return (body.rooms ?? []).filter((r) => r.streams > 0 || r.viewers > 0);
  } catch {
    return [];
  }
}
