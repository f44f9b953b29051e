#!/usr/bin/env node
// `hot` from npm: runs the prebuilt binary of this platform's package (an optional dependency,
// the esbuild/biome pattern). After `npm install`, install.js puts the binary itself in this
// file's place, so `npx hot` runs hot directly; this launcher is what runs only when install
// scripts were skipped (--ignore-scripts): it passes signals on and exits as hot did.
"use strict";
const { spawn } = require("child_process");
const { binaryPath } = require("./platform.js");

const bin = binaryPath();
const child = spawn(bin, process.argv.slice(2), { stdio: "inherit" });
const forward = (signal) => () => child.kill(signal);
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(signal, forward(signal));
}
child.on("error", (err) => {
  console.error(`hot: cannot run ${bin}: ${err.message}`);
  process.exit(1);
});
child.on("exit", (code, signal) => {
  if (signal) {
    // End the way hot ended, so that a shell sees the same status.
    process.removeAllListeners(signal);
    process.kill(process.pid, signal);
  } else {
    process.exit(code === null ? 1 : code);
  }
});
