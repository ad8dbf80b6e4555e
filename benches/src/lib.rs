//! Shared helpers of the flowtap benchmark binaries: a tiny argument parser
//! and the one-line JSON report every contender prints (and that
//! `benches/run.mjs` parses).

use std::time::Duration;

/// The result of one contender run, printed as one line of JSON.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub name: String,
    pub packets: u64,
    /// Captured bytes (sum of caplen), the basis of `mbps`.
    pub bytes: u64,
    pub seconds: f64,
    /// XOR of `src_port ^ dst_port` over the packets whose ports were read.
    pub ports: u64,
    /// Contender-specific fold of what was read, so nothing is optimized away.
    pub check: u64,
}

impl Report {
    pub fn new(name: &str, elapsed: Duration) -> Self {
        Report {
            name: name.to_string(),
            seconds: elapsed.as_secs_f64(),
            ..Report::default()
        }
    }

    /// `{"name":…,"packets":…,"seconds":…,"pps":…,"mbps":…,…}`; `mbps` is
    /// megabytes (10^6 bytes) of captured packet data per second.
    pub fn to_json(&self) -> String {
        let s = self.seconds.max(1e-9);
        format!(
            "{{\"name\":\"{}\",\"packets\":{},\"seconds\":{:.6},\"pps\":{:.0},\"mbps\":{:.2},\"bytes\":{},\"ports\":{},\"check\":\"{:016x}\"}}",
            self.name,
            self.packets,
            self.seconds,
            self.packets as f64 / s,
            self.bytes as f64 / 1e6 / s,
            self.bytes,
            self.ports,
            self.check
        )
    }
}

/// Minimal `--flag value` / positional argument parser.
pub struct Args {
    pub flags: Vec<(String, String)>,
    pub positional: Vec<String>,
}

impl Args {
    /// Parses `std::env::args()`; `switches` are flags that take no value.
    pub fn parse(switches: &[&str]) -> Args {
        let mut flags = Vec::new();
        let mut positional = Vec::new();
        let mut it = std::env::args().skip(1);
        while let Some(a) = it.next() {
            if let Some(name) = a.strip_prefix("--") {
                if let Some((k, v)) = name.split_once('=') {
                    flags.push((k.to_string(), v.to_string()));
                } else if switches.contains(&name) {
                    flags.push((name.to_string(), String::new()));
                } else {
                    let v = it
                        .next()
                        .unwrap_or_else(|| die(&format!("--{name} needs a value")));
                    flags.push((name.to_string(), v));
                }
            } else {
                positional.push(a);
            }
        }
        Args { flags, positional }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.flags
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn has(&self, name: &str) -> bool {
        self.flags.iter().any(|(k, _)| k == name)
    }

    /// A numeric flag with a default; exits with a message when malformed.
    pub fn num<T: std::str::FromStr>(&self, name: &str, default: T) -> T {
        match self.get(name) {
            None => default,
            Some(v) => v
                .replace('_', "")
                .parse()
                .unwrap_or_else(|_| die(&format!("--{name}: not a number: {v}"))),
        }
    }

    /// Rejects flags outside `known`.
    pub fn check_known(&self, known: &[&str]) {
        for (k, _) in &self.flags {
            if !known.contains(&k.as_str()) {
                die(&format!("unknown option --{k}"));
            }
        }
    }
}

/// Prints `msg` to stderr and exits with status 2.
pub fn die(msg: &str) -> ! {
    eprintln!("error: {msg}");
    std::process::exit(2)
}
