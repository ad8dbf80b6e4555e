/**
 * An MQTT 3.1, 3.1.1 and 5.0 parser written as a flowtap plugin: every
 * control packet of a connection (CONNECT, PUBLISH, SUBSCRIBE, acks, …) as
 * one typed session event, in order per direction.
 *
 *   for await (const s of openPcap('mqtt.pcap').use(mqtt).sessions())
 *     if (s.type === 'mqtt' && s.message.type === 'PUBLISH') console.log(s.message.topic)
 *
 * Two ways to find MQTT: {@link mqttOn} claims flows by port (Rust decides,
 * no JS runs for other flows); {@link mqttAnywhere} asks a predicate about
 * the first bytes of every flow nothing else claimed (a CONNECT packet with
 * protocol name `MQTT` or `MQIsdp`).
 *
 * Framing is incremental and bounded: a packet's first `KEEP` bytes are
 * kept, the rest of a larger one (a big PUBLISH payload) is skipped through.
 * MQTT has no markers to resynchronize on, so a gap ends that direction.
 */
import { defineStreamParser, type ChunkInfo, type Direction, type PluginFlow } from 'flowtap'

/** Bytes of a packet kept for decoding (headers and the start of a payload). */
const KEEP = 64 * 1024
/** Payload bytes kept per PUBLISH, as `payload`. */
const PAYLOAD_PREVIEW = 256
/** Topics kept per SUBSCRIBE/UNSUBSCRIBE. */
const MAX_TOPICS = 64

const TYPES = [
  'RESERVED',
  'CONNECT',
  'CONNACK',
  'PUBLISH',
  'PUBACK',
  'PUBREC',
  'PUBREL',
  'PUBCOMP',
  'SUBSCRIBE',
  'SUBACK',
  'UNSUBSCRIBE',
  'UNSUBACK',
  'PINGREQ',
  'PINGRESP',
  'DISCONNECT',
  'AUTH',
] as const

export type MqttPacketType = (typeof TYPES)[number]

export interface MqttPacket {
  readonly type: MqttPacketType
  /** Who sent it. */
  readonly direction: Direction
  /** 3 (3.1), 4 (3.1.1) or 5 (5.0), from the connection's CONNECT; 4 when it was not seen. */
  readonly version: number
  /** Remaining length from the fixed header, and the fixed header's flags. */
  readonly length: number
  readonly flags: number
  /** The packet was larger than what is kept, or its fields ended early. */
  readonly truncated: boolean
  readonly malformed: boolean
  readonly tsNs: bigint
  /** CONNECT. */
  readonly clientId?: string
  readonly protocolName?: string
  readonly keepAlive?: number
  readonly cleanSession?: boolean
  readonly username?: string
  readonly hasPassword?: boolean
  readonly will?: { topic: string; qos: number; retain: boolean; payloadLength: number }
  /** CONNACK. */
  readonly sessionPresent?: boolean
  /** CONNACK return code (3.x) or reason code (5; also acks and DISCONNECT). */
  readonly code?: number
  /** PUBLISH. */
  readonly topic?: string
  readonly qos?: number
  readonly retain?: boolean
  readonly dup?: boolean
  readonly payloadLength?: number
  /** The payload's first 256 bytes, as UTF-8. */
  readonly payload?: string
  /** Packet identifier (QoS > 0 PUBLISH, acks, (UN)SUBSCRIBE). */
  readonly packetId?: number
  /** SUBSCRIBE/UNSUBSCRIBE topic filters with their requested QoS (SUBSCRIBE). */
  readonly topics?: { filter: string; qos?: number }[]
  /** SUBACK/UNSUBACK return or reason codes. */
  readonly codes?: number[]
  /** MQTT 5 properties: id → value (user properties as [name, value] pairs). */
  readonly properties?: Record<number, unknown>
}

declare module 'flowtap' {
  interface SessionMessageMap {
    mqtt: MqttPacket
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: false })

/** Reads MQTT's primitives from one packet body; a read past the end marks it short. */
class Reader {
  pos = 0
  short = false
  constructor(readonly b: Uint8Array) {}
  get left(): number {
    return this.b.length - this.pos
  }
  u8(): number {
    if (this.pos + 1 > this.b.length) return this.end(0)
    return this.b[this.pos++]!
  }
  u16(): number {
    if (this.pos + 2 > this.b.length) return this.end(0)
    const v = (this.b[this.pos]! << 8) | this.b[this.pos + 1]!
    this.pos += 2
    return v
  }
  u32(): number {
    return this.u16() * 65536 + this.u16()
  }
  varint(): number {
    let v = 0
    for (let i = 0, mul = 1; i < 4; i++, mul *= 128) {
      const c = this.u8()
      v += (c & 0x7f) * mul
      if ((c & 0x80) === 0) return v
    }
    return v
  }
  bytes(n: number): Uint8Array {
    if (this.pos + n > this.b.length) {
      const r = this.b.subarray(this.pos)
      return this.end(r)
    }
    const r = this.b.subarray(this.pos, this.pos + n)
    this.pos += n
    return r
  }
  str(): string {
    return utf8.decode(this.bytes(this.u16()))
  }
  private end<T>(v: T): T {
    this.short = true
    this.pos = this.b.length
    return v
  }
}

/** MQTT 5 properties (id → value); unknown ids end the list. */
function properties(r: Reader): Record<number, unknown> {
  const len = r.varint()
  const sub = new Reader(r.bytes(len))
  const out: Record<number, unknown> = {}
  while (sub.left > 0 && !sub.short) {
    const id = sub.varint()
    switch (id) {
      case 0x01: case 0x17: case 0x19: case 0x24: case 0x25: case 0x28: case 0x29: case 0x2a: // prettier-ignore
        out[id] = sub.u8()
        break
      case 0x13: case 0x21: case 0x22: case 0x23: // prettier-ignore
        out[id] = sub.u16()
        break
      case 0x02: case 0x11: case 0x18: case 0x27: // prettier-ignore
        out[id] = sub.u32()
        break
      case 0x0b:
        out[id] = sub.varint()
        break
      case 0x03: case 0x08: case 0x12: case 0x15: case 0x1a: case 0x1c: case 0x1f: // prettier-ignore
        out[id] = sub.str()
        break
      case 0x09: case 0x16: // prettier-ignore
        out[id] = sub.bytes(sub.u16()).length
        break
      case 0x26: {
        const list = (out[id] as [string, string][] | undefined) ?? []
        list.push([sub.str(), sub.str()])
        out[id] = list
        break
      }
      default:
        return out
    }
  }
  if (sub.short) r.short = true
  return out
}

type Fields = Omit<MqttPacket, 'type' | 'direction' | 'version' | 'length' | 'flags' | 'truncated' | 'malformed' | 'tsNs'>

/** Decodes one control packet's variable header and payload. */
function decode(type: number, flags: number, body: Uint8Array, length: number, version: number, whole: boolean): { fields: Fields; short: boolean; version: number } {
  const r = new Reader(body)
  const f: Record<string, unknown> = {}
  const v5 = version === 5
  switch (type) {
    case 1: {
      f.protocolName = r.str()
      version = r.u8()
      const cf = r.u8()
      f.keepAlive = r.u16()
      f.cleanSession = (cf & 0x02) !== 0
      if (version === 5) f.properties = properties(r)
      f.clientId = r.str()
      if (cf & 0x04) {
        if (version === 5) properties(r)
        const topic = r.str()
        const payloadLength = r.bytes(r.u16()).length
        f.will = { topic, qos: (cf >> 3) & 3, retain: (cf & 0x20) !== 0, payloadLength }
      }
      if (cf & 0x80) f.username = r.str()
      f.hasPassword = (cf & 0x40) !== 0
      break
    }
    case 2:
      f.sessionPresent = (r.u8() & 1) === 1
      f.code = r.u8()
      if (v5 && r.left > 0) f.properties = properties(r)
      break
    case 3: {
      f.dup = (flags & 8) !== 0
      f.qos = (flags >> 1) & 3
      f.retain = (flags & 1) !== 0
      f.topic = r.str()
      if ((f.qos as number) > 0) f.packetId = r.u16()
      if (v5) f.properties = properties(r)
      f.payloadLength = Math.max(0, length - r.pos)
      f.payload = utf8.decode(body.subarray(r.pos, r.pos + PAYLOAD_PREVIEW))
      break
    }
    case 4: case 5: case 6: case 7: case 11: // prettier-ignore
      f.packetId = r.u16()
      if (v5 && r.left > 0) {
        if (type === 11) {
          f.properties = properties(r)
          f.codes = Array.from(r.bytes(r.left))
        } else {
          f.code = r.u8()
          if (r.left > 0) f.properties = properties(r)
        }
      }
      break
    case 8: case 10: { // prettier-ignore
      f.packetId = r.u16()
      if (v5) f.properties = properties(r)
      const topics: { filter: string; qos?: number }[] = []
      while (r.left > 0 && !r.short) {
        const filter = r.str()
        const t = type === 8 ? { filter, qos: r.u8() & 3 } : { filter }
        if (topics.length < MAX_TOPICS) topics.push(t)
      }
      f.topics = topics
      break
    }
    case 9:
      f.packetId = r.u16()
      if (v5) f.properties = properties(r)
      f.codes = Array.from(r.bytes(r.left))
      break
    case 14: case 15: // prettier-ignore
      if (r.left > 0) f.code = r.u8()
      if (r.left > 0) f.properties = properties(r)
      break
  }
  return { fields: f as Fields, short: r.short && whole, version }
}

/** Splits one direction into control packets. */
class Framer {
  private buf = new Uint8Array(0)
  /** Bytes of an oversized packet still to pass over. */
  private skip = 0
  stopped = false

  constructor(private readonly onPacket: (first: number, length: number, body: Uint8Array, whole: boolean) => void) {}

  push(chunk: Uint8Array): void {
    if (this.stopped) return
    if (this.skip > 0) {
      const n = Math.min(this.skip, chunk.length)
      this.skip -= n
      chunk = chunk.subarray(n)
    }
    if (chunk.length === 0) return
    const joined = new Uint8Array(this.buf.length + chunk.length)
    joined.set(this.buf)
    joined.set(chunk, this.buf.length)
    let b = joined
    for (;;) {
      if (b.length < 2) break
      let len = 0
      let i = 1
      let complete = false
      for (let mul = 1; i <= 4 && i < b.length; i++, mul *= 128) {
        len += (b[i]! & 0x7f) * mul
        if ((b[i]! & 0x80) === 0) {
          complete = true
          i++
          break
        }
      }
      if (!complete) {
        if (i > 4) this.stopped = true // a length of more than 4 bytes: not MQTT
        break
      }
      if (b.length >= i + len) {
        this.onPacket(b[0]!, len, b.subarray(i, i + len), true)
        b = b.subarray(i + len)
        continue
      }
      if (len > KEEP && b.length >= i + KEEP) {
        this.onPacket(b[0]!, len, b.subarray(i, i + KEEP), false)
        this.skip = i + len - b.length
        b = b.subarray(b.length)
      }
      break
    }
    this.buf = b.slice()
  }
}

function parser(flow: PluginFlow) {
  void flow
  let version = 4
  let now = 0n
  const out: MqttPacket[] = []
  const framer = (direction: Direction) =>
    new Framer((first, length, body, whole) => {
      const type = first >> 4
      const d = decode(type, first & 0x0f, body, length, version, whole)
      if (type === 1) version = d.version
      out.push({
        type: TYPES[type]!,
        direction,
        version,
        length,
        flags: first & 0x0f,
        truncated: !whole,
        malformed: d.short || type === 0,
        tsNs: now,
        ...d.fields,
      })
    })
  const sides = { orig: framer('orig'), resp: framer('resp') }
  return {
    onData(direction: Direction, chunk: Uint8Array, info: ChunkInfo) {
      now = info.tsNs
      sides[direction].push(chunk)
      return out.splice(0)
    },
    onGap(direction: Direction) {
      sides[direction].stopped = true
    },
  }
}

/** MQTT on these TCP ports (either endpoint). */
export function mqttOn(ports: number[]) {
  return defineStreamParser<MqttPacket>({ name: 'mqtt', match: { ports }, create: parser })
}

/** MQTT on the standard port, 1883. */
export const mqtt = mqttOn([1883])

/** A CONNECT packet: type 1, a remaining length, then protocol name `MQTT` (3.1.1, 5) or `MQIsdp` (3.1). */
export function looksLikeConnect(b: Uint8Array): boolean {
  if (b.length < 2 || b[0] !== 0x10) return false
  let i = 1
  while (i < 5 && i < b.length && (b[i]! & 0x80) !== 0) i++
  i++
  const name = utf8.decode(b.subarray(i + 2, i + 2 + ((b[i]! << 8) | b[i + 1]!)))
  return name === 'MQTT' || name === 'MQIsdp'
}

/** MQTT on any port: a predicate on the first bytes of flows nothing else claimed. */
export const mqttAnywhere = defineStreamParser<MqttPacket>({
  name: 'mqtt',
  match: { test: (first, direction) => direction === 'orig' && looksLikeConnect(first) },
  create: parser,
})
