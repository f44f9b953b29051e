"use strict";
// Which package holds the binary for this machine, and where it is.
const PACKAGES = {
  "linux x64": "hot-cli-linux-x64",
  "linux arm64": "hot-cli-linux-arm64",
  "darwin x64": "hot-cli-darwin-x64",
  "darwin arm64": "hot-cli-darwin-arm64",
};

function binaryPath() {
  const key = `${process.platform} ${process.arch}`;
  const name = PACKAGES[key];
  if (!name) {
    console.error(
      `hot: no prebuilt binary for ${key}; install it with cargo: cargo install --git https://github.com/hot-cli/hot`
    );
    process.exit(1);
  }
  try {
    return require.resolve(`${name}/bin/hot`);
  } catch (_) {
    console.error(
      `hot: the package ${name} (hot's binary for ${key}) is not installed: install hot-cli without --no-optional / --omit=optional`
    );
    process.exit(1);
  }
}

module.exports = { binaryPath, PACKAGES };
