#!/usr/bin/env node
// A short tour of the ext4kit command line (`npm run demo` builds first):
// make a small directory tree, turn it into an ext4 image with mkfs.ext4 -d
// (ext4kit reads images; writing them comes later), then look inside the
// image with `ext4kit info`, `ext4kit ls -l -R` and `ext4kit cat`.
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

/** mkfs.ext4 often lives in /sbin or /usr/sbin, which ordinary users may not have on PATH. */
function findMkfs() {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/sbin', '/usr/sbin', '/usr/local/sbin'];
  for (const d of dirs) {
    if (d !== '' && existsSync(join(d, 'mkfs.ext4'))) return join(d, 'mkfs.ext4');
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

const mkfs = findMkfs();
if (mkfs === null) {
  console.error('demo: mkfs.ext4 was not found; install e2fsprogs (Debian/Ubuntu: apt-get install e2fsprogs).');
  process.exit(1);
}

const work = mkdtempSync(join(tmpdir(), 'ext4kit-demo-'));
try {
  show('A small directory tree');
  const src = join(work, 'tree');
  mkdirSync(join(src, 'docs/notes'), { recursive: true });
  mkdirSync(join(src, 'bin'));
  writeFileSync(join(src, 'README.txt'), 'Hello from inside an ext4 image!\nThis file was read by ext4kit, without mounting anything.\n');
  writeFileSync(join(src, 'docs/notes/todo.md'), '# To do\n\n- read images (done)\n- write images\n');
  writeFileSync(join(src, 'bin/hello.sh'), '#!/bin/sh\necho hello\n', { mode: 0o755 });
  symlinkSync('../README.txt', join(src, 'docs/readme-link'));
  // A sparse file: 8 MiB long, no data at all. It costs no blocks in the image.
  closeSync(openSync(join(src, 'docs/sparse.bin'), 'w'));
  truncateSync(join(src, 'docs/sparse.bin'), 8 << 20);
  console.log(`created ${src}`);

  show('Make an ext4 image of it with mkfs.ext4 -d');
  const img = join(work, 'demo.img');
  closeSync(openSync(img, 'w'));
  truncateSync(img, 32 << 20);
  run(mkfs, ['-q', '-F', '-L', 'demo', '-d', src, img], `mkfs.ext4 -q -F -L demo -d ${src} ${img}`);

  const ext4kit = (...args) => run(process.execPath, [cli, ...args], `ext4kit ${args.join(' ')}`);
  show('What is in the superblock');
  ext4kit('info', img);
  show('Every file in the image');
  ext4kit('ls', '-l', '-R', `${img}:/`);
  show('One file\'s contents');
  ext4kit('cat', `${img}:/README.txt`);
  console.log('\nMore: ext4kit --help, ext4kit stat IMG:PATH, ext4kit cp -a IMG:/ DIR');
} finally {
  rmSync(work, { recursive: true, force: true });
}
