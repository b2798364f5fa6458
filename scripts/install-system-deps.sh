#!/usr/bin/env bash
# Installs the real programs the tests talk to (rdiff, duplicity, gpg, sshd), libdeflate-dev and libisal-dev from Debian.
# Run once on a developer machine (as root, or with sudo available).
set -euo pipefail
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
# python3-paramiko and python3-pexpect: duplicity's own sftp:// and scp:// transports (only recommended by the package).
# libdeflate-dev (with a C compiler and make): the optional gzip addon in packages/libdeflate; without it gzip uses node:zlib.
# libisal-dev (Intel ISA-L): that addon's restore-side inflater uses it when present (2-4x zlib's inflate), else zlib.
# zlib1g-dev: the addon links -lz (OpenPGP deflate segments are walked with inflate(Z_BLOCK); adler32).
$SUDO apt-get install -y rdiff duplicity gnupg openssh-server openssh-client python3-paramiko python3-pexpect libdeflate-dev libisal-dev zlib1g-dev build-essential
