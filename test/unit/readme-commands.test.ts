// The README's commands as a new user pastes them: what they need must exist (talk.mp4, ffplay), ingest
// pushes must be able to show a refusal, the terminal count must be the real one, and `npm ci` must not
// warn about an install script nobody reviewed.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';

const root = new URL('../../', import.meta.url);
const readme = readFileSync(new URL('README.md', root), 'utf8');

/** Every command line of the README's ```sh blocks, continuation lines joined, comments dropped. */
function shellCommands(markdown: string): string[] {
  const commands: string[] = [];
  for (const block of markdown.matchAll(/^```sh\n([\s\S]*?)^```$/gm)) {
    const body = (block[1] ?? '').replace(/\\\n\s*/g, '');
    for (const raw of body.split('\n')) {
      const line = raw.replace(/\s+#.*$/, '').trim();
      if (line !== '' && !line.startsWith('#')) commands.push(line);
    }
  }
  return commands;
}

/** The README's `## ` sections: heading and body. */
function sections(markdown: string): { heading: string; body: string }[] {
  return markdown
    .split(/^## /m)
    .slice(1)
    .map((part) => {
      const newline = part.indexOf('\n');
      return { heading: part.slice(0, newline), body: part.slice(newline + 1) };
    });
}

const commands = shellCommands(readme);

describe('README commands', () => {
  it('every ffmpeg push to /ingest/ asks for the go-ahead, so ffmpeg prints a refusal', () => {
    const pushes = commands.filter((c) => c.startsWith('ffmpeg ') && c.includes('/ingest/'));
    assert.ok(pushes.length >= 4, `expected the README's ingest examples, found ${pushes.length}`);
    for (const push of pushes) {
      const flag = push.indexOf('-send_expect_100 1 ');
      assert.ok(flag >= 0, `no -send_expect_100 1 in: ${push}`);
      assert.ok(flag < push.indexOf('http'), `-send_expect_100 1 must come before the URL in: ${push}`);
    }
  });

  it('says what each refusal looks like from ffmpeg', () => {
    for (const shown of ['409 Conflict', '401 Unauthorized', 'Broken pipe']) {
      assert.ok(readme.includes(shown), `the README does not show ffmpeg's "${shown}"`);
    }
  });

  it('makes talk.mp4 before any command uses it, with an ffmpeg line that works', () => {
    const uses = commands.filter((c) => /\btalk\.mp4\b/.test(c));
    assert.ok(uses.length > 0, 'talk.mp4 is not used: then this test has nothing to check');
    const make = uses[0] ?? '';
    assert.match(make, /^ffmpeg .* talk\.mp4$/, `the first command with talk.mp4 must make it: ${make}`);
    assert.doesNotMatch(make, /-i talk\.mp4/, `the first command with talk.mp4 reads it: ${make}`);
    // Run it as written (it has no quoting) in an empty folder, as a fresh clone would.
    const dir = mkdtempSync(join(tmpdir(), 'fw-readme-'));
    try {
      const [cmd = '', ...args] = make.split(/\s+/);
      execFileSync(cmd, ['-nostdin', '-loglevel', 'error', ...args], { cwd: dir, stdio: 'pipe' });
      const info = execFileSync(
        'ffprobe',
        [
          ...['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=codec_name,duration'],
          ...['-of', 'csv=p=0', join(dir, 'talk.mp4')],
        ],
        { encoding: 'utf8' },
      ).trim();
      const [codec, duration] = info.split(',');
      assert.equal(codec, 'h264');
      assert.ok(Number(duration) >= 10, `talk.mp4 is only ${duration} s`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('says how many terminals a walkthrough takes', () => {
    const words = ['zero', 'one', 'two', 'three', 'four', 'five'];
    let walkthroughs = 0;
    for (const { heading, body } of sections(readme)) {
      const numbers = [...body.matchAll(/^# terminal (\d+)/gm)].map((m) => Number(m[1]));
      if (numbers.length === 0) continue;
      walkthroughs++;
      const count = Math.max(...numbers);
      const said = `${words[count]} terminals`;
      const intro = `${heading}\n${body.slice(0, body.indexOf('```'))}`.toLowerCase();
      assert.ok(
        intro.includes(said),
        `section "${heading}" uses ${count} terminals; say "${said}" before its commands`,
      );
      assert.doesNotMatch(heading, /one terminal .*another/i, `section "${heading}" uses ${count} terminals`);
    }
    assert.ok(walkthroughs > 0, 'no "# terminal N" walkthrough found in the README');
  });
});

describe('scripts/install-system-deps.sh', () => {
  it('checks for ffplay, which watch --display runs', () => {
    const script = readFileSync(new URL('scripts/install-system-deps.sh', root), 'utf8');
    assert.match(script, /^\s*\[ffplay\]=ffmpeg$/m);
    assert.ok(
      readme.includes('--display'),
      'the README no longer mentions --display: is ffplay still needed?',
    );
  });
});

describe('package.json allowScripts', () => {
  it('decides on every dependency with an install script, so npm ci does not warn', () => {
    const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as {
      allowScripts?: Record<string, boolean>;
    };
    const lock = JSON.parse(readFileSync(new URL('package-lock.json', root), 'utf8')) as {
      packages: Record<string, { hasInstallScript?: boolean; optional?: boolean }>;
    };
    const withScripts = Object.entries(lock.packages)
      .filter(([path, entry]) => path !== '' && entry.hasInstallScript === true)
      .map(([path]) => path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length));
    assert.ok(
      withScripts.includes('esbuild'),
      'esbuild has no install script any more: revisit allowScripts',
    );
    const decided = new Set(Object.keys(pkg.allowScripts ?? {}).map((key) => key.replace(/(?<=.)@.*$/, '')));
    for (const name of withScripts) {
      assert.ok(
        decided.has(name),
        `${name} has an install script that package.json's allowScripts does not cover`,
      );
    }
  });
});
