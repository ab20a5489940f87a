#![doc = include_str!("../README.md")]

pub mod client;
pub mod config_command;
pub mod flags;
pub mod goflags;
pub mod input;
pub mod list;
pub mod printer;
pub mod request;
pub mod settings;
pub use flowscope_tls::client as tls;
