// Prometheus text exposition (format 0.0.4) as the tests read /metrics:
// a strict parser and a lookup of one sample. Not a test file.
import assert from 'node:assert/strict';

/**
 * Parses Prometheus text format 0.0.4 strictly enough to catch what
 * scrapers refuse: every line a HELP, a TYPE or a sample; HELP then TYPE
 * before a family's samples; a family once; counters named *_total; every
 * sample `name{label="value",...} value` of the family announced last;
 * label sets unique in a family. Returns Map name -> {type, help, samples:
 * [{labels, value}]}.
 */
export function parseMetrics(text) {
  assert.ok(text.endsWith('\n'), 'the exposition must end with a line feed');
  const families = new Map();
  let cur = null;
  for (const line of text.slice(0, -1).split('\n')) {
    let m;
    if ((m = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$/.exec(line))) {
      assert.ok(!families.has(m[1]), `family ${m[1]} announced twice`);
      cur = { name: m[1], help: m[2], type: null, samples: [], keys: new Set() };
      families.set(m[1], cur);
      continue;
    }
    if ((m = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge)$/.exec(line))) {
      assert.ok(cur && cur.name === m[1] && !cur.type, `TYPE ${m[1]} not right after its HELP`);
      cur.type = m[2];
      if (m[2] === 'counter') assert.match(m[1], /_total$/, `counter ${m[1]} must end in _total`);
      continue;
    }
    assert.ok(!line.startsWith('#'), `unexpected comment line: ${line}`);
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*",?)*\})? (\S+)$/.exec(line);
    assert.ok(m, `not a sample line: ${JSON.stringify(line)}`);
    assert.ok(cur && cur.type, `sample before HELP and TYPE: ${line}`);
    assert.equal(m[1], cur.name, `sample ${line} outside its family ${cur.name}`);
    const labels = {};
    for (const [, k, v] of (m[2] || '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[k] = v.replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
    const key = JSON.stringify(Object.entries(labels).sort());
    assert.ok(!cur.keys.has(key), `series ${line} twice`);
    cur.keys.add(key);
    const value = Number(m[3]);
    assert.ok(Number.isFinite(value), `value of ${line}`);
    cur.samples.push({ labels, value });
  }
  return families;
}

/** The value of one sample: metric(m, 'wsip_sip_requests_total', {method: 'REGISTER'}). */
export function metric(families, name, labels = {}) {
  const f = families.get(name);
  assert.ok(f, `no family ${name}`);
  const s = f.samples.find((x) => Object.entries(labels).every(([k, v]) => x.labels[k] === v));
  assert.ok(s, `no sample ${name}${JSON.stringify(labels)}`);
  return s.value;
}
