//! The parts that need the local stack: the producer against the real broker and the
//! users-API stand-in, and the whole flow from the first scheduled run to the last object.

use std::path::Path;

use crate::figure::Figure;

pub fn figures(_root: &Path, _bin_dir: &Path, _users: usize) -> anyhow::Result<Vec<Figure>> {
    Ok(Vec::new())
}
