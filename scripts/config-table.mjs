// Prints the configuration table generated from OPTIONS in server/src/config.ts (via the built
// server/dist), or keeps Markdown files up to date with it:
//   node scripts/config-table.mjs                          print the table
//   node scripts/config-table.mjs --write docs/operations.md [README.md]   rewrite the marked block
//   node scripts/config-table.mjs --check docs/operations.md [README.md]   exit 1 if a block is stale
// Run `npx tsc -b` first so server/dist matches the source.
import { readFileSync, writeFileSync } from 'node:fs';
import { configTable, configTableBlock, extractTableBlock, replaceTableBlock } from '../server/dist/config-table.js';

const [mode, ...files] = process.argv.slice(2);
if (mode === undefined) {
  process.stdout.write(`${configTable()}\n`);
} else if ((mode === '--write' || mode === '--check') && files.length > 0) {
  let stale = 0;
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    const block = extractTableBlock(text);
    if (block === null) {
      console.error(`${file}: no config-table marker`);
      stale++;
    } else if (block !== configTableBlock()) {
      if (mode === '--write') {
        writeFileSync(file, replaceTableBlock(text));
        console.log(`${file}: table updated`);
      } else {
        console.error(`${file}: table is stale; run node scripts/config-table.mjs --write ${file}`);
        stale++;
      }
    } else {
      console.log(`${file}: table up to date`);
    }
  }
  process.exit(stale > 0 ? 1 : 0);
} else {
  console.error('usage: node scripts/config-table.mjs [--write|--check <file.md>...]');
  process.exit(2);
}
