"use strict";
// postinstall: puts this platform's hot binary in place of the bin/hot launcher, so that
// `npx hot` and node_modules/.bin/hot run hot itself: signals reach it directly and no Node
// process sits in between. Where that fails, the launcher stays and does the same job.
const fs = require("fs");
const path = require("path");

try {
  const { binaryPath } = require("../bin/platform.js");
  const source = binaryPath();
  const target = path.join(__dirname, "..", "bin", "hot");
  const temporary = `${target}.tmp-${process.pid}`;
  fs.copyFileSync(source, temporary);
  fs.chmodSync(temporary, 0o755);
  fs.renameSync(temporary, target);
} catch (err) {
  console.error(`hot-cli: keeping the Node launcher (${err.message})`);
}
