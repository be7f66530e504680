#!/usr/bin/env bash
# Builds localhost/cynode-inference-standin:latest, the CyNode stand-in for Ollama (NOT Ollama).
#
# No registry is reachable on our machines, so the image is imported from a rootfs made of the host's
# node binary, the shared libraries `ldd` lists for it, and src/inference-standin bundled by esbuild
# into one self-contained .mjs (no node_modules inside the image).
#
# Two ways in:
#   images/inference-standin/build.sh [--force]   standalone; the last line of stdout is the image reference
#   sourced by scripts/images.sh                  defines build_inference_standin (which runs this file as a
#                                                 child process) and registers it; nothing else leaks
#
# Idempotent: the SHA-256 of all inputs (bundle, node, libraries, this script) is stored as the label
# io.cynode.standin.inputs; when the existing image carries the same hash nothing is rebuilt.
# Concurrent runs (parallel test workers) serialise on a lock file.

if [[ "${BASH_SOURCE[0]}" != "$0" ]]; then
  # Inside a function BASH_SOURCE[0] is the file that defined it, i.e. this script.
  build_inference_standin() { "${BASH_SOURCE[0]}" >/dev/null; }
  if declare -F register_image >/dev/null; then register_image inference-standin build_inference_standin; fi
  return 0
fi

set -euo pipefail

IMAGE=localhost/cynode-inference-standin:latest
HASH_LABEL=io.cynode.standin.inputs
CLI=${CYNODE_IMAGE_CLI:-podman}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
force=false
case "${1:-}" in
  "") ;;
  --force) force=true ;;
  *) echo "usage: $0 [--force]" >&2; exit 2 ;;
esac

node_bin=$(readlink -f "$(command -v node)")
esbuild="$root/node_modules/.bin/esbuild"
[ -x "$esbuild" ] || { echo "build.sh: $esbuild missing; run npm ci in $root first" >&2; exit 1; }

# Serialise with other builds (tests in parallel workers may all ask for the image).
exec 9>"${TMPDIR:-/tmp}/cynode-inference-standin-build.lock"
flock 9

work=$(mktemp -d "${TMPDIR:-/tmp}/cynode-inference-standin.XXXXXX")
trap 'rm -rf "$work"' EXIT

node_major=$("$node_bin" -p 'process.versions.node.split(".")[0]')
"$esbuild" "$root/src/inference-standin/main.ts" --bundle --platform=node --format=esm \
  --target="node$node_major" --legal-comments=none --log-level=warning --outfile="$work/standin.mjs"

# The dynamic loader and every library node links against, as absolute host paths.
mapfile -t libs < <(ldd "$node_bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }')

inputs_hash=$(sha256sum "$work/standin.mjs" "$node_bin" "${libs[@]}" "${BASH_SOURCE[0]}" \
  | awk '{ print $1 }' | sha256sum | awk '{ print $1 }')

existing_hash=$("$CLI" image inspect --format "{{ index .Config.Labels \"$HASH_LABEL\" }}" "$IMAGE" 2>/dev/null || true)
if [ "$force" = false ] && [ "$existing_hash" = "$inputs_hash" ]; then
  echo "images: $IMAGE is up to date (inputs $inputs_hash)" >&2
  echo "$IMAGE"
  exit 0
fi
previous_id=$("$CLI" image inspect --format '{{ .Id }}' "$IMAGE" 2>/dev/null || true)

rootfs="$work/rootfs"
install -D -m 0755 "$node_bin" "$rootfs/usr/bin/node"
for lib in "${libs[@]}"; do
  install -D -m 0755 "$(readlink -f "$lib")" "$rootfs$lib"
done
install -D -m 0644 "$work/standin.mjs" "$rootfs/app/standin.mjs"
mkdir -p "$rootfs/root" "$rootfs/tmp"
chmod 1777 "$rootfs/tmp"

# Import progress is noise unless the import fails.
if ! output=$(tar -C "$rootfs" --owner=0 --group=0 --numeric-owner -cf - . | "$CLI" import \
  --change 'CMD ["/usr/bin/node", "/app/standin.mjs"]' \
  --change 'ENV OLLAMA_HOST=0.0.0.0:11434' \
  --change 'EXPOSE 11434/tcp' \
  --change 'STOPSIGNAL SIGTERM' \
  --change 'WORKDIR /' \
  --change 'LABEL io.cynode.standin=true' \
  --change 'LABEL io.cynode.image=inference-standin' \
  --change "LABEL $HASH_LABEL=$inputs_hash" \
  --change 'LABEL org.opencontainers.image.title=cynode-inference-standin' \
  --message 'CyNode inference stand-in (not Ollama)' \
  - "$IMAGE" 2>&1); then
  echo "images: $CLI import of $IMAGE failed: $output" >&2
  exit 1
fi

# The image this script built before (it carried our hash label) is now untagged: drop it unless a
# container still uses it.
if [ -n "$previous_id" ] && [[ "$existing_hash" =~ ^[0-9a-f]{64}$ ]]; then
  current_id=$("$CLI" image inspect --format '{{ .Id }}' "$IMAGE")
  if [ "$previous_id" != "$current_id" ]; then
    "$CLI" rmi "$previous_id" >/dev/null 2>&1 || true
  fi
fi

echo "images: built $IMAGE (inputs $inputs_hash)" >&2
echo "$IMAGE"
