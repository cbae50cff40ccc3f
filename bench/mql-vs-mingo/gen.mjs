// Generates the benchmark's documents as JSON Lines: deterministic (seeded PRNG), plain JSON
// only (no dates, no ObjectIds), so that Rampart and mingo read exactly the same values.
//
//   node gen.mjs --docs 100000 --seed 42 --out /tmp/docs.jsonl
//
// Each document has ~21 top-level fields: strings, int32 and double numbers, one int64-sized
// number, booleans, nulls, nested documents (two and three levels), arrays of scalars, arrays of
// documents, a field of mixed type, and fields that are sometimes missing.
//
// Doubles are generated non-integral on purpose where a field is meant to hold doubles: JSON
// has one number type, and a whole number such as 5.0 is written "5" and read back by Rampart as
// an int32. A few fields mix integers and non-integral numbers deliberately (`score`).

import { createWriteStream } from "node:fs";
import { once } from "node:events";

function parseArgs(argv) {
  const args = { docs: 100000, seed: 42, out: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--docs") args.docs = Number(argv[++i]);
    else if (a === "--seed") args.seed = Number(argv[++i]);
    else if (a === "--out") args.out = argv[++i];
    else throw new Error(`unknown argument ${a}`);
  }
  if (!Number.isInteger(args.docs) || args.docs < 1) throw new Error("--docs must be a positive integer");
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

const CITIES = ["Paris", "Berlin", "Lyon", "Madrid", "Rome", "Oslo", "Lisbon", "Vienna", "Prague", "Dublin"];
const STATUSES = ["active", "inactive", "pending", "banned"];
const TAGS = ["red", "blue", "green", "yellow", "black", "white", "new", "sale"];
const THEMES = ["dark", "light", "solarized"];
const BADGES = ["gold", "silver", "bronze", "helper", "veteran"];
const ORDER_STATUSES = ["pending", "shipped", "delivered", "cancelled"];
const SOURCES = ["api", "web", "import"];
const FIRST = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy"];

function makeDoc(i, rnd) {
  const int = (lo, hi) => lo + Math.floor(rnd() * (hi - lo + 1)); // inclusive
  const pick = (list) => list[Math.floor(rnd() * list.length)];
  const chance = (p) => rnd() < p;
  // A non-integral double with two decimals in [lo, hi).
  const dbl = (lo, hi) => {
    let v = Math.round((lo + rnd() * (hi - lo)) * 100) / 100;
    if (Number.isInteger(v)) v += 0.25;
    return v;
  };

  const doc = { _id: i };
  const first = pick(FIRST);
  doc.name = `user_${i}`;
  doc.email = `${chance(0.2) ? first.toUpperCase() : first}.${i}@${pick(["example.com", "mail.org", "corp.net"])}`;
  if (chance(0.9)) doc.city = pick(CITIES);
  // status: string, sometimes null, sometimes missing
  const s = rnd();
  if (s < 0.85) doc.status = pick(STATUSES);
  else if (s < 0.93) doc.status = null;
  doc.age = int(16, 90);
  // score: mostly non-integral doubles, some integers (mixed numeric types)
  doc.score = chance(0.8) ? dbl(0, 100) : int(0, 100);
  // balance: int64-sized integers (beyond int32) and small ones
  doc.balance = chance(0.5) ? int(0, 9_000_000_000) : int(-1000, 100000);
  doc.active = chance(0.6);
  if (chance(0.7)) doc.verified = chance(0.5);
  // nickname: string, explicit null or missing
  const n = rnd();
  if (n < 0.4) doc.nickname = `${first}${int(1, 99)}`;
  else if (n < 0.7) doc.nickname = null;
  // tags: array of distinct strings, 0..5 items
  const tagCount = int(0, 5);
  const tags = [];
  while (tags.length < tagCount) {
    const t = pick(TAGS);
    if (!tags.includes(t)) tags.push(t);
  }
  doc.tags = tags;
  // scores: array of ints, 0..6 items (duplicates allowed)
  doc.scores = Array.from({ length: int(0, 6) }, () => int(0, 100));
  // address: nested 3 levels deep (address.geo.lat), sometimes missing; zip int or string
  if (chance(0.85)) {
    doc.address = {
      street: `${int(1, 300)} ${pick(["Main", "High", "Park", "Oak"])} St`,
      city: pick(CITIES),
      zip: chance(0.7) ? int(10000, 99999) : `Z-${int(1000, 9999)}`,
      geo: { lat: dbl(-90, 90), lng: dbl(-180, 180) },
    };
  }
  // profile: nested documents, an array inside
  doc.profile = {
    level: int(1, 10),
    badges: Array.from({ length: int(0, 3) }, () => pick(BADGES)),
    prefs: { theme: pick(THEMES), notifications: chance(0.5) },
  };
  if (chance(0.2)) delete doc.profile.prefs.theme;
  // orders: array of documents, 0..4 items
  doc.orders = Array.from({ length: int(0, 4) }, (_, k) => ({
    sku: `SKU-${int(1, 20)}`,
    qty: int(1, 6),
    price: dbl(1, 120),
    status: pick(ORDER_STATUSES),
    line: k,
  }));
  doc.created = int(1_500_000_000, 1_750_000_000);
  doc.ratio = dbl(0, 1);
  // level: mixed type (int or string)
  doc.level = chance(0.75) ? int(0, 10) : `L${int(0, 10)}`;
  if (chance(0.5)) doc.notes = pick(["", "call back", "vip", "Needs review", "n/a"]);
  doc.counter = int(0, 1000);
  doc.meta = chance(0.3) ? { source: "api", version: 2 } : { source: pick(SOURCES), version: int(1, 3) };
  return doc;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const rnd = mulberry32(args.seed);
  const out = createWriteStream(args.out);
  let buffer = "";
  for (let i = 0; i < args.docs; i++) {
    buffer += JSON.stringify(makeDoc(i, rnd)) + "\n";
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
