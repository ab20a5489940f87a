#![doc = include_str!("../README.md")]

pub mod app;
pub mod args;
pub mod conn;
pub mod input;
pub mod state;
pub mod term;
pub mod view;
