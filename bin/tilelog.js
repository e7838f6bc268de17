#!/usr/bin/env node
// Entry point of the `tilelog` command: the compiled CLI lives in dist/ (built by `npm ci` via `prepare`).
import '../dist/server/cli.js';
