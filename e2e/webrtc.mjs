// Drive two WebRTC peers in headless Debian Chromium through ternd.
//
// Run by e2e/run.sh inside a network namespace with no route off the machine:
//   node webrtc.mjs '<json config>'
// Config: label, chromium, tmpDir, turnUrl, username, credential, relayIp,
// statsSocket, loopbackOnly, badCredentials ([{what, username, credential}]),
// messages, sampleMs; for turns (TLS):
//   hostMap   {name: ip}: the names Chromium may resolve, each to this address
//             (--host-resolver-rules MAP; every other name still fails)
//   home      HOME for Chromium: its NSS database (.pki/nssdb) holds the
//             trust anchors of the test (default: a fresh, empty tmpDir/home)
//   badTls    [{what, turnUrl, netError}]: a TURN URL whose TLS handshake
//             Chromium must refuse, with the net error it must log
//   refusalsOnly  run only the refusals (badCredentials, badTls), no
//             data or media test
// for drain (two nodes: A is turnUrl/statsSocket/relayIp, B is its alternate):
//   relayPorts  [min, max]: A's relay ports
//   drain     {pid, statsSocket, relayIp, relayPorts, turnAddr}: A's pid (to
//             drain it with SIGUSR1) and B's side; runs drainTest() instead
//             of the data and media tests
//   heldMessages  messages through the pair held on A, before and after the drain
// Prints one "ok N - ..." / "not ok N - ..." line per check and a final
// "RESULT passed=N failed=M" line; exits 1 if any check failed.
import { createServer } from 'node:http';
import { readFileSync, mkdirSync, existsSync } from 'node:fs';
import { connect } from 'node:net';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const cfg = JSON.parse(process.argv[2]);
if (!cfg.tmpDir || !cfg.tmpDir.startsWith('/')) throw new Error('tmpDir must be an absolute path');
// The drain run keeps Chromium's stderr, where its renderer writes WebRTC's
// log (--enable-logging=stderr; the renderer ignores --log-file): playwright
// copies it to DEBUG_FILE under DEBUG=pw:browser, read when it loads.
const webrtcLog = join(cfg.tmpDir, 'chromium.log');
if (cfg.drain) Object.assign(process.env, { DEBUG: 'pw:browser', DEBUG_FILE: webrtcLog });
const { chromium } = await import('playwright-core');
const label = cfg.label;
// The transport Chromium uses to reach ternd comes from the TURN URL
// (RFC 7065): turn:...?transport=udp|tcp, turns: is TLS over TCP. getStats()
// names it in the local relay candidate's relayProtocol (udp, tcp, tls).
const turnUrl = new URL(cfg.turnUrl.replace(/^turns?:/, 'turn://'));
const hostMap = cfg.hostMap || {};
// ternd's address as the sockets see it: a name in the URL is mapped by the
// resolver rules to an address, never looked up (the certificate carries the name)
const turnIp = hostMap[turnUrl.hostname] || turnUrl.hostname;
const turnAddr = `${turnIp}:${turnUrl.port || (cfg.turnUrl.startsWith('turns:') ? 5349 : 3478)}`;
const transport = cfg.turnUrl.startsWith('turns:') ? 'tcp' : (turnUrl.searchParams.get('transport') || 'udp');
const relayProtocol = cfg.turnUrl.startsWith('turns:') ? 'tls' : transport;
const pageCfg = {
  turnUrl: cfg.turnUrl, username: cfg.username, credential: cfg.credential,
  messages: cfg.messages ?? 300, sampleMs: cfg.sampleMs ?? 4000,
  connectMs: 20000, transferMs: 60000,
};

let passed = 0, failed = 0, n = 0;
function check(ok, what, detail) {
  n++;
  if (ok) passed++; else failed++;
  console.log(`${ok ? 'ok' : 'not ok'} ${n} - ${label}: ${what}${detail ? ` (${detail})` : ''}`);
  return ok;
}
function info(s) { console.log(`# ${label}: ${s}`); }

// ternd's per-worker JSON counters, summed over the workers, and whether it
// drains (the drain run has two servers: each its own socket).
function ternStats(socket = cfg.statsSocket) {
  return new Promise((resolve, reject) => {
    const s = connect(socket, () => s.write('json\n'));
    let d = '';
    s.setTimeout(3000, () => { s.destroy(); reject(new Error('stats socket timeout')); });
    s.on('data', c => { d += c; });
    s.on('error', reject);
    s.on('end', () => {
      try {
        const j = JSON.parse(d);
        const sum = {};
        for (const w of j.workers)
          for (const [k, v] of Object.entries(w))
            if (k !== 'worker' && typeof v === 'number') sum[k] = (sum[k] || 0) + v;
        sum.draining = j.draining === true;
        resolve(sum);
      } catch (e) { reject(new Error(`stats socket: ${e.message}: ${d.slice(0, 200)}`)); }
    });
  });
}
const delta = (a, b, k) => (b[k] || 0) - (a[k] || 0);

// A relay address of the server `on` ({ip, ports: [min, max]}; the ports
// are checked when given).
const DEFAULT_ON = { ip: cfg.relayIp };
const onServer = (on, address, port) => address === on.ip && (!on.ports || (port >= on.ports[0] && port <= on.ports[1]));
const fmtOn = on => on.ip + (on.ports ? ` ports ${on.ports[0]}-${on.ports[1]}` : '');

// The selected pair is relay/relay, nominated, carried traffic, and its
// candidates are ternd's relay addresses (so the media went through this
// server, not another path).
function checkPair(pair, side, what, on = DEFAULT_ON) {
  const fmt = p => p ? `${p.local.candidateType} ${p.local.address}:${p.local.port}/${p.local.relayProtocol} <-> ` +
    `${p.remote.candidateType} ${p.remote.address}:${p.remote.port}, ${p.state}${p.nominated ? ', nominated' : ''}, ` +
    `${p.bytesSent} B sent, ${p.bytesReceived} B received` + (on !== DEFAULT_ON ? `, local candidate from ${p.local.url}` : '')
    : 'no selected pair';
  const ok = !!pair && pair.nominated && (pair.state === 'succeeded' || pair.state === 'in-progress') &&
    pair.bytesSent > 0 && pair.bytesReceived > 0 &&
    pair.local.candidateType === 'relay' && pair.remote.candidateType === 'relay' &&
    onServer(on, pair.local.address, pair.local.port) && onServer(on, pair.remote.address, pair.remote.port) &&
    pair.local.relayProtocol === relayProtocol;
  if (pair && pair.state !== 'succeeded') info(`${what}: selected pair on ${side} still ${pair.state} after 2 s of samples`);
  return check(ok, `${what}: selected pair on ${side} is relay/relay via ${fmtOn(on)}, nominated, ` +
    `local relayProtocol ${relayProtocol}`, fmt(pair));
}

// Every candidate from onicecandidate is a relay candidate on ternd. Their
// relayProtocol is not checked here: Chromium 156 gives null on a UDP relay
// candidate (and 'tcp' on a TCP one); getStats() is checked instead.
function onlyRelay(gathered, on = DEFAULT_ON) {
  const all = [...gathered.a, ...gathered.b];
  const bad = all.filter(c => c.type !== 'relay' || !onServer(on, c.address, c.port));
  return { ok: all.length > 0 && bad.length === 0,
    detail: `${all.length} candidates (${all.map(c => `${c.type} ${c.address}:${c.port}`).join(', ')}), ` +
      `${bad.length} not relay via ${fmtOn(on)}` };
}

// Every local candidate in getStats() is a relay candidate on ternd with the
// transport of the TURN URL.
function checkLocals(pair, side, what, on = DEFAULT_ON) {
  const locals = pair ? pair.locals : [];
  const bad = locals.filter(l => l.candidateType !== 'relay' || !onServer(on, l.address, l.port) || l.relayProtocol !== relayProtocol);
  return check(locals.length > 0 && bad.length === 0,
    `${what}: every local candidate in getStats() on ${side} is relay via ${fmtOn(on)}, relayProtocol ${relayProtocol}`,
    `${locals.length} local candidates: ${locals.map(l => `${l.candidateType} ${l.address}:${l.port}/${l.relayProtocol}`).join(', ')}`);
}

// Every allocation of the test was deleted, each once: a gauge that went
// below zero (an allocation deleted twice) reads as a huge number.
function checkReleased(before, gone, what) {
  const created = delta(before, gone, 'allocations_created'), deleted = delta(before, gone, 'allocations_deleted');
  return check((gone.allocations || 0) === 0 && deleted === created,
    `${what}: Chromium released its allocations on close(), ternd deleted each once`,
    `live ${gone.allocations}, allocations_created +${created}, allocations_deleted +${deleted}`);
}

async function waitAllocationsGone(socket = cfg.statsSocket) {
  // Chromium deletes its allocations (Refresh lifetime 0) on close(), and
  // over TCP then closes its connections.
  let s = null;
  for (let i = 0; i < 30; i++) {
    s = await ternStats(socket);
    if ((s.allocations || 0) === 0 && (s.tcp_connections || 0) === 0) break;
    await new Promise(r => setTimeout(r, 200));
  }
  return s;
}

// ternd's side of the transport: over UDP no TCP connection at all; over TCP
// one accepted connection per peer at least, every frame parsed, and every
// connection closed after close(); over TLS (turns:) one finished handshake
// per connection and none failed, over plain TCP no TLS at all.
function checkTernTransport(before, after, gone, what) {
  const accepted = delta(before, after, 'tcp_accepted');
  if (transport === 'udp')
    return check(accepted === 0, `${what}: ternd accepted no TCP connection (the peers used UDP)`, `tcp_accepted +${accepted}`);
  const hs = delta(before, after, 'tls_handshakes'), hsFail = delta(before, after, 'tls_handshake_failures');
  const tlsDetail = `tls_handshakes +${hs}, tls_handshake_failures +${hsFail}, ` +
    `tls_handshake_timeouts +${delta(before, after, 'tls_handshake_timeouts')}, tls_resumed +${delta(before, after, 'tls_resumed')}`;
  if (relayProtocol === 'tls') {
    check(hs >= 2 && hs === accepted && hsFail === 0 && delta(before, after, 'tls_handshake_timeouts') === 0,
      `${what}: ternd finished a TLS handshake on every connection the peers opened, none failed`,
      `tcp_accepted +${accepted}, ${tlsDetail}`);
    check((gone.tls_connections || 0) === 0, `${what}: no TLS connection left in ternd after close()`,
      `tls_connections ${gone.tls_connections}`);
  } else {
    check(hs === 0 && hsFail === 0 && (after.tls_connections || 0) === 0,
      `${what}: ternd saw no TLS (the peers used plain TCP)`, tlsDetail);
  }
  const badFrames = delta(before, after, 'tcp_bad_frames');
  check(accepted >= 2 && badFrames === 0,
    `${what}: ternd accepted the peers' TCP connections and parsed every frame`,
    `tcp_accepted +${accepted} >= 2, tcp_bad_frames +${badFrames}, tcp_output_dropped +${delta(before, after, 'tcp_output_dropped')}`);
  return check((gone.tcp_connections || 0) === 0, `${what}: Chromium closed its TCP connections to ternd on close()`,
    `live ${gone.tcp_connections}, tcp_closed +${delta(before, gone, 'tcp_closed')}`);
}

const ROUTE_PROBES = new Set(['[2001:4860:4860::8888]:443', '8.8.8.8:443', '[2001:4860:4860::8888]:53', '8.8.8.8:53']);

function auditNetLog(file) {
  const text = readFileSync(file, 'utf8');
  let log;
  try { log = JSON.parse(text); } catch { log = JSON.parse(text.replace(/,?\s*$/, '') + ']}'); } // unfinished log
  const names = Object.fromEntries(Object.entries(log.constants.logEventTypes).map(([k, v]) => [v, k]));
  // TCP to the page, and to ternd when the TURN URL says tcp; UDP only to
  // ternd when it says udp. Over TCP Chromium must send no datagram at all.
  const page = `127.0.0.1:${pagePort}`;
  // In the drain run Chromium is sent on to B (ALTERNATE-SERVER), which no
  // URL names.
  const altAddr = cfg.drain ? cfg.drain.turnAddr : null;
  const allowedTcp = new Set(transport === 'tcp' ? [page, turnAddr, ...(altAddr ? [altAddr] : [])] : [page]);
  const allowedUdp = new Set(transport === 'udp' ? [turnAddr, ...(altAddr ? [altAddr] : [])] : []);
  const origin = `http://${page}/`;
  // The names of hostMap (turns:) are looked up, and answered by the rules.
  const lookups = new Set([page, turnAddr, ...(altAddr ? [altAddr] : [])]);
  for (const name of Object.keys(hostMap)) lookups.add(name).add(`${name}:${turnAddr.split(':').pop()}`);
  const bad = new Map(), notes = [], sent = new Map(), probes = new Map(), requests = new Map(), tcp = new Map();
  const flag = what => bad.set(what, (bad.get(what) || 0) + 1);
  // TLS to ternd (turns:): each socket's peer, and how its handshake ended
  const sockPeer = new Map(), tlsEnds = [];
  const END = log.constants.logEventPhase.PHASE_END;
  for (const e of log.events) {
    const t = names[e.type], p = e.params || {};
    if (t === 'TCP_CONNECT_ATTEMPT' && p.address) sockPeer.set(e.source.id, p.address);
    if (t === 'SSL_CONNECT' && e.phase === END)
      tlsEnds.push({ peer: sockPeer.get(e.source.id), error: p.net_error || 0 });
    if (t === 'REQUEST_ALIVE') { // begin has the url, end the result
      const r = requests.get(e.source.id) || {};
      if (p.url) r.url = p.url;
      if ('net_error' in p) r.error = p.net_error;
      if (e.phase === log.constants.logEventPhase.PHASE_END) r.ended = true;
      requests.set(e.source.id, r);
    }
    if ((t === 'TCP_CONNECT_ATTEMPT' || t === 'TCP_CONNECT') && (p.address || p.remote_address)) {
      const a = p.address || p.remote_address;
      if (t === 'TCP_CONNECT_ATTEMPT') tcp.set(a, (tcp.get(a) || 0) + 1);
      if (!allowedTcp.has(a)) flag(`tcp connect ${a}`);
    }
    if (t === 'UDP_BYTES_SENT' && p.address) {
      sent.set(p.address, (sent.get(p.address) || 0) + 1);
      if (!allowedUdp.has(p.address)) flag(`udp datagram to ${p.address}`);
    }
    // Name lookups: only the rules' ~NOTFOUND and the IP literals of the page
    // and ternd (WebRTC's TCP sockets look up even a literal), and never a
    // real resolution (system resolver or Chromium's DNS client).
    if (t === 'HOST_RESOLVER_MANAGER_REQUEST' && p.host) {
      const h = p.host.replace(/^[a-z]+:\/\//, '');
      if (!/^~notfound(:\d+)?$/.test(h) && !lookups.has(h)) flag(`name lookup ${p.host}`);
    }
    if (t === 'HOST_RESOLVER_SYSTEM_TASK' || t === 'HOST_RESOLVER_DNS_TASK' || t === 'DNS_TRANSACTION')
      flag(`real name resolution (${t})`);
    // connect() on a UDP socket sends nothing; Chromium does it to Google's
    // public DNS addresses to learn its default route (IPv6 reachability).
    // Those probes are tolerated when no datagram follows; any other is not.
    if (t === 'UDP_CONNECT' && p.address && !allowedUdp.has(p.address)) {
      if (ROUTE_PROBES.has(p.address)) probes.set(p.address, (probes.get(p.address) || 0) + 1);
      else flag(`udp connect ${p.address}`);
    }
  }
  // A request for anything but the page must have died at name resolution
  // (ERR_NAME_NOT_RESOLVED, -105), before any socket; with the checks above,
  // that resolution was the rules' ~NOTFOUND and no DNS query.
  const stopped = new Map();
  for (const r of requests.values()) {
    if (!r.url || r.url.startsWith(origin)) continue;
    const u = r.url.split('?')[0];
    if (r.ended && r.error === -105) stopped.set(u, (stopped.get(u) || 0) + 1);
    else flag(`request ${u} (${r.ended ? `net_error ${r.error ?? 0}` : 'not ended'})`);
  }
  for (const [u, k] of stopped) notes.push(`${k}x ${u}: stopped by --host-resolver-rules (~NOTFOUND), no DNS query, no socket`);
  for (const [a, k] of probes)
    notes.push(`${k}x UDP connect() to ${a}, no datagram: Chromium's default-route probe (no route here)`);
  notes.push(`TCP connects: ${[...tcp].map(([a, k]) => `${k} to ${a}`).join(', ') || 'none'}`);
  // TLS anywhere but to ternd is a connection the test did not ask for.
  for (const h of tlsEnds) if (h.peer !== turnAddr) flag(`TLS handshake with ${h.peer}`);
  const tls = tlsEnds.filter(h => h.peer === turnAddr);
  if (relayProtocol !== 'tls' && tls.length) flag(`TLS to ${turnAddr} for a turn: URL`);
  notes.push(`datagrams sent: ${[...sent].map(([a, k]) => `${k} to ${a}`).join(', ') || 'none'}`);
  const used = transport === 'udp' ? (sent.get(turnAddr) || 0) : (tcp.get(turnAddr) || 0);
  const ok = bad.size === 0 && used > 0;
  const errorNames = new Map(Object.entries(log.constants.netError || {}).map(([k, v]) => [v, k]));
  return {
    ok, notes, tls, errorNames, sent, tcp,
    detail: bad.size ? [...bad].map(([w, k]) => `${k}x ${w}`).join('; ')
      : !used ? `no ${transport === 'udp' ? 'datagram' : 'TCP connect'} to ${turnAddr}`
      : transport === 'udp' ? `${log.events.length} events: TCP only to the page, UDP datagrams only to ${[...allowedUdp].join(' and ')}`
      : `${log.events.length} events: TCP only to the page and ${[...allowedTcp].slice(1).join(' and ')}, no UDP datagram`,
  };
}

// The drain run (issue 10). Two nodes: A, the TURN URL's (cfg.turnUrl,
// cfg.statsSocket, relay ports cfg.relayPorts), started with itself and B
// as alternate servers, and B (cfg.drain: statsSocket, relayIp, relayPorts,
// turnAddr). A pair held open through A; A drains (SIGUSR1 to cfg.drain.pid);
// a new pair given only A's URL must relay through B, because Chromium
// follows A's 300 Try Alternate; the held pair still carries data through A.
const sleep = ms => new Promise(r => setTimeout(r, ms));
async function drainTest(page) {
  const d = cfg.drain;
  const onA = { ip: cfg.relayIp, ports: cfg.relayPorts }, onB = { ip: d.relayIp, ports: d.relayPorts };
  // A server that is gone (A exits once drained) reads as no counters, which
  // fails the checks that need them, instead of ending the run.
  const stats = socket => ternStats(socket).catch(e => {
    info(`cannot read ${socket}: ${e.code || e.message}`);
    return { unreachable: e.code || e.message };
  });
  const statsA = () => stats(cfg.statsSocket), statsB = () => stats(d.statsSocket);
  const counts = (s, keys) => s.unreachable ? `stats socket ${s.unreachable}` : keys.map(k => `${k} ${s[k] || 0}`).join(', ');
  const a0 = await statsA(), b0 = await statsB();

  // 1. A pair relays through A, and stays open.
  const h = await page.evaluate(c => openHeld(c), { ...pageCfg, messages: cfg.heldMessages ?? 60 });
  if (h.error) info(`held: ${h.error}; errors: ${h.errors.join(' | ')}; log: ${h.log.slice(-6).join(' | ')}`);
  let rel = onlyRelay(h.gathered, onA);
  check(rel.ok, `held pair: every gathered candidate is a relay candidate on A (${fmtOn(onA)})`, rel.detail);
  check(h.ok, `held pair: ${h.count} messages (${h.bytes} bytes) through A arrived intact and in order, and echoed back`,
    `received ${h.received}, echoed ${h.echoed}, connect ${h.connectMs} ms` + (h.mismatches.length ? `; ${h.mismatches.join('; ')}` : ''));
  checkPair(h.pairA, 'a', 'held pair', onA);
  checkPair(h.pairB, 'b', 'held pair', onA);
  const a1 = await statsA();
  check(!a1.draining && delta(a0, a1, 'allocations_created') >= 2 && (a1.allocations || 0) >= 2 &&
    delta(a0, a1, 'allocations_redirected') === 0,
    'A, in its own alternate list, served the held pair itself and redirected nobody',
    `draining ${a1.draining}, allocations_created +${delta(a0, a1, 'allocations_created')}, live ${a1.allocations}, ` +
    `allocations_redirected +${delta(a0, a1, 'allocations_redirected')}`);

  // 2. A drains: SIGUSR1, coturn's signal.
  process.kill(d.pid, 'SIGUSR1');
  let a2 = a1;
  for (let i = 0; i < 50 && !a2.draining && !a2.unreachable; i++) {
    await sleep(100);
    a2 = await statsA();
  }
  check(a2.draining && (a2.allocations || 0) === (a1.allocations || 0),
    `SIGUSR1 to A (pid ${d.pid}): A drains and keeps the held pair's allocations`,
    `draining ${a2.draining}, live allocations ${a1.allocations} -> ${a2.allocations}`);

  // 3. A new pair, configured with A's URL only, ends up on B.
  const r = await page.evaluate(c => runData(c), { ...pageCfg, messages: cfg.messages ?? 100 });
  const a3 = await statsA(), b3 = await statsB();
  if (r.error) info(`redirected: ${r.error}; errors: ${r.errors.join(' | ')}; log: ${r.log.slice(-6).join(' | ')}`);
  if (r.errors.length) info(`redirected: candidate errors: ${r.errors.join(' | ')}`);
  rel = onlyRelay(r.gathered, onB);
  check(rel.ok, `new pair with only ${cfg.turnUrl}: every gathered candidate is a relay candidate on B (${fmtOn(onB)})`, rel.detail);
  check(r.ok, `new pair: ${r.count} messages (${r.bytes} bytes) through B arrived intact and in order, and echoed back`,
    `received ${r.received}, echoed ${r.echoed}, connect ${r.connectMs} ms, transfer ${r.transferMs} ms` +
    (r.mismatches.length ? `; ${r.mismatches.join('; ')}` : ''));
  checkPair(r.pairA, 'a', 'new pair', onB);
  checkPair(r.pairB, 'b', 'new pair', onB);
  checkLocals(r.pairA, 'a', 'new pair', onB);
  checkLocals(r.pairB, 'b', 'new pair', onB);
  const urls = [r.pairA, r.pairB].map(p => p && p.local.url);
  check(urls.every(u => u === cfg.turnUrl), `new pair: getStats() names A's URL as the source of its relay candidates on B`,
    `local candidate url: ${urls.join(', ')}`);
  const redirected = delta(a2, a3, 'allocations_redirected');
  check(redirected >= 2 && delta(a2, a3, 'allocations_created') === 0 && delta(a2, a3, 'auth_failures') === 0,
    'A answered the new pair 300 Try Alternate (one per peer at least), allocated nothing new, challenged no one',
    `allocations_redirected +${redirected}, allocations_created +${delta(a2, a3, 'allocations_created')}, ` +
    `allocations_refused_draining +${delta(a2, a3, 'allocations_refused_draining')}, auth_failures +${delta(a2, a3, 'auth_failures')}`);
  const floor = Math.floor((2 * r.bytes) / 1300);
  check(delta(b0, b3, 'allocations_created') >= 2 && delta(b0, b3, 'relayed_to_peer') >= floor &&
    delta(b0, b3, 'relayed_to_client') >= floor && delta(b0, b3, 'allocations_redirected') === 0,
    `B allocated for the new pair and relayed its data (>= ${floor} datagrams each way)`,
    `allocations_created +${delta(b0, b3, 'allocations_created')}, relayed_to_peer +${delta(b0, b3, 'relayed_to_peer')}, ` +
    `relayed_to_client +${delta(b0, b3, 'relayed_to_client')}`);
  checkReleased(b0, await waitAllocationsGone(d.statsSocket), 'new pair on B');

  // 4. The held pair still relays through the draining A.
  const h2 = await page.evaluate(c => useHeld(c), { ...pageCfg, messages: cfg.heldMessages ?? 60 });
  const a4 = await statsA();
  if (h2.error) info(`held after the drain: ${h2.error}; log: ${h2.log.slice(-6).join(' | ')}`);
  check(h2.ok, `held pair after the drain: ${h2.count} more messages (${h2.bytes} bytes) through A arrived intact and echoed`,
    `received ${h2.received}, echoed ${h2.echoed}, connection ${h2.state}` + (h2.mismatches.length ? `; ${h2.mismatches.join('; ')}` : ''));
  checkPair(h2.pairA, 'a', 'held pair after the drain', onA);
  checkPair(h2.pairB, 'b', 'held pair after the drain', onA);
  const floorH = Math.floor((2 * h2.bytes) / 1300);
  check(delta(a3, a4, 'relayed_to_peer') >= floorH && delta(a3, a4, 'relayed_to_client') >= floorH &&
    delta(a3, a4, 'allocations_created') === 0 && a4.draining,
    `draining A relayed the held pair's data (>= ${floorH} datagrams each way) and allocated nothing`,
    `relayed_to_peer +${delta(a3, a4, 'relayed_to_peer')}, relayed_to_client +${delta(a3, a4, 'relayed_to_client')}, ` +
    `allocations_created +${delta(a3, a4, 'allocations_created')}, draining ${a4.draining}`);
  info(`A: ${counts(a4, ['allocations_created', 'allocations_redirected', 'allocations_refused_draining', 'allocations'])}; ` +
    `B: ${counts(await statsB(), ['allocations_created', 'allocations_deleted', 'allocations'])}`);

  // 5. The held pair closes: Chromium deletes its allocations on A, the last
  // ones, and A exits by itself (run.sh checks its exit status).
  await page.evaluate(() => closeHeld());
}

const html = readFileSync(join(here, 'page.html'));
const server = createServer((req, res) => {
  if (req.url === '/favicon.ico') {
    res.writeHead(204); res.end();
  } else if (req.url === '/' || req.url === '/index.html') {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(html);
  } else {
    res.writeHead(404); res.end();
  }
});
await new Promise(r => server.listen(0, '127.0.0.1', r));
const pagePort = server.address().port;
const pageUrl = `http://127.0.0.1:${pagePort}/`;

// Every flag is listed here (Playwright's defaults are not used) so that what
// Chromium may do on the network is visible in one place.
const userDataDir = join(cfg.tmpDir, 'chromium-profile');
if (existsSync(userDataDir)) throw new Error(`${userDataDir} exists: the profile must be fresh`);
mkdirSync(userDataDir, { recursive: true, mode: 0o700 });
const netLog = join(cfg.tmpDir, 'chromium-netlog.json');
const args = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  `--user-data-dir=${userDataDir}`,
  // Every name resolves to NOTFOUND without a DNS query. The test itself uses
  // IP literals (the page on 127.0.0.1, the TURN server by address), or, for
  // turns:, names under .test that the rules map to ternd's address (hostMap:
  // the first matching rule wins); what Chromium asks for on its own dies
  // here (see the net log audit).
  // The rules map IP literals too, and WebRTC's TCP sockets to a TURN server
  // are resolved through them (its UDP sockets are not): so ternd's address
  // is excluded as well, or TURN over TCP fails with ERR_NAME_NOT_RESOLVED.
  `--host-resolver-rules=${[
    ...Object.entries(hostMap).map(([name, ip]) => `MAP ${name} ${ip}`),
    'MAP * ~NOTFOUND', 'EXCLUDE 127.0.0.1', ...(turnIp === '127.0.0.1' ? [] : [`EXCLUDE ${turnIp}`]),
    // drain: B, where A redirects Chromium, is reached over TCP the same way
    ...(cfg.drain ? [`EXCLUDE ${cfg.drain.relayIp}`] : []),
  ].join(' , ')}`,
  // No mDNS host names for candidates (which would multicast on the LAN), and
  // nothing from the feature lists Playwright would disable for quiet.
  '--disable-features=WebRtcHideLocalIpsWithMdns,OptimizationHints,NetworkTimeServiceQuerying,' +
    'MediaRouter,AimEnabled,PreconnectToSearch,AutofillServerCommunication,InterestFeedContentSuggestions,' +
    'Translate,DialMediaRouteProvider,CertificateTransparencyComponentUpdater',
  // no /ListAccounts request to accounts.google.com at start (as Playwright does)
  '--enable-features=SkipListAccountsWithoutGaiaCookies',
  ...(cfg.loopbackOnly ? ['--allow-loopback-in-peer-connection'] : []),
  '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
  '--disable-field-trial-config', '--disable-breakpad', '--disable-crash-reporter',
  '--disable-default-apps', '--disable-extensions', '--disable-component-extensions-with-background-pages',
  '--disable-domain-reliability', '--disable-client-side-phishing-detection', '--no-pings',
  '--no-default-browser-check', '--metrics-recording-only', '--no-service-autorun',
  '--password-store=basic', '--use-mock-keychain', '--mute-audio', '--disable-dev-shm-usage',
  `--log-net-log=${netLog}`, '--net-log-capture-mode=Default',
  // The drain run keeps WebRTC's own log of its TURN ports (turn_port.cc,
  // at INFO: each allocate answer, the redirect or why it was not followed)
  // in tmpDir/chromium.log.
  ...(cfg.drain ? ['--enable-logging=stderr', '--vmodule=turn_port=1'] : []),
  '--remote-debugging-pipe', '--no-startup-window',
];

// HOME decides the NSS database Chromium trusts (HOME/.pki/nssdb, created
// on start when missing): the test's own, never the user's. XDG_* would move
// its other files out of HOME.
const home = cfg.home || join(cfg.tmpDir, 'home');
mkdirSync(home, { recursive: true, mode: 0o700 });
const env = { ...process.env, HOME: home };
for (const k of Object.keys(env)) if (k.startsWith('XDG_')) delete env[k];

const launchTimeout = 30000;
let browser;
try {
  browser = await chromium.launch({
    executablePath: cfg.chromium, headless: true, ignoreDefaultArgs: true, args, env,
    timeout: launchTimeout, handleSIGINT: false, handleSIGTERM: false, handleSIGHUP: false,
  });
} catch (e) {
  console.log(`# ${label}: chromium did not start: ${e.message.split('\n').slice(0, 6).join(' | ')}`);
  console.log('RESULT passed=0 failed=0 chromium=unavailable');
  server.close();
  process.exit(77);
}
info(`chromium ${browser.version()}`);

try {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.setDefaultTimeout(90000);
  page.on('console', m => { if (m.type() === 'error') info(`console: ${m.text()}`); });
  page.on('pageerror', e => info(`page error: ${e.message}`));
  await page.goto(pageUrl);
  check(await page.evaluate(() => window.isSecureContext), 'page served on 127.0.0.1 is a secure context (getUserMedia allowed)');

  // Host candidates carry IP addresses, not mDNS names (first, before any
  // getUserMedia grant would expose the addresses anyway).
  const hosts = await page.evaluate(c => hostCandidates(c), pageCfg);
  check(hosts.length > 0 && hosts.every(h => !/\.local$/.test(h)),
    'WebRtcHideLocalIpsWithMdns off: host candidates are addresses, no .local names', hosts.join(' ') || 'none');

  // Credentials the server must refuse: each gets no relay candidate.
  for (const bc of cfg.badCredentials || []) {
    const before = await ternStats();
    const bad = await page.evaluate(c => runRefused(c), { ...pageCfg, username: bc.username, credential: bc.credential });
    const after = await ternStats();
    check(bad.complete && bad.candidates.length === 0 && bad.errors.some(e => e.code === 401) &&
      delta(before, after, 'allocations_created') === 0,
      `${bc.what}: refused with 401, no relay candidate, no allocation`,
      `candidates: ${bad.candidates.join(',') || 'none'}; candidate errors: ${bad.errors.map(e => e.code).join(',') || 'none'}` +
      `; ternd auth_failures +${delta(before, after, 'auth_failures')}, allocations_created +${delta(before, after, 'allocations_created')}`);
  }

  // turns: URLs whose certificate Chromium must refuse (a name the
  // certificate does not carry, a CA it does not trust): ICE gets no relay
  // candidate and reports 701 (TURN server unreachable); ternd sees the
  // connection and a handshake that never finishes, and allocates nothing.
  for (const bt of cfg.badTls || []) {
    const before = await ternStats();
    const bad = await page.evaluate(c => runRefused(c), { ...pageCfg, turnUrl: bt.turnUrl });
    let after = await ternStats();
    for (let i = 0; i < 15 && (delta(before, after, 'tls_handshake_failures') < 1 ||
      (after.tls_connections || 0) > (before.tls_connections || 0)); i++) { // ternd reads the close
      await new Promise(r => setTimeout(r, 200));
      after = await ternStats();
    }
    check(bad.complete && bad.candidates.length === 0 && bad.errors.some(e => e.code === 701) &&
      delta(before, after, 'tcp_accepted') >= 1 && delta(before, after, 'tls_handshakes') === 0 &&
      delta(before, after, 'tls_handshake_failures') >= 1 && delta(before, after, 'allocations_created') === 0,
      `${bt.what}: ${bt.turnUrl} refused by Chromium: no relay candidate, ICE error 701, ` +
      'ternd saw the handshake fail and allocated nothing',
      `candidates: ${bad.candidates.join(',') || 'none'}; candidate errors: ` +
      `${bad.errors.map(e => `${e.code} ${e.text}`).join(', ') || 'none'}; ternd tcp_accepted +${delta(before, after, 'tcp_accepted')}, ` +
      `tls_handshakes +${delta(before, after, 'tls_handshakes')}, tls_handshake_failures +${delta(before, after, 'tls_handshake_failures')}, ` +
      `allocations_created +${delta(before, after, 'allocations_created')}`);
  }

  if (cfg.drain) await drainTest(page);

  // (a) data channel
  if (!cfg.refusalsOnly && !cfg.drain) {
    const before = await ternStats();
    const r = await page.evaluate(c => runData(c), pageCfg);
    const after = await ternStats();
    if (r.error) info(`data: ${r.error}; errors: ${r.errors.join(' | ')}; log: ${r.log.slice(-6).join(' | ')}`);
    const rel = onlyRelay(r.gathered);
    check(rel.ok, 'data: every gathered candidate is a relay candidate on ternd', rel.detail);
    check(r.ok, `data: ${r.count} messages (${r.bytes} bytes, 1 B..100 kB, text and binary) arrived intact and in order, and echoed back`,
      `received ${r.received}, echoed ${r.echoed}, connect ${r.connectMs} ms, transfer ${r.transferMs} ms` +
      (r.mismatches.length ? `; ${r.mismatches.join('; ')}` : ''));
    checkPair(r.pairA, 'a', 'data');
    checkPair(r.pairB, 'b', 'data');
    checkLocals(r.pairA, 'a', 'data');
    checkLocals(r.pairB, 'b', 'data');
    const toPeer = delta(before, after, 'relayed_to_peer'), toClient = delta(before, after, 'relayed_to_client');
    // Each way the payload went through the relay twice (message and echo),
    // at most ~1200 bytes of SCTP per datagram.
    const floor = Math.floor((2 * r.bytes) / 1300);
    check(toPeer >= floor && toClient >= floor && delta(before, after, 'allocations_created') >= 2,
      `data: ternd relayed it (relayed_to_peer +${toPeer}, relayed_to_client +${toClient}, >= ${floor} each; ` +
      `allocations_created +${delta(before, after, 'allocations_created')})`);
    const gone = await waitAllocationsGone();
    checkReleased(before, gone, 'data');
    checkTernTransport(before, after, gone, 'data');
  }

  // (b) fake media
  if (!cfg.refusalsOnly && !cfg.drain) {
    const before = await ternStats();
    const r = await page.evaluate(c => runMedia(c), pageCfg);
    const after = await ternStats();
    if (r.error) info(`media: ${r.error}; errors: ${r.errors.join(' | ')}; log: ${r.log.slice(-6).join(' | ')}`);
    const rel = onlyRelay(r.gathered);
    check(rel.ok, 'media: every gathered candidate is a relay candidate on ternd', rel.detail);
    const fmt = k => r.in0 && r.in1 && r.in0[k] && r.in1[k]
      ? `${k} packets ${r.in0[k].packets}->${r.in1[k].packets}, bytes ${r.in0[k].bytes}->${r.in1[k].bytes}` : `${k} missing`;
    check(!!r.audioGrew, `media: inbound-rtp audio counters grow over ${pageCfg.sampleMs} ms`, fmt('audio'));
    check(!!r.videoGrew, `media: inbound-rtp video counters grow over ${pageCfg.sampleMs} ms`,
      fmt('video') + (r.in1 && r.in1.video ? `, framesDecoded ${r.in1.video.framesDecoded}` : ''));
    checkPair(r.pairA, 'a', 'media');
    checkPair(r.pairB, 'b', 'media');
    checkLocals(r.pairA, 'a', 'media');
    checkLocals(r.pairB, 'b', 'media');
    const rtp = r.in1 ? Object.values(r.in1).reduce((s, x) => s + (x.packets || 0), 0) : 0;
    const toPeer = delta(before, after, 'relayed_to_peer'), toClient = delta(before, after, 'relayed_to_client');
    check(rtp > 0 && toPeer >= rtp && toClient >= rtp,
      `media: ternd relayed at least every RTP packet b received (${rtp}): relayed_to_peer +${toPeer}, relayed_to_client +${toClient}`);
    const gone = await waitAllocationsGone();
    checkReleased(before, gone, 'media');
    checkTernTransport(before, after, gone, 'media');
  }
  await context.close();
} catch (e) {
  check(false, `unexpected error: ${e.message.split('\n')[0]}`);
} finally {
  await browser.close().catch(() => {});
  server.close();
}

// The net log, written by Chromium itself, lists every URL request, name
// lookup, TCP connect and UDP datagram of the browser, WebRTC's sockets
// included. Only the page's origin and the TURN server may appear.
try {
  const audit = auditNetLog(netLog);
  check(audit.ok, 'net log: Chromium connected to no one but the page server and ternd', audit.detail);
  for (const line of audit.notes) info(`net log: ${line}`);
  // drain: Chromium's own record of the redirect. No URL names B, yet its
  // TURN sockets sent B datagrams (or connected to it over TCP); its WebRTC
  // log (turn_port.cc) says why.
  if (cfg.drain) {
    const count = transport === 'udp' ? audit.sent : audit.tcp, what = transport === 'udp' ? 'sent datagrams to' : 'connected over TCP to';
    const toA = count.get(turnAddr) || 0, toB = count.get(cfg.drain.turnAddr) || 0;
    check(toA > 0 && toB > 0, `net log: Chromium ${what} A (${turnAddr}, its URL) and B (${cfg.drain.turnAddr}, no URL's)`,
      `${toA} to A, ${toB} to B`);
    // What each TURN port did with an answer to its Allocate, in its own
    // words (addresses are masked there: 198.18.1.x).
    let text = '';
    try { text = readFileSync(webrtcLog, 'utf8'); } catch (e) { info(`no WebRTC log: ${e.message}`); }
    const seen = new Map();
    for (const l of text.split('\n')) {
      const m = /turn_port\.cc:\d+\] Port\[[^\]]*\]+: (.*)$/.exec(l);
      if (!m || !/allocate error response|[Rr]edirect|alternate|ALTERNATE/.test(m[1])) continue;
      const t = m[1].replace(/id=[0-9a-f]+, /, '').replace(/, rtt=\d+ us/, '');
      seen.set(t, (seen.get(t) || 0) + 1);
    }
    for (const [t, k] of seen) info(`chromium's WebRTC log: ${k}x ${t}`);
  }
  // turns: Chromium's own account of its TLS handshakes with ternd: every
  // failure is one a badTls case expects (by its net error), each of those
  // happened, and the relay runs verified ternd's certificate.
  if (relayProtocol === 'tls') {
    const errName = audit.errorNames;
    const okN = audit.tls.filter(h => h.error === 0).length;
    const failed = new Map();
    for (const h of audit.tls) if (h.error) failed.set(h.error, (failed.get(h.error) || 0) + 1);
    const want = new Set((cfg.badTls || []).map(b => errName.get(b.netError) ?? b.netError));
    const got = new Set([...failed.keys()].map(e => errName.get(e) ?? e));
    check((cfg.refusalsOnly ? okN === 0 : okN >= 2) && got.size === want.size && [...want].every(w => got.has(w)),
      cfg.refusalsOnly ? `net log: every TLS handshake with ternd failed, each with ${[...want].join(' or ')}`
        : `net log: Chromium's TLS handshakes with ternd as ${turnUrl.hostname} succeeded` +
          (want.size ? `, it failed only the expected ones (${[...want].join(', ')})` : ''),
      `${okN} TLS handshakes with ${turnAddr} succeeded` +
      (failed.size ? `, failed: ${[...failed].map(([e, k]) => `${k}x ${errName.get(e) ?? e}`).join(', ')}` : ''));
  }
} catch (e) {
  check(false, `net log: cannot read ${netLog}: ${e.message}`);
}

console.log(`RESULT passed=${passed} failed=${failed}`);
process.exit(failed ? 1 : 0);
