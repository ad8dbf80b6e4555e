//! Capture filters (tcpdump syntax) for file sources.
//!
//! The expression is compiled by libpcap's own compiler
//! (`flowtap_capture::filter`) once per link type met in the file, and the
//! programs run in the classic-BPF interpreter on the reading thread, so
//! skipped packets are never copied or decoded. A live capture attaches
//! the same compiled program to its socket instead.
//!
//! Contract: a syntax error fails at open with `ERR_FILTER` and libpcap's
//! message. An expression that compiles for some link type but not for one
//! the file holds (`ether host …` on raw IP) matches no packet of that link
//! type, as it could match none.

use flowtap_core::source::FrameFilter;

use crate::binding_error::BindingError;

#[cfg(target_os = "linux")]
pub fn file_filter(expr: &str) -> Result<FrameFilter<'static>, BindingError> {
    use flowtap_capture::bpf::Program;
    use flowtap_capture::filter::compile;
    use flowtap_capture::ring::MAX_SNAPLEN;

    // Link types tried to validate the expression: Ethernet first (its
    // message is the one reported), then the others a filter may be
    // written for (raw IP, Linux cooked, 802.11 with radiotap).
    const PROBES: [u32; 4] = [1, 101, 113, 127];
    let mut first_error = None;
    for lt in PROBES {
        match compile(expr, lt, MAX_SNAPLEN) {
            Ok(_) => {
                first_error = None;
                break;
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_error {
        return Err(BindingError {
            code: e.code().to_string(),
            message: e.to_string(),
            offset: None,
        });
    }
    let expr = expr.to_string();
    let mut programs: Vec<(u16, Option<Program>)> = Vec::new();
    Ok(Box::new(move |f| {
        let lt = f.link_type.0;
        let at = match programs.iter().position(|(l, _)| *l == lt) {
            Some(i) => i,
            None => {
                programs.push((lt, compile(&expr, u32::from(lt), MAX_SNAPLEN).ok()));
                programs.len() - 1
            }
        };
        programs[at]
            .1
            .as_ref()
            .is_some_and(|p| p.matches(f.data, f.origlen))
    }))
}

#[cfg(not(target_os = "linux"))]
pub fn file_filter(_expr: &str) -> Result<FrameFilter<'static>, BindingError> {
    Err(BindingError {
        code: "ERR_UNSUPPORTED_PLATFORM".into(),
        message: "capture filters need the libpcap compiler, built on Linux only".into(),
        offset: None,
    })
}
