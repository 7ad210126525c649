#!/usr/bin/env bash
# Put a real painting, a real photo and real clips into $1 (default samples/), from Debian's opencv-doc
# package: the installed copy if there is one, else `apt-get download` + `dpkg-deb -x` (no root needed).
set -euo pipefail
dest=${1:-samples}
files=(starry_night.jpg building.jpg tree.avi vtest.avi Megamind.avi)
data=/usr/share/doc/opencv-doc/examples/data
mkdir -p "$dest"
have_all() { for f in "${files[@]}"; do [ -s "$dest/$f" ] || return 1; done; }
if have_all; then echo "samples: already in $dest/"; exit 0; fi
if [ ! -d "$data" ]; then
  if ! command -v apt-get >/dev/null; then
    echo "samples: apt-get not found (not Debian/Ubuntu), so opencv-doc's samples cannot be fetched; use your own clip and painting: make stylize VIDEO=clip.mp4 STYLE=painting.jpg" >&2
    exit 2
  fi
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  if ! (cd "$tmp" && apt-get download opencv-doc >/dev/null 2>&1) && [ "$(id -u)" = 0 ]; then
    apt-get update -qq >/dev/null 2>&1 || true  # a fresh machine may have empty package lists
  fi
  ls "$tmp"/opencv-doc_*.deb >/dev/null 2>&1 || (cd "$tmp" && apt-get download opencv-doc >/dev/null 2>&1) || {
    echo "samples: could not download Debian's opencv-doc (run 'apt-get update' first?); or pass your own files" >&2
    exit 2
  }
  dpkg-deb -x "$tmp"/opencv-doc_*.deb "$tmp/x"
  data="$tmp/x$data"
fi
for f in "${files[@]}"; do
  # the package ships some files gzip-compressed
  if [ -f "$data/$f" ]; then cp "$data/$f" "$dest/$f"; elif [ -f "$data/$f.gz" ]; then gunzip -c "$data/$f.gz" > "$dest/$f"; fi
done
have_all || { echo "samples: opencv-doc did not contain all of ${files[*]}" >&2; exit 2; }
echo "samples: ${files[*]} in $dest/"
