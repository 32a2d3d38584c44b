/**
 * The commands that change an image, registered on the `ext4kit` program:
 * mkdir, rm, mv, ln, chmod, chown, touch, truncate and xattr. Each opens
 * its images writable and closes them (which commits and leaves them
 * clean) before it exits.
 */
import type { Command } from 'commander';
import { chmodCommand, chownCommand, touchCommand, truncateCommand } from './attr-commands.js';
import { lnCommand, mkdirCommand, mvCommand, rmCommand } from './edit-commands.js';
import type { CliEnv } from './env.js';
import { parseOffset } from './target.js';
import { xattrCommand } from './xattr.js';

type Action = <A extends unknown[]>(name: string, fn: (...args: A) => Promise<number>) => (...args: A) => Promise<void>;

interface Offset { offset?: string }

export function addWriteCommands(program: Command, env: CliEnv, action: Action, offsetHelp: string): void {
  const off = (o: Offset): { offset: number } => ({ offset: parseOffset(o.offset) });

  program.command('mkdir')
    .description('make directories in an image, like GNU mkdir')
    .argument('<IMG:PATH...>', 'directories to make')
    .option('-p, --parents', 'make parents as needed; no error if it exists')
    .option('-m, --mode <MODE>', 'permission bits (octal or symbolic, as chmod), not masked by the umask')
    .option('--offset <bytes>', offsetHelp)
    .action(action('mkdir', (ops: string[], o: Offset & { parents?: boolean; mode?: string }) =>
      mkdirCommand(env, ops, { ...off(o), parents: o.parents, mode: o.mode })));

  program.command('rm')
    .description('remove files or directories from an image, like GNU rm')
    .argument('<IMG:PATH...>', 'what to remove')
    .option('-r, --recursive', 'remove directories and everything in them')
    .option('-R', 'same as -r')
    .option('-f, --force', 'ignore missing files; never fail for them')
    .option('-d, --dir', 'remove empty directories')
    .option('--offset <bytes>', offsetHelp)
    .action(action('rm', (ops: string[], o: Offset & { recursive?: boolean; R?: boolean; force?: boolean; dir?: boolean }) =>
      rmCommand(env, ops, { ...off(o), recursive: o.recursive === true || o.R === true, force: o.force, dir: o.dir })));

  program.command('mv')
    .description('rename or move files within an image, like GNU mv')
    .usage('[options] IMG:SRC... IMG:DEST')
    .argument('<IMG:PATH...>', 'sources, then the destination (an existing directory, or the new name)')
    .option('--offset <bytes>', offsetHelp)
    .action(action('mv', (ops: string[], o: Offset) => mvCommand(env, ops, off(o))));

  program.command('ln')
    .description('make hard links within an image, or symlinks with -s, like GNU ln')
    .usage('[options] TARGET... IMG:LINK')
    .argument('<TARGET...>', 'IMG:PATH of what to link to (with -s: the text the symlink holds), then the link (an existing directory, or the new name)')
    .option('-s, --symbolic', 'make symbolic links')
    .option('-f, --force', 'remove an existing destination first')
    .option('--offset <bytes>', offsetHelp)
    .action(action('ln', (ops: string[], o: Offset & { symbolic?: boolean; force?: boolean }) =>
      lnCommand(env, ops, { ...off(o), symbolic: o.symbolic, force: o.force })));

  program.command('chmod')
    .description('change permission bits, like GNU chmod: octal (755) or symbolic (u+x,go-w, a=rX, +t)')
    .usage('[options] MODE IMG:PATH...')
    .argument('<MODE>', 'the new mode')
    .argument('<IMG:PATH...>', 'files to change')
    .option('-R, --recursive', 'change everything below directories too')
    .option('--offset <bytes>', offsetHelp)
    // `chmod -x IMG:PATH`: a mode that starts with '-' is a mode, as in GNU chmod.
    .allowUnknownOption()
    .action(action('chmod', (mode: string, ops: string[], o: Offset & { recursive?: boolean }) =>
      chmodCommand(env, mode, ops, { ...off(o), recursive: o.recursive })));

  program.command('chown')
    .description('change owner and group, like GNU chown (numeric ids, or names from the host\'s /etc/passwd and /etc/group)')
    .usage('[options] OWNER[:GROUP] IMG:PATH...')
    .argument('<OWNER[:GROUP]>', 'UID, UID:GID, UID: (the login group), or :GID')
    .argument('<IMG:PATH...>', 'files to change')
    .option('-R, --recursive', 'change everything below directories too')
    .option('-h, --no-dereference', 'change symlinks themselves, not what they point at')
    .option('--offset <bytes>', offsetHelp)
    .action(action('chown', (owner: string, ops: string[], o: Offset & { recursive?: boolean; dereference?: boolean }) =>
      chownCommand(env, owner, ops, { ...off(o), recursive: o.recursive, noDereference: o.dereference === false })));

  program.command('touch')
    .description('create empty files, or set access and modification times (to the nanosecond), like GNU touch')
    .argument('<IMG:PATH...>', 'files to touch')
    .option('-a', 'change only the access time')
    .option('-m', 'change only the modification time')
    .option('-c, --no-create', 'do not create missing files')
    .option('-h, --no-dereference', 'change a symlink\'s own times')
    .option('-d, --date <DATE>', 'this time, not now: @SECONDS[.FRACTION], YYYY-MM-DD[ HH:MM[:SS[.FRACTION]]][Z|+HH:MM], or what Date reads')
    .option('-t <STAMP>', 'this time, not now: [[CC]YY]MMDDhhmm[.ss] (local time)')
    .option('--offset <bytes>', offsetHelp)
    .action(action('touch', (ops: string[], o: Offset & { a?: boolean; m?: boolean; create?: boolean; dereference?: boolean; date?: string; t?: string }) =>
      touchCommand(env, ops, {
        ...off(o), accessOnly: o.a, modifyOnly: o.m, noCreate: o.create === false, noDereference: o.dereference === false, date: o.date, stamp: o.t,
      })));

  program.command('truncate')
    .description('shrink or extend files to a size, like GNU truncate (missing files are created)')
    .argument('<IMG:PATH...>', 'files to change')
    .requiredOption('-s, --size <SIZE>', '[+-<>/%]NUMBER with an optional K, M, G, T (1024) or KB, MB, ... (1000) suffix')
    .option('-c, --no-create', 'do not create missing files')
    .option('--offset <bytes>', offsetHelp)
    .action(action('truncate', (ops: string[], o: Offset & { size: string; create?: boolean }) =>
      truncateCommand(env, ops, { ...off(o), size: o.size, noCreate: o.create === false })));

  program.command('xattr')
    .description('list, read, set or remove extended attributes (like getfattr / setfattr)')
    .usage('[options] ls|get|set|rm IMG:PATH [NAME] [VALUE]')
    .argument('<ACTION>', 'ls, get NAME, set NAME VALUE, or rm NAME')
    .argument('<IMG:PATH>', 'the file')
    .argument('[ARGS...]', 'NAME (with its namespace: user.x), then for set VALUE (text, 0x + hex, or 0s + base64)')
    .option('-h, --no-dereference', 'act on a symlink itself')
    .option('--offset <bytes>', offsetHelp)
    .action(action('xattr', (act: string, target: string, args: string[], o: Offset & { dereference?: boolean }) =>
      xattrCommand(env, act, target, args, { ...off(o), noDereference: o.dereference === false })));
}
