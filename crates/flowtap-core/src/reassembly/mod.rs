//! TCP stream reassembly: per flow and direction, in-order payload with
//! explicit gaps, every buffer bounded.
