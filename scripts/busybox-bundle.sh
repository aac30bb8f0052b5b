#!/usr/bin/env bash
# Makes an OCI bundle at $1 with a busybox root filesystem (from
# busybox-static) and runc's default spec, edited to run without a terminal
# on a writable root.
set -euo pipefail
dir=$1
mkdir -p "$dir/rootfs"/{bin,etc,tmp,proc,sys,dev,usr/bin,var/tmp}
chmod 1777 "$dir/rootfs/tmp" "$dir/rootfs/var/tmp"
cp /bin/busybox "$dir/rootfs/bin/busybox"
for applet in $(/bin/busybox --list); do
    [ -e "$dir/rootfs/bin/$applet" ] || ln -s busybox "$dir/rootfs/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/tmp:/bin/sh\n' > "$dir/rootfs/etc/passwd"
printf 'root:x:0:\nuser:x:1000:\n' > "$dir/rootfs/etc/group"
(cd "$dir" && runc spec)
jq '.process.terminal = false | .root.readonly = false' "$dir/config.json" > "$dir/config.json.new"
mv "$dir/config.json.new" "$dir/config.json"
