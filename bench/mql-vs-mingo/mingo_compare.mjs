// mingo's side of the benchmark: the same work as crates/mql/examples/mingo_compare.rs, with
// the same timing method, and the same output (one JSON object on stdout, updated documents in
// OUT_DIR/update-<n>.jsonl).
//
//   node mingo_compare.mjs --docs docs.jsonl --filters filters.json --updates updates.json \
//                          --out-dir DIR [--reps 5] [--update-reps 3] [--check-docs 0]
//
// Matching: `new Query(filter)` once (compilation, not timed), one untimed warm-up pass, then
// `--reps` timed passes of `query.test(doc)` over every document.
// Updates: for each repetition, deep-copies all documents (structuredClone, not timed), then
// times `updateMany(copies, {}, update, { arrayFilters })`: mingo's batch update, which compiles
// the update operators once and applies them to every document. If it throws (an update error
// on some document aborts mingo's batch), the repetition is redone one document at a time with
// `update(doc, ...)` inside try/catch, and the result is flagged `per_document_fallback`.

import { readFileSync, writeFileSync, mkdirSync, createWriteStream } from "node:fs";
import { once } from "node:events";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { Query } from "mingo";
import { updateMany, update as updateOneObject } from "mingo/updater";

function parseArgs(argv) {
  const args = { docs: null, filters: null, updates: null, outDir: tmpdir(), reps: 5, updateReps: 3, checkDocs: 0 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => argv[++i];
    if (a === "--docs") args.docs = v();
    else if (a === "--filters") args.filters = v();
    else if (a === "--updates") args.updates = v();
    else if (a === "--out-dir") args.outDir = v();
    else if (a === "--reps") args.reps = Math.max(1, Number(v()));
    else if (a === "--update-reps") args.updateReps = Math.max(1, Number(v()));
    else if (a === "--check-docs") args.checkDocs = Number(v());
    else throw new Error(`unknown argument ${a}`);
  }
  const here = new URL(".", import.meta.url).pathname;
  args.filters ??= join(here, "filters.json");
  args.updates ??= join(here, "updates.json");
  if (!args.docs) throw new Error("--docs FILE is required");
  return args;
}

function median(times) {
  const s = [...times].sort((a, b) => a - b);
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2] : Math.round((s[n / 2 - 1] + s[n / 2]) / 2);
}

const now = () => process.hrtime.bigint();

function runFilter(entry, docs, reps) {
  let query;
  try {
    query = new Query(entry.filter);
  } catch (e) {
    return { name: entry.name, error: `compile: ${e.message}` };
  }
  const matched = [];
  let errors = 0;
  let firstError = null;
  const times = [];
  for (let rep = 0; rep <= reps; rep++) {
    matched.length = 0;
    errors = 0;
    const start = now();
    for (let i = 0, n = docs.length; i < n; i++) {
      try {
        if (query.test(docs[i])) matched.push(i);
      } catch (e) {
        errors++;
        firstError ??= e.message;
      }
    }
    const elapsed = Number(now() - start);
    if (rep > 0) times.push(elapsed);
  }
  return {
    name: entry.name,
    count: matched.length,
    ids: matched.map((i) => docs[i]._id ?? null),
    errors,
    first_error: firstError,
    ns: times,
    median_ns: median(times),
    best_ns: Math.min(...times),
  };
}

async function runUpdate(index, entry, docs, reps, checkDocs, outDir) {
  const arrayFilters = entry.array_filters ?? [];
  const times = [];
  let modified = 0;
  let errorIndexes = [];
  let firstError = null;
  let fallback = false;
  let result = null;
  const copyTimes = [];
  for (let rep = 0; rep < reps; rep++) {
    const copyStart = now();
    let copies = structuredClone(docs); // not timed (reported apart)
    copyTimes.push(Number(now() - copyStart));
    errorIndexes = [];
    let start = now();
    try {
      modified = updateMany(copies, {}, entry.update, { arrayFilters }).modifiedCount;
    } catch (e) {
      firstError ??= e.message;
      fallback = true;
      copies = structuredClone(docs);
      modified = 0;
      start = now();
      for (let i = 0; i < copies.length; i++) {
        try {
          if (updateOneObject(copies[i], entry.update, arrayFilters).length) modified++;
        } catch (e2) {
          errorIndexes.push(i);
          copies[i] = structuredClone(docs[i]); // MongoDB leaves a failed document unchanged
        }
      }
    }
    times.push(Number(now() - start));
    result = copies;
  }
  const limit = checkDocs === 0 ? result.length : Math.min(checkDocs, result.length);
  const path = join(outDir, `update-${index}.jsonl`);
  const out = createWriteStream(path);
  let buffer = "";
  for (let i = 0; i < limit; i++) {
    buffer += JSON.stringify(result[i]) + "\n";
    if (buffer.length > 1 << 20) {
      if (!out.write(buffer)) await once(out, "drain");
      buffer = "";
    }
  }
  out.write(buffer);
  out.end();
  await once(out, "finish");
  return {
    name: entry.name,
    modified,
    errors: errorIndexes.length,
    error_ids: errorIndexes.map((i) => docs[i]._id ?? null),
    first_error: firstError,
    per_document_fallback: fallback,
    output: path,
    output_docs: limit,
    ns: times,
    median_ns: median(times),
    best_ns: Math.min(...times),
    copy_median_ns: median(copyTimes),
  };
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const loadStart = now();
  const docs = readFileSync(args.docs, "utf8")
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line));
  const loadMs = Number(now() - loadStart) / 1e6;
  const filters = JSON.parse(readFileSync(args.filters, "utf8")).filters;
  const updates = JSON.parse(readFileSync(args.updates, "utf8")).updates;
  mkdirSync(args.outDir, { recursive: true });

  const filterResults = filters.map((entry) => runFilter(entry, docs, args.reps));
  const updateResults = [];
  for (let i = 0; i < updates.length; i++) {
    updateResults.push(await runUpdate(i, updates[i], docs, args.updateReps, args.checkDocs, args.outDir));
  }
  const pkg = JSON.parse(readFileSync(new URL("./node_modules/mingo/package.json", import.meta.url), "utf8"));
  const report = {
    engine: "mingo",
    version: pkg.version,
    node: process.version,
    docs: docs.length,
    reps: args.reps,
    update_reps: args.updateReps,
    load_ms: Math.round(loadMs),
    filters: filterResults,
    updates: updateResults,
  };
  writeFileSync(1, JSON.stringify(report) + "\n");
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
