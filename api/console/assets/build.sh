#!/usr/bin/env bash
# Vendors the console's front-end packages: installs the exact versions of package-lock.json
# from the npm registry and copies their browser builds and licences into ../static/vendor/
# (git-ignored build output, served by the app itself: the console works with no internet).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$here/../static/vendor"
command -v npm >/dev/null || { echo "npm is required to build the console assets (Debian package npm)" >&2; exit 1; }
cd "$here"
npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
rm -rf "$out"
mkdir -p "$out"
copy() {  # package, file inside it, name under vendor/
  cp "node_modules/$1/$2" "$out/$3"
}
copy htmx.org dist/htmx.min.js htmx.min.js
copy echarts dist/echarts.min.js echarts.min.js
copy echarts-wordcloud dist/echarts-wordcloud.min.js echarts-wordcloud.min.js
# zrender and tslib are bundled inside echarts.min.js: their licences travel with it.
for package in htmx.org echarts echarts-wordcloud zrender tslib; do
  licence="$(ls "node_modules/$package" | grep -i -E '^(license|licence|copying)' | head -1 || true)"
  if [ -n "$licence" ]; then
    cp "node_modules/$package/$licence" "$out/$package.LICENSE.txt"
  else
    # The package declares its licence only in package.json: record that declaration.
    node -e 'const p=require(process.argv[1]);console.log(`${p.name} ${p.version}\nLicense: ${p.license}\nAuthor: ${typeof p.author==="object"?p.author.name:p.author||"-"}\nSource: ${typeof p.repository==="object"?p.repository.url:p.repository||"-"}\n(The npm package ships no licence file; this is its package.json declaration.)`)' \
      "$here/node_modules/$package/package.json" > "$out/$package.LICENSE.txt"
  fi
  [ -f "node_modules/$package/NOTICE" ] && cp "node_modules/$package/NOTICE" "$out/$package.NOTICE.txt"
done
node -e 'const l=require("./package-lock.json");const v={};for(const [k,p] of Object.entries(l.packages)){if(k)v[k.replace("node_modules/","")]=p.version}console.log(JSON.stringify(v,null,1))' > "$out/versions.json"
echo "console assets built in $out"
