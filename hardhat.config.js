// Hardhat 2 configuration: compiles contracts/*.sol offline with the npm solc (wasm) and the
// same settings as client/chain/compile.py, and serves `npx hardhat node` as an alternate devnet.
const path = require("path");
const { subtask } = require("hardhat/config");
const { TASK_COMPILE_SOLIDITY_GET_SOLC_BUILD } = require("hardhat/builtin-tasks/task-names");

const SOLC_VERSION = "0.8.30";

// No compiler download: hand Hardhat the soljson.js that npm installed.
subtask(TASK_COMPILE_SOLIDITY_GET_SOLC_BUILD, async (args, hre, runSuper) => {
  if (args.solcVersion !== SOLC_VERSION) {
    return runSuper();
  }
  const solcPackage = require("solc/package.json");
  const solc = require("solc");
  return {
    compilerPath: require.resolve("solc/soljson.js"),
    isSolcJs: true,
    version: args.solcVersion,
    longVersion: solc.version().replace(/\.Emscripten\.clang$/, "") || solcPackage.version,
  };
});

/** @type import('hardhat/config').HardhatUserConfig */
module.exports = {
  solidity: {
    version: SOLC_VERSION,
    settings: {
      evmVersion: "cancun",
      viaIR: true,
      optimizer: { enabled: true, runs: 200 },
    },
  },
  paths: {
    sources: path.join(__dirname, "contracts"),
    artifacts: path.join(__dirname, "build", "hardhat", "artifacts"),
    cache: path.join(__dirname, "build", "hardhat", "cache"),
    tests: path.join(__dirname, "tests", "hardhat"),
  },
  networks: {
    hardhat: { chainId: 31337, hardfork: "cancun" },
  },
};
