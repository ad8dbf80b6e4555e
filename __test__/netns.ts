// An isolated network topology per test file, for live-capture tests: a
// network namespace `ft<tag><pid>` and a veth pair. The host end
// (`fth<tag><pid % 100000>`) stays in the root namespace, where the capture
// runs; its peer (`ftp…`) sits in the namespace, where real servers and
// senders run.
//
//   root namespace                      namespace ft<tag><pid>
//   fth<tag>N  10.A.B.1/24  <-- veth -->  ftp<tag>N  10.A.B.2/24
//              fd00:A:B::1/64                        fd00:A:B::2/64
//
// A comes from the file's tag (so ava's parallel test files never share a
// subnet), B from the pid (so two checkouts running the same file at once
// do not either); a subnet some interface already routes is skipped.
//
// Segmentation offloads: a veth pair passes TCP's GSO super-packets (up to
// 64 KiB) through unsegmented, so without care a capture on either end sees
// frames far above the MTU (measured: a 300 kB download showed 60 packets of
// up to 65,160 payload bytes). Both ends get `gso_max_segs 1`, which makes
// the TCP stacks build MSS-sized packets: captures see what a real link
// carries. (GRO is off on veth unless XDP is attached, and ethtool is not
// needed.) `offloads: true` keeps the kernel's default.
//
// Everything is bounded in time; background processes are killed (their
// whole process group) on teardown, on process exit, and before the
// namespace goes. Namespaces left by crashed runs of the same tag (their
// pid no longer alive) are deleted first.
import { spawn, spawnSync, type ChildProcess, type SpawnSyncOptions } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'

/** Second octet of the IPv4 subnet (and the IPv6 /64) per file tag. */
const OCTETS: Record<string, number> = { lv: 221, lb: 222, lx: 223 }

export interface TopologyOptions {
  /** 1..7 lowercase letters or digits naming the test file. */
  tag: string
  /** Keep the kernel's segmentation offloads (GSO super-packets on the wire). @default false */
  offloads?: boolean
}

/** A process started by {@link Topology.spawn} or {@link Topology.spawnNs}. */
export interface Background {
  readonly name: string
  readonly proc: ChildProcess
  /** stdout and stderr so far. */
  output(): string
  /** Resolves once the output matches `re`; rejects after `ms` or if the process exits first. */
  waitOutput(re: RegExp, ms?: number): Promise<void>
  /** Resolves with the exit code (or signal name) once the process ended. */
  readonly exited: Promise<number | string>
  /** Sends `signal`, then SIGKILL to the whole group after `ms`; resolves when it exited. */
  stop(signal?: NodeJS.Signals, ms?: number): Promise<number | string>
}

export interface Topology {
  readonly tag: string
  readonly ns: string
  readonly host: string
  readonly peer: string
  readonly hostIp: string
  readonly nsIp: string
  readonly hostIp6: string
  readonly nsIp6: string
  /** Runs a program in the root namespace; throws on failure or after `timeout` ms (10 s). */
  run(cmd: string, args: string[], opts?: SpawnSyncOptions): string
  /** Runs a program inside the namespace. */
  runNs(cmd: string, args: string[], opts?: SpawnSyncOptions): string
  /** Starts a background program in the root namespace; killed on teardown. */
  spawn(name: string, cmd: string, args: string[]): Background
  /** Starts a background program inside the namespace; killed on teardown. */
  spawnNs(name: string, cmd: string, args: string[]): Background
  /** Resolves once something listens on `port` (tcp or udp) inside the namespace; rejects after `ms`. */
  waitPort(port: number, proto?: 'tcp' | 'udp', ms?: number): Promise<void>
  /** Kills every background program, deletes the namespace and the veth pair. Idempotent. */
  destroy(): Promise<void>
}

const live = new Set<Background>()

const namespaces = new Set<string>()

// Last resort: a worker that exits without running test.after.always (ava
// ends a timed-out worker with a signal) still takes its children and its
// namespace with it. What a SIGKILL leaves, the next run removes.
function emergencyCleanup(): void {
  for (const b of live) killGroup(b.proc, 'SIGKILL')
  for (const ns of namespaces) deleteNamespace(ns)
  namespaces.clear()
}
process.once('exit', emergencyCleanup)
for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
  process.once(sig, () => {
    emergencyCleanup()
    process.exit(128 + (sig === 'SIGHUP' ? 1 : sig === 'SIGINT' ? 2 : 15))
  })
}

function killGroup(p: ChildProcess, signal: NodeJS.Signals): void {
  if (p.pid === undefined || p.exitCode !== null || p.signalCode !== null) return
  try {
    process.kill(-p.pid, signal)
  } catch {
    try {
      p.kill(signal)
    } catch {
      // already gone
    }
  }
}

function run(cmd: string, args: string[], opts: SpawnSyncOptions = {}): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 10_000, ...opts })
  if (r.error) throw new Error(`${cmd} ${args.join(' ')}: ${r.error.message}`)
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status ?? r.signal}: ${String(r.stderr).trim()}`)
  return String(r.stdout)
}

/** Runs and ignores failure (cleanup). */
function attempt(cmd: string, args: string[]): void {
  spawnSync(cmd, args, { stdio: 'ignore', timeout: 10_000 })
}

function pidAlive(pid: number): boolean {
  return existsSync(`/proc/${pid}`)
}

function background(name: string, cmd: string, args: string[]): Background {
  const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  let out = ''
  const watchers = new Set<() => void>()
  const onData = (d: Buffer) => {
    out += d.toString()
    if (out.length > 1 << 20) out = out.slice(-(1 << 19))
    for (const w of watchers) w()
  }
  proc.stdout!.on('data', onData)
  proc.stderr!.on('data', onData)
  const exited = new Promise<number | string>((resolve) => {
    proc.once('error', (e) => {
      out += `\n${name}: ${e.message}`
      resolve('error')
    })
    proc.once('close', (code, signal) => resolve(code ?? signal ?? 'unknown'))
  })
  const b: Background = {
    name,
    proc,
    exited,
    output: () => out,
    waitOutput(re, ms = 5000) {
      return new Promise((resolve, reject) => {
        const done = (err?: Error) => {
          clearTimeout(timer)
          watchers.delete(check)
          if (err) reject(err)
          else resolve()
        }
        const check = () => {
          if (re.test(out)) done()
        }
        const timer = setTimeout(() => done(new Error(`${name}: no ${re} within ${ms} ms; output: ${out.slice(-500)}`)), ms)
        watchers.add(check)
        void exited.then((code) => {
          if (!re.test(out)) done(new Error(`${name} exited (${code}) before ${re}; output: ${out.slice(-500)}`))
        })
        check()
      })
    },
    async stop(signal = 'SIGTERM', ms = 2000) {
      killGroup(proc, signal)
      const timer = setTimeout(() => killGroup(proc, 'SIGKILL'), ms)
      const code = await exited
      clearTimeout(timer)
      live.delete(b)
      return code
    },
  }
  live.add(b)
  void exited.then(() => {
    if (proc.pid !== undefined) killGroup(proc, 'SIGKILL') // grandchildren of a group leader that exited
    live.delete(b)
  })
  return b
}

/**
 * Kills what still runs inside a namespace (a server left by a killed run
 * keeps the namespace, and with it the veth pair, alive after its name is
 * gone), then deletes it.
 */
function deleteNamespace(name: string): void {
  const pids = spawnSync('ip', ['netns', 'pids', name], { encoding: 'utf8', timeout: 10_000 }).stdout ?? ''
  for (const pid of pids.split('\n').filter(Boolean)) {
    try {
      process.kill(Number(pid), 'SIGKILL')
    } catch {
      // gone
    }
  }
  attempt('ip', ['netns', 'del', name])
}

/** Deletes namespaces of this tag whose creating process is gone, and our own names. */
function removeLeftovers(tag: string, ns: string, host: string): void {
  const re = new RegExp(`^ft${tag}(\\d+)$`)
  const list = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8', timeout: 10_000 }).stdout ?? ''
  for (const line of list.split('\n')) {
    const name = line.split(' ')[0] ?? ''
    const m = re.exec(name)
    if (m && (name === ns || !pidAlive(Number(m[1])))) deleteNamespace(name)
  }
  // Deleting a namespace destroys the veth pairs with an end in it; a host
  // end of ours can remain only if its peer never moved.
  if (existsSync(`/sys/class/net/${host}`)) attempt('ip', ['link', 'del', host])
}

function pickSubnet(a: number): number {
  const routes = spawnSync('ip', ['-4', 'route', 'show'], { encoding: 'utf8', timeout: 10_000 }).stdout ?? ''
  for (let i = 0; i < 250; i++) {
    const b = ((process.pid + i) % 250) + 1
    if (!routes.includes(`10.${a}.${b}.`)) return b
  }
  throw new Error(`no free subnet 10.${a}.x.0/24`)
}

/** Why live tests cannot run here, or undefined if they can try. */
export function liveUnavailable(): string | undefined {
  if (process.platform !== 'linux') return `live capture needs Linux (this is ${process.platform})`
  if (process.getuid?.() !== 0) return 'live capture tests need root (network namespaces, CAP_NET_RAW)'
  for (const bin of ['ip', 'python3', 'curl', 'tcpdump', 'dnsmasq', 'ss']) {
    const r = spawnSync('sh', ['-c', `command -v ${bin} || test -x /usr/sbin/${bin}`], { timeout: 5000 })
    if (r.status !== 0) return `${bin} is not installed`
  }
  return undefined
}

/** Creates the namespace and the veth pair; throws with the failing command. */
export async function createTopology(options: TopologyOptions): Promise<Topology> {
  const { tag } = options
  if (!/^[a-z0-9]{1,7}$/.test(tag)) throw new Error(`bad tag ${tag}`)
  const pid5 = process.pid % 100_000
  const ns = `ft${tag}${process.pid}`
  const host = `fth${tag}${pid5}`
  const peer = `ftp${tag}${pid5}`
  removeLeftovers(tag, ns, host)
  const a = OCTETS[tag] ?? 230 + ([...tag].reduce((s, c) => s * 31 + c.charCodeAt(0), 7) % 20)
  const b = pickSubnet(a)
  const hostIp = `10.${a}.${b}.1`
  const nsIp = `10.${a}.${b}.2`
  const hostIp6 = `fd00:${a.toString(16)}:${b.toString(16)}::1`
  const nsIp6 = `fd00:${a.toString(16)}:${b.toString(16)}::2`
  const runNs = (cmd: string, args: string[], opts?: SpawnSyncOptions) => run('ip', ['netns', 'exec', ns, cmd, ...args], opts)
  let destroyed = false
  const topo: Topology = {
    tag,
    ns,
    host,
    peer,
    hostIp,
    nsIp,
    hostIp6,
    nsIp6,
    run,
    runNs,
    spawn: (name, cmd, args) => background(name, cmd, args),
    spawnNs: (name, cmd, args) => background(name, 'ip', ['netns', 'exec', ns, cmd, ...args]),
    async waitPort(port, proto = 'tcp', ms = 5000) {
      const end = Date.now() + ms
      for (;;) {
        const r = spawnSync('ip', ['netns', 'exec', ns, 'ss', '-Hln', proto === 'tcp' ? '-t' : '-u', `sport = :${port}`], { encoding: 'utf8', timeout: 5000 })
        if (r.status === 0 && r.stdout.trim() !== '') return
        if (Date.now() > end) throw new Error(`nothing listens on ${proto} port ${port} in ${ns} after ${ms} ms`)
        await new Promise((r) => setTimeout(r, 50))
      }
    },
    async destroy() {
      if (destroyed) return
      destroyed = true
      await Promise.all([...live].map((p) => p.stop('SIGTERM', 1000)))
      deleteNamespace(ns)
      namespaces.delete(ns)
      if (existsSync(`/sys/class/net/${host}`)) attempt('ip', ['link', 'del', host])
    },
  }
  try {
    run('ip', ['netns', 'add', ns])
    namespaces.add(ns)
    const gso = options.offloads ? [] : ['gso_max_segs', '1']
    run('ip', ['link', 'add', host, ...gso, 'type', 'veth', 'peer', 'name', peer, ...gso])
    run('ip', ['link', 'set', peer, 'netns', ns])
    run('ip', ['addr', 'add', `${hostIp}/24`, 'dev', host])
    run('ip', ['-6', 'addr', 'add', `${hostIp6}/64`, 'dev', host, 'nodad'])
    run('ip', ['link', 'set', host, 'up'])
    runNs('ip', ['link', 'set', 'lo', 'up'])
    runNs('ip', ['addr', 'add', `${nsIp}/24`, 'dev', peer])
    runNs('ip', ['-6', 'addr', 'add', `${nsIp6}/64`, 'dev', peer, 'nodad'])
    runNs('ip', ['link', 'set', peer, 'up'])
    // Both ends report the carrier once both are up.
    const end = Date.now() + 5000
    while (readFileSync(`/sys/class/net/${host}/operstate`, 'utf8').trim() !== 'up') {
      if (Date.now() > end) throw new Error(`${host} did not come up`)
      await new Promise((r) => setTimeout(r, 20))
    }
  } catch (e) {
    await topo.destroy()
    throw e
  }
  return topo
}
