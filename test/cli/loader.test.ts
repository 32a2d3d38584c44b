/**
 * The executable's loader (src/cli/main.ts) on the built CLI: it runs the
 * bundle from the code cache the build made; without a usable cache
 * (missing, made for another build, damaged, rejected by V8) or without the
 * bundle (a build without rolldown) it runs all the same; and what the CLI
 * throws is an internal error with status 70; builtins that only some
 * commands use are loaded only by those. NODE_DEBUG=ext4kit makes the
 * loader say which way it went.
 */
import * as fs from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCommand, type RunResult } from '../helpers/run.js';
import { useTmpDir } from '../helpers/tmp.js';
import { CLI_PATH } from './built-cli.js';

const tmp = useTmpDir('loader');
const CLI_DIR = dirname(CLI_PATH);
const PACKAGE_JSON = join(CLI_DIR, '..', '..', '..', 'package.json');
const VERSION = (JSON.parse(fs.readFileSync(PACKAGE_JSON, 'utf8')) as { version: string }).version;
/** The cache file's header: the build id and a CRC-32, in hex (see readCache in main.ts). */
const HEADER = 72;

/**
 * Runs `main.js --version` in `cliDir` with the loader's debug messages on.
 * NODE_OPTIONS is left as it is: the build ran under it too, and V8 takes a
 * cache only under the flags it was made with.
 */
function version(cliDir: string, nodeArgs: string[] = []): Promise<RunResult> {
  return runCommand(process.execPath, [...nodeArgs, join(cliDir, 'main.js'), '--version'], { env: { NODE_DEBUG: 'ext4kit' } });
}

/** A copy of the built CLI's files, laid out as in the package (dist/src/cli below package.json); returns the cli folder. */
function copyCli(name: string, files: readonly string[] = ['main.js', 'bin.cjs', 'bin.cjs.cache']): string {
  const root = tmp.fresh(name);
  const dir = join(root, 'dist', 'src', 'cli');
  fs.mkdirSync(dir, { recursive: true });
  for (const f of files) fs.copyFileSync(join(CLI_DIR, f), join(dir, f));
  fs.copyFileSync(PACKAGE_JSON, join(root, 'package.json'));
  return dir;
}

describe('the ext4kit loader', () => {
  it('runs the bundle from the code cache the build made', async () => {
    const r = await version(CLI_DIR);
    expect([r.code, r.stdout]).toEqual([0, `${VERSION}\n`]);
    expect(r.stderr).toMatch(/^EXT4KIT \d+: bin\.cjs compiled from its code cache\n$/);
  });

  const unusable: [string, (cache: Buffer) => Buffer | undefined, string][] = [
    ['missing', () => undefined, 'ENOENT'],
    ['made for another build', (c) => Buffer.concat([Buffer.from('0'.repeat(64), 'latin1'), c.subarray(64)]), 'it was made for another build'],
    // V8 does not check the data: bytes like these made it abort (V8_Fatal) while deserializing.
    ['damaged', (c) => { const d = Buffer.from(c); for (let i = HEADER + 1000; i < d.length; i += 4096) d[i] ^= 0xff; return d; }, 'it is damaged'],
    ['cut short', (c) => c.subarray(0, c.length - 1000), 'it is damaged'],
  ];
  for (const [what, change, why] of unusable) {
    it(`compiles the bundle from source when its cache is ${what}`, async () => {
      const dir = copyCli(what.replaceAll(' ', '-'));
      const cache = change(fs.readFileSync(join(dir, 'bin.cjs.cache')));
      if (cache === undefined) fs.rmSync(join(dir, 'bin.cjs.cache'));
      else fs.writeFileSync(join(dir, 'bin.cjs.cache'), cache);
      const r = await version(dir);
      expect([r.code, r.stdout]).toEqual([0, `${VERSION}\n`]);
      expect(r.stderr).toContain(`bin.cjs compiled without a code cache: ${why}\n`);
    });
  }

  it('compiles the bundle from source when V8 rejects the cache (other V8 flags)', async () => {
    const r = await version(CLI_DIR, ['--max-old-space-size=1000']);
    expect([r.code, r.stdout]).toEqual([0, `${VERSION}\n`]);
    expect(r.stderr).toContain('bin.cjs compiled without a code cache: V8 rejected it');
  });

  it('imports bin.js as tsc made it when there is no bundle', async () => {
    const root = tmp.fresh('unbundled');
    fs.cpSync(join(CLI_DIR, '..'), join(root, 'dist', 'src'), { recursive: true });
    fs.copyFileSync(PACKAGE_JSON, join(root, 'package.json'));
    // Unbundled, the CLI imports commander from node_modules.
    fs.symlinkSync(join(dirname(PACKAGE_JSON), 'node_modules'), join(root, 'node_modules'));
    const dir = join(root, 'dist', 'src', 'cli');
    fs.rmSync(join(dir, 'bin.cjs'));
    const r = await version(dir);
    expect([r.code, r.stdout]).toEqual([0, `${VERSION}\n`]);
    expect(r.stderr).toContain('no bin.cjs: importing bin.js unbundled\n');
  });

  it('loads crypto, child_process and worker_threads only for the commands that use them', async () => {
    // Run first: which builtins node loaded, of those the bundle defers.
    const probe = tmp.file('probe.cjs');
    fs.writeFileSync(probe, `process.on('exit', () => process.stderr.write('loaded: ' + process.moduleLoadList
      .filter((m) => /^NativeModule (crypto|child_process|worker_threads)$/.test(m)).map((m) => m.slice(13)).sort().join(' ') + '\\n'));\n`);
    const run = (...args: string[]) => runCommand(process.execPath, ['--require', probe, CLI_PATH, ...args]);
    const img = tmp.file('deferred.img');
    const made = await run('mkfs', '-q', img, '8M');
    expect([made.code, made.stderr]).toEqual([0, 'loaded: crypto\n']);
    for (const args of [['--help'], ['ls', '-l', `${img}:/`], ['stat', `${img}:/lost+found`]]) {
      const r = await run(...args);
      expect([r.code, r.stderr]).toEqual([0, 'loaded: \n']);
    }
  });

  for (const [where, body] of [
    ['while it runs', 'exports.main = async () => { await null; throw new Error("planted bug"); };'],
    ['while it loads', 'throw new Error("planted bug");'],
  ]) {
    it(`reports what the CLI throws ${where} as an internal error, with its stack, and exits 70`, async () => {
      const dir = copyCli(`bug-${where.replaceAll(' ', '-')}`, ['main.js']);
      fs.writeFileSync(join(dir, 'bin.cjs'), `(function (exports) {\n${body}\n})\n`);
      const r = await runCommand(process.execPath, [join(dir, 'main.js'), 'ls', 'x.img']);
      expect(r.code).toBe(70);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/^ext4kit: internal error: Error: planted bug\n {4}at .*bin\.cjs:2:/);
    });
  }
});
