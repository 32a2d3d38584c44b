// Bundles the built command line tool after tsc has built dist/, so that it
// starts fast:
//
//  - dist/src/cli/bin.js, with everything it imports, into one script,
//    bin.cjs, which the executable (main.js) compiles with V8's code cache,
//    bin.cjs.cache, made here;
//  - the worker thread script cp-worker.js into one ES module, in place.
//
// Why: node loads an ES module graph one file at a time (resolve, read,
// compile, link), and the CLI pulls in about 70 modules: that costs more
// than node's own start-up, on every command. One file loads in a fraction
// of that, and a code cache saves most of what is left of compiling it. A
// CommonJS script, not an ES module, because only a script can be compiled
// with a code cache on Node 20 (vm.Script), and its builtins are plain
// require() calls, without the ES wrappers that load more of node than the
// CLI uses. The library entry (dist/src/index.js) is left as tsc made it.
//
// The cache holds V8's compiled code for this node binary and its flags; a
// node that cannot use it says so (cachedDataRejected) and main.js compiles
// the script from source instead. It is made after running the common
// commands once, here, on a small image: V8 compiles a function when it
// is first called, and a cache holds only what was compiled by then.
//
// rolldown is a dev dependency. Without it the build still succeeds and the
// CLI runs unbundled (main.js imports bin.js), only slower to start.
import { createHash } from 'node:crypto';
import { link, mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { builtinModules, createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Script } from 'node:vm';
import zlib from 'node:zlib';

const cliDir = fileURLToPath(new URL('../dist/src/cli/', import.meta.url));

const binPath = `${cliDir}bin.cjs`;
const cachePath = `${binPath}.cache`;

let rolldown;
try {
  ({ rolldown } = await import('rolldown'));
} catch {
  // main.js runs bin.cjs whenever it exists: one from an earlier build would run that build's code.
  await rm(binPath, { force: true });
  await rm(cachePath, { force: true });
  console.warn('bundle-cli: rolldown is not installed; the CLI stays unbundled (slower start-up)');
  process.exit(0);
}

/** Bundles `input` into one file and returns its code (rolldown writes nothing). */
async function bundleCode(input, output) {
  const bundle = await rolldown({
    input,
    platform: 'node',
    logLevel: 'warn',
    // main.js passes its own URL in: the bundle lives beside it, and the files it looks for are found from there.
    transform: { define: output.format === 'cjs' ? { 'import.meta.url': 'importMetaUrl' } : {} },
  });
  try {
    // A single file: the worker script is loaded by path, not imported, so it stays its own entry.
    const { output: chunks } = await bundle.generate({ codeSplitting: false, ...output });
    if (chunks.length !== 1 || chunks[0].type !== 'chunk' || chunks[0].code.trim() === '') throw new Error(`bundle-cli: no single bundle for ${input}`);
    // Only node's builtins may be left to load at run time (main.js serves no others).
    const outside = [...chunks[0].imports, ...chunks[0].dynamicImports].filter((id) => !builtinModules.includes(id.replace(/^node:/, '')));
    if (outside.length > 0) throw new Error(`bundle-cli: ${input} still imports ${outside.join(', ')}`);
    return chunks[0].code;
  } finally {
    await bundle.close();
  }
}

function sha256(data) {
  return createHash('sha256').update(data).digest('hex');
}

/** Writes `text` to `path` through a temporary file, so that a failed build leaves no half file. */
async function writeAtomically(path, text) {
  await writeFile(`${path}.tmp`, text);
  await rename(`${path}.tmp`, path);
}

// The worker: an ES module, as before, in place of tsc's file.
const worker = `${cliDir}cp-worker.js`;
await writeAtomically(worker, await bundleCode(worker, { format: 'esm' }));
// tsc's source map describes the unbundled file.
await rm(`${worker}.map`, { force: true });

// The CLI: a CommonJS body wrapped in a function that main.js calls with the
// module's arguments. JSDoc is dropped: nobody reads it there, and every byte
// is read on each start.
// `await import('node:...')` becomes require(): a vm.Script has no loader for import().
const body = await bundleCode(`${cliDir}bin.js`, {
  format: 'cjs', strict: true, dynamicImportInCjs: false, comments: { legal: true, annotation: false, jsdoc: false },
});
const wrapped = `(function (exports, require, module, __filename, __dirname, importMetaUrl) {\n${body}\n})\n`;
// The build id names this bundle in its cache (see readCache in main.ts).
const source = `${wrapped}//# ext4kit build ${sha256(wrapped)}\n`;
// A cache from the last build must not outlive its bundle, even if this build stops half way.
await rm(cachePath, { force: true });
await writeAtomically(binPath, source);

// Compile as main.js does and run common commands, so that the cache holds
// their code too (without it `ls -l` compiles for about 5 ms).
const script = new Script(source, { filename: binPath });
const module = { exports: {} };
script.runInThisContext()(module.exports, createRequire(binPath), module, binPath, cliDir, pathToFileURL(`${cliDir}main.js`).href);
if (typeof module.exports.main !== 'function') throw new Error('bundle-cli: bin.cjs exports no main function');
try {
  await exercise(module.exports);
} catch (e) {
  console.warn(`bundle-cli: running commands to fill the code cache failed; the cache holds less: ${e?.stack ?? e}`);
}
// main.js checks the data with zlib.crc32 (Node 20.15 and later) before V8 reads it; without it a cache is never used.
if (typeof zlib.crc32 === 'function') {
  const data = script.createCachedData();
  const header = source.slice(source.lastIndexOf(' ') + 1, -1) + zlib.crc32(data).toString(16).padStart(8, '0');
  await writeAtomically(cachePath, Buffer.concat([Buffer.from(header, 'latin1'), data]));
} else {
  console.warn('bundle-cli: this node has no zlib.crc32; the CLI gets no code cache (slower start-up)');
}

/**
 * Runs the commands whose start-up counts most once, in this process, on an
 * image made from a small tree (mkfs -d), output dropped: the reading
 * commands and copying out, which take milliseconds. Not the write
 * commands: V8 reads the whole cache at every start, about 1 ms per 200 KB,
 * and copying in alone adds 170 KB (to 810 KB). A command that fails only
 * leaves some code out of the cache: it is reported and the build goes on.
 */
async function exercise(cli) {
  const dir = await mkdtemp(join(tmpdir(), 'ext4kit-build-'));
  try {
    const tree = join(dir, 'tree');
    await mkdir(join(tree, 'sub'), { recursive: true });
    await writeFile(join(tree, 'small'), 'ext4kit\n');
    await writeFile(join(tree, 'sub', 'big'), Buffer.alloc(300_000, 7));
    await writeFile(join(tree, 'empty'), '');
    await link(join(tree, 'small'), join(tree, 'sub', 'hard'));
    await symlink('sub/big', join(tree, 'link'));
    const img = join(dir, 'img');
    const sink = () => new Writable({ write: (_chunk, _encoding, done) => done() });
    const commands = [
      ['mkfs', '-q', '-d', tree, img, '8M'],
      ['--help'],
      ['info', img],
      ['ls', '-l', '-a', '-R', `${img}:/`],
      ['stat', `${img}:/small`, `${img}:/link`],
      ['cat', `${img}:/small`, `${img}:/sub/big`],
      ['cp', '-a', `${img}:/`, join(dir, 'out-a')],
      ['cp', '-r', `${img}:/sub`, join(dir, 'out-r')],
      ['cp', `${img}:/small`, join(dir, 'out-1')],
    ];
    for (const argv of commands) {
      const status = await cli.runCli(argv, cli.cliEnv(sink(), sink()));
      if (status !== 0) console.warn(`bundle-cli: ext4kit ${argv.join(' ')} (run to fill the code cache) exited with ${status}`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
