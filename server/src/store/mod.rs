//! Where flows are kept for readers: a bounded ring with one writer and many readers.

pub mod ring;

pub use ring::{Read, Ring, RingError, RingWriter};
