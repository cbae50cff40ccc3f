// Compares the outputs of crates/mql/examples/mingo_compare.rs (Rampart) and mingo_compare.mjs
// (mingo), prints the throughput table, and exits non-zero on any unexplained mismatch.
//
//   node compare.mjs --rust rust.json --mingo mingo.json [--filters filters.json]
//                    [--updates updates.json] [--summary summary.json] [--rustc "rustc x.y.z"]
//
// Matching: the lists of matching `_id`s must be identical. Updates: the modified counts, the
// error counts and the updated documents must be identical; documents are compared as JSON with
// numbers compared by value (JavaScript has one number type: 5 and 5.0 are equal) and with key
// order significant (both engines keep field order). Cases carrying `known_mingo_deviation` in
// filters.json / updates.json are timed, but a difference there is reported, not a failure.

import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import os from "node:os";
import { execSync } from "node:child_process";

function parseArgs(argv) {
  const here = new URL(".", import.meta.url).pathname;
  const args = { rust: null, mingo: null, filters: join(here, "filters.json"), updates: join(here, "updates.json"), summary: null, rustc: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => argv[++i];
    if (a === "--rust") args.rust = v();
    else if (a === "--mingo") args.mingo = v();
    else if (a === "--filters") args.filters = v();
    else if (a === "--updates") args.updates = v();
    else if (a === "--summary") args.summary = v();
    else if (a === "--rustc") args.rustc = v();
    else throw new Error(`unknown argument ${a}`);
  }
  if (!args.rust || !args.mingo) throw new Error("--rust and --mingo are required");
  return args;
}

const readJson = (path) => JSON.parse(readFileSync(path, "utf8"));

// Deep equality of parsed JSON values. `ordered`: object key order must match too.
function jsonEqual(a, b, ordered) {
  if (a === b) return true;
  if (typeof a === "number" && typeof b === "number") return a === b || (Number.isNaN(a) && Number.isNaN(b));
  if (a === null || b === null || typeof a !== "object" || typeof b !== "object") return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!jsonEqual(a[i], b[i], ordered)) return false;
    return true;
  }
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  if (ordered) {
    for (let i = 0; i < ka.length; i++) if (ka[i] !== kb[i]) return false;
  }
  for (const k of ka) {
    if (!Object.prototype.hasOwnProperty.call(b, k)) return false;
    if (!jsonEqual(a[k], b[k], ordered)) return false;
  }
  return true;
}

const fmtRate = (r) => (r >= 1e6 ? `${(r / 1e6).toFixed(2)} M` : `${(r / 1e3).toFixed(1)} k`);
const fmtInt = (n) => n.toLocaleString("en-US");
const pad = (s, n) => String(s).padStart(n);
const padEnd = (s, n) => String(s).padEnd(n);

function short(v) {
  const s = JSON.stringify(v);
  return s.length > 300 ? s.slice(0, 300) + "..." : s;
}

function main() {
  const args = parseArgs(process.argv.slice(2));
  const rust = readJson(args.rust);
  const mingo = readJson(args.mingo);
  const filterSpecs = readJson(args.filters).filters;
  const updateSpecs = readJson(args.updates).updates;
  const failures = [];
  const deviations = [];
  const notes = [];

  if (rust.docs !== mingo.docs) failures.push(`document counts differ: rampart read ${rust.docs}, mingo read ${mingo.docs}`);
  const docs = rust.docs;

  // ---- matching
  const filterRows = [];
  filterSpecs.forEach((spec, i) => {
    const r = rust.filters[i];
    const m = mingo.filters[i];
    const label = `filter #${i} "${spec.name}" ${JSON.stringify(spec.filter)}`;
    const deviation = spec.known_mingo_deviation;
    const problems = [];
    if (r.error || m.error) problems.push(`error: rampart=${r.error ?? "none"} mingo=${m.error ?? "none"}`);
    else {
      if (r.errors || m.errors) problems.push(`match errors: rampart=${r.errors} (${r.first_error}) mingo=${m.errors} (${m.first_error})`);
      const rs = new Set(r.ids.map((x) => JSON.stringify(x)));
      const ms = new Set(m.ids.map((x) => JSON.stringify(x)));
      const onlyR = [...rs].filter((x) => !ms.has(x));
      const onlyM = [...ms].filter((x) => !rs.has(x));
      if (onlyR.length || onlyM.length || r.ids.length !== m.ids.length) {
        problems.push(
          `matches differ: rampart ${r.count}, mingo ${m.count}; only rampart: ${onlyR.length} (e.g. _id ${onlyR.slice(0, 5).join(", ")}); only mingo: ${onlyM.length} (e.g. _id ${onlyM.slice(0, 5).join(", ")})`,
        );
      }
    }
    if (problems.length && deviation) deviations.push(`${label}\n    ${problems.join("\n    ")}\n    known mingo deviation: ${deviation}`);
    else if (problems.length) failures.push(`${label}\n    ${problems.join("\n    ")}`);
    else if (deviation) notes.push(`${label}: listed as a known mingo deviation but the results are identical on this data`);
    if (!r.error && !m.error) {
      const rr = docs / (r.median_ns / 1e9);
      const mr = docs / (m.median_ns / 1e9);
      filterRows.push({ name: spec.name, count: r.count, rust_ns: r.median_ns, rust_decoded_ns: r.decoded_median_ns ?? null, mingo_ns: m.median_ns, rust_rate: rr, mingo_rate: mr, ratio: rr / mr, identical: problems.length === 0 });
    }
  });

  // ---- updates
  const updateRows = [];
  updateSpecs.forEach((spec, i) => {
    const r = rust.updates[i];
    const m = mingo.updates[i];
    const label = `update #${i} "${spec.name}" ${JSON.stringify(spec.update)}${spec.array_filters ? ` arrayFilters ${JSON.stringify(spec.array_filters)}` : ""}`;
    const deviation = spec.known_mingo_deviation;
    const problems = [];
    let compared = 0;
    if (r.error || m.error) problems.push(`error: rampart=${r.error ?? "none"} mingo=${m.error ?? "none"}`);
    else {
      if (r.modified !== m.modified) problems.push(`modified counts differ: rampart ${r.modified}, mingo ${m.modified}`);
      if (r.errors !== m.errors || m.per_document_fallback)
        problems.push(`update errors: rampart ${r.errors} (${r.first_error}), mingo ${m.errors} (${m.first_error})${m.per_document_fallback ? " [mingo batch threw; per-document fallback]" : ""}`);
      const rl = readFileSync(r.output, "utf8").split("\n").filter((l) => l !== "");
      const ml = readFileSync(m.output, "utf8").split("\n").filter((l) => l !== "");
      if (rl.length !== ml.length) problems.push(`updated document files differ in length: rampart ${rl.length}, mingo ${ml.length}`);
      const n = Math.min(rl.length, ml.length);
      let diff = 0;
      let orderOnly = 0;
      const examples = [];
      for (let k = 0; k < n; k++) {
        if (rl[k] === ml[k]) {
          compared++;
          continue;
        }
        const a = JSON.parse(rl[k]);
        const b = JSON.parse(ml[k]);
        compared++;
        if (jsonEqual(a, b, true)) continue;
        diff++;
        if (jsonEqual(a, b, false)) orderOnly++;
        if (examples.length < 3) examples.push(`_id ${JSON.stringify(b._id)}:\n      rampart ${short(a)}\n      mingo   ${short(b)}`);
      }
      if (diff) {
        problems.push(`${diff} of ${n} updated documents differ${orderOnly ? ` (${orderOnly} only in key order)` : ""}; e.g.\n      ${examples.join("\n      ")}`);
      }
    }
    if (problems.length && deviation) deviations.push(`${label}\n    ${problems.join("\n    ")}\n    known mingo deviation: ${deviation}`);
    else if (problems.length) failures.push(`${label}\n    ${problems.join("\n    ")}`);
    else if (deviation) notes.push(`${label}: listed as a known mingo deviation but the results are identical on this data`);
    if (!r.error && !m.error) {
      const rr = docs / (r.median_ns / 1e9);
      const mr = docs / (m.median_ns / 1e9);
      updateRows.push({ name: spec.name, modified: r.modified, compared, rust_ns: r.median_ns, mingo_ns: m.median_ns, rust_rate: rr, mingo_rate: mr, ratio: rr / mr, identical: problems.length === 0 });
    }
  });

  // ---- report
  const cpu = os.cpus()[0]?.model ?? "unknown CPU";
  let nproc = os.availableParallelism?.() ?? os.cpus().length;
  try {
    nproc = Number(execSync("nproc", { encoding: "utf8" }).trim());
  } catch {}
  let rustc = args.rustc;
  if (!rustc) {
    try {
      rustc = execSync("rustc --version", { encoding: "utf8" }).trim();
    } catch {
      rustc = "unknown rustc";
    }
  }
  const total = (rows) => {
    const rustNs = rows.reduce((s, x) => s + x.rust_ns, 0);
    const mingoNs = rows.reduce((s, x) => s + x.mingo_ns, 0);
    const n = rows.length * docs;
    const ratios = rows.map((x) => x.ratio).sort((a, b) => a - b);
    return {
      cases: rows.length,
      documents: n,
      rust_rate: n / (rustNs / 1e9),
      mingo_rate: n / (mingoNs / 1e9),
      ratio: mingoNs / rustNs,
      min_ratio: ratios[0],
      median_ratio: ratios.length % 2 ? ratios[(ratios.length - 1) / 2] : (ratios[ratios.length / 2 - 1] + ratios[ratios.length / 2]) / 2,
      max_ratio: ratios[ratios.length - 1],
      min_case: rows.find((x) => x.ratio === ratios[0])?.name,
      max_case: rows.find((x) => x.ratio === ratios[ratios.length - 1])?.name,
    };
  };
  const matchTotal = total(filterRows);
  // Rampart's matching on decoded bson::Documents (Filter::matches), timed in the same run.
  if (filterRows.every((x) => x.rust_decoded_ns)) {
    const decodedNs = filterRows.reduce((s, x) => s + x.rust_decoded_ns, 0);
    matchTotal.rust_decoded_rate = matchTotal.documents / (decodedNs / 1e9);
  }
  const updateTotal = total(updateRows);

  const line = "-".repeat(100);
  console.log(line);
  console.log(`rampart-mql ${rust.version} vs mingo ${mingo.version}`);
  console.log(`hardware: ${cpu}, nproc ${nproc}; ${mingo.node ? `node ${mingo.node}` : ""}; ${rustc}`);
  console.log(`${docs} documents; matching: median of ${rust.reps} timed passes after 1 warm-up; updates: median of ${rust.update_reps} passes (copy of the documents not timed)`);
  console.log(line);
  console.log("per filter (documents/second, median pass):");
  console.log(`  ${padEnd("filter", 40)} ${pad("matched", 8)} ${pad("rampart", 11)} ${pad("mingo", 11)} ${pad("ratio", 8)}`);
  for (const x of filterRows) {
    console.log(`  ${padEnd(x.name.slice(0, 40), 40)} ${pad(x.count, 8)} ${pad(fmtRate(x.rust_rate), 11)} ${pad(fmtRate(x.mingo_rate), 11)} ${pad(x.ratio.toFixed(1) + "x", 8)}${x.identical ? "" : "  (differs)"}`);
  }
  console.log("per update (documents/second, median pass):");
  console.log(`  ${padEnd("update", 40)} ${pad("modified", 8)} ${pad("rampart", 11)} ${pad("mingo", 11)} ${pad("ratio", 8)}`);
  for (const x of updateRows) {
    console.log(`  ${padEnd(x.name.slice(0, 40), 40)} ${pad(x.modified, 8)} ${pad(fmtRate(x.rust_rate), 11)} ${pad(fmtRate(x.mingo_rate), 11)} ${pad(x.ratio.toFixed(1) + "x", 8)}${x.identical ? "" : "  (differs)"}`);
  }
  console.log(line);
  console.log(`  ${padEnd("", 10)} ${pad("cases", 6)} ${pad("documents", 12)} ${pad("rampart docs/s", 15)} ${pad("mingo docs/s", 13)} ${pad("ratio", 7)}   per-case ratio min / median / max`);
  for (const [name, t] of [["matching", matchTotal], ["updates", updateTotal]]) {
    console.log(
      `  ${padEnd(name, 10)} ${pad(t.cases, 6)} ${pad(fmtInt(t.documents), 12)} ${pad(fmtRate(t.rust_rate), 15)} ${pad(fmtRate(t.mingo_rate), 13)} ${pad(t.ratio.toFixed(1) + "x", 7)}   ${t.min_ratio.toFixed(1)}x (${t.min_case}) / ${t.median_ratio.toFixed(1)}x / ${t.max_ratio.toFixed(1)}x (${t.max_case})`,
    );
  }
  if (matchTotal.rust_decoded_rate) {
    console.log(
      `  matching above is Filter::matches_raw on BSON bytes; Filter::matches on decoded bson::Documents: ${fmtRate(matchTotal.rust_decoded_rate)} docs/s (${(matchTotal.rust_decoded_rate / matchTotal.mingo_rate).toFixed(1)}x mingo)`,
    );
  }
  for (const b of [rust.baseline, rust.raw_baseline].filter(Boolean)) {
    console.log(
      `  floor: a hand-written ${b.name} per document: ${fmtRate(docs / (b.median_ns / 1e9))} docs/s (${(b.median_ns / docs).toFixed(0)} ns/doc)`,
    );
  }
  const copyNs = (side) => {
    const xs = side.updates.filter((u) => u.copy_median_ns).map((u) => u.copy_median_ns).sort((a, b) => a - b);
    return xs.length ? xs[Math.floor(xs.length / 2)] / docs : null;
  };
  const rc = copyNs(rust);
  const mc = copyNs(mingo);
  if (rc !== null && mc !== null) {
    console.log(`  copying the documents before an update pass (not timed): Rampart Document::clone ${rc.toFixed(0)} ns/doc, mingo structuredClone ${mc.toFixed(0)} ns/doc`);
  }
  console.log(line);
  const identicalFilters = filterRows.filter((x) => x.identical).length;
  const identicalUpdates = updateRows.filter((x) => x.identical).length;
  console.log(`identical results: ${identicalFilters}/${filterSpecs.length} filters, ${identicalUpdates}/${updateSpecs.length} updates`);
  for (const d of deviations) console.log(`EXCLUDED (known mingo deviation): ${d}`);
  for (const n of notes) console.log(`note: ${n}`);
  for (const f of failures) console.log(`MISMATCH: ${f}`);

  if (args.summary) {
    writeFileSync(
      args.summary,
      JSON.stringify(
        {
          date: new Date().toISOString(),
          hardware: { cpu, nproc },
          versions: { node: mingo.node, mingo: mingo.version, rustc, rampart_mql: rust.version },
          docs,
          matching: matchTotal,
          rampart_floor: rust.baseline ?? null,
          rampart_raw_floor: rust.raw_baseline ?? null,
          copy_ns_per_doc: { rampart: rc, mingo: mc },
          updates: updateTotal,
          filters: filterRows,
          update_cases: updateRows,
          deviations,
          failures,
        },
        null,
        2,
      ) + "\n",
    );
  }
  if (failures.length) {
    console.log(`FAILED: ${failures.length} unexplained mismatch(es)`);
    process.exit(1);
  }
  console.log("OK: results identical (apart from the known mingo deviations listed above)");
}

main();
