import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  addressesToOpen,
  certificateNames,
  type Interfaces,
  isLoopbackHost,
  isWildcardHost,
} from '../../src/server/ops/addresses.js';
import { defaultStateDir } from '../../src/server/ops/state-dir.js';
import { chooseTlsMode } from '../../src/server/ops/tls-mode.js';

// A laptop: loopback, Wi-Fi with IPv4, a global and a link-local IPv6 address, and a container bridge.
const LAPTOP: Interfaces = {
  lo: [
    { address: '127.0.0.1', netmask: '255.0.0.0', family: 'IPv4', mac: '', internal: true, cidr: null },
    { address: '::1', netmask: '', family: 'IPv6', mac: '', internal: true, cidr: null, scopeid: 0 },
  ],
  wlan0: [
    { address: '192.168.1.23', netmask: '', family: 'IPv4', mac: '', internal: false, cidr: null },
    {
      address: '2001:DB8:0:0:0:0:0:23',
      netmask: '',
      family: 'IPv6',
      mac: '',
      internal: false,
      cidr: null,
      scopeid: 0,
    },
    {
      address: 'fe80::1c2:3ff:fe45:6789',
      netmask: '',
      family: 'IPv6',
      mac: '',
      internal: false,
      cidr: null,
      scopeid: 3,
    },
  ],
  docker0: [{ address: '172.17.0.1', netmask: '', family: 'IPv4', mac: '', internal: false, cidr: null }],
};

describe('the loopback decision', () => {
  for (const host of [
    '127.0.0.1',
    '127.1.2.3',
    '::1',
    '0:0:0:0:0:0:0:1',
    '::ffff:127.0.0.1',
    'localhost',
    'LOCALHOST',
  ]) {
    it(`${host} is loopback`, () => assert.equal(isLoopbackHost(host), true));
  }
  for (const host of [
    '0.0.0.0',
    '::',
    '192.168.1.23',
    '10.0.0.1',
    '::ffff:10.0.0.1',
    'fe80::1',
    'myhost',
    '127.example.com',
    'localhost.example.com',
  ]) {
    it(`${host} is beyond loopback`, () => assert.equal(isLoopbackHost(host), false));
  }

  it('0.0.0.0 and :: (in any spelling) are the wildcard addresses, and nothing else', () => {
    for (const host of ['0.0.0.0', '::', '0::0', '0:0:0:0:0:0:0:0'])
      assert.equal(isWildcardHost(host), true, host);
    for (const host of ['127.0.0.1', '::1', '0.0.0.1', 'myhost', ''])
      assert.equal(isWildcardHost(host), false, host);
  });

  it('serve makes its own certificate beyond loopback only, unless one is given or --no-tls', () => {
    const mode = (host: string, certGiven = false, noTls = false) =>
      chooseTlsMode({ host, certGiven, noTls });
    assert.equal(mode('127.0.0.1'), 'off');
    assert.equal(mode('localhost'), 'off');
    assert.equal(mode('::1'), 'off');
    assert.equal(mode('0.0.0.0'), 'self-signed');
    assert.equal(mode('::'), 'self-signed');
    assert.equal(mode('192.168.1.23'), 'self-signed');
    assert.equal(mode('relay.lan'), 'self-signed');
    assert.equal(mode('0.0.0.0', true), 'given');
    assert.equal(mode('127.0.0.1', true), 'given');
    assert.equal(mode('0.0.0.0', false, true), 'off');
  });
});

describe('the names of the self-made certificate', () => {
  it('every interface address (internal ones and IPv6 included), loopback, localhost and the host name', () => {
    const names = certificateNames('0.0.0.0', LAPTOP, 'Ada-Laptop');
    assert.deepEqual(names.ips, [
      '127.0.0.1',
      '::1',
      '192.168.1.23',
      '2001:db8::23',
      'fe80::1c2:3ff:fe45:6789',
      '172.17.0.1',
    ]);
    assert.deepEqual(names.dns, ['localhost', 'ada-laptop', 'ada-laptop.local']);
  });

  it('adds a specific --host, address or name, and leaves out the wildcard', () => {
    assert.ok(certificateNames('203.0.113.7', LAPTOP, 'ada').ips.includes('203.0.113.7'));
    assert.ok(certificateNames('relay.example.org', LAPTOP, 'ada').dns.includes('relay.example.org'));
    assert.deepEqual(certificateNames('::', LAPTOP, 'ada'), certificateNames('0.0.0.0', LAPTOP, 'ada'));
    // A zone index is the machine's routing, not part of the address.
    assert.ok(certificateNames('fe80::99%wlan0', LAPTOP, 'ada').ips.includes('fe80::99'));
  });

  it('a fully qualified host name gets no .local twin; one that is no DNS name is left out', () => {
    assert.deepEqual(certificateNames('0.0.0.0', {}, 'box.example.org').dns, [
      'localhost',
      'box.example.org',
    ]);
    assert.deepEqual(certificateNames('0.0.0.0', {}, 'my_box').dns, ['localhost']);
  });

  it('names each address once', () => {
    const twice: Interfaces = { ...LAPTOP, br0: LAPTOP.wlan0 ?? [] };
    const { ips } = certificateNames('192.168.1.23', twice, 'ada');
    assert.equal(ips.length, new Set(ips).size);
  });
});

describe('the addresses serve tells people to open', () => {
  it('0.0.0.0: every non-internal IPv4 address', () => {
    assert.deepEqual(addressesToOpen('0.0.0.0', LAPTOP), ['192.168.1.23', '172.17.0.1']);
  });

  it('::: IPv6 too, but no link-local address (a browser cannot open one)', () => {
    assert.deepEqual(addressesToOpen('::', LAPTOP), ['192.168.1.23', '2001:db8::23', '172.17.0.1']);
  });

  it('a specific host: that host', () => {
    assert.deepEqual(addressesToOpen('192.168.1.23', LAPTOP), ['192.168.1.23']);
    assert.deepEqual(addressesToOpen('relay.lan', LAPTOP), ['relay.lan']);
  });

  it('a machine with no network: none', () => {
    assert.deepEqual(addressesToOpen('0.0.0.0', { lo: LAPTOP.lo ?? [] }), []);
  });
});

describe('the state folder', () => {
  it('is $XDG_STATE_HOME/framewire, else ~/.local/state/framewire', () => {
    assert.equal(defaultStateDir({ XDG_STATE_HOME: '/srv/state' }, '/home/ada'), '/srv/state/framewire');
    assert.equal(defaultStateDir({}, '/home/ada'), '/home/ada/.local/state/framewire');
    // The XDG spec: a relative value is invalid and ignored.
    assert.equal(
      defaultStateDir({ XDG_STATE_HOME: 'state' }, '/home/ada'),
      '/home/ada/.local/state/framewire',
    );
  });
});
