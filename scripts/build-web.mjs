#!/usr/bin/env node
// Builds the web phone into OUTDIR (the http.root wsip serves it from):
// web/src/phone.js with JsSIP (npm jssip, unmodified) bundled and minified
// by esbuild into phone.js, the CSS it imports into phone.css, and every
// other file of web/ (index.html, the status pages) copied as it is.
// OUTDIR is made afresh: a file removed from web/ does not linger there.
//
// Usage: node scripts/build-web.mjs OUTDIR
// Called by CMake (target web, part of every build: build/web) and so by
// `make run` and `make check`. Needs `npm ci` (scripts/deps does it).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const web = path.join(repo, 'web');
const src = path.join(web, 'src');

function die(msg) {
  console.error(`build-web: ${msg}`);
  process.exit(1);
}

const outArg = process.argv[2];
if (!outArg || process.argv.length > 3) die('usage: node scripts/build-web.mjs OUTDIR');
const out = path.resolve(outArg);
// the output is removed first: never web/, a directory in it or above it
const inside = (dir, parent) => !path.relative(parent, dir).startsWith('..');
if (inside(out, web) || inside(web, out)) die(`refusing OUTDIR ${out}: it must lie outside ${web} and not contain it`);

let esbuild;
try {
  esbuild = await import('esbuild');
} catch {
  die('npm package esbuild is missing: run `npm ci` at the repository root (scripts/deps does)');
}

/** Copies the files of dir (below web/, except web/src) into out. */
function copyStatic(dir, to) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const from = path.join(dir, e.name);
    if (from === src || e.name.startsWith('.')) continue;
    if (e.isDirectory()) {
      fs.mkdirSync(path.join(to, e.name), { recursive: true });
      copyStatic(from, path.join(to, e.name));
    } else if (e.isFile()) {
      fs.copyFileSync(from, path.join(to, e.name));
    }
  }
}

fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(out, { recursive: true });
copyStatic(web, out);

await esbuild
  .build({
    // phone.js imports phone.css: esbuild writes it next to it as phone.css
    entryPoints: { phone: path.join(src, 'phone.js') },
    outdir: out,
    bundle: true,
    minify: true,
    format: 'iife',
    platform: 'browser',
    // browsers with what the phone needs anyway (WebRTC transceivers)
    target: ['chrome100', 'firefox100', 'safari15'],
    define: { 'process.env.NODE_ENV': '"production"' },
    logLevel: 'warning',
  })
  .catch(() => die('esbuild failed (its messages are above)'));

const size = (f) => fs.statSync(path.join(out, f)).size;
console.log(`build-web: ${out}: index.html ${size('index.html')} B, phone.js ${size('phone.js')} B, phone.css ${size('phone.css')} B`);
