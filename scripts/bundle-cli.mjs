// Bundles the built command line tool (dist/src/cli/main.js, and the worker
// thread script cp-worker.js beside it) into one file each, in place, after
// tsc has built dist/.
//
// Why: node loads an ES module graph one file at a time (resolve, read,
// compile, link), and the CLI pulls in about 70 modules: that costs more
// than node's own start-up, on every command. One file loads in a fraction
// of that. The library entry (dist/src/index.js) is left as tsc made it.
//
// rolldown is a dev dependency. Without it the build still succeeds and the
// CLI runs unbundled, only slower to start.
import { readFile, rename, rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const cliDir = fileURLToPath(new URL('../dist/src/cli/', import.meta.url));
const entries = ['main.js', 'cp-worker.js'];

let rolldown;
try {
  ({ rolldown } = await import('rolldown'));
} catch {
  console.warn('bundle-cli: rolldown is not installed; the CLI stays unbundled (slower start-up)');
  process.exit(0);
}

for (const name of entries) {
  const input = cliDir + name;
  const tmp = `${input}.bundle.tmp`;
  const bundle = await rolldown({ input, platform: 'node', logLevel: 'warn' });
  try {
    // A single file: the worker script is loaded by path, not imported, so it stays its own entry.
    await bundle.write({ file: tmp, format: 'esm', codeSplitting: false });
  } finally {
    await bundle.close();
  }
  if ((await readFile(tmp, 'utf8')).trim() === '') throw new Error(`bundle-cli: empty bundle for ${name}`);
  await rename(tmp, input);
  // tsc's source map describes the unbundled file.
  await rm(`${input}.map`, { force: true });
}
