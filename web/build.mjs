// Builds web/dist: the bundle `plumbline serve` embeds (crates/server/src/web.rs). The output is
// deterministic, so `check-dist.sh` can rebuild it and compare byte for byte.
//
// index.html names each asset with `?v=` and the first 8 bytes of its keccak256; the server
// computes the same hash of what it embeds and serves a request carrying it as immutable, so a
// browser caches assets for good and still never runs a stale one after an upgrade.

import { mkdirSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { keccak256 } from 'viem';

const here = dirname(fileURLToPath(import.meta.url));
const out = process.argv[2] ? resolve(process.argv[2]) : join(here, 'dist');
const assets = join(out, 'assets');

rmSync(out, { recursive: true, force: true });
mkdirSync(assets, { recursive: true });

await build({
  entryPoints: [join(here, 'src', 'main.js')],
  bundle: true,
  format: 'esm',
  target: ['es2022'],
  minify: true,
  legalComments: 'eof',
  charset: 'utf8',
  outfile: join(assets, 'app.js'),
  logLevel: 'warning',
});
await build({
  entryPoints: [join(here, 'src', 'styles.css')],
  bundle: true,
  minify: true,
  charset: 'utf8',
  outfile: join(assets, 'app.css'),
  logLevel: 'warning',
});
copyFileSync(join(here, 'src', 'icon.svg'), join(assets, 'icon.svg'));

const version = file => keccak256(readFileSync(join(assets, file))).slice(2, 18);
const html = readFileSync(join(here, 'src', 'index.html'), 'utf8')
  .replace('__APP_JS__', version('app.js'))
  .replace('__APP_CSS__', version('app.css'));
writeFileSync(join(out, 'index.html'), html);
