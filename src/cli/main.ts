#!/usr/bin/env node
/**
 * The `rxpool` executable (package.json `bin`). It turns V8's compile cache on first (Node 22.1
 * and later: `module.enableCompileCache()`; Node 20 has none and goes on without), so that the
 * modules it loads next (./command.ts and what it imports) and those of its workers (which
 * inherit the cache's folder through `NODE_COMPILE_CACHE`) are compiled once, not on every run:
 * a command line pays its start-up on each call.
 */
import * as nodeModule from 'node:module';

(nodeModule as { enableCompileCache?: () => unknown }).enableCompileCache?.();
await import('./command.js');
