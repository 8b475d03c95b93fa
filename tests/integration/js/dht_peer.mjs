// bittorrent-dht nodes for the DHT interoperability tests, driven by the Python test over
// stdin and stdout: one JSON request per line in, one JSON answer per line out.
//   {"cmd":"start","count":N,"bootstrap":["127.0.0.1:P",...]}  -> {"ports":[...]}
//   {"cmd":"put","node":I,"k":hex,"seq":N,"v":hex,"sig":hex,"salt":hex} -> {"stored":N}
//   {"cmd":"get","node":I,"k":hex,"salt":hex}  -> {"seq":N,"v":hex} or {"seq":null}
//   {"cmd":"table","node":I}                   -> {"nodes":[{"host":..,"port":..},...]}
// Nodes bind 127.0.0.1 and start from the given peers only (bootstrap: false, addNode).
// Storage verifies signatures with node's own ed25519 (crypto.verify on an SPKI key).
import crypto from 'node:crypto'
import readline from 'node:readline'
import DHT from 'bittorrent-dht'

// RFC 8410: the DER prefix of an ed25519 SubjectPublicKeyInfo; the raw key follows.
const SPKI_ED25519 = Buffer.from('302a300506032b6570032100', 'hex')

function verify (sig, message, key) {
  try {
    const der = Buffer.concat([SPKI_ED25519, Buffer.from(key)])
    const pub = crypto.createPublicKey({ key: der, format: 'der', type: 'spki' })
    return crypto.verify(null, Buffer.from(message), pub, Buffer.from(sig))
  } catch (err) {
    return false
  }
}

const nodes = []

function parseAddr (text) {
  const i = text.lastIndexOf(':')
  return { host: text.slice(0, i), port: Number(text.slice(i + 1)) }
}

function listen (dht) {
  return new Promise((resolve, reject) => {
    dht.once('error', reject)
    dht.listen(0, '127.0.0.1', () => resolve(dht.address().port))
  })
}

async function start (req) {
  const ports = []
  for (let i = 0; i < req.count; i++) {
    const dht = new DHT({ bootstrap: false, verify, host: '127.0.0.1' })
    dht.on('error', (err) => console.error('dht error', err))
    dht.on('warning', (err) => console.error('dht warning', err.message))
    ports.push(await listen(dht))
    nodes.push(dht)
  }
  const peers = req.bootstrap.map(parseAddr)
  for (const [i, dht] of nodes.entries()) {
    for (const p of peers) dht.addNode(p)
    if (i > 0) dht.addNode({ host: '127.0.0.1', port: ports[0] })
  }
  // addNode pings first: wait (up to 5 s) until every node has someone to ask.
  for (let waited = 0; waited < 5000; waited += 50) {
    if (nodes.every((dht) => dht.toJSON().nodes.length > 0)) break
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return { ports }
}

function put (req) {
  const opts = {
    k: Buffer.from(req.k, 'hex'),
    seq: req.seq,
    v: Buffer.from(req.v, 'hex'),
    sig: Buffer.from(req.sig, 'hex')
  }
  if (req.salt) opts.salt = Buffer.from(req.salt, 'hex')
  return new Promise((resolve) => {
    nodes[req.node].put(opts, (err, hash, n) => {
      resolve(err ? { error: String(err.message || err), stored: n || 0 } : { stored: n })
    })
  })
}

function get (req) {
  const k = Buffer.from(req.k, 'hex')
  const salt = req.salt ? Buffer.from(req.salt, 'hex') : null
  const target = crypto.createHash('sha1').update(salt ? Buffer.concat([k, salt]) : k).digest()
  const opts = { cache: false }
  if (salt) opts.salt = salt
  return new Promise((resolve) => {
    nodes[req.node].get(target, opts, (err, res) => {
      if (err) return resolve({ error: String(err.message || err) })
      if (!res) return resolve({ seq: null })
      resolve({ seq: res.seq, v: Buffer.from(res.v).toString('hex') })
    })
  })
}

function table (req) {
  return { nodes: nodes[req.node].toJSON().nodes }
}

const handlers = { start, put, get, table }

const rl = readline.createInterface({ input: process.stdin })
rl.on('line', async (line) => {
  let reply
  try {
    const req = JSON.parse(line)
    reply = await handlers[req.cmd](req)
  } catch (err) {
    reply = { error: String(err && err.stack ? err.stack : err) }
  }
  process.stdout.write(JSON.stringify(reply) + '\n')
})
rl.on('close', () => {
  for (const dht of nodes) dht.destroy()
})
