#!/usr/bin/env bash
# install_pkgconfig.sh BUILD-DIR CONSUMER.c - install the library into a
# staging DESTDIR, build a program outside the tree with
# `pkg-config --cflags --libs parcore`, run it, and check that the shared
# library exports only the public pc_* symbols.
set -eu
build=$1
consumer=$2
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
prefix=/opt/parcore-install-test

DESTDIR=$stage cmake --install "$build" --prefix "$prefix" >/dev/null
root=$stage$prefix
libdir=$(dirname "$(find "$root" -name parcore.pc)")/..

export PKG_CONFIG_PATH=$libdir/pkgconfig
# shellcheck disable=SC2046 # pkg-config prints separate words
cc -std=gnu11 -Wall -Wextra -Werror -o "$stage/consumer" "$consumer" \
	$(pkg-config --cflags --libs parcore)
LD_LIBRARY_PATH=$libdir "$stage/consumer"

# Static linking through pkg-config works too.
# shellcheck disable=SC2046
cc -std=gnu11 -o "$stage/consumer-static" "$consumer" \
	$(pkg-config --cflags parcore) "$libdir/libparcore.a" \
	$(pkg-config --static --libs-only-other parcore) -pthread
"$stage/consumer-static"

leaked=$(nm -D --defined-only "$libdir/libparcore.so" |
	awk '$2 ~ /[TDBR]/ && $3 !~ /^pc_/ {print $3}')
if [ -n "$leaked" ]; then
	echo "exported symbols outside the public API:" $leaked
	exit 1
fi
echo "1 passed, 0 failed"
