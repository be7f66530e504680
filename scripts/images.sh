#!/usr/bin/env bash
# Builds CyNode's local images without a registry: each image is a rootfs directory imported as a single layer.
# Images are described by images/<name>/build.sh files, which this script sources; each one calls
# `register_image <name> <builder-function>`, and the builder fills a rootfs and calls `build_image`.
#
#   scripts/images.sh            build every registered image
#   scripts/images.sh sandbox    build only the named ones
#
# Idempotent: an image carries a content-hash label over its rootfs tar and import changes; when the existing image
# has the same hash the import is skipped. The CLI is the one whose engine answers (override with CYNODE_IMAGE_CLI);
# `scripts/images.sh --which-cli` prints that choice and builds nothing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HASH_LABEL="io.cynode.content-hash"

log() { printf 'images: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# The CLI must reach the engine the programs will use: the one that answers (scripts/lib/engine.sh), not merely an
# installed client (a `docker` client may have no daemon). A podman engine is reached by the podman CLI (same
# storage); a docker engine by the docker CLI pointed at its socket. When nothing answers yet, podman works
# daemonless and the programs' own podman service will see the images.
# shellcheck source=lib/engine.sh
source "$ROOT/scripts/lib/engine.sh"
has() { command -v "$1" >/dev/null 2>&1; }
IMAGE_CLI="${CYNODE_IMAGE_CLI:-}"
if [[ -z "$IMAGE_CLI" ]]; then
  engine="$(answering_engine || true)"
  case "${engine%% *}" in
    podman) if has podman; then IMAGE_CLI=podman; elif has docker; then IMAGE_CLI=docker; export DOCKER_HOST="unix://${engine#* }"; fi ;;
    docker) if has docker; then IMAGE_CLI=docker; export DOCKER_HOST="unix://${engine#* }"; fi ;;
    *) has podman && IMAGE_CLI=podman ;;
  esac
  [[ -n "$IMAGE_CLI" ]] || die "no CLI for the container engine (${engine:-none answers}); run ./scripts/bootstrap.sh setup"
fi
if [[ "${1:-}" == "--which-cli" ]]; then printf '%s%s\n' "$IMAGE_CLI" "${DOCKER_HOST:+ $DOCKER_HOST}"; exit 0; fi

WORK_DIR="$(mktemp -d "${TMPDIR:-/tmp}/cynode-images.XXXXXX")"
trap 'rm -rf "$WORK_DIR"' EXIT

# new_rootfs <name>: prints a fresh, empty directory to fill.
new_rootfs() {
  local dir="$WORK_DIR/$1/rootfs"
  rm -rf "$dir" && mkdir -p "$dir" && printf '%s\n' "$dir"
}

# find_static_busybox: prints the path of a statically linked busybox (a dynamic one would not run in a bare rootfs).
find_static_busybox() {
  local candidate
  for candidate in ${CYNODE_BUSYBOX:-} /bin/busybox /usr/bin/busybox /usr/lib/busybox/busybox-static; do
    [[ -x "$candidate" ]] || continue
    if ! ldd "$candidate" >/dev/null 2>&1; then printf '%s\n' "$candidate"; return 0; fi
  done
  die "no statically linked busybox found (apt-get install -y busybox-static, or set CYNODE_BUSYBOX)"
}

# build_image <ref> <image-label> <rootfs-dir> [--change 'INSTRUCTION' ...]
# Imports the rootfs as <ref> with the labels io.cynode.image=<image-label> and the content hash,
# unless an image with that hash already exists.
build_image() {
  local ref="$1" name="$2" rootfs="$3"; shift 3
  local tarball="$WORK_DIR/$name.tar"
  # A reproducible tar: sorted names, fixed times and owners, so the hash only changes when the content does.
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --format=gnu -C "$rootfs" -cf "$tarball" .
  local hash
  hash="sha256:$( { sha256sum "$tarball" | cut -d' ' -f1; printf '%s\n' "$@"; } | sha256sum | cut -d' ' -f1)"

  local existing_id existing_hash
  existing_id="$("$IMAGE_CLI" image inspect --format '{{.Id}}' "$ref" 2>/dev/null || true)"
  if [[ -n "$existing_id" ]]; then
    existing_hash="$("$IMAGE_CLI" image inspect --format "{{ index .Config.Labels \"$HASH_LABEL\" }}" "$ref" 2>/dev/null || true)"
    if [[ "$existing_hash" == "$hash" ]]; then
      log "$ref is up to date ($hash)"
      return 0
    fi
  fi

  local output
  if ! output="$("$IMAGE_CLI" import "$@" \
    --change "LABEL io.cynode.image=$name" \
    --change "LABEL $HASH_LABEL=$hash" \
    "$tarball" "$ref" 2>&1)"; then
    die "$IMAGE_CLI import of $ref failed: $output"
  fi
  log "built $ref ($hash, $(du -h "$tarball" | cut -f1) uncompressed)"

  # The previous build of this image is now untagged; drop it unless a container still uses it.
  if [[ -n "$existing_id" ]]; then
    local new_id
    new_id="$("$IMAGE_CLI" image inspect --format '{{.Id}}' "$ref")"
    if [[ "$new_id" != "$existing_id" ]]; then "$IMAGE_CLI" rmi "$existing_id" >/dev/null 2>&1 || true; fi
  fi
}

REGISTERED_NAMES=()
REGISTERED_BUILDERS=()
# register_image <name> <builder-function>: called by each images/<name>/build.sh.
register_image() {
  REGISTERED_NAMES+=("$1")
  REGISTERED_BUILDERS+=("$2")
}

for definition in "$ROOT"/images/*/build.sh; do
  [[ -e "$definition" ]] || continue
  # shellcheck source=/dev/null
  source "$definition"
done

wanted=("$@")
built_any=false
for i in "${!REGISTERED_NAMES[@]}"; do
  name="${REGISTERED_NAMES[$i]}"
  if [[ ${#wanted[@]} -gt 0 && ! " ${wanted[*]} " =~ " $name " ]]; then continue; fi
  "${REGISTERED_BUILDERS[$i]}"
  built_any=true
done
[[ "$built_any" == true || ${#wanted[@]} -eq 0 ]] || die "no image named: ${wanted[*]} (known: ${REGISTERED_NAMES[*]})"
