// Compile the provenance contracts with the pinned solc-js and write one JSON artifact per contract.
//
//   node provenance/contracts/compile.mjs [--out DIR]     (default DIR: provenance/contracts/build)
//
// The artifacts are committed: the same sources and compiler give the same bytes, and a test
// rebuilds them and compares. Exits non-zero, naming the problem, on any compiler error.

import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, "..", "..");

// Cancun is the oldest fork OpenZeppelin 5.7 compiles for (its Bytes library uses MCOPY); both
// py-evm (eth-tester, Prague) and anvil (latest fork by default) run it, as do most L2s.
const EVM_VERSION = "cancun";

// Source unit name (what solc and the artifacts call a file) -> contract names to write.
const CONTRACTS = {
  "provenance/contracts/AtelierWorks.sol": ["AtelierWorks"],
  "provenance/contracts/test/SmartWallet.sol": ["SmartWallet"],
  "provenance/contracts/test/NonReceiver.sol": ["NonReceiver"],
};

const SETTINGS = {
  evmVersion: EVM_VERSION,
  optimizer: { enabled: true, runs: 200 },
  metadata: { bytecodeHash: "ipfs" },
};

function fail(message) {
  process.stderr.write(`compile-contracts: ${message}\n`);
  process.exit(1);
}

function parseArgs(argv) {
  let out = join(HERE, "build");
  for (let index = 0; index < argv.length; index += 1) {
    if (argv[index] === "--out" && index + 1 < argv.length) {
      out = resolve(argv[index + 1]);
      index += 1;
    } else {
      fail(`unknown argument ${JSON.stringify(argv[index])}; usage: compile.mjs [--out DIR]`);
    }
  }
  return { out };
}

function loadSolc() {
  try {
    return require("solc");
  } catch (error) {
    fail(`solc is not installed (${error.code ?? error.message}); run \`npm ci\` in ${REPO}`);
  }
  return undefined;
}

// Where a source unit's text lives: our files under the repository, imports under node_modules.
function sourcePath(unit) {
  if (unit.startsWith("@openzeppelin/")) {
    const packageJson = require.resolve("@openzeppelin/contracts/package.json");
    return join(dirname(packageJson), unit.slice("@openzeppelin/contracts/".length));
  }
  return join(REPO, unit);
}

function readSource(unit) {
  return readFileSync(sourcePath(unit), "utf8");
}

function findImports(unit) {
  if (!unit.startsWith("@openzeppelin/contracts/")) {
    return { error: `import ${unit} is outside @openzeppelin/contracts; only those resolve` };
  }
  try {
    return { contents: readSource(unit) };
  } catch (error) {
    return { error: `cannot read ${unit} (${error.code ?? error.message}); run \`npm ci\`` };
  }
}

function sha256(text) {
  return createHash("sha256").update(text, "utf8").digest("hex");
}

function main() {
  const { out } = parseArgs(process.argv.slice(2));
  const solc = loadSolc();
  const sources = Object.fromEntries(
    Object.keys(CONTRACTS).map((unit) => [unit, { content: readSource(unit) }]),
  );
  const input = {
    language: "Solidity",
    sources,
    settings: {
      ...SETTINGS,
      outputSelection: {
        "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object", "metadata"] },
      },
    },
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));

  const problems = output.errors ?? [];
  for (const problem of problems.filter((p) => p.severity !== "error")) {
    process.stderr.write(problem.formattedMessage ?? `${problem.message}\n`);
  }
  const errors = problems.filter((p) => p.severity === "error");
  if (errors.length > 0) {
    const text = errors.map((p) => p.formattedMessage ?? p.message).join("\n");
    fail(`solc ${solc.version()} reported ${errors.length} error(s):\n${text}`);
  }

  mkdirSync(out, { recursive: true });
  for (const [unit, names] of Object.entries(CONTRACTS)) {
    for (const name of names) {
      const contract = output.contracts?.[unit]?.[name];
      if (contract === undefined) {
        fail(`solc produced no contract ${name} in ${unit}`);
      }
      const metadata = JSON.parse(contract.metadata);
      const sourceHashes = Object.fromEntries(
        Object.keys(metadata.sources)
          .sort()
          .map((dependency) => [dependency, sha256(readSource(dependency))]),
      );
      const artifact = {
        contractName: name,
        abi: contract.abi,
        bytecode: `0x${contract.evm.bytecode.object}`,
        deployedBytecode: `0x${contract.evm.deployedBytecode.object}`,
        compiler: { version: solc.version(), settings: SETTINGS },
        sourceHashes,
      };
      const path = join(out, `${name}.json`);
      writeFileSync(path, `${JSON.stringify(artifact, null, 2)}\n`);
      process.stdout.write(`wrote ${relative(process.cwd(), path) || path}\n`);
    }
  }
}

main();
