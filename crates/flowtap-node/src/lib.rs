//! napi-rs bindings of flowtap — the only crate that knows Node.
//!
//! Thin by design: it opens inputs, runs the core on libuv's thread pool and
//! hands whole [`flowtap_core::batch::PacketBatch`]es to JavaScript as typed
//! arrays that take ownership of the batch's vectors (no copy). One N-API
//! crossing per batch, never per packet. Boundary types are named `Binding*`
//! and live in their own modules.

mod binding_capture;
mod binding_error;
mod binding_filter;
mod binding_flows;
#[cfg(target_os = "linux")]
mod binding_inject;
mod binding_json;
#[cfg(target_os = "linux")]
mod binding_live;
mod binding_plugins;
mod binding_pool;
mod binding_reader;
mod binding_sessions;
mod binding_types;

pub use binding_capture::BindingCapture;
pub use binding_flows::flow_layout;
#[cfg(target_os = "linux")]
pub use binding_inject::BindingInjector;
#[cfg(target_os = "linux")]
pub use binding_live::BindingLive;
pub use binding_sessions::stream_layout;
pub use binding_types::batch_layout;

/// The target the binding was built for, `<arch>-<os>` (`x86_64-linux`,
/// `wasm32-wasi`): the TypeScript layer tells the WebAssembly build apart.
#[napi_derive::napi]
pub fn binding_target() -> String {
    if cfg!(target_family = "wasm") {
        return "wasm32-wasi".into();
    }
    format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS)
}
