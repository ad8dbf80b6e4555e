//! Plugin claims: which flows go to parsers that run outside the core (the
//! TypeScript plugins), decided here so that no foreign code is called for a
//! flow no plugin wants.
//!
//! A [`PluginSpec`] is declarative: a transport, optional ports (either
//! endpoint), optional first-bytes signatures, a priority relative to the
//! built-in parsers, and whether a foreign predicate may still be asked
//! about flows nothing else claimed. The analyzer consults the specs in a
//! fixed order (see [`Stage`]) while a flow's parser is undecided; a claimed
//! flow's stream pieces (TCP) or datagrams (UDP) then come out as
//! [`PluginEvent`]s instead of going to a built-in parser.
//!
//! Contract: matching reads at most the bytes the analyzer already holds
//! for detection; specs are immutable once the analyzer exists.

use super::{Direction, FlowMeta, StreamRecord};
use crate::session::Transport;

/// Where a plugin stands relative to the built-in parsers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// Consulted before the built-in detection: a matching flow is the
    /// plugin's even if HTTP, DNS or TLS would have claimed it.
    First,
    /// Consulted only for flows no built-in parser claimed.
    Last,
}

/// Bytes that must appear at `offset` of the first bytes a side sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// The side whose bytes are tested; `None`: either side.
    pub dir: Option<Direction>,
    pub offset: usize,
    pub bytes: Vec<u8>,
}

/// One plugin's claim rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginSpec {
    /// The number its events carry (the TypeScript side's index).
    pub id: u16,
    pub transport: Transport,
    /// Either endpoint's port must be one of these; empty: any port.
    pub ports: Vec<u16>,
    /// One of these must match; empty: no byte condition.
    pub signatures: Vec<Signature>,
    pub priority: Priority,
    /// A predicate outside the core decides, on the flow's first data, for
    /// flows the ports allow and no signature or parser claimed.
    pub predicate: bool,
}

/// The outcome of testing one spec against a flow's first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Match {
    Yes,
    No,
    /// A side's bytes are a prefix of a signature: wait for more.
    NeedMore,
    /// Only the predicate can tell.
    Ask,
}

/// Which specs a decision step consults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// [`Priority::First`] specs, before the built-in detection.
    First,
    /// [`Priority::Last`] specs, once the built-ins said no.
    Last,
}

impl PluginSpec {
    pub(crate) fn test(&self, meta: &FlowMeta, orig: &[u8], resp: &[u8]) -> Match {
        let transport_ok = match self.transport {
            Transport::Tcp => meta.proto == 6,
            Transport::Udp => meta.proto == 17,
        };
        if !transport_ok
            || (!self.ports.is_empty()
                && !self.ports.contains(&meta.orig_port)
                && !self.ports.contains(&meta.resp_port))
        {
            return Match::No;
        }
        if self.signatures.is_empty() {
            return if self.predicate {
                Match::Ask
            } else {
                Match::Yes
            };
        }
        let mut need_more = false;
        for s in &self.signatures {
            for (dir, bytes) in [(Direction::Orig, orig), (Direction::Resp, resp)] {
                if s.dir.is_some_and(|d| d != dir) || bytes.is_empty() {
                    // A silent side may still send the signature.
                    need_more |= s.dir.is_none_or(|d| d == dir);
                    continue;
                }
                let end = s.offset + s.bytes.len();
                let have = &bytes[s.offset.min(bytes.len())..end.min(bytes.len())];
                if have != &s.bytes[..have.len()] {
                    continue;
                }
                if have.len() == s.bytes.len() {
                    return Match::Yes;
                }
                need_more = true;
            }
        }
        match (need_more, self.predicate) {
            (true, _) => Match::NeedMore,
            (false, true) => Match::Ask,
            (false, false) => Match::No,
        }
    }
}

/// The specs of one analyzer, and the decision over them.
#[derive(Debug, Clone, Default)]
pub struct Plugins {
    specs: Vec<PluginSpec>,
}

/// What [`Plugins::decide`] concluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Claim {
    /// The flow is this plugin's.
    Plugin(u16),
    /// Predicates of these plugins decide, in this order.
    Ask(Vec<u16>),
    /// Wait for more bytes.
    NeedMore,
    None,
}

impl Plugins {
    pub fn new(specs: Vec<PluginSpec>) -> Self {
        Plugins { specs }
    }

    pub fn is_empty(&self) -> bool {
        self.specs.is_empty()
    }

    pub fn specs(&self) -> &[PluginSpec] {
        &self.specs
    }

    /// The first spec of `stage` (in registration order) that matches;
    /// `last`: no more bytes will come, so "need more" is "no". At
    /// [`Stage::Last`] the predicates of the plugins that ask are offered
    /// when no spec matched outright.
    pub(crate) fn decide(
        &self,
        stage: Stage,
        meta: &FlowMeta,
        orig: &[u8],
        resp: &[u8],
        last: bool,
    ) -> Claim {
        let mut ask = Vec::new();
        for s in &self.specs {
            let m = s.test(meta, orig, resp);
            // Predicates are a fallback: they never take a flow from a
            // built-in parser, whatever the plugin's priority.
            if m == Match::Ask {
                if stage == Stage::Last {
                    ask.push(s.id);
                }
                continue;
            }
            let in_stage = match s.priority {
                Priority::First => stage == Stage::First,
                Priority::Last => stage == Stage::Last,
            };
            if !in_stage {
                continue;
            }
            match m {
                Match::Yes => return Claim::Plugin(s.id),
                Match::NeedMore if !last => return Claim::NeedMore,
                _ => {}
            }
        }
        if ask.is_empty() {
            Claim::None
        } else {
            Claim::Ask(ask)
        }
    }
}

/// What the analyzer reports about plugin flows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginEvent {
    /// A flow goes to `plugins[0]` (`ask` false) or to the first of
    /// `plugins` whose predicate accepts it (`ask` true). Comes before the
    /// flow's pieces.
    Claim {
        flow: FlowMeta,
        plugins: Vec<u16>,
        ask: bool,
        ts: u64,
    },
    /// A stream piece (TCP) or a whole datagram (UDP, as data at the
    /// datagram's index) of a claimed flow.
    Piece(StreamRecord),
    /// The claimed flow ended; nothing of it follows.
    Close {
        flow: u64,
        ts: u64,
        reason: crate::flow::tracker::EndReason,
    },
}
