#!/usr/bin/env node
// A short tour of the ext4kit command line (`npm run demo` builds first):
// make a small directory tree, turn it into an ext4 image with
// `ext4kit mkfs -d`, change it (mkdir, cp in, mv, rm, chmod), look inside
// with `ext4kit info`, `ext4kit ls -l -R` and `ext4kit cat`, and let
// e2fsck -fn, the independent judge, check the result.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, truncateSync, writeFileSync, closeSync, openSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../dist/src/cli/main.js', import.meta.url));
if (!existsSync(cli)) {
  console.error(`demo: ${cli} is missing; run \`npm run build\` first (\`npm run demo\` does).`);
  process.exit(1);
}

/** e2fsprogs often lives in /sbin or /usr/sbin, which ordinary users may not have on PATH. */
function findTool(name) {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/sbin', '/usr/sbin', '/usr/local/sbin'];
  for (const d of dirs) {
    if (d !== '' && existsSync(join(d, name))) return join(d, name);
  }
  return null;
}

function show(title) {
  const bold = process.stdout.isTTY ? ['\x1b[1m', '\x1b[0m'] : ['', ''];
  console.log(`\n${bold[0]}== ${title}${bold[1]}`);
}

function run(cmd, args, label = [cmd, ...args].join(' ')) {
  console.log(`$ ${label}`);
  const r = spawnSync(cmd, args, { stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`demo: command failed (exit ${r.status ?? r.signal})`);
    process.exit(1);
  }
}

const e2fsck = findTool('e2fsck');

const work = mkdtempSync(join(tmpdir(), 'ext4kit-demo-'));
try {
  show('A small directory tree');
  const src = join(work, 'tree');
  mkdirSync(join(src, 'docs/notes'), { recursive: true });
  mkdirSync(join(src, 'bin'));
  writeFileSync(join(src, 'README.txt'), 'Hello from inside an ext4 image!\nThis file was read by ext4kit, without mounting anything.\n');
  writeFileSync(join(src, 'docs/notes/todo.md'), '# To do\n\n- read images (done)\n- write images (done)\n');
  writeFileSync(join(src, 'bin/hello.sh'), '#!/bin/sh\necho hello\n', { mode: 0o755 });
  symlinkSync('../README.txt', join(src, 'docs/readme-link'));
  // A sparse file: 8 MiB long, no data at all. It costs no blocks in the image.
  closeSync(openSync(join(src, 'docs/sparse.bin'), 'w'));
  truncateSync(join(src, 'docs/sparse.bin'), 8 << 20);
  console.log(`created ${src}`);

  const img = join(work, 'demo.img');
  const ext4kit = (...args) => run(process.execPath, [cli, ...args], `ext4kit ${args.join(' ')}`);
  show('Make an ext4 image of it (laid out as mke2fs 1.47 would)');
  ext4kit('mkfs', '-q', '-L', 'demo', '-d', src, img, '32M');

  show('Change it: every change goes through the journal');
  const extra = join(work, 'changelog.txt');
  writeFileSync(extra, 'Written into the image by ext4kit cp.\n');
  ext4kit('mkdir', '-p', `${img}:/var/log`);
  ext4kit('cp', extra, `${img}:/var/log/`);
  ext4kit('mv', `${img}:/docs/notes`, `${img}:/notes`);
  ext4kit('chmod', '600', `${img}:/notes/todo.md`);
  ext4kit('rm', `${img}:/docs/sparse.bin`);

  show('What is in the superblock');
  ext4kit('info', img);
  show('Every file in the image');
  ext4kit('ls', '-l', '-R', `${img}:/`);
  show('One file\'s contents');
  ext4kit('cat', `${img}:/README.txt`, `${img}:/var/log/changelog.txt`);
  if (e2fsck !== null) {
    show('The independent check: e2fsck -fn finds nothing to fix');
    run(e2fsck, ['-fn', img], `e2fsck -fn ${img}`);
  }
  console.log('\nMore: ext4kit --help, ext4kit stat IMG:PATH, ext4kit cp -a IMG:/ DIR');
} finally {
  rmSync(work, { recursive: true, force: true });
}
