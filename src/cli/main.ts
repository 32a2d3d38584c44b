#!/usr/bin/env node
/**
 * The `ext4kit` executable: loads the CLI (bin.ts) and reports what it throws
 * as an internal error.
 *
 * Why a loader: node spends longer compiling and linking the CLI than running
 * most commands. The build (scripts/bundle-cli.mjs) bundles bin.js with all
 * it imports into one script, bin.cjs, and saves V8's code cache for it, made
 * by this node version. Here the script is compiled with that cache, which
 * skips nearly all parsing and compiling; when V8 rejects the cache (another
 * node or V8 version, other V8 flags) the script is compiled from source, a
 * little slower and otherwise the same. Nothing is ever written at run time:
 * the package may be read-only. Without bin.cjs (a build without rolldown)
 * bin.js is imported as tsc left it.
 */
import type * as Fs from 'node:fs';
import type * as Path from 'node:path';
import type * as Url from 'node:url';
import type * as Util from 'node:util';
import type * as Vm from 'node:vm';
import type * as Zlib from 'node:zlib';

type Main = (argv: readonly string[]) => Promise<void>;
type LoadBuiltin = (id: string) => unknown;

/**
 * The bundled script, as scripts/bundle-cli.mjs wraps it: a function taking a
 * CommonJS module's arguments, plus the URL that stands for `import.meta.url`
 * (this file's, so that what the CLI looks for beside itself, cp-worker.js
 * and package.json, is found as before bundling).
 */
type BundleFunction = (exports: object, require: LoadBuiltin, module: { exports: object }, filename: string, dirname: string, importMetaUrl: string) => void;

/**
 * Node's builtins as CommonJS modules: importing them as ES modules would
 * build their ES wrappers, which read every export and so load parts (fs
 * streams, fs/promises) a command may never use. Node before 20.16 has no
 * process.getBuiltinModule.
 */
async function builtinLoader(): Promise<LoadBuiltin> {
  if (typeof process.getBuiltinModule === 'function') {
    return (id) => {
      const m = process.getBuiltinModule(id);
      // The bundle requires nothing else (bundle-cli checks): a miss is a bug in the build.
      if (m === undefined) throw new Error(`bin.cjs requires ${id}, which is not a Node builtin`);
      return m;
    };
  }
  const { createRequire } = await import('node:module');
  return createRequire(import.meta.url);
}

/**
 * Builtins that only some commands use, which the bundle's top level would
 * otherwise load on every start (together about 3 ms): crypto (new UUIDs and
 * temporary names, for mkfs and writes), child_process (python3 for what
 * Node's fs cannot do, and commander's external subcommands, which ext4kit
 * has none of), worker_threads (the thread of a tree copy). The bundle gets
 * a stand-in that loads the module when first used, which is enough as the
 * bundle reads their exports only when it calls them.
 */
const DEFERRED = new Set(['node:crypto', 'node:child_process', 'node:worker_threads']);

function deferred(load: LoadBuiltin, id: string): object {
  let module: object | undefined;
  const real = (): object => (module ??= load(id) as object);
  return new Proxy({}, {
    get: (_target, key) => Reflect.get(real(), key) as unknown,
    has: (_target, key) => Reflect.has(real(), key),
    ownKeys: () => Reflect.ownKeys(real()),
    // The stand-in owns no properties itself: each must be reported as configurable (a Proxy invariant).
    getOwnPropertyDescriptor: (_target, key) => {
      const d = Reflect.getOwnPropertyDescriptor(real(), key);
      return d === undefined ? undefined : { ...d, configurable: true };
    },
  });
}

async function loadMain(): Promise<Main> {
  const load = await builtinLoader();
  // NODE_DEBUG=ext4kit says how the CLI was loaded, for when start-up is slow.
  const debug = (load('node:util') as typeof Util).debuglog('ext4kit');
  const fs = load('node:fs') as typeof Fs;
  const filename = (load('node:url') as typeof Url).fileURLToPath(new URL('bin.cjs', import.meta.url));
  let source: string;
  try {
    source = fs.readFileSync(filename, 'utf8');
  } catch (e) {
    if ((e as { code?: unknown }).code !== 'ENOENT') throw e;
    debug('no bin.cjs: importing bin.js unbundled');
    return (await import('./bin.js')).main;
  }
  const cache = readCache(load, `${filename}.cache`, source);
  const { Script } = load('node:vm') as typeof Vm;
  const script = new Script(source, { filename, cachedData: typeof cache === 'string' ? undefined : cache });
  if (typeof cache === 'string') debug('bin.cjs compiled without a code cache: %s', cache);
  else if (script.cachedDataRejected === true) debug('bin.cjs compiled without a code cache: V8 rejected it (made by another node, or other V8 flags)');
  else debug('bin.cjs compiled from its code cache');
  const wrapped = script.runInThisContext() as BundleFunction;
  const module = { exports: {} as { main?: Main } };
  const requireInBundle: LoadBuiltin = (id) => (DEFERRED.has(id) ? deferred(load, id) : load(id));
  wrapped(module.exports, requireInBundle, module, filename, (load('node:path') as typeof Path).dirname(filename), import.meta.url);
  if (typeof module.exports.main !== 'function') throw new Error(`${filename} exports no main function`);
  return module.exports.main;
}

/** A SHA-256 and a CRC-32 in hex; a multiple of 8, so that the data after it stays aligned for V8. */
const CACHE_HEADER = 72;

/**
 * The code cache saved beside the bundle if it is whole and was made for this
 * very bundle, else why not. Its header holds the bundle's build id (a
 * SHA-256, which also ends the bundle) and the CRC-32 of the cache data, in
 * hex. Both checks are needed: V8 compares only the source's length, so a
 * cache left from another build of the same length would run that build's
 * code; and V8 does not check the data, so a damaged cache would crash the
 * process. (CRC-32, not a hash from node:crypto: loading that costs 2 ms.)
 */
function readCache(load: LoadBuiltin, path: string, source: string): Buffer | string {
  let cache: Buffer;
  try {
    cache = (load('node:fs') as typeof Fs).readFileSync(path);
  } catch (e) {
    return String((e as { code?: unknown }).code ?? e);
  }
  const data = cache.subarray(CACHE_HEADER);
  const header = cache.toString('latin1', 0, CACHE_HEADER);
  if (!source.endsWith(` ${header.slice(0, 64)}\n`)) return 'it was made for another build';
  const { crc32 } = load('node:zlib') as typeof Zlib;
  // Node 20.15 added zlib.crc32.
  if (typeof crc32 !== 'function') return 'this node cannot check it';
  return header.slice(64) === crc32(data).toString(16).padStart(8, '0') ? data : 'it is damaged';
}

try {
  await (await loadMain())(process.argv.slice(2));
} catch (e) {
  // A bug, not a user error: say so with the stack, which is what a bug report needs.
  process.stderr.write(`ext4kit: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 70;
}
