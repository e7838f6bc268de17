/**
 * 200 concurrent writers against one real server (issue #9, item 4): each posts unique entries (single octet-stream
 * entries and small NDJSON batches, some with ?wait=published) as fast as it can for 10 s (60 s with
 * TILELOG_LONG=1). Nothing acknowledged may be lost: afterwards the whole tree is audited from tiles and every
 * acknowledged entry's bytes are at its acknowledged index; no index was acknowledged twice; every status is 200 or
 * 503 with Retry-After (pushback), never anything else.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { bytesEqual } from '../../server/core/strict.js';
import { HttpTiles, postEntries, waitForCheckpoint } from '../support/http-tiles.js';
import { cleanupAll, startServer, sleep } from '../support/server-process.js';

after(cleanupAll);

const LONG = process.env['TILELOG_LONG'] === '1';
const WRITERS = 200;
const DURATION_MS = LONG ? 60_000 : 10_000;

test(`${WRITERS} concurrent writers for ${DURATION_MS / 1000} s: nothing acknowledged is lost`, { timeout: DURATION_MS + 60_000 }, async (t) => {
  const s = await startServer({ checkpointInterval: '200ms', batchDelay: '5ms' });
  const acked = new Map<bigint, Uint8Array>();
  const problems: string[] = [];
  const statuses = new Map<string, number>();
  const deadline = Date.now() + DURATION_MS;
  const writer = async (w: number) => {
    for (let n = 0; Date.now() < deadline; n++) {
      const k = n % 5 === 0 ? 1 + (n % 7) : 1;
      const entries = Array.from({ length: k }, (_, i) => Buffer.from(`writer ${w} request ${n} entry ${i} ${'x'.repeat((w * 31 + n) % 200)}`));
      const wait = n % 10 === 3;
      try {
        const r =
          k === 1
            ? await postEntries(s.baseUrl, entries[0] as Buffer, { 'content-type': 'application/octet-stream' }, wait ? '?wait=published' : '', 30_000)
            : await postEntries(s.baseUrl, entries.map((e) => JSON.stringify(e.toString())).join('\n'), { 'content-type': 'application/x-ndjson' }, wait ? '?wait=published' : '', 30_000);
        statuses.set(String(r.status), (statuses.get(String(r.status)) ?? 0) + 1);
        if (r.status === 200) {
          r.entries.forEach((e, i) => {
            const bytes = k === 1 ? (entries[0] as Buffer) : Buffer.from(JSON.stringify((entries[i] as Buffer).toString()));
            if (e.duplicate) problems.push(`writer ${w}: fresh entry reported as duplicate`);
            if (acked.has(e.index)) problems.push(`index ${e.index} acknowledged twice`);
            acked.set(e.index, bytes);
          });
        } else if (r.status !== 503 || r.headers.get('retry-after') === null) {
          problems.push(`writer ${w}: status ${r.status}: ${r.text.slice(0, 200)}`);
        } else {
          await sleep(50);
        }
      } catch (err) {
        problems.push(`writer ${w}: ${(err as Error).message}`);
        await sleep(50);
      }
      if (problems.length > 20) return;
    }
  };
  await Promise.all(Array.from({ length: WRITERS }, (_, w) => writer(w)));
  assert.deepEqual(problems, []);
  let max = -1n;
  for (const i of acked.keys()) if (i > max) max = i;
  t.diagnostic(`${acked.size} entries acknowledged; statuses ${JSON.stringify([...statuses])}`);
  assert.ok(acked.size > WRITERS, 'every writer got through');

  const cp = await waitForCheckpoint(s.baseUrl, s.vkey, max + 1n, 20_000);
  const { entries } = await new HttpTiles(s.baseUrl).audit(cp, { entries: true });
  let missing = 0;
  for (const [i, e] of acked) if (!bytesEqual(entries[Number(i)] ?? new Uint8Array(), e)) missing++;
  assert.equal(missing, 0, `${missing} acknowledged entries are not at their index`);
  assert.equal(BigInt(acked.size), cp.treeSize, 'every entry in the tree was acknowledged to exactly one writer');
  await s.stop();
  assert.deepEqual(s.errorRecords(), []);
});
