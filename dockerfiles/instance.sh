{# Instance image: the environment's checkout turned into the repository at base_commit, in one
   layer. Run (sh -c) in a container of the environment image with the network on, after the
   build put into /opt/swegym/instance/: `remove` (paths the environment commit has and
   base_commit does not, NUL-separated), `testbed/` (files base_commit has that the environment
   commit lacks or has otherwise), `keep` (the files of the environment repository's object store
   that base_commit's repository holds entirely - loose objects, and history packs with full
   history - as paths under .git/objects, sorted bytewise), `git/` (the rest of the repository
   at base_commit: a pack of the objects it needs that the kept files lack, HEAD, shallow)
   and `install.sh` (the recipe's reinstall steps). The container's filesystem is then committed
   as the image.
   Of the environment's own repository only the files in `keep` stay: its commit, index, refs
   and every file holding an object base_commit's repository lacks are deleted, so the
   repository holds what a fresh copy at base_commit would and no history newer than base_commit
   can be read inside an instance container (the image's integrity check asks git). Every install step is
   date-bounded: the reinstall resolves as of the environment's date too (today's setuptools,
   without pkg_resources, broke a 2021 setup.py here).
   Variables: instance_id, cutoff. #}
# Instance image {{ instance_id }}: the repository at base_commit on its environment.
set -eu
d=/opt/swegym/instance
cd /testbed
find .git -mindepth 1 -maxdepth 1 ! -name objects -exec rm -rf {} +
cd .git/objects
find . -type f | cut -c3- | LC_ALL=C sort > "$d/have"
missing=$(LC_ALL=C comm -13 "$d/have" "$d/keep" | head -3)
if [ -n "$missing" ]; then
  echo "the environment image's repository lacks $missing: it was not made for this build; rebuild it (build --force)" >&2
  exit 1
fi
LC_ALL=C comm -23 "$d/have" "$d/keep" | xargs -r rm -f --
cd /testbed
# Directories are left as they are, empty or not: one deleted and made again would hide what the
# environment's layer has in it only through an opaque-directory marker, which a commit on
# fuse-overlayfs does not keep (the deleted history pack came back).
cp -a "$d/git/." .git/ && rm -rf "$d/git"
xargs -0 -r rm -rf -- < "$d/remove"
if [ -d "$d/testbed" ]; then cp -a "$d/testbed/." . && rm -rf "$d/testbed"; fi
# The index from HEAD; files the environment's install changed are restored; what is neither
# tracked nor ignored-and-needed (the environment commit's build output) goes.
git reset -q
git diff --name-only -z | xargs -0 -r git checkout -q --
git clean -fdxq
# Downloads and builds go to a cache of the layer's own, deleted with the rest of $d: files made
# and deleted in one layer leave nothing in it. The environment's own cache (~9,000 files for
# moto) is left alone: deleting it here took 11 s and left a whiteout per file.
XDG_CACHE_HOME="$d/cache" UV_CACHE_DIR="$d/cache/uv" PIP_CACHE_DIR="$d/cache/pip" \
  UV_EXCLUDE_NEWER={{ cutoff | sh_quote }} sh -ex "$d/install.sh"
rm -rf "$d/cache" "$d/remove" "$d/keep" "$d/have"
