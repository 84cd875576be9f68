//! Integration tests of the core's public API, as one test binary.

#![allow(unreachable_pub)]

mod fixture;
mod fuzz_regressions;
mod json;
mod notices;
mod protocol;
mod roster;
mod round_trips;
mod tamper;
mod vectors;
