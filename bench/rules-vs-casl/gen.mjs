// Generates the benchmark's documents as JSON Lines: deterministic (seeded PRNG), plain JSON
// only, so that Rampart and CASL read exactly the same values.
//
//   node gen.mjs --docs 1000000 --seed 42 --users 1000 --out /tmp/docs.jsonl
//
// Each document has 20 top-level fields: `_id`, `owner` (one of `--users` user ids, `u0`..),
// the public `title`, `status` and `tags` (sometimes missing), strings, int32-sized and
// int64-sized integers, non-integral doubles (JSON has one number type: 5.0 would come back as
// an integer), booleans, a nested document and an array of documents.

import { createWriteStream } from "node:fs";
import { once } from "node:events";

function parseArgs(argv) {
  const args = { docs: 1000000, seed: 42, users: 1000, out: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--docs") args.docs = Number(argv[++i]);
    else if (a === "--seed") args.seed = Number(argv[++i]);
    else if (a === "--users") args.users = Number(argv[++i]);
    else if (a === "--out") args.out = argv[++i];
    else throw new Error(`unknown argument ${a}`);
  }
  if (!Number.isInteger(args.docs) || args.docs < 1) throw new Error("--docs must be a positive integer");
  if (!Number.isInteger(args.users) || args.users < 1) throw new Error("--users must be a positive integer");
  if (!args.out) throw new Error("--out is required");
  return args;
}

// mulberry32: small, fast, deterministic 32-bit PRNG.
function mulberry32(seed) {
  let a = seed >>> 0;
  return function () {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const STATUSES = ["draft", "open", "review", "done", "archived"];
const TAGS = ["red", "green", "blue", "new", "sale", "hot", "cold"];
const REGIONS = ["eu", "us", "apac", "latam"];
const WORDS = ["lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit"];

function makeDoc(i, rnd, users) {
  const int = (lo, hi) => lo + Math.floor(rnd() * (hi - lo + 1)); // inclusive
  const pick = (list) => list[Math.floor(rnd() * list.length)];
  const chance = (p) => rnd() < p;
  const dbl = (lo, hi) => {
    let v = Math.round((lo + rnd() * (hi - lo)) * 100) / 100;
    if (Number.isInteger(v)) v += 0.25;
    return v;
  };
  const doc = {
    _id: i,
    owner: `u${int(0, users - 1)}`,
    title: `item ${i}`,
  };
  // `status` and `tags` are sometimes missing: redaction must not invent them.
  if (!chance(0.1)) doc.status = pick(STATUSES);
  if (!chance(0.1)) doc.tags = Array.from({ length: int(0, 3) }, () => pick(TAGS));
  doc.region = pick(REGIONS);
  doc.priority = int(0, 4);
  doc.score = dbl(0, 100);
  doc.price = int(0, 100000);
  doc.quantity = int(0, 500);
  doc.archived = chance(0.1);
  doc.description = Array.from({ length: int(3, 8) }, () => pick(WORDS)).join(" ");
  doc.category = `cat-${int(0, 19)}`;
  doc.created = 1600000000000 + int(0, 99999999999);
  doc.assignee = `u${int(0, users - 1)}`;
  doc.location = { city: `city-${int(0, 49)}`, zip: String(int(0, 99999)).padStart(5, "0") };
  doc.views = int(0, 999999);
  doc.rating = dbl(0, 5);
  doc.history = Array.from({ length: int(0, 2) }, (_, k) => ({ at: 1700000000000 + k, by: `u${int(0, users - 1)}` }));
  doc.version = int(1, 9);
  return doc;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const rnd = mulberry32(args.seed);
  const out = createWriteStream(args.out);
  let buffer = "";
  for (let i = 0; i < args.docs; i++) {
    buffer += JSON.stringify(makeDoc(i, rnd, args.users)) + "\n";
    if (buffer.length > 1 << 20) {
      if (!out.write(buffer)) await once(out, "drain");
      buffer = "";
    }
  }
  out.write(buffer);
  out.end();
  await once(out, "finish");
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
