//! Integration tests of the store, as one test binary.

#![allow(unreachable_pub)]

mod basics;
mod corruption;
mod crash;
mod export;
mod fixture;
mod index;
