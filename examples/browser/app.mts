// The browser example: drop a pcap/pcapng file (or pick one) and see its
// flows and sessions, computed by flowtap's WebAssembly build in the page.
// Nothing leaves the browser.
import { bindingTarget, openPcap, type FlowEnd, type SessionEvent } from '../../ts/index.js'

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T

function cell(row: HTMLTableRowElement, text: string | number): void {
  row.insertCell().textContent = String(text)
}

function sessionSummary(s: SessionEvent): [string, string] {
  switch (s.type) {
    case 'http':
      return ['http', `${s.request?.method ?? '?'} ${s.request?.host ?? ''}${s.request?.uri ?? ''} → ${s.response?.status ?? '–'}`]
    case 'dns':
      return ['dns', `${s.query?.questions[0]?.name ?? '?'} ${s.query?.questions[0]?.qtypeName ?? ''} → ${s.response?.rcodeName ?? '–'} ${(s.response?.answers ?? []).map((a) => (typeof a.data === 'string' ? a.data : JSON.stringify(a.data))).join(' ')}`]
    case 'tls.client_hello':
      return ['tls', `ClientHello SNI ${s.serverName ?? '–'} ALPN ${s.alpn.join(',') || '–'} JA3 ${s.ja3Hash}`]
    case 'tls.server_hello':
      return ['tls', `ServerHello ${s.versionName} ${s.cipherName}`]
    default:
      return [s.type, s.type === 'session.anomaly' ? s.code : '']
  }
}

async function show(name: string, bytes: Uint8Array): Promise<void> {
  const status = $('status')
  status.textContent = `reading ${name} (${bytes.length.toLocaleString()} bytes)…`
  const t0 = performance.now()
  const flows = $<HTMLTableElement>('flows').tBodies[0]!
  const sessions = $<HTMLTableElement>('sessions').tBodies[0]!
  flows.replaceChildren()
  sessions.replaceChildren()
  const src = openPcap(bytes)
  let nFlows = 0
  for await (const ev of src.flows()) {
    if (ev.type !== 'flow.end') continue
    const f = ev as FlowEnd
    const r = flows.insertRow()
    cell(r, f.uid)
    cell(r, f.proto)
    cell(r, `${f.orig.addr}:${f.orig.port}`)
    cell(r, `${f.resp.addr}:${f.resp.port}`)
    cell(r, '')
    cell(r, f.connState)
    cell(r, f.origStats.packets + f.respStats.packets)
    cell(r, f.origBytes + f.respBytes)
    nFlows++
  }
  let nSessions = 0
  const service = new Map<string, string>()
  for await (const s of src.sessions()) {
    const r = sessions.insertRow()
    const [kind, what] = sessionSummary(s)
    cell(r, s.uid)
    cell(r, kind)
    cell(r, what)
    if (kind !== 'session.anomaly') service.set(s.uid, kind)
    nSessions++
  }
  // The flows' service column: what their sessions were parsed as.
  for (const row of flows.rows) row.cells[4]!.textContent = service.get(row.cells[0]!.textContent ?? '') ?? ''
  const st = src.stats()
  status.textContent = `${name}: ${st.packets.toLocaleString()} packets, ${nFlows} flows, ${nSessions} sessions in ${(performance.now() - t0).toFixed(0)} ms (${bindingTarget})`
  document.body.dataset.flows = String(nFlows)
  document.body.dataset.sessions = String(nSessions)
  document.body.dataset.state = 'done'
}

function fail(e: unknown): void {
  $('status').textContent = `error: ${e instanceof Error ? `${(e as { code?: string }).code ?? e.name}: ${e.message}` : String(e)}`
  document.body.dataset.state = 'error'
}

async function open(file: File): Promise<void> {
  document.body.dataset.state = 'busy'
  try {
    await show(file.name, new Uint8Array(await file.arrayBuffer()))
  } catch (e) {
    fail(e)
  }
}

const drop = $('drop')
drop.addEventListener('dragover', (e) => {
  e.preventDefault()
  drop.classList.add('over')
})
drop.addEventListener('dragleave', () => drop.classList.remove('over'))
drop.addEventListener('drop', (e) => {
  e.preventDefault()
  drop.classList.remove('over')
  const f = e.dataTransfer?.files[0]
  if (f) void open(f)
})
$<HTMLInputElement>('file').addEventListener('change', (e) => {
  const f = (e.target as HTMLInputElement).files?.[0]
  if (f) void open(f)
})
$('status').textContent = `ready (${bindingTarget}): drop a pcap or pcapng file`
document.body.dataset.state = 'ready'
