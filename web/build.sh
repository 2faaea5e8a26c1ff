#!/bin/sh
# web/build.sh OUTDIR - assembles the web UI into OUTDIR (e.g. build/web):
# our own index.html, scripts (fixdict.js, format.js, packet.js: plain
# functions on window.CsFix, CsFmt, CsPkt; app.js: the page) and style.css,
# plus uPlot's ready IIFE build and stylesheet from web/node_modules
# (installed by `npm ci --prefix web`). No bundler: the page loads
# uplot.iife.min.js, the three helpers, then app.js as plain scripts.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: web/build.sh OUTDIR}
dist="$here/node_modules/uplot/dist"
if [ ! -f "$dist/uPlot.iife.min.js" ]; then
    echo "web/build.sh: $dist is missing: run 'npm ci --prefix web' (needs the npm registry once)" >&2
    exit 1
fi
mkdir -p "$out"
cp "$here/index.html" "$here/fixdict.js" "$here/format.js" "$here/packet.js" "$here/app.js" "$here/style.css" "$out/"
cp "$dist/uPlot.iife.min.js" "$out/uplot.js"
cp "$dist/uPlot.min.css" "$out/uplot.css"
cp "$here/node_modules/uplot/LICENSE" "$out/uplot-LICENSE.txt"
