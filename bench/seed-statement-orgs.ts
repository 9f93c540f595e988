import { randomUUID } from "node:crypto";
import type { Database } from "../prisma/database.js";

/**
 * Bench fixture for month-end statements: orgs that look like our customers,
 * not copies of one another. Names and event names vary in words, scripts
 * (Latin with accents, Cyrillic, Greek, CJK, emoji) and numbers, so no cache
 * keyed on text or glyphs can look better here than it would in production.
 * Each org has 1-3 admins, 1-6 events with usage on several days of the
 * month, some AI Image Rotation, and one paid invoice. Deterministic: the
 * same seed gives the same orgs, so runs compare.
 */
export async function seedStatementOrgs(db: Database, count: number, month: string): Promise<string[]> {
  const random = seededRandom(20_261_031);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const between = (low: number, high: number) => low + Math.floor(random() * (high - low + 1));
  const tag = randomUUID().slice(0, 8);

  const orgs = Array.from({ length: count }, (_, index) => {
    const [currency, costPerCredit] = pick(prices);
    return { name: orgName(pick, random, index), currency, costPerCredit, timeZone: pick(timeZones), admins: between(1, 3), events: between(1, 6) };
  });
  const { rows } = await db.pool.query<{ id: string }>(
    `INSERT INTO organisation (name, currency, cost_per_credit, time_zone, created_at)
     SELECT name, currency, cost, zone, $5::date - interval '40 days'
     FROM unnest($1::text[], $2::text[], $3::numeric[], $4::text[]) WITH ORDINALITY AS o(name, currency, cost, zone, n)
     ORDER BY n RETURNING id`,
    [orgs.map((o) => o.name), orgs.map((o) => o.currency), orgs.map((o) => o.costPerCredit), orgs.map((o) => o.timeZone), `${month}-01`]);
  const ids = rows.map((row) => row.id);

  const admins = orgs.flatMap((org, index) => Array.from({ length: org.admins }, (_, n) => ({
    orgId: ids[index]!, email: `admin-${n}-${ids[index]}@bench.test`, name: `${pick(firstNames)} ${pick(lastNames)}`,
  })));
  await db.pool.query(
    `INSERT INTO app_user (org_id, email, name, role) SELECT * , 'ADMIN' FROM unnest($1::uuid[], $2::text[], $3::text[])`,
    [admins.map((a) => a.orgId), admins.map((a) => a.email), admins.map((a) => a.name)]);

  const events = orgs.flatMap((org, index) => Array.from({ length: org.events }, () => ({ orgId: ids[index]!, name: eventName(pick, between) })));
  const { rows: eventRows } = await db.pool.query<{ id: number; org_id: string }>(
    `INSERT INTO event (org_id, name) SELECT * FROM unnest($1::uuid[], $2::text[]) RETURNING id, org_id`,
    [events.map((e) => e.orgId), events.map((e) => e.name)]);

  // Usage: each event on 1-8 days of the month, 3-900 credits a time, a fifth of it AI Image Rotation.
  const usage = eventRows.flatMap((event) => Array.from({ length: between(1, 8) }, (_, n) => ({
    orgId: event.org_id, eventId: event.id, key: `bench-usage-${event.id}-${n}`, reference: `run-${event.id}-${n}`,
    kind: random() < 0.2 ? "AI_IMAGE_ROTATION" : "PHOTO_PROCESSING", credits: -between(3, 900),
    at: new Date(Date.parse(`${month}-02T00:00:00Z`) + between(0, 26 * 24 * 60) * 60_000),
  })));
  await db.pool.query(
    `INSERT INTO credit_transaction (org_id, type, credits, balance_after, idempotency_key, request_fingerprint, created_at)
     SELECT id, 'PURCHASE', 20000, 20000, 'bench-purchase', 'f', $2::timestamptz FROM unnest($1::uuid[]) AS id`, [ids, `${month}-02T09:00:00Z`]);
  await db.pool.query(
    `INSERT INTO credit_transaction (org_id, type, usage_type, credits, event_id, balance_after, idempotency_key, request_fingerprint, reference, created_at)
     SELECT org_id, 'USAGE', kind::usage_type, credits, event_id, 0, key, 'f', reference, at
     FROM unnest($1::uuid[], $2::text[], $3::int[], $4::int[], $5::text[], $6::text[], $7::timestamptz[]) AS u(org_id, kind, credits, event_id, key, reference, at)`,
    [usage.map((u) => u.orgId), usage.map((u) => u.kind), usage.map((u) => u.credits), usage.map((u) => u.eventId),
      usage.map((u) => u.key), usage.map((u) => u.reference), usage.map((u) => u.at)]);
  await db.pool.query(
    `WITH payments AS (
       INSERT INTO payment (org_id, user_id, idempotency_key, credits, unit_price, currency, subtotal_minor, tax_rate, tax_minor, total_minor, status, provider_intent_id)
       SELECT DISTINCT ON (u.org_id) u.org_id, u.id, 'bench', 20000, o.cost_per_credit, o.currency,
              round(20000 * o.cost_per_credit * m.scale), 0, 0, round(20000 * o.cost_per_credit * m.scale), 'SUCCEEDED', 'pi_bench_' || u.org_id
       FROM app_user u JOIN organisation o ON o.id = u.org_id
       CROSS JOIN LATERAL (SELECT CASE o.currency WHEN 'JPY' THEN 1 ELSE 100 END AS scale) AS m WHERE u.org_id = ANY ($1::uuid[]) ORDER BY u.org_id, u.email
       RETURNING id, org_id, unit_price, currency, subtotal_minor, provider_intent_id)
     INSERT INTO invoice (number, org_id, payment_id, credits, unit_price, currency, subtotal_minor, tax_rate, tax_minor, total_minor, payment_reference, issued_at)
     SELECT 'BENCH-' || $3 || '-' || row_number() OVER (), org_id, id, 20000, unit_price, currency, subtotal_minor, 0, 0, subtotal_minor,
            provider_intent_id, $2::timestamptz FROM payments`,
    [ids, `${month}-02T09:00:00Z`, tag]);
  return ids;
}

/** mulberry32: small, fast, and the same sequence for the same seed. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

type Pick = <T>(items: readonly T[]) => T;

/** Mostly Latin names with accents; some Cyrillic, Greek and CJK; a few with an emoji. Unique by the number in them. */
function orgName(pick: Pick, random: () => number, index: number): string {
  const roll = random();
  const number = String(1 + ((index * 7_919) % 99_991));
  let name: string;
  if (roll < 0.08) name = `${pick(cyrillicWords)} ${pick(cyrillicWords)} ${number}`;
  else if (roll < 0.12) name = `${pick(greekWords)} ${pick(greekWords)} ${number}`;
  else if (roll < 0.17) name = `${pick(cjkWords)}${pick(cjkWords)} ${number}`;
  else name = `${pick(latinWords)} ${pick(latinWords)} ${pick(studioWords)} ${number}`;
  return random() < 0.04 ? `${name} ${pick(emoji)}` : name;
}

function eventName(pick: Pick, between: (low: number, high: number) => number): string {
  const roll = between(0, 9);
  if (roll < 4) return `${pick(eventKinds)} ${pick(lastNames)} & ${pick(lastNames)}`;
  if (roll < 7) return `${pick(eventKinds)} ${pick(places)} ${between(2019, 2026)}`;
  if (roll < 8) return `${pick(cyrillicWords)} ${pick(cyrillicWords)} ${between(1, 40)}`;
  if (roll < 9) return `${pick(cjkWords)}${pick(cjkEventKinds)} ${between(1, 40)}`;
  return `${pick(places)} ${pick(eventKinds)} #${between(1, 400)}`;
}

const prices: [string, string][] = [["EUR", "0.05"], ["EUR", "0.045"], ["USD", "0.06"], ["GBP", "0.04"], ["JPY", "7"], ["CHF", "0.055"]];
const timeZones = ["Europe/Berlin", "Europe/London", "America/New_York", "America/Los_Angeles", "Asia/Tokyo", "Australia/Sydney", "Europe/Athens", "UTC"];
const latinWords = ["Northlight", "Lumière", "Fjord", "Pixel", "Aurora", "Café", "Brücke", "Blanc", "Søndre", "Zoë", "Kraków", "Łódź", "Şehir", "Bright", "Golden",
  "Hour", "Silver", "Lake", "Montaña", "Niño", "Crème", "Ærø", "Dvořák", "Škoda", "Wave", "Summit", "Cedar", "Harbour", "Vista", "Façade", "Ölberg", "Pine"];
const studioWords = ["Photo", "Studio", "Fotografie", "Photography", "Pictures", "Images", "Atelier", "Collective", "Events", "Média"];
const cyrillicWords = ["Фотостудия", "Север", "Москва", "Свет", "Кадр", "Объектив", "Вспышка", "Киев", "София", "Белград", "Рассвет", "Зеркало"];
const greekWords = ["Φως", "Αθήνα", "Εικόνα", "Θάλασσα", "Ήλιος", "Φωτογραφία", "Ακτή", "Ορίζοντας"];
const cjkWords = ["東京", "写真", "光影", "工作室", "北京", "摄影", "大阪", "上海", "花火", "青空", "映像", "瞬間"];
const cjkEventKinds = ["婚礼", "運動会", "音楽祭", "卒業式", "展示会"];
const emoji = ["📸", "✨", "🎉", "🌅", "🎞️"];
const eventKinds = ["Hochzeit", "Wedding", "Marathon", "Gala", "Conference", "Festival", "Graduation", "Mariage", "Boda", "Regatta", "Triathlon", "Concert"];
const places = ["Berlin", "München", "Zürich", "Göteborg", "Reykjavík", "São Paulo", "Kraków", "Lyon", "Sevilla", "Porto", "Oslo", "Dublin", "Kyoto", "Αθήνα"];
const firstNames = ["Ada", "Bo", "Chloé", "Dmitri", "Elif", "François", "Greta", "Hiro", "Inés", "Jörg", "Kateřina", "Liam", "Maja", "Noé", "Oğuz", "Priya"];
const lastNames = ["Müller", "Šćepanović", "Schmidt", "Nguyễn", "García", "Østergaard", "Kowalski", "O'Brien", "Dubois", "Rossi", "Yılmaz", "Sato", "Novák", "Jensen"];
