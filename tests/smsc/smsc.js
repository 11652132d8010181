#!/usr/bin/env node
// An independent SMPP 3.4 SMSC for govsms's tests, built on node-smpp (npm "smpp").
//
// It is deliberately not Python and not smpplib: the transport under test and this server share
// no code, so the tests check what really went over the wire.
//
//   node smsc.js --port=0 --log=/tmp/submits.jsonl [--option=value ...]
//
// Every option can also be given as an environment variable SMSC_<OPTION> (upper case);
// the command line wins. Options:
//
//   host              127.0.0.1
//   port              0 (any free port); the chosen port is printed as "LISTENING <port>"
//   system_id         govsms          bind_* with another system_id or password gets ESME_RBINDFAIL
//   password          secret
//   log               path of the JSONL file: one line per received submit_sm (appended, written
//                     synchronously before the response goes out, so a kill never loses a line
//                     whose response was sent)
//   receipts          1               0: never send delivery receipts
//   receipt_delay_ms  20              receipt deliver_sm this long after the submit_sm_resp
//   receipt_stat      DELIVRD         stat: of every receipt ...
//   receipt_stats     ""              ... except per destination: "46700000001=UNDELIV,46700000002=EXPIRED"
//   throttle_every    0               N > 0: every Nth submit_sm is answered with throttle_status
//   rate_limit        0               R > 0: token bucket of R submit_sm/s (burst R); over it: throttle_status
//   throttle_status   0x58            ESME_RTHROTTLED (0x14 = ESME_RMSGQFUL)
//   reject_dests      ""              "46700000009,..." answered with ESME_RINVDSTADR (0x0b)
//   resp_delay_ms     0               delay of every submit_sm_resp
//   id_prefix         random          prefix of the message ids (hex); ids are prefix + counter
//   mo_log            ""              path of the JSONL file of originated deliver_sm (see below)
//   retry_ms          200             a deliver_sm answered with an error is sent again this much later
//   window            0               N > 0: at most N deliver_sm unanswered per session
//
// Deliveries: every deliver_sm (receipts and mobile originated SMS) waits until a receiver or
// transceiver of its system_id is bound, and is kept until it is answered ESME_ROK: one answered
// with an error is sent again after retry_ms, and one unanswered when its session closes is sent
// again on the next bind (at least once; the ESME makes it exactly once).
//
// Mobile originated SMS, on command: one JSON object per line on stdin.
//   {"cmd": "deliver", "messages": [{"source": "46701234567", "destination": "72323",
//      "text": "...", "coding": "gsm7|ucs2|latin1", "split": "udh8|udh16|sar", "parts": 3,
//      "ref": 42, "order": [2, 0, 1], "payload": false, "source_ton": 1, "vendor_tlv": false}, ...]}
//     Each message is encoded (GSM 03.38 unpacked septets data_coding 0, UTF-16-BE 8, Latin-1 3),
//     split into "parts" parts (UDH IE 0x00 8-bit or 0x08 16-bit reference with esm_class 0x40,
//     or the SAR TLVs), sent in "order" (indexes of the parts), in message_payload instead of
//     short_message when "payload". Every part carries its id in receipted_message_id (and, with
//     "vendor_tlv", in the vendor TLV 0x1401 too). "esm_type" (e.g. 0x08, 0x10, 0x20) is OR-ed
//     into esm_class: an SME acknowledgement or intermediate notification instead of an SMS.
//   {"cmd": "bulk", "count": 5000, "source_start": 46700000000, "destination": "72323",
//      "text": "Svar"}: count single GSM-7 SMS from source_start + i with the text "Svar <i>".
// mo_log lines: {"event": "queued", "id", "message", "part"} per part when commanded, then
// {"event": "answered", "id", "kind": "mo|receipt", "status", "attempt"} per deliver_sm_resp.
//
// Signals: SIGTERM/SIGINT exit at once (the test restarts the SMSC by starting a new process on
// the same port); SIGUSR2 drops every connection but keeps listening.
//
// Each log line: {"message_id", "sequence_number", "command_status", "system_id",
// "source_addr", "source_addr_ton", "source_addr_npi", "destination_addr", "dest_addr_ton",
// "dest_addr_npi", "data_coding", "esm_class", "registered_delivery", "short_message" (hex),
// "received_at"}; message_id is null when the submit_sm was refused (command_status != 0).
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const smpp = require('smpp');

// A vendor TLV, as real SMSCs add to mobile originated SMS (the ESME must skip what it does not know).
smpp.addTLV('vendor_message_ref', { id: 0x1401, type: smpp.types.tlv.cstring });

// Keep short_message as the raw octets that arrived: node-smpp would otherwise decode it to a
// string by data_coding (lossy for GSM 03.38 and for anything with a UDH).
smpp.filters.message.decode = function (value) {
  return value;
};

function options() {
  const defaults = {
    host: '127.0.0.1',
    port: '0',
    system_id: 'govsms',
    password: 'secret',
    log: '',
    receipts: '1',
    receipt_delay_ms: '20',
    receipt_stat: 'DELIVRD',
    receipt_stats: '',
    throttle_every: '0',
    rate_limit: '0',
    throttle_status: '0x58',
    reject_dests: '',
    resp_delay_ms: '0',
    id_prefix: crypto.randomBytes(3).toString('hex'),
    mo_log: '',
    retry_ms: '200',
    window: '0',
  };
  const result = {};
  for (const key of Object.keys(defaults)) {
    const env = process.env['SMSC_' + key.toUpperCase()];
    result[key] = env !== undefined ? env : defaults[key];
  }
  for (const arg of process.argv.slice(2)) {
    const match = /^--([a-z_]+)=(.*)$/s.exec(arg);
    if (!match || !(match[1] in defaults)) {
      console.error('unknown argument: ' + arg);
      process.exit(2);
    }
    result[match[1]] = match[2];
  }
  const pairs = (text) =>
    Object.fromEntries(
      text
        .split(',')
        .filter(Boolean)
        .map((item) => item.split('=')),
    );
  return {
    host: result.host,
    port: parseInt(result.port, 10),
    systemId: result.system_id,
    password: result.password,
    log: result.log,
    receipts: result.receipts !== '0' && result.receipts !== 'false',
    receiptDelayMs: parseInt(result.receipt_delay_ms, 10),
    receiptStat: result.receipt_stat,
    receiptStats: pairs(result.receipt_stats),
    throttleEvery: parseInt(result.throttle_every, 10),
    rateLimit: parseFloat(result.rate_limit),
    throttleStatus: parseInt(result.throttle_status, 16),
    rejectDests: new Set(result.reject_dests.split(',').filter(Boolean)),
    respDelayMs: parseInt(result.resp_delay_ms, 10),
    idPrefix: result.id_prefix,
    moLog: result.mo_log,
    retryMs: parseInt(result.retry_ms, 10),
    window: parseInt(result.window, 10),
  };
}

const config = options();
const logFd = config.log ? fs.openSync(config.log, 'a') : null;
const moLogFd = config.moLog ? fs.openSync(config.moLog, 'a') : null;

const MESSAGE_STATE = {
  DELIVRD: 2,
  EXPIRED: 3,
  DELETED: 4,
  UNDELIV: 5,
  ACCEPTD: 6,
  UNKNOWN: 7,
  REJECTD: 8,
};

let submitCount = 0;
let idCounter = 0;
let tokens = config.rateLimit;
let tokensAt = Date.now();
const waiting = []; // deliver_sm waiting for a bound receiver (and room in its window)
let moCounter = 0;
let flushScheduled = false;
const sessions = new Set();

function nextMessageId() {
  idCounter += 1;
  return config.idPrefix + idCounter.toString(16).padStart(8, '0');
}

function smscDate(date) {
  const pad = (n) => String(n).padStart(2, '0');
  return (
    pad(date.getUTCFullYear() % 100) +
    pad(date.getUTCMonth() + 1) +
    pad(date.getUTCDate()) +
    pad(date.getUTCHours()) +
    pad(date.getUTCMinutes())
  );
}

function throttled() {
  if (config.throttleEvery > 0 && submitCount % config.throttleEvery === 0) {
    return true;
  }
  if (config.rateLimit > 0) {
    const now = Date.now();
    tokens = Math.min(config.rateLimit, tokens + ((now - tokensAt) / 1000) * config.rateLimit);
    tokensAt = now;
    if (tokens < 1) {
      return true;
    }
    tokens -= 1;
  }
  return false;
}

function writeLog(entry) {
  if (logFd !== null) {
    fs.writeSync(logFd, JSON.stringify(entry) + '\n');
  }
}

function receiptText(messageId, submittedAt, stat, shortMessage, esmClass) {
  // "text:" carries the first 20 characters of the message, as SMSCs do; shown as printable
  // ASCII only (the body may be GSM 03.38 or UCS-2).
  let body = shortMessage;
  if (esmClass & 0x40 && body.length > 0) {
    body = body.slice(body[0] + 1);
  }
  const text = Array.from(body.slice(0, 20))
    .map((byte) => (byte >= 0x20 && byte < 0x7f ? String.fromCharCode(byte) : '.'))
    .join('');
  const err = stat === 'DELIVRD' ? '000' : '001';
  return (
    'id:' + messageId + ' sub:001 dlvr:' + (stat === 'DELIVRD' ? '001' : '000') +
    ' submit date:' + smscDate(submittedAt) + ' done date:' + smscDate(new Date()) +
    ' stat:' + stat + ' err:' + err + ' text:' + text
  );
}

function writeMoLog(entry) {
  if (moLogFd !== null) {
    fs.writeSync(moLogFd, JSON.stringify(entry) + '\n');
  }
}

// A delivery: {key, kind: 'mo'|'receipt', systemId, fields, attempts}
function enqueue(delivery, front) {
  if (front) {
    waiting.unshift(delivery);
  } else {
    waiting.push(delivery);
  }
  if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(flush);
  }
}

function flush() {
  flushScheduled = false;
  while (waiting.length > 0) {
    const delivery = waiting[0];
    const target = Array.from(sessions).find(
      (s) => s.boundAs === delivery.systemId && s.receives && !s.closed &&
        (config.window <= 0 || s.unanswered.size < config.window),
    );
    if (!target) {
      return; // kept until a receiver or transceiver of that system_id binds, or answers
    }
    waiting.shift();
    delivery.attempts += 1;
    target.unanswered.set(delivery.key, delivery);
    const sent = target.deliver_sm(Object.assign({}, delivery.fields), (response) => {
      if (!target.unanswered.delete(delivery.key)) {
        return; // its session closed first: already waiting again
      }
      const status = response.command_status;
      writeMoLog({ event: 'answered', id: delivery.key, kind: delivery.kind, status, attempt: delivery.attempts });
      if (status !== 0) {
        setTimeout(() => enqueue(delivery, false), config.retryMs);
      }
      flush();
    });
    if (!sent) {
      target.unanswered.delete(delivery.key);
      waiting.unshift(delivery);
      return;
    }
  }
}

function encodeText(text, coding) {
  if (coding === 'ucs2') {
    return { dataCoding: 0x08, bytes: smpp.encodings.UCS2.encode(text), unit: 2 };
  }
  if (coding === 'latin1') {
    return { dataCoding: 0x03, bytes: smpp.encodings.LATIN1.encode(text), unit: 1 };
  }
  return { dataCoding: 0x00, bytes: smpp.encodings.ASCII.encode(text), unit: 1 };
}

function splitBytes(bytes, count, unit, gsm) {
  const chunks = [];
  let start = 0;
  for (let i = 0; i < count; i += 1) {
    let end = i === count - 1 ? bytes.length : Math.round(((i + 1) * bytes.length) / count / unit) * unit;
    if (gsm && end > start && end < bytes.length && bytes[end - 1] === 0x1b) {
      end += 1; // never split an escape from its character
    }
    chunks.push(bytes.slice(start, end));
    start = end;
  }
  return chunks;
}

function originate(message, index) {
  const encoded = encodeText(message.text, message.coding || 'gsm7');
  const count = message.parts || 1;
  const chunks = splitBytes(encoded.bytes, count, encoded.unit, encoded.dataCoding === 0);
  const ref = message.ref !== undefined ? message.ref : crypto.randomInt(1, message.split === 'udh16' ? 65535 : 255);
  const order = message.order || chunks.map((_, i) => i);
  for (const i of order) {
    moCounter += 1;
    const key = config.idPrefix + 'm' + moCounter.toString(16).padStart(8, '0');
    let body = chunks[i];
    let esmClass = 0x00;
    const fields = {
      source_addr_ton: message.source_ton !== undefined ? message.source_ton : 1,
      source_addr_npi: 1,
      source_addr: message.source,
      dest_addr_ton: 0,
      dest_addr_npi: 1,
      destination_addr: message.destination,
      data_coding: encoded.dataCoding,
      receipted_message_id: key,
    };
    if (count > 1 && message.split === 'udh8') {
      body = Buffer.concat([Buffer.from([0x05, 0x00, 0x03, ref & 0xff, count, i + 1]), body]);
      esmClass = 0x40;
    } else if (count > 1 && message.split === 'udh16') {
      body = Buffer.concat([Buffer.from([0x06, 0x08, 0x04, (ref >> 8) & 0xff, ref & 0xff, count, i + 1]), body]);
      esmClass = 0x40;
    } else if (count > 1 && message.split === 'sar') {
      fields.sar_msg_ref_num = ref & 0xffff;
      fields.sar_total_segments = count;
      fields.sar_segment_seqnum = i + 1;
    }
    fields.esm_class = esmClass | (message.esm_type || 0);
    if (message.vendor_tlv) {
      fields.vendor_message_ref = key;
    }
    if (message.payload) {
      fields.short_message = Buffer.alloc(0);
      fields.message_payload = body;
    } else {
      fields.short_message = body;
    }
    writeMoLog({ event: 'queued', id: key, message: index, part: i });
    enqueue({ key, kind: 'mo', systemId: config.systemId, fields, attempts: 0 }, false);
  }
}

function onCommand(line) {
  if (!line.trim()) {
    return;
  }
  let command;
  try {
    command = JSON.parse(line);
  } catch (error) {
    console.error('smsc: bad command: ' + error.message);
    return;
  }
  if (command.cmd === 'deliver') {
    command.messages.forEach((message, index) => originate(message, index));
  } else if (command.cmd === 'bulk') {
    for (let i = 0; i < command.count; i += 1) {
      originate(
        { source: String(command.source_start + i), destination: command.destination, text: command.text + ' ' + i },
        i,
      );
    }
  } else {
    console.error('smsc: unknown command ' + command.cmd);
  }
}

function receiptDelivery(receipt) {
  const stat = receipt.stat;
  return {
    key: 'r' + receipt.messageId,
    kind: 'receipt',
    systemId: receipt.systemId,
    attempts: 0,
    fields: {
      source_addr_ton: receipt.destTon,
      source_addr_npi: receipt.destNpi,
      source_addr: receipt.destinationAddr,
      dest_addr_ton: receipt.sourceTon,
      dest_addr_npi: receipt.sourceNpi,
      destination_addr: receipt.sourceAddr,
      esm_class: 0x04,
      data_coding: 0,
      short_message: Buffer.from(
        receiptText(receipt.messageId, receipt.submittedAt, stat, receipt.shortMessage, receipt.esmClass),
        'ascii',
      ),
      receipted_message_id: receipt.messageId,
      message_state: MESSAGE_STATE[stat] || MESSAGE_STATE.UNKNOWN,
    },
  };
}

function onSubmit(session, pdu) {
  submitCount += 1;
  const shortMessage = Buffer.isBuffer(pdu.short_message) ? pdu.short_message : Buffer.alloc(0);
  let status = 0;
  if (config.rejectDests.has(pdu.destination_addr)) {
    status = 0x0b; // ESME_RINVDSTADR
  } else if (throttled()) {
    status = config.throttleStatus;
  }
  const messageId = status === 0 ? nextMessageId() : null;
  writeLog({
    message_id: messageId,
    sequence_number: pdu.sequence_number,
    command_status: status,
    system_id: session.boundAs,
    source_addr: pdu.source_addr,
    source_addr_ton: pdu.source_addr_ton,
    source_addr_npi: pdu.source_addr_npi,
    destination_addr: pdu.destination_addr,
    dest_addr_ton: pdu.dest_addr_ton,
    dest_addr_npi: pdu.dest_addr_npi,
    data_coding: pdu.data_coding,
    esm_class: pdu.esm_class,
    registered_delivery: pdu.registered_delivery,
    short_message: shortMessage.toString('hex'),
    received_at: new Date().toISOString(),
  });
  const respond = () => {
    if (status !== 0) {
      session.send(pdu.response({ command_status: status }));
      return;
    }
    session.send(pdu.response({ message_id: messageId }));
    if (config.receipts && pdu.registered_delivery & 0x01) {
      const stat = config.receiptStats[pdu.destination_addr] || config.receiptStat;
      const receipt = {
        systemId: session.boundAs,
        messageId,
        stat,
        submittedAt: new Date(),
        sourceAddr: pdu.source_addr,
        sourceTon: pdu.source_addr_ton,
        sourceNpi: pdu.source_addr_npi,
        destinationAddr: pdu.destination_addr,
        destTon: pdu.dest_addr_ton,
        destNpi: pdu.dest_addr_npi,
        shortMessage,
        esmClass: pdu.esm_class,
      };
      setTimeout(() => enqueue(receiptDelivery(receipt), false), config.receiptDelayMs);
    }
  };
  if (config.respDelayMs > 0) {
    setTimeout(respond, config.respDelayMs);
  } else {
    respond();
  }
}

function onSession(session) {
  sessions.add(session);
  session.boundAs = null;
  session.receives = false;
  session.closed = false;
  session.unanswered = new Map();
  const cleanup = () => {
    if (session.closed) {
      return;
    }
    session.closed = true;
    sessions.delete(session);
    // What it left unanswered is sent again, first, on the next bind.
    const again = Array.from(session.unanswered.values());
    session.unanswered.clear();
    for (let i = again.length - 1; i >= 0; i -= 1) {
      enqueue(again[i], true);
    }
  };
  session.on('close', cleanup);
  session.on('error', cleanup);

  const bind = (receives) => (pdu) => {
    if (session.boundAs !== null) {
      session.send(pdu.response({ command_status: smpp.ESME_RALYBND }));
      return;
    }
    if (pdu.system_id !== config.systemId || pdu.password !== config.password) {
      session.send(pdu.response({ command_status: smpp.ESME_RBINDFAIL }), () => session.close());
      return;
    }
    session.boundAs = pdu.system_id;
    session.receives = receives;
    session.send(pdu.response({ system_id: 'govsms-test-smsc' }));
    setImmediate(flush);
  };
  session.on('bind_transceiver', bind(true));
  session.on('bind_receiver', bind(true));
  session.on('bind_transmitter', bind(false));

  session.on('pdu', (pdu) => {
    if (pdu.isResponse() || pdu.command.startsWith('bind_')) {
      return;
    }
    if (pdu.command === 'enquire_link') {
      session.send(pdu.response());
      return;
    }
    if (pdu.command === 'unbind') {
      session.send(pdu.response(), () => session.close());
      return;
    }
    if (session.boundAs === null) {
      session.send(pdu.response({ command_status: smpp.ESME_RINVBNDSTS }));
      return;
    }
    if (pdu.command === 'submit_sm') {
      onSubmit(session, pdu);
      return;
    }
    // Anything else (unknown commands included): generic_nack / *_resp with ESME_RINVCMDID.
    session.send(pdu.response({ command_status: smpp.ESME_RINVCMDID }));
  });
}

const server = smpp.createServer(onSession);
server.on('error', (error) => {
  console.error('smsc: ' + error.message);
  process.exit(1);
});
server.listen(config.port, config.host, () => {
  console.log('LISTENING ' + server.address().port);
});

if (!process.stdin.isTTY) {
  require('readline').createInterface({ input: process.stdin }).on('line', onCommand);
}

process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
process.on('SIGUSR2', () => {
  for (const session of sessions) {
    session.destroy();
  }
});
