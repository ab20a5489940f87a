#![doc = include_str!("../README.md")]

pub mod client;
pub mod flags;
pub mod goflags;
pub mod input;
pub mod printer;
pub mod request;
