/**
 * The `ext4kit` command line: argument parsing (commander) and dispatch to
 * one module per command. `runCli` takes its outside world as a `CliEnv`
 * and returns the exit status, so tests can run it in-process.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { catCommand } from './cat.js';
import { cpCommand } from './cp.js';
import type { CliEnv } from './env.js';
import { infoCommand } from './info.js';
import { lsCommand } from './ls.js';
import { mkfsCommand, type MkfsCliOptions } from './mkfs.js';
import { statCommand } from './stat.js';
import { addWriteCommands } from './write-program.js';
import { parseOffset, UsageError } from './target.js';

interface CommonOptions { offset?: string }

const OFFSET_HELP = 'where the filesystem starts inside IMG (a partition in a disk image): bytes, or with a K/M/G suffix, or 512-byte sectors with s (2048s)';

/** The package version, found by walking up from this file (src/ when run from source, dist/src/ when built). */
function packageVersion(): string {
  let dir = new URL('.', import.meta.url);
  for (let i = 0; i < 5; i++) {
    try {
      const pkg = JSON.parse(readFileSync(new URL('package.json', dir), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'ext4kit' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // Not here: look one level up.
    }
    dir = new URL('..', dir);
  }
  return 'unknown';
}

export async function runCli(argv: readonly string[], env: CliEnv): Promise<number> {
  let status = 0;
  let current = '';
  const program = new Command('ext4kit');
  program
    .description('Make, read and change ext4 filesystem images without mounting them. Files are named IMG:PATH (PATH absolute, / when omitted).')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => { env.stdout.write(s); },
      writeErr: (s) => { env.stderr.write(s); },
      outputError: (s, write) => { write(`ext4kit: ${current === '' ? '' : `${current}: `}${s.replace(/^error: /, '')}`); },
    })
    .version(packageVersion(), '-V, --version')
    .showHelpAfterError('(add --help for usage)');

  /** Wraps a command's action: records its exit status and turns usage errors into one line on stderr. */
  const action = <A extends unknown[]>(name: string, fn: (...args: A) => Promise<number>) => async (...args: A): Promise<void> => {
    try {
      status = await fn(...args);
    } catch (e) {
      if (!(e instanceof UsageError)) throw e;
      env.stderr.write(`ext4kit: ${name}: ${e.message}\n`);
      status = 1;
    }
  };

  program.command('info')
    .description('show the superblock summary of an image (like dumpe2fs -h)')
    .argument('<IMG>', 'the image file')
    .option('--json', 'print JSON')
    .option('--offset <bytes>', OFFSET_HELP)
    .action(action('info', (img: string, o: CommonOptions & { json?: boolean }) =>
      infoCommand(env, img, { json: o.json, offset: parseOffset(o.offset) })));

  program.command('ls')
    .description('list directory contents, like GNU ls -n in the C locale')
    .argument('<IMG[:PATH]...>', 'what to list')
    .option('-l', 'long listing: mode, links, uid, gid, size, mtime, name')
    .option('-a', 'include names starting with ., and . and ..')
    .option('-R', 'list subdirectories recursively')
    .option('--json', 'print a JSON array of entries')
    .option('--offset <bytes>', OFFSET_HELP)
    .action(action('ls', (targets: string[], o: CommonOptions & { l?: boolean; a?: boolean; R?: boolean; json?: boolean }) =>
      lsCommand(env, targets, { long: o.l, all: o.a, recursive: o.R, json: o.json, offset: parseOffset(o.offset) })));

  program.command('cat')
    .description('write file contents to stdout')
    .argument('<IMG:PATH...>', 'files to print')
    .option('--offset <bytes>', OFFSET_HELP)
    .action(action('cat', (targets: string[], o: CommonOptions) => catCommand(env, targets, { offset: parseOffset(o.offset) })));

  program.command('stat')
    .description('show file status, like GNU stat')
    .argument('<IMG:PATH...>', 'files to describe')
    .option('--json', 'print JSON')
    .option('--offset <bytes>', OFFSET_HELP)
    .action(action('stat', (targets: string[], o: CommonOptions & { json?: boolean }) =>
      statCommand(env, targets, { json: o.json, offset: parseOffset(o.offset) })));

  program.command('cp')
    .description('copy files out of an image to the host (IMG:PATH... DEST), or into an image (HOSTPATH... IMG:DEST; - reads standard input), with GNU cp\'s rules for DEST')
    .usage('[options] IMG:PATH... DEST | HOSTPATH... IMG:DEST')
    .argument('<SOURCE...>', 'files to copy, then DEST')
    .option('-r, --recursive', 'copy directories recursively (symlinks are copied as symlinks)')
    .option('-R', 'same as -r')
    .option('-a, --archive', 'like -r, and keep modes, owners (as root when copying out), times, hard links, special files and xattrs')
    .option('-q, --quiet', 'no progress bar when copying into an image')
    .option('--offset <bytes>', OFFSET_HELP)
    .action(action('cp', (operands: string[], o: CommonOptions & { recursive?: boolean; R?: boolean; archive?: boolean; quiet?: boolean }) =>
      cpCommand(env, operands, { recursive: o.recursive === true || o.R === true, archive: o.archive, quiet: o.quiet, offset: parseOffset(o.offset) })));

  addWriteCommands(program, env, action, OFFSET_HELP);

  const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];
  program.command('mkfs')
    .description('make a new ext4 filesystem, laid out as mke2fs 1.47 lays it out')
    .usage('[options] IMG [SIZE]')
    .argument('<IMG>', 'image file (created sparse when SIZE is given and it does not exist) or block device')
    .argument('[SIZE]', 'filesystem size in bytes, or with a K/M/G/T suffix; default: the whole file or device')
    .option('-b <block-size>', 'block size: 1024, 2048 or 4096 (default from the size, as mke2fs.conf)')
    .option('-L <label>', 'volume label (at most 16 bytes)')
    .option('-U <uuid>', 'filesystem UUID')
    .option('-N <inodes>', 'number of inodes (at least)')
    .option('-i <bytes-per-inode>', 'one inode per this many bytes')
    .option('-I <inode-size>', 'inode size in bytes (default 256)')
    .option('-O <features>', 'features to add, or with ^ to remove, comma separated (repeatable)', collect)
    .option('-J <journal-options>', 'journal options: size=MB', collect)
    .option('-E <extended-options>', 'root_owner=UID:GID, lazy_itable_init=0|1, lazy_journal_init=0|1, hash_seed=UUID', collect)
    .option('-m <percent>', 'percentage of blocks reserved for root (default 5)')
    .option('-f, --force', 'overwrite a file or device that already holds an ext2/3/4 filesystem')
    .option('-d <DIR>', 'copy the contents of host folder DIR in (files, directories, symlinks, hard links, device nodes, fifos, sockets, modes, owners, times, xattrs), as mke2fs -d')
    .option('-q, --quiet', 'print nothing on success (and show no progress bar)')
    .action(action('mkfs', (img: string, size: string | undefined, o: MkfsCliOptions) => mkfsCommand(env, img, size, o)));

  // Errors from commander (unknown option, missing operand) name the command they are about.
  program.hook('preSubcommand', (_p, sub) => { current = sub.name(); });

  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode;
    throw e;
  }
  return status;
}
