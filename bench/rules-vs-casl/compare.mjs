// Compares the two sides' visible output and prints the figures: documents/second for both,
// the ratio, and throughput by number of roles. Exits 1, naming the first differing document,
// when the visible output differs.
//
//   node compare.mjs --rust rampart.json --casl casl.json --rust-dir DIR --casl-dir DIR \
//       --docs docs.jsonl --summary summary.json

import { readFileSync, writeFileSync, existsSync, createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import { join } from "node:path";

function parseArgs(argv) {
  const args = {};
  for (let i = 0; i < argv.length; i += 2) args[argv[i].replace(/^--/, "")] = argv[i + 1];
  for (const key of ["rust", "casl", "rust-dir", "casl-dir", "docs"]) {
    if (!args[key]) throw new Error(`--${key} is required`);
  }
  return args;
}

async function nthLine(path, n) {
  let index = 0;
  const lines = createInterface({ input: createReadStream(path), crlfDelay: Infinity });
  for await (const line of lines) {
    if (index++ === n) {
      lines.close();
      return line;
    }
  }
  return null;
}

// The first line where two files differ, or -1.
function firstDifference(a, b) {
  const left = readFileSync(a, "utf8").split("\n");
  const right = readFileSync(b, "utf8").split("\n");
  const length = Math.max(left.length, right.length);
  for (let i = 0; i < length; i++) {
    if (left[i] !== right[i]) return { line: i, left: left[i], right: right[i] };
  }
  return null;
}

async function check(args, name, reference) {
  const rust = join(args["rust-dir"], name);
  const casl = join(args["casl-dir"], reference ?? name);
  for (const path of [rust, casl]) {
    if (!existsSync(path)) throw new Error(`missing output ${path}`);
  }
  const difference = firstDifference(rust, casl);
  if (difference === null) return true;
  console.error(`MISMATCH in ${name} (vs CASL ${reference ?? name}) at line ${difference.line + 1}:`);
  console.error(`  rampart: ${difference.left}`);
  console.error(`  casl:    ${difference.right}`);
  if (name.startsWith("visible-")) {
    console.error(`  document: ${await nthLine(args.docs, difference.line)}`);
  }
  return false;
}

const rate = (run) => Math.round(run.docs_per_sec);
const fmt = (n) => n.toLocaleString("en-US");

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const rust = JSON.parse(readFileSync(args.rust, "utf8"));
  const casl = JSON.parse(readFileSync(args.casl, "utf8"));
  let identical = true;
  const mainCasl = casl.runs.filter((run) => run.roles === 2);
  for (const run of mainCasl) {
    for (const kind of ["visible", "sample"]) {
      const ext = kind === "visible" ? "txt" : "jsonl";
      identical = (await check(args, `${kind}-2-${run.user}.${ext}`)) && identical;
    }
  }
  // Every other run, on either side, must show exactly what the 2-rule CASL run shows.
  for (const [side, runs] of [["rust", rust.runs], ["casl", casl.runs]]) {
    for (const run of runs) {
      if (side === "casl" && run.roles === 2) continue;
      const suffix = `${run.explained ? "-explained" : ""}${run.input === "decoded" ? "-decoded" : ""}`;
      const name = `visible-${run.roles}-${run.user}${suffix}.txt`;
      const dir = side === "rust" ? args["rust-dir"] : args["casl-dir"];
      const reference = join(args["casl-dir"], `visible-2-${run.user}.txt`);
      if (!existsSync(reference)) continue;
      const difference = firstDifference(join(dir, name), reference);
      if (difference !== null) {
        identical = false;
        console.error(`MISMATCH: ${side} ${name} differs from CASL's 2-rule output at line ${difference.line + 1}`);
        console.error(`  document: ${await nthLine(args.docs, difference.line)}`);
      }
    }
  }
  const mainRust = rust.runs.filter(
    (run) => run.roles === 2 && !run.explained && run.input !== "decoded",
  );
  const sum = (runs, key) => runs.reduce((total, run) => total + run[key], 0);
  const rustRate = sum(mainRust, "docs") / sum(mainRust, "seconds");
  const caslRate = sum(mainCasl, "docs") / sum(mainCasl, "seconds");
  const lines = [];
  lines.push(`visible output: ${identical ? "identical" : "DIFFERENT"}`);
  lines.push(
    `policy (2 roles / 2 CASL rules), ${mainRust.length} users x ${fmt(mainRust[0]?.docs ?? 0)} documents:`,
  );
  lines.push(`  rampart-rules: ${fmt(Math.round(rustRate))} documents/s (read_raw_into on stored BSON bytes)`);
  lines.push(`  CASL ${casl.version}:   ${fmt(Math.round(caslRate))} documents/s`);
  lines.push(`  ratio:         ${(rustRate / caslRate).toFixed(2)}x`);
  // The first user's pass also pays each engine's warm-up (V8's JIT and young heap, the
  // allocator's first pages), which can swing the total; the fastest user of each side is the
  // steady state.
  const best = (runs) => Math.max(...runs.map((run) => rate(run)));
  const rustBest = best(mainRust);
  const caslBest = best(mainCasl);
  lines.push(
    `  steady state (fastest user of each): ${fmt(Math.round(rustBest))} vs ${fmt(Math.round(caslBest))} documents/s, ratio ${(rustBest / caslBest).toFixed(2)}x`,
  );
  lines.push("rampart-rules by number of roles (one user):");
  for (const run of rust.runs.filter((run) => run.user === (rust.runs.at(-1)?.user ?? "u0"))) {
    const notes = [
      run.explained ? "full explanations" : null,
      run.input === "decoded" ? "read on decoded documents" : null,
    ].filter(Boolean);
    lines.push(`  ${String(run.roles).padStart(2)} roles${notes.length ? ` (${notes.join(", ")})` : ""}: ${fmt(rate(run))} documents/s`);
  }
  const caslScale = casl.runs.filter((run) => run.roles !== 2);
  if (caslScale.length > 0) {
    lines.push("CASL by number of rules (one user):");
    for (const run of casl.runs.filter((run) => run.user === caslScale[0].user)) {
      lines.push(`  ${String(run.roles).padStart(2)} rules: ${fmt(rate(run))} documents/s`);
    }
  }
  console.log(lines.join("\n"));
  if (args.summary) {
    writeFileSync(args.summary, JSON.stringify({ identical, rampart: rust, casl, rustRate, caslRate, rustBest, caslBest }, null, 2));
  }
  if (!identical) process.exit(1);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
