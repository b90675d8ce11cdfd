// wsip user add|del|list against a temporary database: exit codes, output,
// the password sources (--password, --password-stdin, the terminal prompt),
// the realm rule, and that the file holds HA1 hashes only (mode 0600).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';

import { SUITE, WSIP_BIN, T_REPLY, tmpDir, wait, within } from './server.mjs';

/** `wsip user ARGS` with optional standard input: {code, stdout, stderr}. */
function user(args, o = {}) {
  const r = spawnSync(WSIP_BIN, ['user', ...args], {
    cwd: o.cwd || tmpDir('user-cwd'),
    input: o.input ?? '',
    encoding: 'utf8',
    timeout: wait(30000),
  });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function ok(r, what) {
  assert.equal(r.code, 0, `${what}: exit ${r.code}, stderr: ${r.stderr}`);
  return r;
}

function fails(r, re, what) {
  assert.equal(r.code, 1, `${what}: exit ${r.code} (want 1), stdout: ${r.stdout} stderr: ${r.stderr}`);
  assert.match(r.stderr, re, `${what}: stderr`);
  assert.equal(r.stdout, '', `${what}: nothing on stdout`);
  return r;
}

const md5 = (s) => crypto.createHash('md5').update(s).digest('hex');
const sha256 = (s) => crypto.createHash('sha256').update(s).digest('hex');

/** Bytes of the database and its WAL (the rows may sit in either). */
function dbBytes(db) {
  const parts = [db, `${db}-wal`, `${db}-journal`].filter((f) => fs.existsSync(f));
  return Buffer.concat(parts.map((f) => fs.readFileSync(f)));
}

const LINE = /^(\S+) realm=(\S+|"[^"]*") created=(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)$/;

/** `wsip user list` as [{aor, realm, created}]. */
function list(args) {
  const r = ok(user(['list', ...args]), 'list');
  const lines = r.stdout.split('\n').filter(Boolean);
  return lines.map((l) => {
    const m = LINE.exec(l);
    assert.ok(m, `list line '${l}' does not match ${LINE}`);
    return { aor: m[1], realm: m[2], created: m[3] };
  });
}

describe('wsip user', SUITE, () => {
  test('add, list, del with --password; file 0600 holds no password', () => {
    const dir = tmpDir('user');
    const db = path.join(dir, 'new', 'dir', 'wsip.db'); // directories created on the way
    const pw = 'Corr3ct-Horse-Battery';
    const add = ok(user(['add', 'alice@Example.COM', '--password', pw, '--db', db]), 'add');
    assert.equal(add.stdout, 'added alice@example.com (realm example.com)\n');
    assert.equal(fs.statSync(db).mode & 0o777, 0o600, 'database file mode');

    ok(user(['add', 'bob@example.com', `--password=${pw}x`, '--db', db]), 'add bob');
    const rows = list(['--db', db]);
    assert.deepEqual(
      rows.map((r) => `${r.aor} ${r.realm}`),
      ['alice@example.com example.com', 'bob@example.com example.com'],
    );
    const age = Math.abs(Date.parse(rows[0].created) - Date.now());
    assert.ok(age < 120000, `created ${rows[0].created} is ${age} ms from now`);

    // hashes are stored, never shown, and the password is nowhere
    const ha1 = md5(`alice:example.com:${pw}`);
    const ha1s = sha256(`alice:example.com:${pw}`);
    const out = user(['list', '--db', db]).stdout;
    assert.ok(!out.includes(ha1) && !/[0-9a-f]{32}/.test(out), `list shows a hash: ${out}`);
    const bytes = dbBytes(db);
    assert.ok(!bytes.includes(pw), 'plain password found in the database');
    assert.ok(bytes.includes(ha1), `MD5 HA1 ${ha1} not in the database`);
    assert.ok(bytes.includes(ha1s), `SHA-256 HA1 ${ha1s} not in the database`);

    const del = ok(user(['del', 'alice@example.com', '--db', db]), 'del');
    assert.equal(del.stdout, 'deleted alice@example.com\n');
    fails(user(['del', 'alice@example.com', '--db', db]), /no user alice@example\.com/, 'del again');
    assert.deepEqual(
      list(['--db', db]).map((r) => r.aor),
      ['bob@example.com'],
    );
  });

  test('existing user: refused, then replaced with --force', () => {
    const db = path.join(tmpDir('user'), 'wsip.db');
    ok(user(['add', 'alice@example.com', '--password', 'one', '--db', db]), 'add');
    fails(user(['add', 'alice@example.com', '--password', 'two', '--db', db]), /exists.*--force/, 'add again');
    assert.ok(dbBytes(db).includes(md5('alice:example.com:one')), 'first password kept');
    const r = ok(user(['add', 'alice@example.com', '--password', 'two', '--force', '--db', db]), 'force');
    assert.equal(r.stdout, 'replaced alice@example.com (realm example.com)\n');
    assert.equal(list(['--db', db]).length, 1);
    // WAL content may keep the old page until a checkpoint: look at the new hash only
    assert.ok(dbBytes(db).includes(md5('alice:example.com:two')), 'new password stored');
  });

  test('--password-stdin takes one line without its line end', () => {
    const db = path.join(tmpDir('user'), 'wsip.db');
    ok(user(['add', 'carol@example.com', '--password-stdin', '--db', db], { input: 's3cret\r\n' }), 'add');
    const bytes = dbBytes(db);
    assert.ok(bytes.includes(md5('carol:example.com:s3cret')), 'HA1 of the stripped line');
    assert.ok(!bytes.includes(md5('carol:example.com:s3cret\r\n')), 'line end hashed');
    assert.ok(!bytes.includes('s3cret'), 'plain password found');
    fails(
      user(['add', 'dave@example.com', '--password-stdin', '--db', db], { input: '\n' }),
      /empty password/,
      'empty line',
    );
    fails(
      user(['add', 'dave@example.com', '--password-stdin', '--db', db], { input: '' }),
      /no password/,
      'no input',
    );
  });

  test('refusals: no password, bad names, bad arguments', () => {
    const db = path.join(tmpDir('user'), 'wsip.db');
    const d = ['--db', db];
    fails(user(['add', 'erin@example.com', ...d]), /no password.*--password-stdin/, 'no password, no tty');
    fails(user(['add', 'erin@example.com', '--password', '', ...d]), /empty password/, 'empty --password');
    fails(user(['add', 'er in@example.com', '--password', 'x', ...d]), /user may hold/, 'space in user');
    fails(user(['add', 'erin@exa mple.com', '--password', 'x', ...d]), /domain/, 'bad domain');
    fails(user(['add', 'erin@example.com:5060', '--password', 'x', ...d]), /domain/, 'port');
    fails(user(['add', 'erin', '--password', 'x', ...d]), /USER@DOMAIN/, 'no domain');
    fails(user(['add', '--password', 'x', ...d]), /USER@DOMAIN missing/, 'no AOR');
    fails(user(['add', 'erin@example.com', '--password', 'x', '--password-stdin', ...d]), /exclude/, 'both');
    fails(user(['list', 'extra', ...d]), /unexpected argument/, 'list with an argument');
    fails(user(['frob', ...d]), /unknown subcommand/, 'unknown subcommand');
    fails(user(['list', '--set', 'nosuch=1', ...d]), /nosuch/, 'bad --set');
    assert.equal(list(d).length, 0, 'nothing was added');
    const help = user(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /wsip user add USER@DOMAIN/);
  });

  test('--bulk: PREFIX1..PREFIXn with one password, for load tests', () => {
    const db = path.join(tmpDir('user'), 'wsip.db');
    const d = ['--db', db];
    let r = ok(user(['add', '--bulk', 'load@example.com', '3', '--password', 'pw', ...d]), 'bulk');
    assert.equal(r.stdout, 'added 3 users load1..load3@example.com (realm example.com)\n');
    // no domain: the first of `domains` (default localhost); --bulk after the arguments too
    r = ok(user(['add', 'u', '2', '--bulk', '--password-stdin', ...d], { input: 'pw2\n' }), 'bulk, default domain');
    assert.equal(r.stdout, 'added 2 users u1..u2@localhost (realm localhost)\n');
    assert.deepEqual(
      list(d).map((x) => x.aor),
      ['load1@example.com', 'load2@example.com', 'load3@example.com', 'u1@localhost', 'u2@localhost'],
    );
    const bytes = dbBytes(db);
    assert.ok(bytes.includes(md5('load3:example.com:pw')), 'HA1 of load3');
    assert.ok(bytes.includes(sha256('u2:localhost:pw2')), 'SHA-256 HA1 of u2');
    assert.ok(!bytes.includes('pw2'), 'plain password found');
    fails(user(['add', '--bulk', 'load@example.com', '4', '--password', 'x', ...d]), /load1@example\.com exists.*--force/, 'existing');
    ok(user(['add', '--bulk', 'load@example.com', '4', '--password', 'x', '--force', ...d]), 'replace with --force');
    assert.equal(list(d).length, 6, 'load4 added, load1..3 replaced');
    fails(user(['add', '--bulk', 'n@example.com', '0', '--password', 'x', ...d]), /COUNT must be 1\.\.100000/, 'count 0');
    fails(user(['add', '--bulk', 'n@example.com', '100001', '--password', 'x', ...d]), /COUNT/, 'count too big');
    fails(user(['add', '--bulk', 'n@example.com', '--password', 'x', ...d]), /COUNT/, 'no count');
    fails(user(['add', '--bulk', 'n m@example.com', '2', '--password', 'x', ...d]), /user may hold/, 'bad prefix');
    fails(user(['add', 'n@example.com', '2', '--password', 'x', ...d]), /unexpected argument 2/, 'count without --bulk');
    assert.equal(list(d).length, 6, 'nothing else was added');
  });

  test('escaped user part and IPv6 domain', () => {
    const db = path.join(tmpDir('user'), 'wsip.db');
    ok(user(['add', 'j%20doe@[2001:DB8::1]', '--password', 'pw', '--db', db]), 'add');
    // the digest username is the unescaped user part
    assert.ok(dbBytes(db).includes(md5('j doe:[2001:db8::1]:pw')), 'HA1 over the unescaped user');
    assert.deepEqual(
      list(['--db', db]).map((r) => r.aor),
      ['j%20doe@[2001:db8::1]'],
    );
    ok(user(['del', 'j%20doe@[2001:db8::1]', '--db', db]), 'del');
  });

  test('realm: auth.realm from -c FILE or --set, else the user domain; default db path', () => {
    const dir = tmpDir('user');
    const db = path.join(dir, 'conf.db');
    const conf = path.join(dir, 'wsip.conf');
    fs.writeFileSync(conf, `db = "${db}";\ndomains = ["example.com"];\nauth = { realm = "Office"; };\n`);
    const r = ok(user(['add', 'alice@example.com', '--password', 'pw', '-c', conf]), 'add -c');
    assert.equal(r.stderr, '', 'no warning for a configured domain');
    assert.ok(dbBytes(db).includes(md5('alice:Office:pw')), 'HA1 over the configured realm');
    // a domain the configuration does not serve: added, with a warning
    const w = ok(user(['add', 'bob@other.example', '--password', 'pw', '-c', conf]), 'other domain');
    assert.match(w.stderr, /other\.example is not in the configured domains/);
    ok(user(['add', 'carol@example.com', '--password', 'pw', '-c', conf, '--set', 'auth.realm=My Realm']), 'set');
    assert.ok(dbBytes(db).includes(md5('carol:My Realm:pw')), 'HA1 over the --set realm');
    assert.deepEqual(
      list(['-c', conf]).map((x) => `${x.aor} ${x.realm}`),
      ['alice@example.com Office', 'carol@example.com "My Realm"', 'bob@other.example Office'],
    );

    // no configuration at all: ./var/wsip.db in the working directory
    const cwd = tmpDir('user-cwd');
    ok(user(['add', 'dave@localhost', '--password', 'pw'], { cwd }), 'default db');
    const def = path.join(cwd, 'var', 'wsip.db');
    assert.ok(fs.existsSync(def), `${def} created`);
    assert.equal(fs.statSync(def).mode & 0o777, 0o600);
    assert.ok(dbBytes(def).includes(md5('dave:localhost:pw')), 'realm = the user domain');
  });

  test('terminal prompt asks twice without echo', async (t) => {
    if (spawnSync('script', ['--version']).status !== 0) {
      t.skip('script(1) not available');
      return;
    }
    const db = path.join(tmpDir('user'), 'wsip.db');
    /** Runs wsip user add on a pseudo-terminal, answering the prompts. */
    async function onTty(aor, answers) {
      const cmd = [WSIP_BIN, 'user', 'add', aor, '--db', db].map((a) => `'${a}'`).join(' ');
      const p = spawn('script', ['-qec', cmd, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      const waiters = [];
      const exited = new Promise((resolve) => p.on('exit', (code) => resolve(code)));
      p.stdout.setEncoding('utf8');
      p.stdout.on('data', (d) => {
        out += d;
        for (const w of waiters.splice(0)) w();
      });
      const seen = async (re) => {
        while (!re.test(out)) await new Promise((r) => waiters.push(r));
        return true;
      };
      try {
        for (const [re, answer] of answers) {
          assert.ok(await within(seen(re), T_REPLY, false), `prompt ${re} not seen in '${out}'`);
          p.stdin.write(`${answer}\n`);
        }
        const code = await within(exited, T_REPLY, 'timeout');
        return { code, out };
      } finally {
        // a failed wait must not leave script(1) keeping the test process alive
        p.stdin.end();
        if (p.exitCode === null) p.kill('SIGKILL');
      }
    }
    const good = await onTty('tty@example.com', [
      [/Password for tty@example\.com: /, 'typed-pw'],
      [/Retype password: /, 'typed-pw'],
    ]);
    assert.equal(good.code, 0, `exit ${good.code}: ${good.out}`);
    assert.ok(!good.out.includes('typed-pw'), `password echoed: ${good.out}`);
    assert.ok(dbBytes(db).includes(md5('tty:example.com:typed-pw')), 'HA1 of the typed password');

    const differ = await onTty('tty2@example.com', [
      [/Password for/, 'one'],
      [/Retype password: /, 'two'],
    ]);
    assert.equal(differ.code, 1, `exit ${differ.code}: ${differ.out}`);
    assert.match(differ.out, /passwords differ/);
    assert.ok(!dbBytes(db).includes(md5('tty2:example.com:one')), 'nothing stored');
  });
});
