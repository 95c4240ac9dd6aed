// Node's built-in modules for the modules every command loads (the `vkexec -S` path, issue 15).
// process.getBuiltinModule (node >= 20.16) hands over the module object itself, where `import ... from 'node:fs'`
// first builds an ES module facade of it by reading every export: for node:fs that loads its streams and its
// promises API, about 2.5 ms of each start, and 0.3 to 0.8 ms for each other module (bench/startup.ts). The
// functions are the same objects either way (and a test's patch of the CommonJS object is seen without
// syncBuiltinESMExports).

export const fs = process.getBuiltinModule('node:fs');
export const path = process.getBuiltinModule('node:path');
export const os = process.getBuiltinModule('node:os');
/** module.createRequire: a module's require(), which loads ES modules too (node >= 20.19) and synchronously. */
export const createRequire = process.getBuiltinModule('node:module').createRequire;
