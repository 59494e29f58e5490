#!/usr/bin/env bash
# Make sure the Fashion-MNIST idx files are present (Debian package `dataset-fashion-mnist`).
# RMTKIT_DATA_DIR, when set, points at a folder with the four *-idx?-ubyte(.gz) files instead.
set -euo pipefail
files=(train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte)
has_all() {
  local dir=$1 f
  for f in "${files[@]}"; do
    [ -f "$dir/$f.gz" ] || [ -f "$dir/$f" ] || return 1
  done
}
if [ -n "${RMTKIT_DATA_DIR:-}" ]; then
  if has_all "$RMTKIT_DATA_DIR"; then echo "Fashion-MNIST: using RMTKIT_DATA_DIR=$RMTKIT_DATA_DIR"; exit 0; fi
  echo "error: RMTKIT_DATA_DIR=$RMTKIT_DATA_DIR lacks the Fashion-MNIST idx files (${files[*]}, optionally .gz)." >&2
  exit 1
fi
default=/usr/share/datasets/fashion-mnist
if has_all "$default"; then echo "Fashion-MNIST: found in $default"; exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  echo "Fashion-MNIST missing: installing the Debian package dataset-fashion-mnist"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq dataset-fashion-mnist >/dev/null
  has_all "$default" && { echo "Fashion-MNIST: installed in $default"; exit 0; }
fi
cat >&2 <<MSG
error: the Fashion-MNIST data set is missing.
  Install the Debian package:   sudo apt-get install dataset-fashion-mnist
  or point RMTKIT_DATA_DIR at a folder holding ${files[*]} (optionally gzipped).
MSG
exit 1
