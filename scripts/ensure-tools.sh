#!/usr/bin/env bash
# Installs the system tools the demo and the tests use as oracles
# (e2fsprogs: mkfs.ext4, e2fsck, debugfs, dumpe2fs; python3 for host-side
# exact-nanosecond times, xattrs and mknod; attr, whose getfattr the tests
# use to cross-check xattrs) when they are missing and we are
# root with apt-get. Otherwise says what is missing and continues.
set -u
need=()
command -v mkfs.ext4 >/dev/null 2>&1 && command -v e2fsck >/dev/null 2>&1 && command -v debugfs >/dev/null 2>&1 || need+=(e2fsprogs)
command -v python3 >/dev/null 2>&1 || need+=(python3)
command -v getfattr >/dev/null 2>&1 || need+=(attr)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "ensure-tools: installing ${need[*]}"
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
else
  echo "ensure-tools: missing ${need[*]}; install them (e.g. apt-get install -y ${need[*]})" >&2
fi
