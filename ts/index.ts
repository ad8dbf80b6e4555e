/**
 * flowtap: typed, streaming views of network traffic for TypeScript.
 *
 * Rust reads, parses and decodes; TypeScript receives finished batches. Start
 * with {@link openPcap}.
 *
 * @packageDocumentation
 */
export { openPcap, PacketSource } from './source.js'
export { bindingTarget } from './platform.js'
export type { AnalysisStats, OpenOptions, IterateOptions, CaptureStats, FlowTimeouts, LiveStats, WorkerStats } from './source.js'
export { capture, LiveSource } from './live.js'
export { inject, Injector, replay } from './inject.js'
export type { InjectOptions, InjectStats, ReplayOptions, ReplayStats } from './inject.js'
export type { FanoutMode, RingOptions } from './live.js'
export { Packet, PacketBatch, linkTypeName, tcpFlagString } from './packet.js'
export type {
  DnsMessage,
  DnsQuestion,
  DnsRData,
  DnsRecord,
  DnsTransaction,
  HttpBody,
  HttpRequest,
  HttpResponse,
  HttpTransaction,
  SessionAnomaly,
  SessionEvent,
  SessionOptions,
  SessionProtocol,
  TlsCertificate,
  TlsCertificates,
  TlsClientHello,
  TlsEnd,
  TlsRecordCounts,
  TlsServerHello,
} from './sessions.js'
export { defineStreamParser, defineDatagramParser } from './plugins.js'
export type {
  ChunkInfo,
  DatagramParserDefinition,
  DatagramParserSession,
  Direction,
  Emitted,
  Plugin,
  PluginCounters,
  PluginEndReason,
  PluginFlow,
  PluginMatch,
  PluginMessage,
  PluginName,
  PluginSessionEvent,
  SessionError,
  SessionMessageMap,
  Signature,
  StreamParserDefinition,
  StreamParserSession,
} from './plugins.js'
export type { GapReason, StreamData, StreamEnd, StreamEndReason, StreamEvent, StreamFlow, StreamGap } from './streams.js'
export type { FlowService } from './flows.js'
export type { ConnState, FlowCounters, FlowEndReason, FlowEndpoint, FlowEnd, FlowEvent, FlowOptions, FlowStart } from './flows.js'
export type {
  BatchColumns,
  DecodeStatus,
  IcmpInfo,
  IpInfo,
  LayerName,
  LinkTypeName,
  NetworkName,
  PacketJson,
  TcpFlags,
  TcpInfo,
  TcpOptions,
  TransportName,
  UdpInfo,
} from './packet.js'
export {
  AbortError,
  CaptureError,
  CaptureFormatError,
  CaptureTruncatedError,
  CaptureUnsupportedError,
  FileNotFoundError,
  FlowtapError,
  InternalError,
  InvalidArgumentError,
  NoSuchInterfaceError,
  FilterError,
  UnsupportedPlatformError,
  FrameTooLargeError,
  IoError,
  LimitExceededError,
  PermissionError,
} from './errors.js'
export type { ErrorCode } from './errors.js'
