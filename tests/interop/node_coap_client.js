// Interop driver for node-coap-client (AlCalzone), a CoAP client written
// independently of node-coap: its own message codec, message layer
// (Message IDs, tokens, retransmission, ACK and separate responses) and
// Block2 reassembly. The library has no server side, so the notification
// target is a UDP socket speaking through the library's own codec
// (Message.parse / serialize).
//
// The library knows a closed list of standard options and offers no way to
// add others: a response carrying an option it does not know (every oneM2M
// response carries RVI 271 and RSC 307) makes Message.parse throw, and
// request() takes no options but Uri-Path, Uri-Query, Content-Format and
// Block2. As libm2m-coapopts.so does for coap-client (docs/coap.md), the
// shim below teaches it the oneM2M option numbers, and nothing else: it
// decodes those numbers as opaque options, adds the request's oneM2M
// options to the message request() builds, and reads back the options of
// the last response. Everything on the wire stays the library's.
'use strict'
const dgram = require('dgram')
const { CoapClient } = require('node-coap-client')
const { Option, BinaryOption } = require('node-coap-client/build/Option')
const { Message, MessageType, MessageCodes } = require('node-coap-client/build/Message')
const scenario = require('./scenario')

// ---- the shim: oneM2M options in and out --------------------------------

// Header of the option at the start of buf (RFC 7252 3.1): its delta and
// length, each possibly extended, and where its value starts.
function optionHeader (buf) {
  let pos = 1
  const ext = (nibble) => {
    if (nibble === 13) return buf[pos++] + 13
    if (nibble === 14) { const v = buf.readUInt16BE(pos) + 269; pos += 2; return v }
    return nibble
  }
  const delta = ext(buf[0] >> 4)
  const length = ext(buf[0] & 15)
  return { delta, length, start: pos }
}

const parseOption = Option.parse
Option.parse = function (buf, prevCode = 0) {
  const h = optionHeader(buf)
  const number = prevCode + h.delta
  if (!scenario.ONEM2M_OPTIONS.includes(number)) return parseOption.call(this, buf, prevCode)
  const value = Buffer.from(buf.subarray(h.start, h.start + h.length))
  return { result: new BinaryOption(number, 'oneM2M-' + number, false, 0, 0xffff, value), readBytes: h.start + h.length }
}

function oneM2MOption (number, value) {
  return new BinaryOption(number, 'oneM2M-' + number, false, 0, 0xffff, value)
}

let requestOptions = null   // the oneM2M options of the request being built
const createMessage = CoapClient.createMessage
CoapClient.createMessage = function (type, code, messageId, token, options, payload) {
  const msg = createMessage.call(this, type, code, messageId, token, options, payload)
  if (requestOptions && code.isRequest()) {
    // The library serialises options in list order: keep them sorted.
    msg.options = msg.options.concat(requestOptions).sort((a, b) => a.code - b.code)
    requestOptions = null
  }
  return msg
}

let lastResponse = null
const parseMessage = Message.parse
Message.parse = function (buf) {
  const m = parseMessage.call(this, buf)
  if (m.code.isResponse()) lastResponse = m
  return m
}

function optionMap (list) {
  const out = {}
  for (const o of list) (out[o.code] = out[o.code] || []).push(o.rawValue)
  return out
}

// ---- the client ----------------------------------------------------------

let base
const STANDARD = new Set([12, 15])   // Content-Format and Uri-Query: request() sets them itself

async function request (req) {
  const url = base + req.path + (req.query ? '?' + req.query : '')
  requestOptions = req.options.filter(([n]) => !STANDARD.has(n)).map(([n, v]) => oneM2MOption(n, v))
  lastResponse = null
  let timer
  const timeout = new Promise((resolve, reject) => { timer = setTimeout(() => reject(new Error('no response within 20 s')), 20000) })
  try {
    // preferredBlockSize: a Block2 option from the start, so that the
    // library's follow-ups for later pieces change it in place.
    const res = await Promise.race([
      CoapClient.request(url, req.method.toLowerCase(), req.body,
        { preferredBlockSize: 1024, confirmable: !req.non, retransmit: !req.non }), timeout])
    return { code: res.code.toString(), options: optionMap(lastResponse ? lastResponse.options : []), payload: res.payload }
  } finally {
    clearTimeout(timer)
  }
}

// ---- the notification target ---------------------------------------------

const CHANGED = MessageCodes.success.changed
const METHODS = { 1: 'GET', 2: 'POST', 3: 'PUT', 4: 'DELETE' }

function startTarget () {
  const target = { received: [], delayMs: 0 }
  const sock = dgram.createSocket('udp4')
  const seen = new Set()
  let mid = Math.floor(Math.random() * 0xffff)
  let closed = false
  const send = (msg, rinfo) => { if (!closed) sock.send(msg.serialize(), rinfo.port, rinfo.address) }
  sock.on('message', (buf, rinfo) => {
    let m
    try { m = Message.parse(buf) } catch (e) { return }
    if (m.type !== MessageType.CON || !m.code.isRequest()) return   // ACKs of our CON answers
    const answerOpts = [oneM2MOption(scenario.OPT.rsc, scenario.uintBytes(2000))]
    const key = rinfo.port + '/' + m.messageId
    if (!seen.has(key)) {
      seen.add(key)
      const opts = optionMap(m.options)
      const path = '/' + (opts[11] || []).map((b) => b.toString()).join('/')
      const record = scenario.targetRecord(path, METHODS[m.code.value] || m.code.toString(), opts, m.payload)
      target.received.push(record)
      if (opts[scenario.OPT.rqi]) answerOpts.push(oneM2MOption(scenario.OPT.rqi, opts[scenario.OPT.rqi][0]))
      const delay = scenario.answerDelay(target, record)
      if (delay) {
        // RFC 7252 5.2.2: empty ACK now, the answer later as a CON.
        send(new Message(1, MessageType.ACK, MessageCodes.empty, m.messageId, Buffer.alloc(0), [], Buffer.alloc(0)), rinfo)
        setTimeout(() => {
          mid = (mid + 1) & 0xffff
          send(new Message(1, MessageType.CON, CHANGED, mid, m.token, answerOpts, Buffer.alloc(0)), rinfo)
        }, delay)
        return
      }
    }
    send(new Message(1, MessageType.ACK, CHANGED, m.messageId, m.token, answerOpts, Buffer.alloc(0)), rinfo)
  })
  return new Promise((resolve) => {
    sock.bind(0, '127.0.0.1', () => {
      target.url = 'coap://127.0.0.1:' + sock.address().port + '/notify'
      target.close = () => { closed = true; sock.close() }
      resolve(target)
    })
  })
}

scenario.run({
  name: 'node-coap-client ' + require('node-coap-client/package.json').version,
  // No Block1 in the library: a body must fit one datagram. No way to send
  // an empty Uri-Query (it builds them from the URL's name=value pairs).
  features: { block1: false, emptyQuery: false },
  init: (input) => { base = 'coap://' + input.host + ':' + input.port + '/' },
  request,
  startTarget,
  close: () => CoapClient.reset()
})
