// The oneM2M-over-CoAP scenario that every interop driver runs against a
// real m2m-cse, whatever CoAP library it wraps. A driver supplies a client
// (one request at a time) and a notification target (a CoAP server on a
// loopback port); this file issues the same primitives through both and
// prints one JSON object per line on stdout. It asserts nothing: the Python
// test (tests/integration/test_coap_interop_node.py) checks the lines.
//
// Input: one JSON object on stdin: {host, port, name, big, big_path}
//   name      the AE's resource name (its originator is "C" + name)
//   big       the content of the large contentInstance (Block1 and Block2)
//   big_path  a contentInstance holding big, created beforehand over HTTP
'use strict'

// oneM2M CoAP options (TS-0008 Table 6.2.2.4.0-1).
const OPT = { ty: 267, rvi: 271, fr: 279, rqi: 283, rsc: 307 }
const ONEM2M_OPTIONS = [259, 263, 267, 271, 275, 279, 283, 291, 295, 299, 303, 307, 311, 319, 323,
  327, 331, 335, 339, 343, 347, 351]
const CONTENT_FORMAT = 12
const LOCATION_PATH = 8
const URI_QUERY = 15
const JSON_FORMAT = 50

function uintBytes (v) {
  const out = []
  for (; v > 0; v = Math.floor(v / 256)) out.unshift(v & 0xff)
  return Buffer.from(out)
}

function uintOf (buf) {
  let v = 0
  for (const b of buf || []) v = v * 256 + b
  return v
}

// The oneM2M options of a request, as [number, Buffer] pairs in number order.
function m2mOptions ({ fr, rqi, ty }) {
  const out = []
  if (ty !== undefined) out.push([OPT.ty, uintBytes(ty)])
  out.push([OPT.rvi, Buffer.from('3')])
  if (fr !== undefined) out.push([OPT.fr, Buffer.from(fr)])
  if (rqi !== undefined) out.push([OPT.rqi, Buffer.from(rqi)])
  return out
}

function emit (obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

function parseJson (buf) {
  if (!buf || !buf.length) return null
  try { return JSON.parse(buf.toString('utf8')) } catch (e) { return { unparsable: buf.toString('utf8').slice(0, 200) } }
}

// One line per response: the CoAP code, the oneM2M options read back, the
// body. options: {number: [Buffer, ...]} as the driver's library decoded them.
function report (step, res, extra) {
  const opts = res.options || {}
  const one = (n) => (opts[n] || [])[0]
  emit(Object.assign({
    step,
    code: res.code,
    rsc: one(OPT.rsc) !== undefined ? uintOf(one(OPT.rsc)) : null,
    rqi: one(OPT.rqi) !== undefined ? one(OPT.rqi).toString() : null,
    rvi: one(OPT.rvi) !== undefined ? one(OPT.rvi).toString() : null,
    cf: one(CONTENT_FORMAT) !== undefined ? uintOf(one(CONTENT_FORMAT)) : null,
    location: (opts[LOCATION_PATH] || []).map((b) => b.toString()),
    len: res.payload ? res.payload.length : 0,
    body: parseJson(res.payload)
  }, extra || {}))
}

function sleep (ms) { return new Promise((resolve) => setTimeout(resolve, ms)) }

// Waits (bounded) until cond() holds.
async function waitFor (cond, ms) {
  const end = Date.now() + ms
  while (!cond() && Date.now() < end) await sleep(20)
  return cond()
}

// A notification target's record of one request it received, in the form
// the Python test reads (path, method code, oneM2M FR/RQI/RVI, JSON body).
function targetRecord (path, code, options, payload) {
  const one = (n) => (options[n] || [])[0]
  return {
    path,
    code,
    fr: one(OPT.fr) !== undefined ? one(OPT.fr).toString() : null,
    rqi: one(OPT.rqi) !== undefined ? one(OPT.rqi).toString() : null,
    rvi: one(OPT.rvi) !== undefined ? one(OPT.rvi).toString() : null,
    body: parseJson(payload)
  }
}

// How long a target waits before answering this request: delayMs applies
// to verification requests only, so that notifications crossing the slow
// CREATE are answered at once.
function answerDelay (target, record) {
  const sgn = record.body && record.body['m2m:sgn']
  return sgn && sgn.vrq ? target.delayMs : 0
}

async function readInput () {
  const chunks = []
  for await (const c of process.stdin) chunks.push(c)
  return JSON.parse(Buffer.concat(chunks).toString())
}

// lib = {name, init(input), request(req) -> Promise<{code, options, payload}>,
//        startTarget() -> Promise<{url, received, delayMs, close()}>,
//        close(), features: {block1, emptyQuery}}
// req = {method, path, query, options: [[n, Buffer]], body: Buffer|undefined,
//        non: send it NON-confirmable}
function run (lib) {
  steps(lib).catch((e) => {
    emit({ step: 'crash', error: String(e && e.stack ? e.stack : e) })
    process.exit(3)
  })
}

async function steps (lib) {
  const watchdog = setTimeout(() => { emit({ step: 'watchdog', error: 'scenario took over 90 s' }); process.exit(2) }, 90000)
  const input = await readInput()
  lib.init(input)
  const name = input.name
  const origin = 'C' + name
  const ae = 'cse-in/' + name
  const cnt = ae + '/data'
  let rqiSeq = 0
  const call = async (step, method, path, { query, ty, body, fr, extra, non } = {}) => {
    const rqi = name + '-' + (++rqiSeq)
    const options = m2mOptions({ fr: fr || origin, rqi, ty }).concat(extra || [])
    const payload = body === undefined ? undefined : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body))
    if (payload) options.push([CONTENT_FORMAT, uintBytes(JSON_FORMAT)])
    try {
      const res = await lib.request({ method, path, query: query || '', options, body: payload, non: !!non })
      report(step, res, { sent_rqi: rqi })
      return res
    } catch (e) {
      emit({ step, error: String(e && e.message ? e.message : e), sent_rqi: rqi })
      return null
    }
  }
  emit({ step: 'library', library: lib.name, features: lib.features })

  await call('retrieve_cse', 'GET', 'cse-in', { fr: 'CAdmin' })
  await call('create_ae', 'POST', 'cse-in', { ty: 2, body: { 'm2m:ae': { rn: name, api: 'N' + name, rr: true, srv: ['3'] } } })
  await call('create_cnt', 'POST', ae, { ty: 3, body: { 'm2m:cnt': { rn: 'data' } } })
  await call('create_cin_0', 'POST', cnt, { ty: 4, body: { 'm2m:cin': { con: 'v0' } } })
  await call('create_cin_1', 'POST', cnt, { ty: 4, body: { 'm2m:cin': { con: 'v1' } } })
  await call('retrieve_la', 'GET', cnt + '/la')
  await call('retrieve_la_non', 'GET', cnt + '/la', { non: true })
  await call('retrieve_rcn4', 'GET', cnt, { query: 'rcn=4' })
  await call('discover', 'GET', ae, { query: 'fu=1&ty=4' })
  await call('update_cnt', 'PUT', cnt, { body: { 'm2m:cnt': { lbl: ['interop'] } } })

  // Large bodies: the request goes Block1 where the library can, the answer
  // (the created resource, a bit larger) Block2.
  if (lib.features.block1) {
    await call('create_big', 'POST', cnt, { ty: 4, body: { 'm2m:cin': { rn: 'big', con: input.big } } })
    await call('retrieve_big', 'GET', cnt + '/big')
  }
  // A body that fits one datagram whose answer does not: a POST answered
  // in Block2 pieces, fetched with the library's own follow-ups.
  await call('create_mid', 'POST', cnt, { ty: 4, body: { 'm2m:cin': { rn: 'mid', con: input.big.slice(0, 900) } } })
  await call('retrieve_mid', 'GET', cnt + '/mid')
  // Block2 follow-ups must not create again: cni counts what was created.
  await call('count_after_blocks', 'GET', cnt)
  // The test created a large contentInstance over HTTP: Block2 alone.
  await call('retrieve_big_http', 'GET', input.big_path, { fr: 'CAdmin' })

  if (lib.features.emptyQuery) {
    // CoAPthon's habit: an empty Uri-Query on every request without a query.
    const empty = [[URI_QUERY, Buffer.alloc(0)]]
    await call('empty_query_retrieve', 'GET', cnt, { extra: empty })
    await call('empty_query_create', 'POST', cnt, { ty: 4, body: { 'm2m:cin': { rn: 'eq', con: 'eq' } }, extra: empty })
    await call('empty_query_delete', 'DELETE', cnt + '/eq', { extra: empty })
  }

  // Subscriptions whose notification target is served by the same library.
  const target = await lib.startTarget()
  emit({ step: 'target', url: target.url })
  await call('create_sub', 'POST', cnt, { ty: 23, body: { 'm2m:sub': { rn: 'sub', nu: [target.url], enc: { net: [3] } } } })
  await call('create_cin_notified', 'POST', cnt, { ty: 4, body: { 'm2m:cin': { con: 'notified' } } })
  const notified = (r) => r.body && r.body['m2m:sgn'] && r.body['m2m:sgn'].nev
  await waitFor(() => target.received.some(notified), 5000)
  // The target answers the next verification after the CSE's piggy-back
  // bound (coap-piggyback, 500 ms): the CREATE is answered with an empty ACK
  // and then a separate CON response, which the library must match by token.
  target.delayMs = 1200
  await call('create_sub_slow', 'POST', cnt, { ty: 23, body: { 'm2m:sub': { rn: 'slow', nu: [target.url] } } })
  target.delayMs = 0

  await call('delete_sub', 'DELETE', cnt + '/sub')
  await call('delete_ae', 'DELETE', ae)
  await call('retrieve_deleted', 'GET', ae, { fr: 'CAdmin' })
  await sleep(300)   // anything the deletions still send reaches the target
  for (const r of target.received) emit(Object.assign({ step: 'target_request' }, r))
  target.close()
  lib.close()
  clearTimeout(watchdog)
  emit({ step: 'done' })
  process.exit(0)   // sockets a library keeps open must not hold the driver
}

module.exports = { run, OPT, ONEM2M_OPTIONS, targetRecord, answerDelay, uintBytes }
