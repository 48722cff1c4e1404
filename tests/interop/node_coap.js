// Interop driver for node-coap (npm "coap", coapjs): its client sends the
// scenario's requests (scenario.js) and its server is the notification
// target. Both are used as the library documents them: oneM2M options are
// custom options set by number, Block1 is asked for with
// setOption('Block1', size exponent), Block2 and separate responses are the
// library's own.
'use strict'
const coap = require('coap')
const scenario = require('./scenario')

// Standard options the scenario sets, by the names node-coap knows them by.
const NAMES = { 12: 'Content-Format', 15: 'Uri-Query' }
const MAX_PAYLOAD = 1024   // node-coap's maxPayloadSize: larger bodies must go Block1
const BLOCK_SZX_1024 = 6

// node-coap hands options over as [{name, value}], names for the options it
// knows and the number (as a string) for the others.
const NUMBERS = {
  'Location-Path': 8, 'Content-Format': 12, 'Max-Age': 14, 'Uri-Query': 15, 'Block2': 23, 'Block1': 27,
  'Size2': 28, 'Size1': 60
}
function optionMap (list) {
  const out = {}
  for (const o of list || []) {
    const n = NUMBERS[o.name] || Number(o.name)
    if (!n) continue
    let v = o.value
    // node-coap turns Content-Format into a media-type name; only JSON is expected.
    if (n === 12 && typeof v === 'string') v = scenario.uintBytes(v === 'application/json' ? 50 : 0xffff)
    else if (typeof v === 'number') v = scenario.uintBytes(v)
    else if (!Buffer.isBuffer(v)) v = Buffer.from(String(v))
    ;(out[n] = out[n] || []).push(v)
  }
  return out
}

const agent = new coap.Agent({ type: 'udp4' })
let host, port

function request (req) {
  return new Promise((resolve, reject) => {
    const grouped = {}
    for (const [n, v] of req.options) {
      const key = NAMES[n] || String(n)
      ;(grouped[key] = grouped[key] || []).push(v)
    }
    const r = coap.request({
      hostname: host, port, method: req.method, pathname: '/' + req.path, query: req.query, agent, confirmable: !req.non
    })
    for (const [k, vs] of Object.entries(grouped)) r.setOption(k, vs.length === 1 ? vs[0] : vs)
    if (req.body && req.body.length > MAX_PAYLOAD) r.setOption('Block1', Buffer.of(BLOCK_SZX_1024))
    const timer = setTimeout(() => reject(new Error('no response within 20 s')), 20000)
    r.on('response', (res) => {
      clearTimeout(timer)
      resolve({ code: res.code, options: optionMap(res.options), payload: res.payload })
    })
    r.on('error', (e) => { clearTimeout(timer); reject(e) })
    r.on('timeout', (e) => { clearTimeout(timer); reject(e || new Error('timeout')) })
    r.end(req.body)
  })
}

// The notification target: a node-coap server on a loopback port answering
// 2.04 with oneM2M-RSC 2000 (docs/subscriptions.md), after delayMs when set
// (node-coap then sends the empty ACK itself and the answer as a CON).
function startTarget () {
  const target = { received: [], delayMs: 0 }
  let closed = false
  const server = coap.createServer({ type: 'udp4' })
  server.on('request', (req, res) => {
    const opts = optionMap(req.options)
    const record = scenario.targetRecord(req.url.split('?')[0], req.method, opts, req.payload)
    target.received.push(record)
    const answer = () => {
      if (closed) return
      res.code = '2.04'
      res.setOption(String(scenario.OPT.rsc), scenario.uintBytes(2000))
      if (opts[scenario.OPT.rqi]) res.setOption(String(scenario.OPT.rqi), opts[scenario.OPT.rqi][0])
      res.end()
    }
    const delay = scenario.answerDelay(target, record)
    if (delay) setTimeout(answer, delay)
    else answer()
  })
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      target.url = 'coap://127.0.0.1:' + server._sock.address().port + '/notify'
      target.close = () => { closed = true; server.close() }
      resolve(target)
    })
  })
}

scenario.run({
  name: 'node-coap ' + require('coap/package.json').version,
  features: { block1: true, emptyQuery: true },
  init: (input) => { host = input.host; port = input.port },
  request,
  startTarget,
  close: () => agent.close()
})
