// CASL's side of the benchmark: the same policy as Rampart's (crates/rules/benches/support/
// policy.rs), "the owner reads everything; everyone else reads title, status and tags", as CASL
// rules. Per document: `ability.can('read', subject('Item', doc))`, then
// `permittedFieldsOf(...)` and a pick of those fields: the role choice plus redaction Rampart
// does in `Authorizer::read`. A document left with no visible field counts as withheld, as in
// Rampart. Loading is not timed. Writes the same visible-*.txt / sample-*.jsonl files as the
// Rust side and a JSON summary on stdout.
//
//   node casl_compare.mjs --docs docs.jsonl --users u0,u1 --roles 2 --scale-roles 10,50 \
//       --scale-user u0 --out-dir DIR

import { createReadStream, writeFileSync, mkdirSync } from "node:fs";
import { createInterface } from "node:readline";
import { join } from "node:path";
import { AbilityBuilder, createMongoAbility, subject } from "@casl/ability";
import { permittedFieldsOf } from "@casl/ability/extra";

const SAMPLE = 1000;
const PUBLIC_FIELDS = ["title", "status", "tags"];

function parseArgs(argv) {
  const args = { docs: null, users: ["u0"], roles: 2, scaleRoles: [], scaleUser: null, warmup: 100000, outDir: "." };
  const list = (text) => text.split(",").filter((item) => item.length > 0);
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[++i];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    if (flag === "--docs") args.docs = value;
    else if (flag === "--users") args.users = list(value);
    else if (flag === "--roles") args.roles = Number(value);
    else if (flag === "--scale-roles") args.scaleRoles = list(value).map(Number);
    else if (flag === "--scale-user") args.scaleUser = value;
    else if (flag === "--warmup") args.warmup = Number(value);
    else if (flag === "--out-dir") args.outDir = value;
    else throw new Error(`unknown argument ${flag}`);
  }
  if (!args.docs) throw new Error("--docs is required");
  return args;
}

async function load(path) {
  const docs = [];
  const lines = createInterface({ input: createReadStream(path), crlfDelay: Infinity });
  for await (const line of lines) {
    if (line.trim().length > 0) docs.push(JSON.parse(line));
  }
  return docs;
}

// Every top-level field the generator writes: what a rule without `fields` grants.
function allFields(docs) {
  const names = new Set();
  for (const doc of docs) for (const key of Object.keys(doc)) names.add(key);
  return [...names];
}

// `roles` rules in total, as in Rampart: `roles - 2` rules that never apply to the measured
// users (they read the document), then the owner's rule and the public-fields rule. CASL gives
// later rules precedence, so the never-applying ones go first, as Rampart tries them first.
function ability(userId, roles) {
  const { can, build } = new AbilityBuilder(createMongoAbility);
  for (let index = 0; index < roles - 2; index++) {
    can("read", "Item", { owner: userId, region: `nowhere-${index}` });
  }
  can("read", "Item", { owner: userId });
  can("read", "Item", PUBLIC_FIELDS);
  return build();
}

function pick(doc, fields) {
  const out = {};
  let any = false;
  for (const field of fields) {
    if (Object.prototype.hasOwnProperty.call(doc, field)) {
      out[field] = doc[field];
      any = true;
    }
  }
  return any ? out : null;
}

function decideAll(docs, from, to, rules, options, results) {
  for (let i = from; i < to; i++) {
    const item = subject("Item", docs[i]);
    results[i] = rules.can("read", item)
      ? pick(docs[i], permittedFieldsOf(rules, "read", item, options))
      : null;
  }
}

function sortedObject(doc) {
  const out = {};
  for (const key of Object.keys(doc).sort()) out[key] = doc[key];
  return out;
}

function one(args, docs, roles, userId, allNames, runs) {
  const options = { fieldsFrom: (rule) => rule.fields || allNames };
  const results = new Array(docs.length);
  const start = process.hrtime.bigint();
  const rules = ability(userId, roles);
  let elapsed = process.hrtime.bigint() - start;
  decideAll(docs, 0, Math.min(args.warmup, docs.length), rules, options, results);
  const t0 = process.hrtime.bigint();
  decideAll(docs, 0, docs.length, rules, options, results);
  elapsed += process.hrtime.bigint() - t0;
  const seconds = Number(elapsed) / 1e9;
  let lines = "";
  const chunks = [];
  let sample = "";
  let sampled = 0;
  let visible = 0;
  for (const result of results) {
    if (result === null) {
      lines += "-\n";
    } else {
      visible++;
      lines += Object.keys(result).sort().join(",") + "\n";
      if (sampled < SAMPLE) {
        sampled++;
        sample += JSON.stringify(sortedObject(result)) + "\n";
      }
    }
    if (lines.length > 1 << 22) {
      chunks.push(lines);
      lines = "";
    }
  }
  chunks.push(lines);
  writeFileSync(join(args.outDir, `visible-${roles}-${userId}.txt`), chunks.join(""));
  writeFileSync(join(args.outDir, `sample-${roles}-${userId}.jsonl`), sample);
  const rate = docs.length / seconds;
  console.error(
    `casl: ${roles} rules, user ${userId}: ${docs.length} docs in ${seconds.toFixed(3)} s = ${rate.toFixed(0)} docs/s (${visible} visible)`,
  );
  runs.push({ roles, user: userId, docs: docs.length, visible, seconds, docs_per_sec: rate });
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  mkdirSync(args.outDir, { recursive: true });
  const started = Date.now();
  const docs = await load(args.docs);
  console.error(`casl: loaded ${docs.length} documents in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const allNames = allFields(docs);
  const runs = [];
  for (const user of args.users) one(args, docs, args.roles, user, allNames, runs);
  const scaleUser = args.scaleUser ?? args.users[0] ?? "u0";
  for (const roles of args.scaleRoles) one(args, docs, roles, scaleUser, allNames, runs);
  process.stdout.write(JSON.stringify({ engine: "casl", version: "7.0.1", runs }) + "\n");
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
