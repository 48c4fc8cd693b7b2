// Compile provledger's anchor contract with the pinned solcjs and print {abi, bytecode} as JSON.
//
//   node tools/chain/compile.js [path/to/ProvledgerAnchor.sol]
//
// The committed ABI and bytecode beside the source are this output; a test recompiles and compares,
// so what the wheel deploys is exactly what this source and compiler produce.
"use strict";
const fs = require("fs");
const path = require("path");
const solc = require("solc");

const NAME = "ProvledgerAnchor";
const source = process.argv[2] ||
  path.join(__dirname, "..", "..", "services", "provledger", "anchor", "evm", "contract", `${NAME}.sol`);
const input = {
  language: "Solidity",
  sources: { [`${NAME}.sol`]: { content: fs.readFileSync(source, "utf8") } },
  settings: {
    // Cancun: understood by every current Ethereum-compatible chain provledger may anchor to.
    evmVersion: "cancun",
    optimizer: { enabled: true, runs: 200 },
    outputSelection: { "*": { [NAME]: ["abi", "evm.bytecode.object"] } },
  },
};
const output = JSON.parse(solc.compile(JSON.stringify(input)));
const errors = (output.errors || []).filter((e) => e.severity === "error");
if (errors.length) {
  for (const e of errors) console.error(e.formattedMessage);
  process.exit(1);
}
const contract = output.contracts[`${NAME}.sol`][NAME];
process.stdout.write(JSON.stringify({
  compiler: solc.version(),
  abi: contract.abi,
  bytecode: contract.evm.bytecode.object,
}, null, 2) + "\n");
