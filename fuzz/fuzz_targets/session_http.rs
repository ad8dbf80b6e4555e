//! The Http session parser fed arbitrary data/gap/end call sequences, with
//! default and with small limits; memory stays bounded after every call.
#![no_main]

use flowtap_core::session::Protocol;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    flowtap_fuzz::run_session(Protocol::Http, data);
});
