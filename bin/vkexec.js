#!/usr/bin/env node
// Thin launcher: the CLI lives in dist/src/cli (built by `npm ci` / `npm run build`).
// CommonJS (bin/package.json), loading the ES modules with require(): a script entry skips the asynchronous
// ES module loader, about 7 ms of every start (issue 15, bench/startup.ts); node >= 20.19 has require(esm).
'use strict';
require('../dist/src/cli/main.js')
  .main(process.argv.slice(2))
  .then((code) => {
    process.exitCode = code;
  });
