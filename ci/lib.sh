# Helpers shared by the ci/ scripts. Sourced, never executed.
# shellcheck shell=bash

CI_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$CI_DIR/.." && pwd)
# shellcheck source=ci/base.conf
. "$CI_DIR/base.conf"

BUILD=${BUILD:-$TOP/build}
LINUX=${LINUX:-$BUILD/linux}
KOUT=${KOUT:-$BUILD/out}
# The user's home directory, also when $HOME is unset (cron, env -i, some
# containers): $HOME, else the password database's entry if it is a
# directory, else /root for root, else /tmp.
ci_home() {
	local h=${HOME:-}
	if [ -z "$h" ]; then
		h=$(getent passwd "$(id -u)" 2>/dev/null | cut -d: -f6) || h=
		if [ -z "$h" ] || [ ! -d "$h" ]; then
			if [ "$(id -u)" -eq 0 ] && [ -d /root ]; then h=/root; else h=/tmp; fi
		fi
	fi
	printf '%s\n' "$h"
}
CACHE=${DMABUF_P2P_CACHE:-${XDG_CACHE_HOME:-$(ci_home)/.cache}/dmabuf-p2p}
: "${CI_T0:=$(date +%s)}"
export CI_T0
# The distribution's tools first. A python3 shim (pyenv and the like) costs
# a few hundred milliseconds per call, and W=1 runs kernel-doc once per
# object: that doubled the time of a full build here. spdxcheck.py also
# wants Debian's python3-ply and python3-git.
case :$PATH: in
:/usr/bin:*) ;;
*) PATH=/usr/bin:$PATH ;;
esac
export PATH

msg() { printf '==> [%4ss] %s\n' "$(($(date +%s) - CI_T0))" "$*"; }
warn() { printf '==> WARNING: %s\n' "$*" >&2; }
die() { printf '==> ERROR: %s\n' "$*" >&2; exit 1; }

# git with the project identity, whatever the user's config says.
pgit() {
	git -C "$LINUX" -c user.name="$PATCH_AUTHOR_NAME" \
		-c user.email="$PATCH_AUTHOR_EMAIL" "$@"
}

# Install the Debian packages that provide the listed commands, if missing.
# Arguments are command:package pairs.
need() {
	local pair cmd pkg missing=()
	for pair in "$@"; do
		cmd=${pair%%:*} pkg=${pair#*:}
		if [[ $cmd == /* ]]; then
			[ -e "$cmd" ] && continue
		else
			command -v "$cmd" >/dev/null 2>&1 && continue
		fi
		missing+=("$pkg")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	[ "$(id -u)" -eq 0 ] || die "missing packages (run as root or install): ${missing[*]}"
	msg "apt-get install ${missing[*]}"
	if [ ! -e "$CACHE/.apt-updated" ] ||
	   [ -n "$(find "$CACHE/.apt-updated" -mmin +600 2>/dev/null)" ]; then
		apt-get update -qq
		mkdir -p "$CACHE" && touch "$CACHE/.apt-updated"
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		"${missing[@]}" >/dev/null
}

# The commands every kernel build needs.
need_build_tools() {
	need gcc:gcc make:make flex:flex bison:bison bc:bc \
		/usr/include/stdio.h:libc6-dev \
		/usr/include/libelf.h:libelf-dev \
		/usr/include/openssl/ssl.h:libssl-dev \
		perl:perl python3:python3 cpio:cpio xz:xz-utils git:git \
		pahole:dwarves
}

# Every package make check uses, in one apt-get: ci/check installs them
# before its jobs start side by side (two apt-get at once fight over
# dpkg's lock), and ci/rcache before it reads the tools' versions.
need_check_tools() {
	need_build_tools
	need ccache:ccache quilt:quilt sparse:sparse \
		/usr/lib/python3/dist-packages/ply:python3-ply \
		/usr/lib/python3/dist-packages/git:python3-git \
		qemu-system-x86_64:qemu-system-x86 /bin/busybox:busybox-static \
		rsync:rsync /usr/include/sys/capability.h:libcap-dev \
		/usr/include/uuid/uuid.h:uuid-dev \
		/usr/lib/x86_64-linux-gnu/libc.a:libc6-dev \
		spatch:coccinelle b4:b4 sphinx-build:python3-sphinx \
		/usr/lib/python3/dist-packages/yaml:python3-yaml
}

# Print the first Debian archive URI of the machine's own apt configuration
# (not a security archive). Nothing is hard-coded.
apt_mirror() {
	local f
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
		 /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		case $f in
		*.sources)
			awk 'BEGIN { RS = ""; FS = "\n" }
			{
				u = ""; s = ""
				for (i = 1; i <= NF; i++) {
					if ($i ~ /^URIs:/) { sub(/^URIs:[ \t]*/, "", $i); u = $i }
					if ($i ~ /^Suites:/) { sub(/^Suites:[ \t]*/, "", $i); s = $i }
				}
				split(u, a, " ")
				if (a[1] ~ /debian\/?$/ && s !~ /security/) print a[1]
			}' "$f"
			;;
		*)
			awk '$1 == "deb" {
				for (i = 2; i <= NF; i++) {
					if ($i ~ /^\[/ || $i ~ /\]$/) continue
					if ($i ~ /debian\/?$/ && $(i + 1) !~ /security/) print $i
					break
				}
			}' "$f"
			;;
		esac
	done | sed -n 1p
}

# A private apt state in directory $1 whose sources are the suites $2...
# of the machine's own Debian archive (apt_mirror): the machine's apt
# configuration is read, never changed, and nothing is installed from it.
# Sets APT_OPTS, the options of apt-get and apt-cache for that state.
apt_private() {
	local dir=$1 mirror s
	shift
	need apt-get:apt apt-cache:apt dpkg-deb:dpkg awk:mawk \
		/usr/share/keyrings/debian-archive-keyring.gpg:debian-archive-keyring
	mirror=$(apt_mirror)
	[ -n "$mirror" ] || die "no Debian archive in the machine's apt configuration"
	mkdir -p "$dir"/{lists/partial,cache/archives/partial,etc}
	for s in "$@"; do
		echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $s main"
	done >"$dir/etc/sources.list"
	: >"$dir/status"
	APT_OPTS=(-o Dir::Etc::SourceList="$dir/etc/sources.list"
		  -o Dir::Etc::SourceParts=/nonexistent
		  -o Dir::State::Lists="$dir/lists" -o Dir::State::status="$dir/status"
		  -o Dir::Cache="$dir/cache" -o Debug::NoLocking=1
		  -o Acquire::Languages=none -o APT::Sandbox::User=root)
}

# Run a step with its output in build/logs/PREFIX-NAME.log: "logged
# PREFIX NAME COMMAND...". On failure show the end of the log and stop.
logged() {
	local name=$2 log=$BUILD/logs/$1-$2.log t0
	shift 2
	mkdir -p "$BUILD/logs"
	t0=$(date +%s)
	msg "$name: output in $log"
	if ! "$@" >"$log" 2>&1; then
		tail -n 30 "$log" | sed 's/^/  | /' >&2
		die "$name failed; full log: $log"
	fi
	msg "$name: done in $(($(date +%s) - t0)) s, $(grep -c 'warning:' "$log" || true) warning lines in $log"
}

# ci/plan with iommufd's dirty-tracking fixture left out ("-F
# iommufd_dirty_tracking" on its iommufd line), from IN to OUT: 54 cases
# of base code the series does not touch, run at the last patch only
# (ci/check-patch, ci/expect). Fails when IN has no such line to change.
plan_without_dirty_tracking() {
	sed 's|^\(iommufd ./iommufd\)$|\1 -F iommufd_dirty_tracking|' "$1" >"$2"
	grep -q -- '-F iommufd_dirty_tracking$' "$2"
}

# ci/plan with iommufd's programs (iommufd, iommufd_fail_nth) narrowed to
# their dma-buf cases, which the guest's dmabuf-cases lists, from IN to OUT:
# what ci/check-patch runs at a patch that does not change iommufd (see
# there). Without the lister the programs run no case (an option that
# selects none), which the manifest's counts fail, rather than every case.
# Fails when IN lacks either line.
plan_dmabuf_cases() {
	local p
	cp "$1" "$2"
	for p in iommufd iommufd_fail_nth; do
		# shellcheck disable=SC2016 # $(...) is for the guest's shell
		sed -i "s|^$p ./$p\$|& "'$(./dmabuf-cases ./'"$p"' \|\| echo -t no-lister)|' "$2"
		grep -qF "$p ./$p \$(./dmabuf-cases ./$p || echo -t no-lister)" "$2" || return 1
	done
}

# The series' KUnit suite: the first "kunit" line of the manifest names it
# (kunit.filter_glob takes one glob).
kunit_suite() { awk '$1 == "kunit" { print $3; exit }' "$CI_DIR/expect"; }

# Patch N's name in the logs and the summary: "base" for 0, else "pN"
# (ci/check, ci/check-patch, ci/rcache).
patch_tag() { if [ "$1" -eq 0 ]; then echo base; else echo "p$1"; fi; }

# Number of parallel jobs for make.
jobs() { nproc 2>/dev/null || echo 2; }
