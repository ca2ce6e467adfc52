#!/bin/sh
# Parses the PowerShell scripts beside this file with tree-sitter's
# PowerShell grammar and fails on any syntax error. It checks syntax only:
# nothing is run, and cmdlets, .NET calls and registry paths are not
# checked. Needs node and npm; the two npm packages go to a temporary
# directory (no install scripts run).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
npm init -y >/dev/null
npm install --silent --no-audit --no-fund --ignore-scripts tree-sitter-powershell@0.26.4 web-tree-sitter@0.27.2 >/dev/null
cat > parse.mjs <<'EOF'
import fs from 'fs';
import { Parser, Language } from 'web-tree-sitter';
await Parser.init();
const parser = new Parser();
parser.setLanguage(await Language.load('node_modules/tree-sitter-powershell/tree-sitter-powershell.wasm'));
let bad = 0;
for (const f of process.argv.slice(2)) {
  const src = fs.readFileSync(f, 'utf8');
  const errs = [];
  const walk = (n) => { if (n.type === 'ERROR' || n.isMissing) errs.push(n); n.children.forEach(walk); };
  walk(parser.parse(src).rootNode);
  console.log(`${f}: ${errs.length ? errs.length + ' syntax error(s)' : 'ok'}`);
  for (const e of errs) console.log(`  line ${e.startPosition.row + 1}: ${e.isMissing ? 'missing ' + e.type : JSON.stringify(src.slice(e.startIndex, e.startIndex + 60))}`);
  bad += errs.length;
}
process.exit(bad ? 1 : 0);
EOF
node parse.mjs "$here"/*.ps1
