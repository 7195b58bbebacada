import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { displayName, streamNameFor } from '../../web/src/names.js';

describe('web app names', () => {
  it('reads a name the page made for a person as the person', () => {
    assert.equal(displayName('grace-hopper-3r8x'), 'Grace Hopper');
    const made = streamNameFor('Ada Lovelace');
    assert.equal(displayName(made), 'Ada Lovelace');
  });

  it('shows any other stream name exactly as published, not capitalised', () => {
    for (const name of ['vp8cam', 'lobby.east', 'cam-1', 'Door_Cam', 'front-door'])
      assert.equal(displayName(name), name);
  });
});
