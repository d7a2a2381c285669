// Compiles MailerEvents.sol with solcjs (npm `solc`) into artifacts.json: {contract: {abi, bytecode}}.
// Run from the repository root: `node tests/chain/compile.mjs`. The artifact is committed; a test recompiles
// and compares.
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const solc = require("solc");
const here = dirname(fileURLToPath(import.meta.url));
const input = {
  language: "Solidity",
  sources: { "MailerEvents.sol": { content: readFileSync(join(here, "MailerEvents.sol"), "utf8") } },
  settings: { optimizer: { enabled: true, runs: 200 }, outputSelection: { "*": { "*": ["abi", "evm.bytecode.object"] } } },
};
const output = JSON.parse(solc.compile(JSON.stringify(input)));
const errors = (output.errors || []).filter((e) => e.severity === "error");
if (errors.length) {
  console.error(errors.map((e) => e.formattedMessage).join("\n"));
  process.exit(1);
}
const artifacts = {};
for (const [name, contract] of Object.entries(output.contracts["MailerEvents.sol"])) {
  artifacts[name] = { abi: contract.abi, bytecode: "0x" + contract.evm.bytecode.object };
}
const target = process.argv[2] || join(here, "artifacts.json");
writeFileSync(target, JSON.stringify({ compiler: solc.version(), contracts: artifacts }, null, 1) + "\n");
