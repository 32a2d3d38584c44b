/**
 * open(2) flag bits as Linux (x86, arm) numbers them, the values Node's
 * `fs.constants` holds and its flag strings stand for.
 */
export const O_ACCMODE = 3;
export const O_RDONLY = 0;
export const O_WRONLY = 1;
export const O_RDWR = 2;
export const O_CREAT = 0o100;
export const O_EXCL = 0o200;
export const O_TRUNC = 0o1000;
export const O_APPEND = 0o2000;
export const O_DSYNC = 0o10000;
export const O_DIRECTORY = 0o200000;
export const O_NOFOLLOW = 0o400000;
export const O_SYNC = 0o4010000;
