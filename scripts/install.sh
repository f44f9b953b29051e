#!/bin/sh
# Installs hot, a prebuilt static binary: no Rust toolchain needed.
#
#   curl -fsSL https://github.com/hot-cli/hot/releases/latest/download/install.sh | sh
#
# Settings (environment):
#   HOT_INSTALL_DIR   where to put `hot` (default: ~/.local/bin)
#   HOT_INSTALL_FROM  a directory or URL holding hot-<version>-<target>.tar.gz and its .sha256
#                     (default: the project's latest release)
#   HOT_VERSION       the version to install (default: the one next to this script, else latest)
#
# It detects the OS and architecture, checks the archive's SHA-256 before installing, and says
# how to put the directory on PATH if it is not there.
set -eu

REPO_URL="https://github.com/hot-cli/hot"
# Filled in by scripts/release for the install.sh of a release; empty: the latest.
RELEASE_VERSION=""

say() { printf 'hot install: %s\n' "$*" >&2; }
fail() { say "error: $*"; exit 1; }

os=$(uname -s)
arch=$(uname -m)
case "$arch" in
  x86_64 | amd64) arch=x86_64 ;;
  aarch64 | arm64) arch=aarch64 ;;
  *) fail "no prebuilt hot for the $arch architecture; build it with: cargo install --git $REPO_URL" ;;
esac
case "$os" in
  # Static (musl) binaries: they run on glibc and musl systems alike (Debian, Alpine, WSL).
  Linux) target="$arch-unknown-linux-musl" ;;
  Darwin) target="$arch-apple-darwin" ;;
  FreeBSD) target="$arch-unknown-freebsd" ;;
  *) fail "no prebuilt hot for $os; build it with: cargo install --git $REPO_URL" ;;
esac

version=${HOT_VERSION:-$RELEASE_VERSION}
from=${HOT_INSTALL_FROM:-}
if [ -z "$from" ]; then
  if [ -n "$version" ]; then
    from="$REPO_URL/releases/download/v$version"
  else
    from="$REPO_URL/releases/latest/download"
  fi
fi
dir=${HOT_INSTALL_DIR:-"$HOME/.local/bin"}

tmp=$(mktemp -d 2>/dev/null || mktemp -d -t hot-install)
trap 'rm -rf "$tmp"' EXIT INT TERM

# fetch NAME: copies NAME from $from into $tmp.
fetch() {
  case "$from" in
    http://* | https://*)
      if command -v curl >/dev/null 2>&1; then
        curl -fsSL "$from/$1" -o "$tmp/$1" || return 1
      elif command -v wget >/dev/null 2>&1; then
        wget -q "$from/$1" -O "$tmp/$1" || return 1
      else
        fail "neither curl nor wget is installed"
      fi
      ;;
    *) cp "$from/$1" "$tmp/$1" 2>/dev/null || return 1 ;;
  esac
}

if [ -z "$version" ]; then
  # The latest: the release publishes its version in a file beside the archives.
  fetch VERSION || fail "cannot read $from/VERSION (set HOT_VERSION, or HOT_INSTALL_FROM)"
  version=$(tr -d ' \n\r' <"$tmp/VERSION")
fi
archive="hot-$version-$target.tar.gz"
fetch "$archive" || fail "$from has no $archive (no build for $target?)"
fetch "$archive.sha256" || fail "$from has no $archive.sha256: refusing to install unchecked"

want=$(cut -d ' ' -f 1 <"$tmp/$archive.sha256")
if command -v sha256sum >/dev/null 2>&1; then
  got=$(sha256sum "$tmp/$archive" | cut -d ' ' -f 1)
elif command -v shasum >/dev/null 2>&1; then
  got=$(shasum -a 256 "$tmp/$archive" | cut -d ' ' -f 1)
else
  fail "neither sha256sum nor shasum is installed: cannot check the download"
fi
[ "$want" = "$got" ] || fail "$archive: checksum mismatch (expected $want, got $got)"

tar -xzf "$tmp/$archive" -C "$tmp"
mkdir -p "$dir" || fail "cannot create $dir"
# Replace, never overwrite in place: a running hot keeps its own binary.
cp "$tmp/hot-$version-$target/hot" "$dir/.hot.new"
chmod 755 "$dir/.hot.new"
mv -f "$dir/.hot.new" "$dir/hot"
say "installed hot $version ($target) to $dir/hot"

case ":$PATH:" in
  *":$dir:"*) ;;
  *)
    say "$dir is not on your PATH. Add it, e.g. to ~/.profile (or ~/.zshrc):"
    say "  export PATH=\"$dir:\$PATH\""
    ;;
esac
