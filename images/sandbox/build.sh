# Sourced by scripts/images.sh. The sandbox image: static busybox, a non-root `sandbox` user (65532) and /workspace.
# Deliberately without wget (the static busybox build segfaults in it); probe networks with nc.

SANDBOX_IMAGE_REF="${CYNODE_SANDBOX_IMAGE:-localhost/cynode-sandbox:latest}"

# The applets a job script can rely on; only those this busybox provides are linked.
SANDBOX_APPLETS=(
  sh ash echo cat ls env sleep nc id pwd mkdir rm touch printf head tail wc grep sed true false test "["
  cp mv ln chmod cut sort uniq tr tee xargs find date basename dirname expr seq awk diff cmp
  sha256sum md5sum base64 od hexdump xxd dd du df ps kill uname hostname whoami stat realpath readlink
  mktemp yes timeout gzip gunzip zcat tar rmdir nproc which
)

build_sandbox_image() {
  local rootfs busybox applet available
  rootfs="$(new_rootfs sandbox)"
  busybox="$(find_static_busybox)"
  available=" $("$busybox" --list | tr '\n' ' ') "

  mkdir -p "$rootfs"/{bin,etc,usr/bin,workspace,tmp}
  cp "$busybox" "$rootfs/bin/busybox"
  for applet in "${SANDBOX_APPLETS[@]}"; do
    if [[ "$available" == *" $applet "* ]]; then ln -s busybox "$rootfs/bin/$applet"; fi
  done
  ln -s /bin/busybox "$rootfs/usr/bin/env"   # for `#!/usr/bin/env sh` scripts

  printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'sandbox:x:65532:65532:sandbox:/workspace:/bin/sh' >"$rootfs/etc/passwd"
  printf '%s\n' 'root:x:0:' 'sandbox:x:65532:' >"$rootfs/etc/group"
  chmod 0755 "$rootfs" "$rootfs"/{bin,etc,usr,usr/bin,workspace}
  chmod 0644 "$rootfs"/etc/{passwd,group}
  chmod 1777 "$rootfs/tmp"

  build_image "$SANDBOX_IMAGE_REF" sandbox "$rootfs" \
    --change 'CMD ["/bin/sh"]' \
    --change 'ENV PATH=/bin:/usr/bin' \
    --change 'WORKDIR /workspace'
}

register_image sandbox build_sandbox_image
