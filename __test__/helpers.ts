// Shared helpers of the ava specs: where the corpus and fixtures are, and
// readers for the expected outputs that ship with the corpus.
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

export const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
export const corpusDir = process.env.FLOWTAP_CORPUS ?? resolve(root, '..', 'shared', 'corpus')
export const haveCorpus = existsSync(join(corpusDir, 'MANIFEST.md'))
export const example = (name: string) => join(root, 'examples', name)
export const corpus = (name: string) => join(corpusDir, name)

/** Every capture in the corpus. */
export function corpusFiles(): string[] {
  if (!haveCorpus) return []
  return readdirSync(corpusDir)
    .filter((f) => f.endsWith('.pcap') || f.endsWith('.pcapng'))
    .sort()
}

/** Packet count capinfos reported, or the count read before a damaged record. */
export function expectedPackets(name: string): number {
  const text = readFileSync(join(corpusDir, 'expected', `${name}.capinfos.txt`), 'utf8')
  const m = /Number of packets:\s+(\d+)/.exec(text)
  if (m) return Number(m[1])
  const e = /after reading (\d+) packets/.exec(text)
  if (e) return Number(e[1])
  return 0
}

/** Whether capinfos or tshark complained about the file. */
export function expectedDamage(name: string): string | undefined {
  const text = readFileSync(join(corpusDir, 'expected', `${name}.capinfos.txt`), 'utf8')
  const lines = text.split('\n').filter((l) => l.startsWith('# stderr:'))
  return lines.length ? lines.join(' ') : undefined
}

/** Packets per interface and WTAP_ENCAP value, from NAME.linktypes.tsv. */
export function expectedLinkTypes(name: string): { iface: number; encap: number; packets: number }[] {
  const p = join(corpusDir, 'expected', `${name}.linktypes.tsv`)
  if (!existsSync(p)) return []
  return readFileSync(p, 'utf8')
    .trim()
    .split('\n')
    .slice(1)
    .filter(Boolean)
    .map((l) => {
      const [iface, encap, packets] = l.split('\t').map(Number)
      return { iface: iface!, encap: encap!, packets: packets! }
    })
}

/** Wireshark's WTAP_ENCAP numbers → LINKTYPE values, for the encapsulations in the corpus. */
export const WTAP_TO_LINKTYPE: Record<number, number[]> = {
  1: [1], // Ethernet
  15: [0, 108], // NULL / LOOP
  25: [113], // Linux SLL
  210: [276], // Linux SLL2
  7: [101, 12, 14, 228, 229], // raw IP
}

/** Open file descriptors of this process. */
export function openFds(): number {
  return readdirSync('/proc/self/fd').length
}
