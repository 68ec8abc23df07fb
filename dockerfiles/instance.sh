{# Instance image: the environment's checkout turned into the repository at base_commit, in one
   layer. Run (sh -c) in a container of the environment image with the network on, after the
   build put into /opt/swegym/instance/: `remove` (paths the environment commit has and
   base_commit does not, NUL-separated), `testbed/` (files base_commit has that the environment
   commit lacks or has otherwise), `git/` (the repository at base_commit alone: nothing newer)
   and `install.sh` (the recipe's reinstall steps). The container's filesystem is then committed
   as the image.
   The environment's own repository is removed whole, so no history newer than base_commit can
   be read inside an instance container. Every install step is date-bounded: the reinstall
   resolves as of the environment's date too (today's setuptools, without pkg_resources, broke a
   2021 setup.py here).
   Variables: instance_id, cutoff. #}
# Instance image {{ instance_id }}: the repository at base_commit on its environment.
set -eu
d=/opt/swegym/instance
cd /testbed
rm -rf .git
xargs -0 -r rm -rf -- < "$d/remove"
if [ -d "$d/testbed" ]; then cp -a "$d/testbed/." . && rm -rf "$d/testbed"; fi
mv "$d/git" .git
# The index from HEAD; files the environment's install changed are restored; what is neither
# tracked nor ignored-and-needed (the environment commit's build output) goes.
git reset -q
git diff --name-only -z | xargs -0 -r git checkout -q --
git clean -fdxq
UV_EXCLUDE_NEWER={{ cutoff | sh_quote }} sh -ex "$d/install.sh"
rm -rf /root/.cache "$d/remove"
