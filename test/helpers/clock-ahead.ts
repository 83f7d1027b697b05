/**
 * Test-only, loaded into a server child with `node --import <this file's URL>?ms=N`:
 * the process's Date.now() runs N ms ahead, as if it had been started N ms
 * later (e.g. once the leases a killed instance held have run out), so a
 * test need not wait that long. Timers are left alone.
 */
const ahead = Number(new URL(import.meta.url).searchParams.get('ms') ?? 0);
const realNow = Date.now;
Date.now = () => realNow() + ahead;
