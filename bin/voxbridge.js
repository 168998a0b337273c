#!/usr/bin/env node
'use strict';
let cli;
try {
  cli = require('../dist/cli.js');
} catch (e) {
  if (e && e.code === 'MODULE_NOT_FOUND' && String(e.message).includes('dist/cli.js')) {
    console.error('voxbridge: not built yet; run "npm run setup" first');
    process.exit(1);
  }
  throw e;
}
cli.main();
