#!/bin/sh
# Idempotent set-up for the kernel VM runner (scripts/vm/run.ts), run as root by .ci/run and by hand:
#   - qemu-system-x86 is installed with apt-get (the only system-wide change);
#   - Debian's distribution kernel (the package linux-image-amd64 depends on) and busybox-static are
#     fetched with `apt-get download` and unpacked with `dpkg -x` into $DMVPN_VM_CACHE
#     (default /var/cache/dmvpn-vm), so no initramfs hook, bootloader update or busybox swap runs on
#     this machine. The unpacked kernel's version is written to $DMVPN_VM_CACHE/kernel-version.
# Quiet when everything is present; `--update` fetches the newest kernel even if one is unpacked.
set -eu
CACHE=${DMVPN_VM_CACHE:-/var/cache/dmvpn-vm}
UPDATE=no
[ "${1:-}" = --update ] && UPDATE=yes
export DEBIAN_FRONTEND=noninteractive

say() { echo "vm setup: $*" >&2; }
die() { say "$*"; exit 1; }

kernel_ready() {
  [ -f "$CACHE/kernel-version" ] || return 1
  v=$(cat "$CACHE/kernel-version")
  [ -f "$CACHE/kernel/boot/vmlinuz-$v" ] && [ -f "$CACHE/kernel/lib/modules/$v/modules.dep" ]
}
busybox_ready() { [ -x "$CACHE/busybox/bin/busybox" ]; }

# unpack_vmlinux BOOTDIR VERSION: the bzImage is xz-compressed, and decompressing 60 MB under TCG
# costs seconds of every boot; the uncompressed ELF (it has a PVH entry note) boots directly with
# `qemu -kernel vmlinux`. Best effort: without it the runner boots the bzImage.
unpack_vmlinux() {
  src="$1/vmlinuz-$2" dst="$1/vmlinux-$2"
  off=$(LC_ALL=C grep -abo "$(printf '\3757zXZ')" "$src" | head -1 | cut -d: -f1)
  [ -n "$off" ] || return 0
  if command -v xz >/dev/null 2>&1; then
    tail -c +$((off + 1)) "$src" | xz -dc > "$dst.tmp" 2>/dev/null || true
  elif command -v python3 >/dev/null 2>&1; then
    python3 -c 'import lzma,sys; d=open(sys.argv[1],"rb").read()[int(sys.argv[2]):]; sys.stdout.buffer.write(lzma.LZMADecompressor().decompress(d))' "$src" "$off" > "$dst.tmp" 2>/dev/null || true
  fi
  if [ -f "$dst.tmp" ] && [ "$(head -c 4 "$dst.tmp" | od -An -c | tr -d ' ')" = '177ELF' ]; then
    mv "$dst.tmp" "$dst"
  else
    rm -f "$dst.tmp"
  fi
}

if command -v qemu-system-x86_64 >/dev/null 2>&1 && kernel_ready && busybox_ready && [ "$UPDATE" = no ]; then
  exit 0
fi
[ "$(id -u)" = 0 ] || die "run as root (installs qemu-system-x86, writes $CACHE)"

apt_updated=no
apt_update() {
  if [ "$apt_updated" = no ]; then
    apt-get update -qq >/dev/null || die "apt-get update failed"
    apt_updated=yes
  fi
}

if ! command -v qemu-system-x86_64 >/dev/null 2>&1; then
  say "installing qemu-system-x86"
  apt-get install -y -qq --no-install-recommends qemu-system-x86 >/dev/null 2>&1 \
    || { apt_update; apt-get install -y -qq --no-install-recommends qemu-system-x86 >/dev/null; }
fi

mkdir -p "$CACHE"
work=$(mktemp -d "$CACHE/.fetch.XXXXXX")
trap 'rm -rf "$work"' EXIT
# apt-get download drops privileges to _apt where it can; let it write here.
chmod 0777 "$work"

# fetch PACKAGE: download the candidate .deb into $work, print its path.
fetch() {
  (cd "$work" && apt-get download -qq "$1" >/dev/null 2>&1) \
    || { apt_update; (cd "$work" && apt-get download -qq "$1" >/dev/null 2>&1); } \
    || die "apt-get download $1 failed"
  ls "$work"/"$1"_*.deb
}

if ! busybox_ready || [ "$UPDATE" = yes ]; then
  say "unpacking busybox-static into $CACHE/busybox"
  deb=$(fetch busybox-static)
  rm -rf "$work/bb" && dpkg -x "$deb" "$work/bb"
  [ -x "$work/bb/bin/busybox" ] || die "busybox-static has no bin/busybox"
  rm -rf "$CACHE/busybox" && mv "$work/bb" "$CACHE/busybox"
fi

if ! kernel_ready || [ "$UPDATE" = yes ]; then
  # linux-image-amd64 is a metapackage: its Depends names the versioned image package.
  apt-cache show linux-image-amd64 >/dev/null 2>&1 || apt_update
  pkg=$(apt-cache depends linux-image-amd64 | sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' | head -1)
  [ -n "$pkg" ] || die "cannot resolve linux-image-amd64 to a kernel package"
  v=${pkg#linux-image-}
  if [ -f "$CACHE/kernel-version" ] && [ "$(cat "$CACHE/kernel-version")" = "$v" ] && kernel_ready; then
    exit 0
  fi
  say "unpacking $pkg into $CACHE/kernel"
  deb=$(fetch "$pkg")
  rm -rf "$work/k" && dpkg -x "$deb" "$work/k"
  [ -f "$work/k/boot/vmlinuz-$v" ] || die "$pkg has no boot/vmlinuz-$v"
  # The package ships modules.order/builtin but not modules.dep (depmod runs at install time).
  # kmod's depmod when this machine has it, else busybox's (modules.dep and modules.alias either way).
  if [ ! -f "$work/k/lib/modules/$v/modules.dep" ]; then
    if command -v depmod >/dev/null 2>&1; then depmod -b "$work/k" "$v"
    else "$CACHE/busybox/bin/busybox" depmod -b "$work/k" "$v"; fi || die "depmod failed"
  fi
  unpack_vmlinux "$work/k/boot" "$v"
  rm -rf "$CACHE/kernel" && mv "$work/k" "$CACHE/kernel"
  echo "$v" > "$CACHE/kernel-version"
fi
