// Rewrites a classic pcap of Ethernet/IPv4/TCP traffic the way a network
// would mangle it, to test that parsers see the same stream regardless:
// payloads cut into small segments, segments of one packet delivered in
// reverse order (out of order, holes filled later), or one segment lost.
// Checksums are not recomputed: flowtap does not verify them.

interface Record {
  header: Buffer
  data: Buffer
}

function records(pcap: Buffer): { global: Buffer; recs: Record[]; le: boolean } {
  const magic = pcap.readUInt32LE(0)
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d
  if (!le) throw new Error('tcp-rewrite: only little-endian classic pcap')
  if (pcap.readUInt32LE(20) !== 1) throw new Error('tcp-rewrite: only Ethernet captures')
  const recs: Record[] = []
  for (let at = 24; at + 16 <= pcap.length; ) {
    const incl = pcap.readUInt32LE(at + 8)
    recs.push({ header: pcap.subarray(at, at + 16), data: pcap.subarray(at + 16, at + 16 + incl) })
    at += 16 + incl
  }
  return { global: pcap.subarray(0, 24), recs, le }
}

/** Where the TCP payload of an Ethernet/IPv4/TCP frame is, or undefined. */
function tcpPayload(f: Buffer): { ip: number; tcp: number; payload: number } | undefined {
  if (f.length < 14 + 20 || f.readUInt16BE(12) !== 0x0800) return undefined
  const ip = 14
  const ihl = (f[ip]! & 0x0f) * 4
  if (f[ip + 9] !== 6) return undefined
  const tcp = ip + ihl
  const doff = (f[tcp + 12]! >> 4) * 4
  return { ip, tcp, payload: tcp + doff }
}

function frame(rec: Record, f: Buffer, at: { ip: number; tcp: number; payload: number }, seqDelta: number, chunk: Buffer, last: boolean): Record {
  const out = Buffer.concat([f.subarray(0, at.payload), chunk])
  out.writeUInt16BE(at.payload - at.ip + chunk.length, at.ip + 2)
  out.writeUInt32BE((f.readUInt32BE(at.tcp + 4) + seqDelta) >>> 0, at.tcp + 4)
  // FIN and PSH belong to the last piece only.
  if (!last) out[at.tcp + 13] = out[at.tcp + 13]! & ~0x09
  const header = Buffer.from(rec.header)
  header.writeUInt32LE(out.length, 8)
  header.writeUInt32LE(out.length, 12)
  return { header, data: out }
}

export interface RewriteOptions {
  /** Largest payload per segment. */
  segment: number
  /** Deliver the segments of each original packet last-first. */
  reverse?: boolean
  /** Drop the `drop`-th segment (0-based, counted over the whole capture) of payloads longer than `dropFrom` bytes. */
  drop?: number
  dropFrom?: number
}

/** The capture with every TCP payload cut into segments as `o` says. */
export function rewriteTcp(pcap: Buffer, o: RewriteOptions): Buffer {
  const { global, recs } = records(pcap)
  const out: Buffer[] = [global]
  let counted = 0
  for (const rec of recs) {
    const at = tcpPayload(rec.data)
    const len = at ? rec.data.length - at.payload : 0
    if (!at || len <= o.segment) {
      out.push(rec.header, rec.data)
      continue
    }
    const pieces: Record[] = []
    for (let off = 0; off < len; off += o.segment) {
      const chunk = rec.data.subarray(at.payload + off, at.payload + Math.min(len, off + o.segment))
      pieces.push(frame(rec, rec.data, at, off, chunk, off + o.segment >= len))
    }
    let kept = pieces
    if (o.drop !== undefined && len > (o.dropFrom ?? 0)) {
      kept = pieces.filter(() => counted++ !== o.drop)
    }
    if (o.reverse) kept = [...kept].reverse()
    for (const p of kept) out.push(p.header, p.data)
  }
  return Buffer.concat(out)
}
