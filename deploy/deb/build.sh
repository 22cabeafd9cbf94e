#!/bin/sh
# Builds the Debian packages gatecast-controller_VERSION_ARCH.deb and
# gatecast-player_VERSION_ARCH.deb with dpkg-deb (no cargo-deb, no debhelper: the layout is
# small and written out here). See deploy/deb/README.md.
#
#   deploy/deb/build.sh [--bin-dir DIR] [--arch ARCH] [--out DIR]
#
# Without --bin-dir it runs `cargo build --release` for both binaries first; with it, it
# packages the binaries found in DIR (e.g. a cross-compiled target/aarch64-…/release, with
# --arch arm64). ARCH defaults to this machine's (dpkg --print-architecture).
set -eu

root=$(cd "$(dirname "$0")/../.." && pwd)
bin_dir=
arch=$(dpkg --print-architecture)
out="$root/target/deb"
while [ $# -gt 0 ]; do
    case "$1" in
        --bin-dir) bin_dir=$2; shift 2 ;;
        --arch) arch=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        *) echo "usage: $0 [--bin-dir DIR] [--arch ARCH] [--out DIR]" >&2; exit 2 ;;
    esac
done
if [ -z "$bin_dir" ]; then
    # The player in a build of its own: built together with the controller it would get the
    # features the controller's crates turn on in shared dependencies (HTTP/2 in hyper), 1 MB
    # of code it never runs (docs/BENCHMARKS.md, "Player RSS").
    (cd "$root" && cargo build --release --locked -p gatecast-controller &&
        cargo build --release --locked -p gatecast-player)
    bin_dir="${CARGO_TARGET_DIR:-$root/target}/release"
fi
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$root/Cargo.toml" | head -n 1)
for b in gatecast-controller gatecast-player; do
    [ -x "$bin_dir/$b" ] || { echo "$bin_dir/$b is missing: build it first" >&2; exit 1; }
done
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# common NAME: the parts both packages have (binary, unit, copyright, changelog).
# The strip of the package's architecture: the host's, or the cross binutils' (arm64:
# binutils-aarch64-linux-gnu, which gcc-aarch64-linux-gnu brings).
strip=
if [ "$arch" = "$(dpkg --print-architecture)" ]; then
    strip=strip
elif [ "$arch" = arm64 ] && command -v aarch64-linux-gnu-strip >/dev/null; then
    strip=aarch64-linux-gnu-strip
fi

common() {
    name=$1
    pkg="$work/$name"
    install -d -m 0755 "$pkg/DEBIAN" "$pkg/usr/bin" "$pkg/lib/systemd/system" \
        "$pkg/usr/share/doc/$name"
    install -m 0755 "$bin_dir/$name" "$pkg/usr/bin/$name"
    if [ -n "$strip" ]; then
        "$strip" --strip-unneeded "$pkg/usr/bin/$name"
    else
        echo "warning: no strip for $arch; $name is packaged unstripped" >&2
    fi
    # The units in deploy/ name /usr/local/bin (a manual install); the package installs to
    # /usr/bin.
    sed 's#/usr/local/bin/#/usr/bin/#' "$root/deploy/$name.service" \
        > "$pkg/lib/systemd/system/$name.service"
    chmod 0644 "$pkg/lib/systemd/system/$name.service"
    cat > "$pkg/usr/share/doc/$name/copyright" <<COPYRIGHT
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: gatecast
Source: https://example.invalid/gatecast

Files: *
Copyright: 2026 gatecast authors
License: Apache-2.0
 On Debian systems, the full text of the Apache License 2.0 is in
 /usr/share/common-licenses/Apache-2.0.
COPYRIGHT
    printf '%s (%s) unstable; urgency=medium\n\n  * Package built from the gatecast workspace.\n\n -- gatecast maintainers <ops@example.invalid>  %s\n' \
        "$name" "$version" "$(date -R)" | gzip -9n > "$pkg/usr/share/doc/$name/changelog.gz"
    chmod 0644 "$pkg/usr/share/doc/$name/"*
}

# postinst NAME DATA_DIR EXTRA: the system user, the data directory (0700) and /etc/gatecast.
postinst() {
    cat > "$work/$1/DEBIAN/postinst" <<POSTINST
#!/bin/sh
set -e
if [ "\$1" = configure ]; then
    if ! getent passwd gatecast >/dev/null; then
        adduser --system --group --home /var/lib/gatecast --no-create-home \\
            --gecos "gatecast signage" --quiet gatecast
    fi
    install -d -m 0700 -o gatecast -g gatecast $2
$3
fi
if [ -d /run/systemd/system ]; then
    systemctl --system daemon-reload >/dev/null || true
fi
POSTINST
    chmod 0755 "$work/$1/DEBIAN/postinst"
    cat > "$work/$1/DEBIAN/prerm" <<PRERM
#!/bin/sh
set -e
if [ -d /run/systemd/system ] && [ "\$1" = remove ]; then
    deb-systemd-invoke stop $1.service >/dev/null || true
fi
PRERM
    chmod 0755 "$work/$1/DEBIAN/prerm"
}

control() {
    name=$1 depends=$2 description=$3
    size=$(du -sk --exclude=DEBIAN "$work/$name" | cut -f1)
    cat > "$work/$name/DEBIAN/control" <<CONTROL
Package: $name
Version: $version
Architecture: $arch
Maintainer: gatecast maintainers <ops@example.invalid>
Installed-Size: $size
Depends: $depends
Section: misc
Priority: optional
Homepage: https://example.invalid/gatecast
Description: $description
CONTROL
}

# --- gatecast-controller -------------------------------------------------------------
common gatecast-controller
install -d -m 0755 "$work/gatecast-controller/etc/gatecast"
install -m 0640 "$root/deploy/controller.example.toml" \
    "$work/gatecast-controller/etc/gatecast/controller.toml"
for d in operations.md security.md auditing.md; do
    gzip -9n < "$root/docs/$d" > "$work/gatecast-controller/usr/share/doc/gatecast-controller/$d.gz"
done
echo /etc/gatecast/controller.toml > "$work/gatecast-controller/DEBIAN/conffiles"
postinst gatecast-controller /var/lib/gatecast \
'    chown root:gatecast /etc/gatecast /etc/gatecast/controller.toml
    chmod 0750 /etc/gatecast
    chmod 0640 /etc/gatecast/controller.toml'
control gatecast-controller 'adduser, libc6 (>= 2.35)' \
"border-gate signage controller: signed publishing, receipts, audit
 The gatecast controller: media library, schedules, Ed25519-signed manifests,
 an embedded MQTT broker, proof-of-play receipt ingest and a Merkle audit log.
 Configure /etc/gatecast/controller.toml, then
 systemctl enable --now gatecast-controller."

# --- gatecast-player -----------------------------------------------------------------
common gatecast-player
install -d -m 0755 "$work/gatecast-player/usr/share/gatecast-player/kiosk"
install -m 0644 "$root/deploy/kiosk/"* "$work/gatecast-player/usr/share/gatecast-player/kiosk/"
gzip -9n < "$root/deploy/player.example.toml" \
    > "$work/gatecast-player/usr/share/doc/gatecast-player/player.example.toml.gz"
chmod 0644 "$work/gatecast-player/usr/share/doc/gatecast-player/"*
# /etc/gatecast belongs to the service user: `gatecast-player enroll`, run as that user,
# writes player.toml there (0600). The unit's SupplementaryGroups name `render`, which udev
# makes; a box without udev (a minimal image, a container) lacks it and systemd refuses to
# start the unit (status 216/GROUP): make it as udev would.
postinst gatecast-player /var/lib/gatecast-player \
'    install -d -m 0750 -o gatecast -g gatecast /etc/gatecast
    getent group render >/dev/null || addgroup --system --quiet render'
control gatecast-player 'adduser, libc6 (>= 2.36), mpv, fonts-noto-core, fonts-noto-cjk' \
"border-gate signage player agent with proof of play
 The gatecast player: verifies signed manifests, keeps a verified offline
 media cache, plays schedules with mpv and sends signed play receipts.
 Enrol with: sudo -u gatecast gatecast-player enroll --controller URL
 --screen ID --code CODE (see /usr/share/gatecast-player/kiosk/README.md)."

for name in gatecast-controller gatecast-player; do
    deb="$out/${name}_${version}_${arch}.deb"
    dpkg-deb --root-owner-group -Zxz --build "$work/$name" "$deb" >/dev/null
    echo "$deb"
done
