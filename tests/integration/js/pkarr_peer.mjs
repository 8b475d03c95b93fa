// A pkarr publisher on bittorrent-dht for the pkdns tests, driven by the Python test over stdin
// and stdout like dht_peer.mjs: one JSON request per line in, one JSON answer per line out.
//   {"cmd":"start","count":N,"bootstrap":["127.0.0.1:P",...]}  -> {"ports":[...]}
//   {"cmd":"publish","node":I,"seed":hex,"timestamp":us,"records":[RR,...]}
//        -> {"key":z32,"seq":N,"stored":N}
// where RR is a dns-packet answer {"name":"www","type":"A","ttl":60,"data":"192.0.2.1"}; names
// are relative to the key ("@" is the apex), as the pkarr package writes them. The packet is
// built and signed by the pkarr package's SignedPacket, then stored through node I with a
// BEP 44 put (seq = the timestamp, v = the DNS message). Nodes bind 127.0.0.1 and start from
// the given peers only.
import crypto from 'node:crypto'
import readline from 'node:readline'
import DHT from 'bittorrent-dht'
import { SignedPacket, generateKeyPair, z32 } from 'pkarr'

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
  // Every node learns every other, so that a put or get started anywhere reaches the nodes
  // closest to any key at once.
  const peers = req.bootstrap.map(parseAddr)
  for (const dht of nodes) {
    for (const p of peers) dht.addNode(p)
    for (const port of ports) dht.addNode({ host: '127.0.0.1', port })
  }
  // addNode pings first: wait (up to 5 s) until every node has someone to ask.
  for (let waited = 0; waited < 5000; waited += 50) {
    if (nodes.every((dht) => dht.toJSON().nodes.length > 0)) break
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return { ports }
}

function publish (req) {
  const keypair = generateKeyPair(Buffer.from(req.seed, 'hex'))
  const packet = { id: 0, type: 'response', flags: 0, answers: req.records }
  const signed = SignedPacket.fromPacket(keypair, packet, { timestamp: req.timestamp })
  const args = signed.bep44Args()
  const key = z32.encode(keypair.publicKey)
  return new Promise((resolve) => {
    nodes[req.node].put(args, (err, hash, n) => {
      if (err) return resolve({ error: String(err.message || err), stored: n || 0 })
      resolve({ key, seq: args.seq, stored: n })
    })
  })
}

const handlers = { start, publish }

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
